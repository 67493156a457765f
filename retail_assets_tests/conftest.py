"""Shared fixtures: one `small` preset run (90 days) written to Delta, reused by every test module."""

from __future__ import annotations

import shutil

import pytest

from retail_assets.config import SimulationConfig
from retail_assets.engine.local import LocalEngine
from retail_assets.storage.delta import Lakehouse


@pytest.fixture(scope="session")
def small_run(tmp_path_factory):
    """(lakehouse, RangeResult) of the small preset's default range through the local engine."""
    path = tmp_path_factory.mktemp("small") / "lakehouse"
    engine = LocalEngine(SimulationConfig.build(preset="small", lakehouse_path=path))
    config = engine.config
    engine.write_dimensions(config.start_date, config.end_date)
    result = engine.run_all(config.start_date, config.end_date)
    return engine.lakehouse, result


@pytest.fixture
def scratch(lakehouse, tmp_path) -> Lakehouse:
    """A copy of the requesting module's ``lakehouse`` fixture that a test may change."""
    shutil.copytree(lakehouse.root, tmp_path / "lh")
    return Lakehouse(tmp_path / "lh")
