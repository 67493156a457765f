"""The simulation core's modules import each other without a cycle, and stay pure: nothing
from Dagster, Spark, storage or the engines."""

from __future__ import annotations

import ast
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

import retail_assets.sim

SIM = Path(retail_assets.sim.__file__).parent
FORBIDDEN = ("dagster", "pyspark", "retail_assets.storage", "retail_assets.engine", "retail_assets.defs", "deltalake")


def _imports(path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (function bodies and TYPE_CHECKING blocks too)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def _sim_graph() -> dict[str, set[str]]:
    modules = {path.stem for path in SIM.glob("*.py") if path.stem != "__init__"}
    return {name: {imported.split(".")[2] for imported in _imports(SIM / f"{name}.py")
                   if imported.startswith("retail_assets.sim.") and imported.split(".")[2] in modules} - {name}
            for name in modules}


def test_sim_modules_import_each_other_without_a_cycle():
    try:
        order = list(TopologicalSorter(_sim_graph()).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle in retail_assets.sim: {error.args[1]}") from None
    assert order.index("columns") < order.index("records") < order.index("emit") < order.index("day")


def test_sim_imports_nothing_but_the_core():
    for path in SIM.glob("*.py"):
        bad = {name for name in _imports(path) if name.startswith(FORBIDDEN)}
        assert not bad, (path.name, bad)


def test_columns_is_the_ground_floor():
    assert _sim_graph()["columns"] == set()
