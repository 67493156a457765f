"""The Dagster wiring: definitions load, range runs, failures users can act on."""

from __future__ import annotations

import contextlib
import datetime as dt
import shutil

import dagster as dg
import pytest
from deltalake import DeltaTable

from retail_assets import registry
from retail_assets.cli import materialize_range
from retail_assets.config import ConfigError, SimulationConfig
from retail_assets.defs.location import DAILY_JOB, build_definitions
from retail_assets.defs.profile import PROFILE_ASSET
from retail_assets.engine.local import MAX_BATCH_DAYS, LocalEngine
from retail_assets.registry import Role
from retail_assets.storage.delta import Lakehouse

START = dt.date(2025, 1, 1)
CHAIN_TABLES = registry.names(Role.CHAIN_FACT)
ROLLUP_TABLES = registry.names(Role.ROLLUP, Role.INSIGHT)
CHAIN = (*CHAIN_TABLES, "inventory_checkpoint")  # every table the engine writes per day, then the checkpoint
DIMENSIONS = ("gold_customer_dim", "gold_product_dim", "gold_location_dim", "gold_date_dim", "gold_channel_dim",
              "gold_time_dim")


def _config(tmp_path) -> SimulationConfig:
    return SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")


def test_definitions_load_from_the_code_location():
    from retail_assets.definitions import defs

    dg.Definitions.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    daily = set(CHAIN) | set(DIMENSIONS) | set(ROLLUP_TABLES)
    assert {key.to_user_string() for key in graph.get_all_asset_keys()} == daily | {PROFILE_ASSET}
    job_keys = defs.resolve_job_def(DAILY_JOB).asset_layer.asset_graph.executable_asset_keys
    assert {key.to_user_string() for key in job_keys} == daily  # the profile is not in the daily job


def test_the_chain_specs_share_their_upstreams(tmp_path):
    """A backfill from the asset graph targets, per asset, the days reached from the roots: the
    chain's specs (one non-subsettable multi-asset) must all hang off the same parents, and none may
    depend on itself (Dagster would run it apart from its parents: two runs)."""
    graph = build_definitions(_config(tmp_path)).resolve_asset_graph()
    dimensions = {dg.AssetKey(name) for name in DIMENSIONS}
    for name in CHAIN:
        assert graph.get(dg.AssetKey(name)).parent_keys == dimensions, name


@pytest.mark.parametrize("engine, chain, rollups", [
    ("local", {"delta", "numpy"}, {"delta", "duckdb"}),
    ("spark", {"delta", "spark"}, {"delta", "spark"}),
    ("databricks", {"databricks", "spark", "delta"}, {"databricks", "spark", "delta"}),  # every step runs there
])
def test_asset_kinds_follow_the_engine(tmp_path, engine, chain, rollups):
    graph = build_definitions(_config(tmp_path), engine).resolve_asset_graph()
    assert graph.get(dg.AssetKey("gold_sales_fact")).kinds == chain
    assert graph.get(dg.AssetKey("gold_sales_daily_agg")).kinds == rollups


def _materialisations(instance: dg.DagsterInstance, name: str) -> list[dg.AssetMaterialization]:
    records = instance.fetch_materializations(dg.AssetKey(name), limit=1000).records
    return [record.asset_materialization for record in records]


def test_each_day_carries_its_own_metadata_once_per_run(tmp_path):
    instance = dg.DagsterInstance.ephemeral()
    config = _config(tmp_path)
    result = materialize_range(config, START, START + dt.timedelta(days=4), instance)
    assert result.success
    assert len(instance.get_runs()) == 1
    days = sorted((START + dt.timedelta(days=i)).isoformat() for i in range(5))
    sql = Lakehouse(config.lakehouse_path).duckdb_connection()
    for name in (*CHAIN, *DIMENSIONS, *ROLLUP_TABLES):
        events = _materialisations(instance, name)
        assert sorted(event.partition for event in events) == days, name  # one event per day, no range event
    for name in (*CHAIN_TABLES, "gold_customer_dim", "gold_sales_daily_agg"):
        column = "effective_date_key" if name.endswith("_dim") else "date_key"
        rows = dict(sql.execute(f"SELECT {column}, count(*) FROM {name} GROUP BY 1").fetchall())
        for event in _materialisations(instance, name):
            assert event.metadata["dagster/row_count"].value == rows.get(int(event.partition.replace("-", "")), 0)
    stockout = dict(sql.execute("SELECT date_key, avg(is_stockout::INT) FROM gold_inventory_fact GROUP BY 1").fetchall())
    for event in _materialisations(instance, "inventory_checkpoint"):
        assert event.metadata["stockout_rate"].value == pytest.approx(
            stockout[int(event.partition.replace("-", ""))], abs=1e-4)
    tags = instance.get_run_by_id(result.run_id).tags
    assert tags["retail_assets/range"] == "2025-01-01 .. 2025-01-05" and tags["retail_assets/days"] == "5"
    assert tags["retail_assets/committed_through"] == "2025-01-05"


def _versions(lakehouse: Lakehouse) -> dict[str, int]:
    return {name: DeltaTable(str(lakehouse.table_path(name))).version() for name in lakehouse.tables()}


def test_out_of_order_range_writes_nothing_and_names_the_first_missing_day(tmp_path):
    config = _config(tmp_path)
    assert materialize_range(config, START, START + dt.timedelta(days=2)).success
    lakehouse = Lakehouse(config.lakehouse_path)
    before = _versions(lakehouse)
    result = materialize_range(config, START + dt.timedelta(days=5), START + dt.timedelta(days=6), raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    message = failure.step_failure_data.error.to_string()
    assert "no inventory checkpoint for 2025-01-05" in message
    assert "The first day missing from the lakehouse is 2025-01-04: materialise 2025-01-04 .. 2025-01-06" in message
    assert _versions(lakehouse) == before  # not one table written, dimensions included


def test_failed_range_records_the_committed_days_and_resumes(tmp_path, monkeypatch):
    """A range failing in its second batch keeps the first batch's days materialised in Dagster
    (with their own figures), and a run from the failed day finishes the range."""
    config = _config(tmp_path)
    instance = dg.DagsterInstance.ephemeral()
    commit = LocalEngine._commit
    batches = []

    def fail_second_batch(self, writes, summaries):
        batches.append(summaries)
        if len(batches) == 2:
            raise OSError("disk went away")
        return commit(self, writes, summaries)

    monkeypatch.setattr(LocalEngine, "_commit", fail_second_batch)
    last = START + dt.timedelta(days=9)
    assert not materialize_range(config, START, last, instance, raise_on_error=False).success
    committed = sorted(event.partition for event in _materialisations(instance, "gold_sales_fact"))
    assert committed == [(START + dt.timedelta(days=i)).isoformat() for i in range(MAX_BATCH_DAYS)]
    assert all("stockout_rate" in event.metadata for event in _materialisations(instance, "inventory_checkpoint"))
    monkeypatch.setattr(LocalEngine, "_commit", commit)
    assert materialize_range(config, START + dt.timedelta(days=MAX_BATCH_DAYS), last, instance).success
    assert len(_materialisations(instance, "gold_sales_fact")) == 10


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


@pytest.fixture
def stack():
    with contextlib.ExitStack() as exits:
        yield exits


def _tick(defs: dg.Definitions, instance: dg.DagsterInstance, when: dt.datetime):
    schedule = defs.resolve_schedule_def(f"{DAILY_JOB}_schedule")
    with dg.build_schedule_context(instance=instance, scheduled_execution_time=when) as context:  # resets the
        return schedule.evaluate_tick(context)  # instance it enters, or later tests meet its dead weakref


def _requested_range(tick) -> tuple[str, str]:
    (request,) = tick.run_requests
    return request.tags["dagster/asset_partition_range_start"], request.tags["dagster/asset_partition_range_end"]


def test_partitions_cover_the_configured_range(tmp_path):
    config = SimulationConfig.build(preset="tiny", days=10, lakehouse_path=tmp_path / "lakehouse")
    partitions = build_definitions(config).resolve_job_def(DAILY_JOB).partitions_def
    keys = partitions.get_partition_keys(current_time=dt.datetime(2030, 1, 1, tzinfo=dt.timezone.utc))
    assert keys[0] == "2025-01-01" and keys[-1] == "2025-01-10" and len(keys) == 10
    # a range reaching into the future grows a day at a time, as days end
    live = SimulationConfig.build(preset="tiny", start_date="2026-11-20", days=365, lakehouse_path=tmp_path / "l")
    live_keys = build_definitions(live).resolve_job_def(DAILY_JOB).partitions_def.get_partition_keys(
        current_time=dt.datetime(2026, 12, 2, 0, 30, tzinfo=dt.timezone.utc))
    assert live_keys[-1] == "2026-12-01" and len(live_keys) == 12


def test_schedule_catches_up_an_empty_lakehouse_then_only_what_is_missing(tmp_path, stack):
    """Ticks on a live range: an empty lakehouse gets every ended day in one run; after those
    days exist, a tick two nights later asks for the two new days only; then nothing."""
    config = SimulationConfig.build(preset="tiny", start_date="2026-11-20", days=60,
                                    lakehouse_path=tmp_path / "lakehouse")
    defs = build_definitions(config)
    instance = stack.enter_context(dg.instance_for_test())  # a schedule context needs an instance ref
    night = dt.datetime(2026, 11, 25, 0, 30, tzinfo=dt.timezone.utc)
    assert _requested_range(_tick(defs, instance, night)) == ("2026-11-20", "2026-11-24")
    assert materialize_range(config, dt.date(2026, 11, 20), dt.date(2026, 11, 24), instance, defs=defs).success

    two_nights_later = night + dt.timedelta(days=2)
    first, last = _requested_range(_tick(defs, instance, two_nights_later))
    assert (first, last) == ("2026-11-25", "2026-11-26")
    assert materialize_range(config, dt.date.fromisoformat(first), dt.date.fromisoformat(last), instance,
                             defs=defs).success
    skipped = _tick(defs, instance, two_nights_later)
    assert not skipped.run_requests and "every day up to 2026-11-26 is materialised" in skipped.skip_message


def test_schedule_starts_from_the_first_day_missing_from_the_lakehouse(tmp_path, stack):
    """Dagster's record says every day is there, but the lakehouse is gone: the tick starts
    again from the first day the lakehouse does not have. A lakehouse that lost one table is
    an error naming it, not a silent restart."""
    config = SimulationConfig.build(preset="tiny", days=4, lakehouse_path=tmp_path / "lakehouse")
    defs = build_definitions(config)
    instance = stack.enter_context(dg.instance_for_test())
    assert materialize_range(config, START, START + dt.timedelta(days=3), instance, defs=defs).success
    after_the_range = dt.datetime(2025, 2, 1, 0, 30, tzinfo=dt.timezone.utc)
    assert not _tick(defs, instance, after_the_range).run_requests
    shutil.rmtree(Lakehouse(config.lakehouse_path).table_path("inventory_checkpoint"))
    with pytest.raises(dg.DagsterUserCodeExecutionError) as lost:
        _tick(defs, instance, after_the_range)
    assert "inventory_checkpoint" in str(lost.value.__cause__) and "lost" in str(lost.value.__cause__)
    shutil.rmtree(config.lakehouse_path)
    assert _requested_range(_tick(defs, instance, after_the_range)) == ("2025-01-01", "2025-01-04")
