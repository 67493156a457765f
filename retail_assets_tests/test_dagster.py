"""The Dagster wiring: definitions load, range runs, failures users can act on."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import pytest

from retail_assets.cli import materialize_range
from retail_assets.config import ConfigError, SimulationConfig
from retail_assets.definitions import DAILY_JOB, build_definitions
from retail_assets.engine.local import CHAIN_TABLES
from retail_assets.rollup_tables import ROLLUP_TABLES

START = dt.date(2025, 1, 1)
CHAIN = (*CHAIN_TABLES, "inventory_checkpoint")  # every table the engine writes per day, then the checkpoint
DIMENSIONS = ("gold_customer_dim", "gold_product_dim", "gold_location_dim", "gold_date_dim", "gold_channel_dim",
              "gold_time_dim")


def _config(tmp_path) -> SimulationConfig:
    return SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")


def test_definitions_load_from_the_code_location():
    from retail_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    expected = set(CHAIN) | set(DIMENSIONS) | set(ROLLUP_TABLES)
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == expected
    assert defs.resolve_job_def(DAILY_JOB) is not None


def test_only_the_checkpoint_depends_on_its_previous_day(tmp_path):
    graph = build_definitions(_config(tmp_path)).resolve_asset_graph()
    checkpoint = dg.AssetKey("inventory_checkpoint")
    assert checkpoint in graph.get(checkpoint).parent_keys
    for name in CHAIN[:-1]:
        assert checkpoint not in graph.get(dg.AssetKey(name)).parent_keys


def test_range_materialises_in_one_run_with_per_day_progress(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    result = materialize_range(_config(tmp_path), START, START + dt.timedelta(days=4), instance)
    assert result.success
    assert len(instance.get_runs()) == 1
    days = {(START + dt.timedelta(days=i)).isoformat() for i in range(5)}
    for name in CHAIN + DIMENSIONS:
        assert instance.get_materialized_partitions(dg.AssetKey(name)) >= days, name
    progress = [m for m in result.asset_materializations_for_node("daily_chain")
                if m.asset_key == dg.AssetKey("gold_sales_fact") and "stockout_rate" in m.metadata]
    assert sorted(m.partition for m in progress) == sorted(days)  # one progress event per committed day
    assert all(m.metadata["dagster/row_count"].value > 0 for m in progress)
    assert all(0.0 <= m.metadata["stockout_rate"].value <= 1.0 for m in progress)


def test_missing_checkpoint_fails_with_the_missing_day(tmp_path):
    result = materialize_range(
        _config(tmp_path), START + dt.timedelta(days=5), START + dt.timedelta(days=6), raise_on_error=False
    )
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE
                   and e.step_key == "daily_chain")
    assert "no inventory checkpoint for 2025-01-05" in failure.step_failure_data.error.to_string()


def test_resumes_from_the_last_committed_day(tmp_path):
    config = _config(tmp_path)
    assert materialize_range(config, START, START + dt.timedelta(days=2)).success
    assert materialize_range(config, START + dt.timedelta(days=3), START + dt.timedelta(days=5)).success


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("RETAIL_CUSTOMERS", "-5", "customers"),
        ("RETAIL_RETURN_RATE", "1.5", "return_rate"),
        ("RETAIL_TARGET_STOCKOUT_RATE", "-0.1", "target_stockout_rate"),
        ("RETAIL_PRESET", "huge", "preset"),
        ("RETAIL_DAYS", "0", "days"),
        ("RETAIL_START_DATE", "2025-13-01", "start_date"),
    ],
)
def test_bad_config_names_the_field_and_the_allowed_values(variable, value, field):
    with pytest.raises(ConfigError) as error:
        SimulationConfig.from_env({variable: value})
    message = str(error.value)
    assert field in message and value in message


def test_unwritable_lakehouse_is_rejected(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="lakehouse_path"):
        SimulationConfig.build(lakehouse_path=blocker)
    with pytest.raises(ConfigError, match="lakehouse_path"):
        SimulationConfig.build(lakehouse_path=blocker / "lakehouse")


def test_schedule_targets_yesterday(tmp_path):
    defs = build_definitions(_config(tmp_path))
    schedule = defs.resolve_schedule_def(f"{DAILY_JOB}_schedule")
    context = dg.build_schedule_context(scheduled_execution_time=dt.datetime(2025, 1, 10, 0, 30, tzinfo=dt.timezone.utc))
    run_requests = schedule.evaluate_tick(context).run_requests
    assert [request.partition_key for request in run_requests] == ["2025-01-09"]
