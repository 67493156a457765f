"""The embedded engine end to end: Delta tables, checkpoints, determinism, the small preset."""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pytest

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.engine.local import LocalEngine, MissingCheckpointError
from retail_assets.registry import Role
from retail_assets.storage.delta import Lakehouse
from retail_assets_tests.helpers import canonical

START = dt.date(2025, 1, 1)
PUBLISHED = list(registry.names(Role.DIMENSION, Role.CHAIN_FACT))  # what the engine writes, but its state


def _engine(path, **overrides) -> LocalEngine:
    return LocalEngine(SimulationConfig.build(preset="tiny", lakehouse_path=path, **overrides))


def _day(offset: int) -> dt.date:
    return START + dt.timedelta(days=offset)


def _run(engine: LocalEngine, first: int, last: int) -> None:
    engine.write_dimensions(_day(first), _day(last))
    engine.run_all(_day(first), _day(last))


def _assert_same_tables(left: Lakehouse, right: Lakehouse, names) -> None:
    for name in names:
        assert canonical(left, name).equals(canonical(right, name)), name


@pytest.fixture(scope="module")
def range_run(tmp_path_factory):
    path = tmp_path_factory.mktemp("range") / "lakehouse"
    engine = _engine(path)
    _run(engine, 0, 9)
    return engine.lakehouse


def test_day_by_day_equals_range_run(range_run, tmp_path):
    engine = _engine(tmp_path / "lakehouse")
    for offset in range(10):
        _run(_engine(tmp_path / "lakehouse"), offset, offset)  # a fresh process-like engine per day
    _assert_same_tables(engine.lakehouse, range_run, PUBLISHED + list(registry.names(Role.CHECKPOINT_PART)))


def test_rerunning_days_is_idempotent(range_run, tmp_path):
    engine = _engine(tmp_path / "lakehouse")
    _run(engine, 0, 9)
    _run(engine, 3, 6)  # re-run the middle of the range from its checkpoint
    _assert_same_tables(engine.lakehouse, range_run, PUBLISHED)
    sales = engine.lakehouse.read("gold_sales_fact")
    assert sales.num_rows == range_run.read("gold_sales_fact").num_rows


def test_different_seed_gives_different_data(range_run, tmp_path):
    engine = _engine(tmp_path / "lakehouse", seed=7)
    _run(engine, 0, 2)
    ours = canonical(engine.lakehouse, "gold_sales_fact")
    theirs = canonical(range_run, "gold_sales_fact").filter(pa.compute.less_equal(pa.compute.field("date_key"), 20250103))
    assert not ours.equals(theirs)


def test_missing_checkpoint_names_the_day(tmp_path):
    engine = _engine(tmp_path / "lakehouse")
    with pytest.raises(MissingCheckpointError, match="2025-01-04"):
        engine.run_all(_day(4), _day(6))
    assert not engine.lakehouse.exists("gold_sales_fact")


def test_failed_commit_stops_the_run_at_the_last_committed_batch(tmp_path, monkeypatch):
    """Batches are written in the background while the next is simulated: a failed write must
    surface, and no later batch may be committed after it."""
    monkeypatch.setattr("retail_assets.engine.local.MAX_BATCH_DAYS", 2)
    engine = _engine(tmp_path / "lakehouse")
    engine.write_dimensions(_day(0), _day(7))
    commit = engine._commit
    calls = []

    def commit_failing_second_batch(writes, summaries):
        calls.append(summaries[0].date_key)
        if len(calls) == 2:
            raise OSError("disk full")
        return commit(writes, summaries)

    monkeypatch.setattr(engine, "_commit", commit_failing_second_batch)
    committed = []
    with pytest.raises(OSError, match="disk full"):
        for summaries in engine.run(_day(0), _day(7)):
            committed.extend(summary.date_key for summary in summaries)
    assert committed == [20250101, 20250102]
    assert calls == [20250101, 20250103]  # nothing after the failed batch
    assert engine.lakehouse.date_keys("inventory_checkpoint") == {20250101, 20250102}
    assert engine.lakehouse.date_keys("gold_sales_fact") == {20250101, 20250102}


def test_empty_range_is_rejected(tmp_path):
    with pytest.raises(ValueError, match="empty range"):
        _engine(tmp_path / "lakehouse").run_all(_day(3), _day(2))


def test_partitions_hold_their_days(range_run):
    keys = {int(f"2025010{d}") if d < 10 else 0 for d in range(1, 10)} | {20250110}
    for name in ("gold_sales_fact", "gold_inventory_fact", "inventory_checkpoint"):
        assert range_run.date_keys(name) == keys, name


def test_small_preset_stockout_rate_in_band(small_run):
    lakehouse, result = small_run
    assert len(result.days) == 90
    sql = lakehouse.duckdb_connection()
    overall, last = sql.execute(
        """SELECT avg(is_stockout::INT),
                  (SELECT avg(is_stockout::INT) FROM gold_inventory_fact
                    WHERE date_key = (SELECT max(date_key) FROM gold_inventory_fact))
           FROM gold_inventory_fact"""
    ).fetchone()
    assert 0.05 <= overall <= 0.10, overall
    assert 0.05 <= last <= 0.10, last


def test_small_preset_reference_validations(small_run):
    """The reference system's validation queries, run as SQL over the Delta tables."""
    lakehouse, _ = small_run
    sql = lakehouse.duckdb_connection()
    constrained, lost_quantity = sql.execute(
        """SELECT sum(is_inventory_constrained::INT), sum(quantity_requested - quantity_sold)
           FROM gold_sales_fact WHERE NOT is_return"""
    ).fetchone()
    assert constrained > 0 and lost_quantity > 0
    assert sql.execute("SELECT count(*) FROM gold_lost_sales_fact").fetchone()[0] > 0
    assert sql.execute("SELECT count(*) FROM gold_inventory_fact WHERE quantity_available < 0").fetchone()[0] == 0
    low, high, mean = sql.execute(
        """SELECT min(d2.calendar_date - d1.calendar_date), max(d2.calendar_date - d1.calendar_date),
                  avg(d2.calendar_date - d1.calendar_date)
           FROM gold_sales_fact s
           JOIN gold_date_dim d1 ON s.date_key = d1.date_key
           JOIN gold_date_dim d2 ON s.return_restocked_date_key = d2.date_key
           WHERE s.is_return"""
    ).fetchone()
    assert (low, high) == (1, 3) and 1.8 <= mean <= 2.2


def test_small_preset_conservation_in_sql(small_run):
    lakehouse, _ = small_run
    violations = lakehouse.duckdb_connection().execute(
        """SELECT count(*) FROM (
             SELECT quantity_on_hand,
                    lag(quantity_on_hand) OVER (PARTITION BY product_key, location_key ORDER BY date_key) AS previous,
                    units_received + units_transferred_in - units_transferred_out - units_sold
                      + units_restocked + units_adjusted AS net_flow
             FROM gold_inventory_fact)
           WHERE previous IS NOT NULL AND quantity_on_hand <> previous + net_flow"""
    ).fetchone()[0]
    assert violations == 0


def test_every_fact_key_has_a_dimension_row(small_run):
    lakehouse, _ = small_run
    sql = lakehouse.duckdb_connection()
    for fact in ("gold_sales_fact", "gold_lost_sales_fact"):
        for dim, key in (("gold_customer_dim", "customer_key"), ("gold_product_dim", "product_key"),
                         ("gold_location_dim", "location_key"), ("gold_channel_dim", "channel_key"),
                         ("gold_date_dim", "date_key"), ("gold_time_dim", "time_key")):
            orphans = sql.execute(
                f"SELECT count(*) FROM {fact} f ANTI JOIN {dim} d USING ({key})"
            ).fetchone()[0]
            assert orphans == 0, (fact, key)
