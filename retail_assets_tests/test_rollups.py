"""Rollups: daily / weekly / monthly aggs add up to the facts, re-runs are idempotent, Dagster wiring."""

from __future__ import annotations

import datetime as dt

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets import registry, tables
from retail_assets.analytics.rollups import (
    RATE_QUANTUM,
    SOURCE_SYSTEM,
    UNKNOWN,
    inventory_daily_agg,
    month_starts,
    sales_daily_agg,
    sales_monthly_agg,
    sales_weekly_agg,
    week_starts,
    write_rollups,
)
from retail_assets.config import SimulationConfig
from retail_assets.defs.assets import build_assets, build_rollup_assets
from retail_assets.defs.location import resources
from retail_assets.engine.local import LocalEngine
from retail_assets.registry import Role
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.queries import DuckDbQueries
from retail_assets_tests.helpers import canonical

ROLLUP_TABLES = {entry.name: entry.declaration for entry in registry.entries(Role.ROLLUP)}

START = dt.date(2025, 1, 1)  # a Wednesday
LAST = START + dt.timedelta(days=9)  # Friday 2025-01-10: the week of 6 January is to date
SALES_KEYS = ["date_key", "category_level_1", "category_level_2", "location_key", "channel_key"]
PERIOD_KEYS = ["category_level_1", "location_key", "channel_key"]
COUNTS = ["orders", "units_sold", "return_units", "lost_requests", "lost_units", "constrained_lines"]
AMOUNTS = ["gross_revenue", "discount_amount", "net_sales", "gross_margin", "return_amount", "lost_revenue"]


@pytest.fixture(scope="module")
def lakehouse(tmp_path_factory) -> Lakehouse:
    engine = LocalEngine(SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path_factory.mktemp("rollups") / "lh"))
    engine.write_dimensions(START, LAST)
    engine.run_all(START, LAST)
    rows = write_rollups(engine.lakehouse, START, LAST)
    assert set(rows) == set(ROLLUP_TABLES) and all(count > 0 for count in rows.values())
    return engine.lakehouse


def _df(lakehouse: Lakehouse, name: str) -> pd.DataFrame:
    return lakehouse.read(name).to_pandas()


def _key(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _with_categories(facts: pd.DataFrame, products: pd.DataFrame) -> pd.DataFrame:
    return facts.merge(products[["product_key", "category_level_1", "category_level_2"]], on="product_key", how="left")


def _expected_sales_daily(lakehouse: Lakehouse) -> pd.DataFrame:
    """The daily sales agg recomputed with pandas straight from the facts."""
    products = _df(lakehouse, "gold_product_dim")
    sales = _with_categories(_df(lakehouse, "gold_sales_fact"), products)
    lost = _with_categories(_df(lakehouse, "gold_lost_sales_fact"), products)
    sold, returned = sales[~sales.is_return], sales[sales.is_return]
    pieces = [
        sold.groupby(SALES_KEYS).agg(
            orders=("order_id", "nunique"), units_sold=("quantity_sold", "sum"), gross_revenue=("revenue", "sum"),
            discount_amount=("discount_amount", "sum"), constrained_lines=("is_inventory_constrained", "sum")),
        sales.groupby(SALES_KEYS).agg(net_sales=("net_sales_amount", "sum"), gross_margin=("gross_margin", "sum")),
        returned.groupby(SALES_KEYS).agg(return_units=("quantity_sold", "sum"), return_amount=("net_sales_amount", "sum"))
        .mul(-1),
        lost.groupby(SALES_KEYS).agg(lost_requests=("order_id", "size"), lost_units=("quantity_requested", "sum"),
                                     lost_revenue=("lost_revenue", "sum")),
    ]
    expected = pd.concat(pieces, axis=1).fillna(0).reset_index()
    return expected.sort_values(SALES_KEYS, ignore_index=True)


def _assert_frames_match(actual: pd.DataFrame, expected: pd.DataFrame, keys: list[str], counts, amounts) -> None:
    actual = actual.sort_values(keys, ignore_index=True)
    expected = expected.sort_values(keys, ignore_index=True)
    assert len(actual) == len(expected)
    pd.testing.assert_frame_equal(actual[keys], expected[keys], check_dtype=False)
    for column in counts:
        np.testing.assert_array_equal(actual[column].to_numpy(), expected[column].to_numpy().astype(np.int64), column)
    for column in amounts:
        np.testing.assert_allclose(actual[column].to_numpy(), expected[column].to_numpy(), rtol=1e-9, atol=1e-6,
                                   err_msg=column)


# ----------------------------------------------------------------------------- daily aggs


def test_daily_sales_agg_totals_equal_the_facts(lakehouse):
    daily = _df(lakehouse, "gold_sales_daily_agg")
    sales = _df(lakehouse, "gold_sales_fact")
    lost = _df(lakehouse, "gold_lost_sales_fact")
    sold, returned = sales[~sales.is_return], sales[sales.is_return]
    assert daily.units_sold.sum() == sold.quantity_sold.sum() > 0
    assert daily.net_sales.sum() == pytest.approx(sales.net_sales_amount.sum(), abs=1e-6)
    assert daily.gross_margin.sum() == pytest.approx(sales.gross_margin.sum(), abs=1e-6)
    assert daily.return_units.sum() == -returned.quantity_sold.sum() > 0
    assert daily.return_amount.sum() == pytest.approx(-returned.net_sales_amount.sum(), abs=1e-6)
    assert daily.lost_requests.sum() == len(lost) > 0
    assert daily.lost_units.sum() == lost.quantity_requested.sum()
    assert daily.lost_revenue.sum() == pytest.approx(lost.lost_revenue.sum(), abs=1e-6)
    assert daily.constrained_lines.sum() == sold.is_inventory_constrained.sum()
    assert sorted(daily.date_key.unique()) == [_key(START + dt.timedelta(days=i)) for i in range(10)]
    # net sales are net of returns and discounts
    np.testing.assert_allclose(daily.net_sales, daily.gross_revenue - daily.discount_amount - daily.return_amount,
                               atol=1e-6)


def test_daily_sales_agg_equals_an_independent_computation_per_grain(lakehouse):
    daily = _df(lakehouse, "gold_sales_daily_agg")
    expected = _expected_sales_daily(lakehouse)
    _assert_frames_match(daily, expected, SALES_KEYS, COUNTS, AMOUNTS)
    # rows for lost demand only (full outer join): nothing sold there
    lost_only = daily[(daily.lost_requests > 0) & (daily.orders == 0) & (daily.return_units == 0)]
    assert len(lost_only) > 0 and (lost_only.net_sales == 0).all() and lost_only.margin_rate.isna().all()
    with_sales = daily[daily.net_sales != 0]
    np.testing.assert_allclose(with_sales.margin_rate, with_sales.gross_margin / with_sales.net_sales, rtol=1e-12)
    assert (daily.source_system == SOURCE_SYSTEM).all()


def test_inventory_daily_agg_counts_the_snapshot(lakehouse):
    agg = _df(lakehouse, "gold_inventory_daily_agg")
    inventory = _df(lakehouse, "gold_inventory_fact")
    assert agg.stockout_positions.sum() == inventory.is_stockout.sum() > 0
    assert agg.positions.sum() == len(inventory)
    assert agg.overstock_positions.sum() == inventory.is_overstock.sum()
    assert agg.units_on_hand.sum() == inventory.quantity_on_hand.sum()
    assert agg.units_available.sum() == inventory.quantity_available.sum()
    assert agg.units_in_transit.sum() == inventory.quantity_in_transit.sum()
    assert agg.inventory_value.sum() == pytest.approx(inventory.total_value.sum(), rel=1e-12)
    assert agg.stockout_rate.between(0, 1).all()
    np.testing.assert_allclose(agg.stockout_rate, agg.stockout_positions / agg.positions, rtol=1e-12)
    assert not agg.duplicated(["date_key", "category_level_1", "category_level_2", "location_key"]).any()


# ------------------------------------------------------------------------ weekly, monthly


def _period_of(daily: pd.DataFrame, unit: str) -> pd.Series:
    days = pd.to_datetime(daily.date_key.astype(str), format="%Y%m%d")
    starts = days - pd.to_timedelta(days.dt.weekday, unit="D") if unit == "week" else days.dt.to_period("M").dt.start_time
    return starts.dt.strftime("%Y%m%d").astype(np.int32)


@pytest.mark.parametrize(("name", "unit", "key"), [("gold_sales_weekly_agg", "week", "week_start_date_key"),
                                                   ("gold_sales_monthly_agg", "month", "month_key")])
def test_weekly_and_monthly_equal_the_sum_of_the_daily_agg(lakehouse, name, unit, key):
    rollup = _df(lakehouse, name)
    daily = _df(lakehouse, "gold_sales_daily_agg")
    daily[key] = _period_of(daily, unit)
    expected = daily.groupby([key, *PERIOD_KEYS])[COUNTS + AMOUNTS].sum().reset_index()
    _assert_frames_match(rollup, expected, [key, *PERIOD_KEYS], COUNTS, AMOUNTS)
    for column in COUNTS + AMOUNTS:  # and so to the facts
        assert rollup[column].sum() == pytest.approx(daily[column].sum(), abs=1e-6), column

    inventory = _df(lakehouse, "gold_inventory_daily_agg")
    inventory[key] = _period_of(inventory, unit)
    per_day = inventory.groupby([key, "date_key", "category_level_1", "location_key"])[
        ["stockout_positions", "positions"]].sum()
    per_day["rate"] = per_day.stockout_positions / per_day.positions
    mean = per_day.groupby([key, "category_level_1", "location_key"]).rate.mean().rename("expected").reset_index()
    merged = rollup.merge(mean, on=[key, "category_level_1", "location_key"], how="left")
    # to the rollup's precision: each daily rate is taken to the nearest 1 / RATE_QUANTUM
    np.testing.assert_allclose(merged.avg_stockout_rate, merged.expected, rtol=0, atol=0.5 / RATE_QUANTUM)
    assert merged.avg_stockout_rate.between(0, 1).all()
    # the stockout rate is channel-independent: one value per period x department x location
    assert (rollup.groupby([key, "category_level_1", "location_key"]).avg_stockout_rate.nunique() == 1).all()


def test_periods_to_date_have_fewer_days_covered(lakehouse):
    weekly = _df(lakehouse, "gold_sales_weekly_agg")
    weeks = weekly.groupby("week_start_date_key")[["week_end_date_key", "days_covered"]].agg(["min", "max"])
    # 1-5 Jan (Wed-Sun) and 6-10 Jan (Mon-Fri): the data ends inside the second week
    assert weeks.index.tolist() == [20241230, 20250106]
    assert weeks[("days_covered", "min")].tolist() == weeks[("days_covered", "max")].tolist() == [5, 5]
    assert weeks[("week_end_date_key", "min")].tolist() == [20250105, 20250112]
    monthly = _df(lakehouse, "gold_sales_monthly_agg")
    assert set(zip(monthly.month_key, monthly.year, monthly.month, monthly.days_in_month, monthly.days_covered)) == {
        (20250101, 2025, 1, 31, 10)}


def test_period_helpers():
    assert week_starts(dt.date(2025, 1, 1), dt.date(2025, 1, 13)) == [
        dt.date(2024, 12, 30), dt.date(2025, 1, 6), dt.date(2025, 1, 13)]
    assert week_starts(dt.date(2025, 1, 6), dt.date(2025, 1, 6)) == [dt.date(2025, 1, 6)]
    assert month_starts(dt.date(2024, 12, 31), dt.date(2025, 3, 1)) == [
        dt.date(2024, 12, 1), dt.date(2025, 1, 1), dt.date(2025, 2, 1), dt.date(2025, 3, 1)]


# ------------------------------------------------------------------------- re-runs, schema


def test_rerunning_a_sub_range_is_idempotent(lakehouse, scratch):
    before = {name: canonical(scratch, name) for name in ROLLUP_TABLES}
    stamps = {name: pc.min(scratch.read(name).column(tables.ETL_TIMESTAMP)).as_py() for name in ROLLUP_TABLES}
    rows = write_rollups(scratch, START + dt.timedelta(days=3), START + dt.timedelta(days=6))  # Sat 4 .. Tue 7 Jan
    for name in ROLLUP_TABLES:
        assert canonical(scratch, name).equals(before[name]), name
    # what was rewritten: days 4-7 of the daily aggs, and both weeks and the month in full (all their days)
    daily = scratch.read("gold_sales_daily_agg").to_pandas()
    rewritten = set(daily.date_key[daily.etl_timestamp > stamps["gold_sales_daily_agg"]])
    assert rewritten == {20250104, 20250105, 20250106, 20250107}
    for name in ("gold_sales_weekly_agg", "gold_sales_monthly_agg"):
        assert (scratch.read(name).to_pandas().etl_timestamp > stamps[name]).all(), name
        assert rows[name] == before[name].num_rows


def test_days_without_data_are_replaced(lakehouse, scratch):
    """A stale daily row for a day without facts disappears when that day is rolled up again."""
    name = "gold_sales_daily_agg"
    stale = scratch.read(name, [20250110])
    stale = stale.set_column(0, "date_key", pa.array([20250111] * stale.num_rows, pa.int32()))
    scratch.write_days(name, stale.cast(ROLLUP_TABLES[name].arrow_schema), [20250111])
    write_rollups(scratch, dt.date(2025, 1, 11), dt.date(2025, 1, 11))
    assert 20250111 not in scratch.date_keys(name)
    assert scratch.read("gold_inventory_daily_agg", [20250111]).num_rows == 0
    for name in ROLLUP_TABLES:
        assert canonical(scratch, name).equals(canonical(lakehouse, name)), name


def test_products_missing_from_the_dimension_still_add_up(lakehouse, scratch):
    products = scratch.read("gold_product_dim")
    keep = pc.greater(products.column("product_key"), 10)
    scratch.replace_all("gold_product_dim", products.filter(keep))
    write_rollups(scratch, START, LAST)
    for name in ("gold_sales_daily_agg", "gold_inventory_daily_agg", "gold_sales_weekly_agg"):
        ours, theirs = _df(scratch, name), _df(lakehouse, name)
        assert (ours.category_level_1 == UNKNOWN).any(), name
        for column in ("units_sold", "net_sales", "lost_units", "stockout_positions", "positions"):
            if column in ours:
                assert ours[column].sum() == pytest.approx(theirs[column].sum(), abs=1e-6), (name, column)


def test_schema_equals_the_declaration(lakehouse):
    queries = DuckDbQueries(lakehouse)
    computed = {
        "gold_sales_daily_agg": sales_daily_agg(queries, START, LAST),
        "gold_inventory_daily_agg": inventory_daily_agg(queries, START, LAST),
        "gold_sales_weekly_agg": sales_weekly_agg(queries, START, LAST),
        "gold_sales_monthly_agg": sales_monthly_agg(queries, START, LAST),
    }
    for name, declared in ROLLUP_TABLES.items():
        assert registry.TABLES[name] is declared
        assert lakehouse.read(name).schema.equals(declared.arrow_schema), name
        assert computed[name].schema.equals(declared.generated_schema), name
        assert declared.column_names[-2:] == ["source_system", tables.ETL_TIMESTAMP]
        assert declared.partition_column in declared.column_names
        assert all(column.description for column in declared.columns)
        assert canonical(lakehouse, name).equals(computed[name].sort_by(
            [(column, "ascending") for column in computed[name].column_names])), name


# ------------------------------------------------------------------------------- Dagster


def test_rollups_materialise_with_the_chain_in_one_run(tmp_path):
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    rollup_assets = build_rollup_assets(config)
    defs = dg.Definitions(
        assets=[*build_assets(config), *rollup_assets],
        jobs=[dg.define_asset_job("everything", selection=dg.AssetSelection.all())],
        resources=resources(config),
    )
    graph = defs.resolve_asset_graph()
    for name in ROLLUP_TABLES:
        node = graph.get(dg.AssetKey(name))
        # what the rollups' SQL reads; the location, channel and date dimensions it does not
        assert {key.to_user_string() for key in node.parent_keys} == {
            "gold_sales_fact", "gold_lost_sales_fact", "gold_inventory_fact", "gold_product_dim"}
        assert node.group_name == "rollups"
    instance = dg.DagsterInstance.ephemeral()
    last = START + dt.timedelta(days=4)
    result = defs.resolve_job_def("everything").execute_in_process(
        instance=instance,
        tags={"dagster/asset_partition_range_start": START.isoformat(),
              "dagster/asset_partition_range_end": last.isoformat()},
    )
    assert result.success
    assert len(instance.get_runs()) == 1
    days = {(START + dt.timedelta(days=i)).isoformat() for i in range(5)}
    materialisations = result.asset_materializations_for_node("rollups")
    assert {m.asset_key.to_user_string() for m in materialisations} == set(ROLLUP_TABLES)
    for m in materialisations:
        assert m.metadata["dagster/row_count"].value > 0
        assert "dagster/column_schema" in m.metadata
    for name in ROLLUP_TABLES:
        assert instance.get_materialized_partitions(dg.AssetKey(name)) == days, name
    lakehouse = Lakehouse(config.lakehouse_path)
    assert lakehouse.date_keys("gold_sales_daily_agg") == {_key(START + dt.timedelta(days=i)) for i in range(5)}
    assert lakehouse.date_keys("gold_sales_weekly_agg", key_column="week_start_date_key") == {20241230}
    sales = lakehouse.read("gold_sales_fact").to_pandas()
    daily = lakehouse.read("gold_sales_daily_agg").to_pandas()
    assert daily.units_sold.sum() == sales.quantity_sold[~sales.is_return].sum()
