"""The Spark engine (local PySpark, local[2], Delta through delta-spark) writes exactly the local
engine's rows: Spark writes every chain and checkpoint table of the lakehouse itself.

Every chain table and every checkpoint table is compared row for row (all columns but
etl_timestamp): from the start date (the warm-up days run as Spark days too) and resuming
from a checkpoint another engine wrote (state split into location blocks), with stores and
their DC in different blocks.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
import subprocess
import sys
from contextlib import closing
from pathlib import Path
from types import SimpleNamespace

import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

pytest.importorskip("pyspark")

from retail_assets import registry  # noqa: E402
from retail_assets.analytics.customer_insights import write_customer_insights  # noqa: E402
from retail_assets.analytics.rollups import write_rollups  # noqa: E402
from retail_assets.cli import materialize_range  # noqa: E402
from retail_assets.config import SimulationConfig  # noqa: E402
from retail_assets.contracts.ledger import checked  # noqa: E402
from retail_assets.contracts.reports import rule_reports  # noqa: E402
from retail_assets.contracts.rules import Window, rules  # noqa: E402
from retail_assets.defs.location import build_definitions  # noqa: E402
from retail_assets.days import date_key, days_between  # noqa: E402
from retail_assets.engine.local import LocalEngine  # noqa: E402
from retail_assets.registry import CHAIN_STEP, CONTRACT_CHECK, Role  # noqa: E402
from retail_assets.sim import dimensions  # noqa: E402
from retail_assets.engine.connect_server import local_connect_server  # noqa: E402
from retail_assets.engine import spark as spark_engine  # noqa: E402
from retail_assets.engine.spark import SparkEngine  # noqa: E402
from retail_assets.engine.spark_session import (  # noqa: E402
    JARS_VARIABLE,
    SparkSetupError,
    delta_jars,
    local_session,
    require_jar_line,
)
from retail_assets.storage.delta import Lakehouse  # noqa: E402
from retail_assets.storage.digest import table_digests  # noqa: E402
from retail_assets.storage.queries import DuckDbQueries, SparkQueries  # noqa: E402
from retail_assets.storage.spark_lakehouse import SparkLakehouse  # noqa: E402
from retail_assets.storage.spark_tables import SparkTables  # noqa: E402
from retail_assets_tests.helpers import (  # noqa: E402
    REPOSITORY,
    assert_same_tables,
    canonical,
    log_entry,
    run_and_kill,
    sorted_rows,
)

START = dt.date(2025, 1, 1)
WARMUP_DAYS = 7  # every warm-up day is a Spark day too: a short one keeps the tests quick
TABLES = [entry.name for entry in registry.step_entries(CHAIN_STEP)]


@pytest.fixture(scope="module")
def spark():
    session = local_session()
    yield session
    session.stop()


@pytest.fixture(scope="module")
def connect(tmp_path_factory):
    """A Spark Connect session on a local Connect server (Delta on its classpath), stopped after.
    A process holds one kind of session at a time: the classic one of the tests before (they
    come first in this module) is stopped."""
    from pyspark.sql import SparkSession

    classic = SparkSession.getActiveSession()
    if classic is not None:
        classic.stop()
    with local_connect_server(tmp_path_factory.mktemp("connect") / "server.log") as url:
        session = SparkSession.builder.remote(url).getOrCreate()
        yield session
        session.stop()


def _assert_same_rows(expected: Lakehouse, got: Lakehouse, names=TABLES) -> None:
    for name in names:
        want = canonical(expected, name)
        assert want.num_rows > 0 or name == "inventory_checkpoint_scheduled_requests", name
        assert canonical(got, name).equals(want), name


@pytest.mark.parametrize("preset, location_blocks", [
    pytest.param("small", None, id="small", marks=pytest.mark.spark4_only),  # the longest: once is enough
    pytest.param("tiny", 5, id="tiny-5-blocks"),
])
def test_spark_engine_writes_the_local_engines_rows(spark, tmp_path, monkeypatch, preset, location_blocks):
    # Batches of 2 days and a ring of 3 block-row slots: the days 1-3 run commits twice and the
    # ring wraps many times (warm-up included), as a long run's 28-day batches and 29 slots do.
    monkeypatch.setattr(spark_engine, "BATCH_DAYS", 2)
    monkeypatch.setattr(spark_engine, "BLOCK_ROW_SLOTS", 3)
    config = SimulationConfig.build(preset=preset, warmup_days=WARMUP_DAYS)
    local = Lakehouse(tmp_path / "local")
    LocalEngine(config, local).write_dimensions(START, START + dt.timedelta(days=4))
    LocalEngine(config, local).run_all(START, START + dt.timedelta(days=4))

    on_spark = Lakehouse(tmp_path / "spark")
    engine = SparkEngine(config, on_spark, spark, location_blocks=location_blocks)
    assert len(engine.blocks) == (location_blocks or 2)  # local[2]: one block per core by default
    engine.write_dimensions(START, START + dt.timedelta(days=2))  # built and written by Spark tasks
    engine.run_all(START, START + dt.timedelta(days=2))
    # Days 4-5 resume from the day-3 checkpoint, split into the blocks' states.
    resumed = SparkEngine(config, on_spark, spark, location_blocks=location_blocks)
    resumed.write_dimensions(START + dt.timedelta(days=3), START + dt.timedelta(days=4))
    resumed.run_all(START + dt.timedelta(days=3), START + dt.timedelta(days=4))
    _assert_same_rows(local, on_spark, [*registry.names(Role.DIMENSION), *TABLES])


def test_runs_resume_across_engines_both_ways(spark, tmp_path):
    """Local days 1-2, Spark days 3-4 (from delta-rs's checkpoint), local days 5-6 (from
    delta-spark's): the rows of one local run."""
    config = SimulationConfig.build(preset="tiny", warmup_days=WARMUP_DAYS)
    local = Lakehouse(tmp_path / "local")
    LocalEngine(config, local).run_all(START, START + dt.timedelta(days=5))
    mixed = Lakehouse(tmp_path / "mixed")
    LocalEngine(config, mixed).run_all(START, START + dt.timedelta(days=1))
    SparkEngine(config, mixed, spark).run_all(START + dt.timedelta(days=2), START + dt.timedelta(days=3))
    LocalEngine(config, mixed).run_all(START + dt.timedelta(days=4), START + dt.timedelta(days=5))
    _assert_same_rows(local, mixed)


def _published(folder, name: str) -> tuple[pa.Table, int]:
    """A Delta table Spark wrote, read with delta-rs: its rows in the declared column order, and
    its version."""
    table = DeltaTable(str(folder / name))
    return table.to_pyarrow_table().select(registry.TABLES[name].column_names), table.version()


@pytest.mark.spark4_only  # once, on 4.2: it calls nothing of Spark the parity tests do not (CI time)
def test_a_lakehouse_spark_keeps_by_name_commits_resumes_and_recovers(spark, tmp_path):
    """Unity Catalog's shape on the session's catalog: every table a managed table named
    ``catalog.schema.table`` (no folder given), the commit ledger among them, written by Spark
    alone. Days 1-2, a batch of day 3 cut short (the sales fact left ahead of the ledger, a table
    no commit knows), then day 3 on a new writer: the cut batch is undone (``RESTORE TABLE``, the
    stray table dropped) and the tables hold the local engine's rows."""
    config = SimulationConfig.build(preset="tiny", warmup_days=WARMUP_DAYS)
    third = START + dt.timedelta(days=2)
    local = Lakehouse(tmp_path / "local")
    LocalEngine(config, local).write_dimensions(START, third)
    LocalEngine(config, local).run_all(START, third)
    schema = f"retail_store_{os.getpid()}_{tmp_path.name}"
    spark.sql(f"CREATE SCHEMA spark_catalog.{schema} LOCATION '{tmp_path / 'schema'}'")  # a warehouse of its own

    def writer() -> SparkEngine:
        store = SparkTables(catalog="spark_catalog", schema=schema)
        return SparkEngine(config, checked(SparkLakehouse(tmp_path / "scratch", spark, store,
                                                          fingerprint=config.world_fingerprint()))[1], spark)

    first = writer()
    first.write_dimensions(START, third)
    first.run_all(START, START + dt.timedelta(days=1))
    sales = first.tables.sql_name("gold_sales_fact")
    spark.sql(f"DELETE FROM {sales} WHERE date_key = 20250101")  # a write the ledger never committed
    spark.range(3).write.format("delta").saveAsTable(f"spark_catalog.{schema}.gold_stray")
    resumed = writer()
    resumed.run_all(third, third)
    assert not resumed.tables.exists(spark, "gold_stray")
    assert "_lakehouse_commits" in resumed.tables.names(spark)
    # The schema's folder is a lakehouse delta-rs reads too: the same tables, at the ledger's versions.
    _assert_same_rows(local, Lakehouse(tmp_path / "schema"), [*registry.names(Role.DIMENSION), *TABLES])


def test_a_rerun_of_a_middle_range_replaces_its_days_in_the_delta_tables(spark, tmp_path):
    """Spark writes the lakehouse's tables (delta-rs reads them); re-running days 2-3 of 1-4
    makes one new Delta version of every chain table, whose rows (counts and digests) are
    unchanged. Spark then publishes the committed days of the tables named (those whose
    contracts passed) elsewhere (Unity Catalog on Databricks): the same rows, the others not."""
    config = SimulationConfig.build(preset="tiny", warmup_days=WARMUP_DAYS)
    lakehouse = Lakehouse(tmp_path / "spark")
    publish = SparkTables(path=str(tmp_path / "published"))
    first_run = SparkEngine(config, lakehouse, spark, publish)
    first_run.run_all(START, START + dt.timedelta(days=3))
    assert not (tmp_path / "published").exists()  # nothing is published before the contracts are judged
    first_run.publish_committed(_keys(START, START + dt.timedelta(days=3), TABLES))
    digests = table_digests(lakehouse)
    versions = {name: DeltaTable(lakehouse.table_path(name)).version() for name in TABLES}
    rerun = SparkEngine(config, lakehouse, spark, publish)
    rerun.run_all(START + dt.timedelta(days=1), START + dt.timedelta(days=2))
    failed = "gold_lost_sales_fact"  # as if its contract had failed
    published = rerun.publish_committed(_keys(START + dt.timedelta(days=1), START + dt.timedelta(days=2),
                                              [name for name in TABLES if name != failed]))
    assert table_digests(lakehouse) == digests
    for name in TABLES:
        assert DeltaTable(lakehouse.table_path(name)).version() == versions[name] + 1, name
        rows, version = _published(tmp_path / "published", name)
        assert sorted_rows(rows).equals(canonical(lakehouse, name)), name
        assert (name not in published) if name == failed else published[name] == version
    assert not (lakehouse.root / "_spark").exists()  # the block rows were scratch


def _keys(first: dt.date, last: dt.date, names) -> dict[str, list[int]]:
    return {name: [date_key(day) for day in days_between(first, last)] for name in names}


@pytest.fixture(scope="module")
def local_week(tmp_path_factory):
    """A week and a day of tiny written by the local engine (the rules that need a week of data
    are evaluated); tests copy it before writing."""
    config = SimulationConfig.build(preset="tiny", warmup_days=WARMUP_DAYS)
    folder = tmp_path_factory.mktemp("local_week") / "lakehouse"
    engine = LocalEngine(config, Lakehouse(folder))
    last = START + dt.timedelta(days=7)
    engine.write_dimensions(START, last)
    engine.run_all(START, last)
    return folder, last


def test_the_business_rules_judge_alike_in_spark_sql_and_in_duckdb(spark, local_week):
    """One SQL text per rule, run by DuckDB and (transpiled) by Spark over the same committed
    tables: the same verdicts, figures and offending rows, failures included (the data is judged
    by another configuration's bands, so that some rules fail)."""
    folder, last = local_week
    lakehouse = Lakehouse(folder)
    judge = SimulationConfig.build(preset="tiny", return_delay_days=(2, 4), target_stockout_rate=0.2)
    verdicts = []
    for queries in (DuckDbQueries(lakehouse), SparkQueries(spark, lakehouse)):
        with closing(queries):
            verdicts.append([(report.check_name, report.passed, report.not_evaluated, report.markdown,
                              {key: value for key, value in report.metadata.items() if key != "validation_seconds"})
                             for report in rule_reports(queries, rules(judge), Window(START, last))])
    on_duckdb, on_spark = verdicts
    assert len(on_duckdb) == len(rules(judge)) and on_spark == on_duckdb
    passed = {name: ok for name, ok, *_ in on_duckdb}
    assert not passed["stockout_rate_latest_day"] and not passed["return_restock_delay"]
    assert passed["inventory_conservation"] and passed["inventory_constrained_sales"]
    (restock,) = [verdict for verdict in on_spark if verdict[0] == "return_restock_delay"]
    assert restock[3]["offending_rows"].count("\n") > 2  # returns restocked a day after: outside 2..4


def test_rollups_computed_and_written_by_spark_equal_duckdbs(spark, local_week, tmp_path):
    """The rollups' SQL run by DuckDB (rows through delta-rs) and by Spark (written from the
    executors): the same rows, bit for bit, in all four tables, committed in the ledger."""
    folder, last = local_week
    on_duckdb, on_spark = (Lakehouse(shutil.copytree(folder, tmp_path / store)) for store in ("duckdb", "spark"))
    rows = write_rollups(on_duckdb, START, last)
    assert write_rollups(on_spark, START, last, lambda: SparkQueries(spark, on_spark)) == rows
    for name in registry.step_assets(registry.ROLLUPS_STEP):
        assert rows[name] > 0 and on_spark.version(name) == DeltaTable(on_spark.table_path(name)).version(), name
        assert canonical(on_spark, name).equals(canonical(on_duckdb, name)), name


def test_customer_insights_computed_and_written_by_spark_equal_duckdbs(spark, local_week, tmp_path):
    """The insights' SQL on DuckDB (a temporary table sliding over the chunks) and on Spark (each
    chunk's window in the query): the same rows, bit for bit, and the same rows reported written
    when a re-run of the last days replaces them."""
    folder, last = local_week
    on_duckdb, on_spark = (Lakehouse(shutil.copytree(folder, tmp_path / store)) for store in ("duckdb", "spark"))
    in_spark = functools.partial(SparkQueries, spark, on_spark)
    rows = write_customer_insights(on_duckdb, START, last)
    assert write_customer_insights(on_spark, START, last, in_spark) == rows
    rerun = last - dt.timedelta(days=2)
    assert (write_customer_insights(on_spark, rerun, last, in_spark)
            == write_customer_insights(on_duckdb, rerun, last))
    for name in registry.step_assets(registry.INSIGHTS_STEP):
        assert rows[name] > 0, name
        assert canonical(on_spark, name).equals(canonical(on_duckdb, name)), name


@pytest.mark.parametrize("field, value", [("catalog", "main; DROP TABLE x"), ("schema", "1retail"),
                                          ("schema", "sales`.`x")])
def test_catalog_and_schema_must_be_plain_identifiers(field, value):
    names = {"catalog": "main", "schema": "retail", field: value}
    with pytest.raises(ValueError, match=f"{field}="):
        SparkTables(**names)


@pytest.mark.spark4_only  # once, on 4.2: it calls nothing of Spark the parity tests do not (CI time)
def test_in_dagster_the_engine_is_configuration_same_graph_same_checks_same_rows(spark, tmp_path, monkeypatch):
    """Same checks, outcomes and rows checked; on Spark the Dagster process reads no table's rows
    (the contracts and rules run in Spark)."""
    outcomes, checked, lakehouses, read_here = {}, {}, {}, []
    datasets = Lakehouse._to_dataset
    monkeypatch.setattr(Lakehouse, "_to_dataset", lambda self, name, *args: read_here.append(name)
                        or datasets(self, name, *args))
    for engine in ("local", "spark"):
        config = SimulationConfig.build(preset="tiny", warmup_days=WARMUP_DAYS, lakehouse_path=tmp_path / engine)
        read_here.clear()
        result = materialize_range(config, START, START + dt.timedelta(days=2), defs=build_definitions(config, engine))
        assert result.success
        outcomes[engine] = {(e.asset_key.to_user_string(), e.check_name, e.passed)
                            for e in result.get_asset_check_evaluations()}
        checked[engine] = {(e.asset_key.to_user_string(), e.check_name): e.metadata["rows_checked"].value
                           for e in result.get_asset_check_evaluations() if "rows_checked" in e.metadata}
        lakehouses[engine] = Lakehouse(tmp_path / engine)
    assert read_here == []  # the spark run's
    for name in lakehouses["spark"].tables():  # and each is a table of the session's catalog, by name
        assert spark.table(f"spark_catalog.retail.{name}").count() == lakehouses["spark"].read(name).num_rows, name
    with pytest.raises(ValueError, match=r"`retail`.`gold_sales_fact` already names the table at .*/spark/gold_sales_fact"):
        SparkTables("spark_catalog", "retail", path=str(tmp_path / "another")).register(spark, "gold_sales_fact")
    every_check = len(registry.ENTRIES) + len(rules(SimulationConfig()))  # a contract per table, the rules
    assert len(outcomes["local"]) == every_check and outcomes["spark"] == outcomes["local"]
    assert len(checked["local"]) == len(registry.ENTRIES) and checked["spark"] == checked["local"]
    _assert_same_rows(lakehouses["local"], lakehouses["spark"])
    for name in [*registry.names(Role.DIMENSION), *registry.step_assets(registry.ROLLUPS_STEP),
                 *registry.step_assets(registry.INSIGHTS_STEP)]:
        assert canonical(lakehouses["spark"], name).equals(canonical(lakehouses["local"], name)), name  # by Spark


@pytest.mark.spark4_only  # once, on 4.2: it calls nothing of Spark the parity tests do not (CI time)
def test_a_contract_broken_on_purpose_fails_the_same_checks_on_spark_as_on_local(spark, tmp_path, monkeypatch):
    """Product 1 left out of the product dimension: every table that refers to it fails its
    contract with the same failure counts, judged by Spark SQL on the rows Spark wrote as by
    Pandera on the rows delta-rs wrote."""
    products = dimensions.BUILDERS["gold_product_dim"]

    def without_product_one(world, first, last):
        rows = products(world, first, last)
        return rows.filter(pc.not_equal(rows.column("product_key"), 1))

    spark.sql("DROP SCHEMA IF EXISTS spark_catalog.retail CASCADE")  # another test's lakehouse (rows stay)
    monkeypatch.setitem(dimensions.BUILDERS, "gold_product_dim", without_product_one)
    # Spark's Python workers import the package afresh, without this patch: the broken dimension
    # is written from this process on both engines, and Spark writes everything downstream of it.
    monkeypatch.setattr(SparkEngine, "_write_dimension", LocalEngine._write_dimension)
    outcomes = {}
    for engine in ("local", "spark"):
        config = SimulationConfig.build(preset="tiny", warmup_days=WARMUP_DAYS, lakehouse_path=tmp_path / engine)
        result = materialize_range(config, START, START + dt.timedelta(days=1), raise_on_error=False,
                                   defs=build_definitions(config, engine))
        outcomes[engine] = {(e.asset_key.to_user_string(), e.check_name):
                            (e.passed, e.metadata["failures_by_check"].value if "failures_by_check" in e.metadata else {})
                            for e in result.get_asset_check_evaluations()}
    failed = {key for key, (passed, _) in outcomes["local"].items() if not passed}
    positions = Lakehouse(tmp_path / "local").read("gold_inventory_fact", columns=["product_key"])
    assert outcomes["local"][("gold_inventory_fact", CONTRACT_CHECK)][1] == {
        "references gold_product_dim.product_key": pc.sum(pc.equal(positions.column("product_key"), 1)).as_py()}
    assert {("gold_inventory_fact", CONTRACT_CHECK), ("gold_demand_forecast_fact", CONTRACT_CHECK)} <= failed
    assert outcomes["spark"] == outcomes["local"]


@pytest.mark.spark4_only  # once: what a kill leaves depends on the engine, not on the Spark line (CI time)
def test_a_backfill_killed_while_spark_writes_a_batch_resumes_to_the_local_engines_rows(tmp_path):
    """`dagster asset materialize` of every asset on the spark engine, its process group (Spark's
    JVM and Python workers with it) killed with SIGKILL while Spark writes the batch's tables (the
    chain's facts written, the checkpoint's second part just committed): the batch is invisible;
    the README's resume command (`cli run --persist`, on the same instance) fails the dead run and
    completes the range with the very rows of an uninterrupted run of the local engine."""
    days, home, on_spark = 3, tmp_path / "dagster_home", tmp_path / "spark"
    home.mkdir()
    (home / "dagster.yaml").write_text((REPOSITORY / "dagster.yaml").read_text().replace(".dagster_home/", f"{home}/"))
    env = {**os.environ, "DAGSTER_HOME": str(home), "RETAIL_ENGINE": "spark", "RETAIL_PRESET": "tiny",
           "RETAIL_DAYS": str(days), "RETAIL_WARMUP_DAYS": str(WARMUP_DAYS), "RETAIL_LAKEHOUSE_PATH": str(on_spark)}
    last = START + dt.timedelta(days=days - 1)
    backfill = [str(Path(sys.executable).parent / "dagster"), "asset", "materialize", "-m", "retail_assets.definitions",
                "--select", "*", "--partition-range", f"{START}...{last}"]
    run_and_kill(backfill, log_entry(on_spark, "inventory_checkpoint_locations", 1), tmp_path / "killed.log", env)
    assert Lakehouse(on_spark).tables() == sorted(registry.names(Role.DIMENSION))  # the batch is not committed
    resume = [sys.executable, "-m", "retail_assets.cli", "run", "--engine", "spark", "--persist"]
    done = subprocess.run(resume, cwd=REPOSITORY, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0 and "success=True" in done.stdout, done.stdout[-3000:] + done.stderr[-3000:]
    assert "had been killed: marked failed" in done.stdout
    config = SimulationConfig.build(preset="tiny", days=days, warmup_days=WARMUP_DAYS, lakehouse_path=tmp_path / "local")
    assert materialize_range(config, START, last, defs=build_definitions(config, "local")).success
    assert_same_tables(on_spark, tmp_path / "local")


def test_a_session_older_than_spark_3_5_is_refused_before_the_lakehouse_is_touched(tmp_path):
    config = SimulationConfig.build(preset="tiny", warmup_days=WARMUP_DAYS)
    engine = SparkEngine(config, Lakehouse(tmp_path / "lakehouse"), spark=SimpleNamespace(version="3.4.1"))
    with pytest.raises(SparkSetupError, match=r"Spark 3\.4\.1 is older than the Spark engine needs: use Spark 3\.5"):
        next(engine.run(START, START))
    assert not (tmp_path / "lakehouse").exists()


def test_another_spark_line_or_missing_jars_are_refused_naming_the_fix(tmp_path, monkeypatch):
    with pytest.raises(SparkSetupError, match=r"Spark 4\.1\.1: the Delta jars fetched here need Spark 4\.2\.x or 3\.5\.x"):
        require_jar_line("4.1.1")
    require_jar_line("4.2.0")
    require_jar_line("3.5.7")
    monkeypatch.setenv(JARS_VARIABLE, str(tmp_path))
    with pytest.raises(SparkSetupError, match=r"delta-spark_.*\.jar.*make \.venv/\.spark"):
        delta_jars()


@pytest.mark.spark4_only  # PySpark 3.5's Connect client pins numpy below 2, which the project needs
def test_on_spark_connect_from_the_start_date_and_resuming_from_a_local_checkpoint(connect, tmp_path):
    """Over Spark Connect (no SparkContext, no RDD): days 1-2 from the start date (the warm-up
    on the server too), day 3 on the local engine, day 4 on Connect again from delta-rs's
    checkpoint: the rows of one local run."""
    assert type(connect).__module__.startswith("pyspark.sql.connect")
    config = SimulationConfig.build(preset="tiny", warmup_days=WARMUP_DAYS)
    local = Lakehouse(tmp_path / "local")
    LocalEngine(config, local).run_all(START, START + dt.timedelta(days=3))
    mixed = Lakehouse(tmp_path / "connect")
    SparkEngine(config, mixed, connect).run_all(START, START + dt.timedelta(days=1))
    LocalEngine(config, mixed).run_all(START + dt.timedelta(days=2), START + dt.timedelta(days=2))
    SparkEngine(config, mixed, connect).run_all(START + dt.timedelta(days=3), START + dt.timedelta(days=3))
    _assert_same_rows(local, mixed)
