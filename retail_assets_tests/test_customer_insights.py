"""Customer insights: affinity rows and measures recomputed with pandas from the facts, size-fit bridge
against the returns, the refresh of earlier sale days by later returns, idempotent re-runs, Dagster."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import dagster as dg
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets import registry, tables
from retail_assets.analytics import customer_insights
from retail_assets.analytics.customer_insights import (
    SIZE_ORDERS,
    SOURCE_SYSTEM,
    customer_product_affinity,
    size_fit_bridge,
    size_fit_bridge_days,
    write_customer_insights,
)
from retail_assets.config import SimulationConfig
from retail_assets.defs.assets import (
    build_assets,
    build_customer_insight_assets,
    build_rollup_assets,
)
from retail_assets.defs.location import resources
from retail_assets.engine.local import LocalEngine
from retail_assets.registry import Role
from retail_assets.rollup_tables import AFFINITY_WINDOW_DAYS
from retail_assets.sim.catalog import UNKNOWN_CUSTOMER_KEY
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.queries import DuckDbQueries
from retail_assets_tests.helpers import canonical

CUSTOMER_INSIGHT_TABLES = {entry.name: entry.declaration for entry in registry.entries(Role.INSIGHT)}
SALES_ROLLUP_TABLES = registry.names(Role.ROLLUP)

START = dt.date(2025, 1, 1)
MID = START + dt.timedelta(days=5)  # the first run writes 1-6 January
LAST = START + dt.timedelta(days=11)  # the second run 7-12 January
AFFINITY = "gold_customer_product_affinity_agg"
BRIDGE = "gold_size_fit_bridge"
PAIR = ["customer_key", "product_key"]
MEASURES = ["purchases", "units_purchased", "returns", "product_views", "add_to_carts"]


def _key(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def _ordinal(keys: pd.Series) -> pd.Series:
    return pd.to_datetime(keys.astype(str), format="%Y%m%d").map(dt.datetime.toordinal)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> SimpleNamespace:
    """The tiny preset written in two runs (1-6 January, then 7-12 January), each followed by the
    customer insights of its days, as the daily chain and this asset run in production."""
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path_factory.mktemp("insights") / "lh")
    engine = LocalEngine(config)
    after_first_run = None
    for first, last in ((START, MID), (MID + dt.timedelta(days=1), LAST)):
        engine.write_dimensions(first, last)
        engine.run_all(first, last)
        rows = write_customer_insights(engine.lakehouse, first, last)
        assert set(rows) == set(CUSTOMER_INSIGHT_TABLES) and all(count > 0 for count in rows.values())
        if after_first_run is None:
            after_first_run = engine.lakehouse.read(BRIDGE).to_pandas()
    return SimpleNamespace(lakehouse=engine.lakehouse, bridge_after_first_run=after_first_run)


@pytest.fixture(scope="module")
def lakehouse(built) -> Lakehouse:
    return built.lakehouse


def _df(lakehouse: Lakehouse, name: str) -> pd.DataFrame:
    return lakehouse.read(name).to_pandas()


def _activity(lakehouse: Lakehouse) -> pd.DataFrame:
    """One row per fact row that counts for the affinity: members' sale lines, returns, views,
    add-to-carts (the unknown member's are nobody's)."""
    sales = _df(lakehouse, "gold_sales_fact")
    events = _df(lakehouse, "gold_customer_event_fact")
    events = events[events.event_type.isin(["product_view", "add_to_cart"])]
    activity = pd.concat([
        pd.DataFrame({"date_key": sales.date_key, "customer_key": sales.customer_key,
                      "product_key": sales.product_key,
                      "purchases": (~sales.is_return).astype(int),
                      "units_purchased": np.where(sales.is_return, 0, sales.quantity_sold),
                      "returns": sales.is_return.astype(int), "product_views": 0, "add_to_carts": 0}),
        pd.DataFrame({"date_key": events.date_key, "customer_key": events.customer_key,
                      "product_key": events.product_key.astype(int), "purchases": 0, "units_purchased": 0,
                      "returns": 0, "product_views": (events.event_type == "product_view").astype(int),
                      "add_to_carts": (events.event_type == "add_to_cart").astype(int)}),
    ], ignore_index=True)
    activity = activity[activity.customer_key != UNKNOWN_CUSTOMER_KEY].copy()
    activity["interacted"] = (activity.purchases + activity.product_views + activity.add_to_carts) > 0
    activity["day"] = _ordinal(activity.date_key)
    return activity


def _expected_measures(rows: pd.DataFrame, activity: pd.DataFrame, window: int) -> pd.DataFrame:
    """The window measures of ``rows`` (date_key x pair) recomputed from the fact rows."""
    rows = rows[["date_key", *PAIR]].copy()
    rows["row_day"] = _ordinal(rows.date_key)
    history = rows.merge(activity.drop(columns="date_key"), on=PAIR)
    in_window = history[(history.day <= history.row_day) & (history.day > history.row_day - window)]
    sums = in_window.groupby(["date_key", *PAIR])[MEASURES].sum()
    before = history[history.interacted & (history.day < history.row_day) & (history.day > history.row_day - window)]
    previous = before.groupby(["date_key", *PAIR]).day.max()
    row_days = rows.set_index(["date_key", *PAIR]).row_day
    sums["days_since_last_interaction"] = row_days - previous  # NaN where none
    return sums.reset_index()


# ------------------------------------------------------------------------------ affinity


def test_affinity_rows_are_exactly_the_pairs_with_an_interaction_that_day(lakehouse):
    affinity = _df(lakehouse, AFFINITY)
    activity = _activity(lakehouse)
    expected = set(map(tuple, activity.loc[activity.interacted, ["date_key", *PAIR]].drop_duplicates().to_numpy()))
    actual = list(map(tuple, affinity[["date_key", *PAIR]].to_numpy()))
    assert len(actual) == len(set(actual)) > 1000  # one row per day x pair
    assert set(actual) == expected
    # a return alone is not an interaction: some pairs returned a product on a day without another row
    returns_only = set(map(tuple, activity.loc[activity.returns > 0, ["date_key", *PAIR]].to_numpy())) - expected
    assert returns_only
    assert sorted(affinity.date_key.unique()) == [_key(START + dt.timedelta(days=i)) for i in range(12)]
    assert (affinity.last_interaction_date == pd.to_datetime(affinity.date_key.astype(str)).dt.date).all()
    assert (affinity.source_system == SOURCE_SYSTEM).all()


def test_affinity_counts_equal_pandas_over_the_trailing_window(lakehouse):
    affinity = _df(lakehouse, AFFINITY)
    sample = affinity.sample(n=min(1500, len(affinity)), random_state=7)
    expected = _expected_measures(sample, _activity(lakehouse), AFFINITY_WINDOW_DAYS)
    merged = sample.merge(expected, on=["date_key", *PAIR], suffixes=("", "_expected"), validate="1:1")
    assert len(merged) == len(sample)
    for column in MEASURES:
        np.testing.assert_array_equal(merged[column], merged[f"{column}_expected"], column)
    np.testing.assert_array_equal(merged.days_since_last_interaction.astype(float),
                                  merged.days_since_last_interaction_expected.astype(float))
    assert merged.days_since_last_interaction.notna().any() and merged.days_since_last_interaction.isna().any()
    assert (merged.purchases + merged.product_views + merged.add_to_carts > 0).all()


def test_the_window_excludes_older_days(lakehouse, monkeypatch):
    """With a 4-day window (12 days of data do not reach the 90-day boundary) every measure and the
    previous interaction only see D-3..D, for every row of the last 6 days."""
    window = 4
    monkeypatch.setattr(customer_insights, "AFFINITY_WINDOW_DAYS", window)
    computed = customer_product_affinity(DuckDbQueries(lakehouse), MID + dt.timedelta(days=1), LAST).to_pandas()
    expected = _expected_measures(computed, _activity(lakehouse), window)
    merged = computed.merge(expected, on=["date_key", *PAIR], suffixes=("", "_expected"), validate="1:1")
    assert len(merged) == len(computed) > 500
    for column in [*MEASURES, "days_since_last_interaction"]:
        np.testing.assert_array_equal(merged[column].astype(float), merged[f"{column}_expected"].astype(float), column)
    assert merged.days_since_last_interaction.max() == window - 1
    # and the full-window rows of the same days count more: the older days were really dropped
    full = _df(lakehouse, AFFINITY).merge(computed, on=["date_key", *PAIR], suffixes=("", "_short"))
    assert (full.product_views >= full.product_views_short).all()
    assert (full.product_views > full.product_views_short).any()


def test_scores_ratios_and_cltv_follow_the_documented_formulas(lakehouse):
    affinity = _df(lakehouse, AFFINITY)
    assert affinity.affinity_score.between(0, 1).all()
    engagement = (3 * affinity.purchases - 2 * affinity.returns + affinity.add_to_carts + 0.3 * affinity.product_views)
    saturating = engagement.clip(lower=0) / (engagement.clip(lower=0) + 3.5)
    np.testing.assert_allclose(affinity.affinity_score, saturating, rtol=1e-12)
    assert affinity.affinity_score.max() < 1  # approaching 1, never reaching it
    assert (affinity.affinity_score[engagement > 0] > 0).all()
    views, carts = affinity.product_views, affinity.add_to_carts
    assert affinity.view_to_purchase_ratio.isna().equals(views == 0)
    assert affinity.cart_to_purchase_ratio.isna().equals(carts == 0)
    np.testing.assert_allclose(affinity.view_to_purchase_ratio[views > 0], (affinity.purchases / views)[views > 0])
    np.testing.assert_allclose(affinity.cart_to_purchase_ratio[carts > 0], (affinity.purchases / carts)[carts > 0])

    products = _df(lakehouse, "gold_product_dim")[["product_key", "base_price", "category_level_1"]]
    merged = affinity.merge(products, on="product_key", suffixes=("", "_dim"), validate="m:1")
    assert (merged.category_level_1 == merged.category_level_1_dim).all()
    expected = merged.affinity_score * merged.base_price * merged.purchases.clip(lower=1) * 365 / AFFINITY_WINDOW_DAYS
    np.testing.assert_allclose(merged.predicted_cltv_impact, expected, rtol=1e-12)
    assert (merged.predicted_cltv_impact >= 0).all()


def test_recommendation_rank_is_dense_per_customer_day_by_score(lakehouse):
    affinity = _df(lakehouse, AFFINITY)
    ordered = affinity.sort_values(["date_key", "customer_key", "recommendation_rank"])
    groups = ordered.groupby(["date_key", "customer_key"])
    np.testing.assert_array_equal(ordered.recommendation_rank, groups.cumcount() + 1)  # 1..n, no gaps or ties
    assert (groups.size() > 1).any()
    previous_score = groups.affinity_score.shift()
    previous_product = groups.product_key.shift()
    follows = previous_score.notna()
    assert (ordered.affinity_score[follows] <= previous_score[follows]).all()
    ties = follows & (ordered.affinity_score == previous_score)
    assert ties.any() and (ordered.product_key[ties] > previous_product[ties]).all()


# ------------------------------------------------------------------------------ size fit


def _size_position(size: pd.Series) -> pd.Series:
    positions = {s: i for sizes in SIZE_ORDERS.values() for i, s in enumerate(sizes)}
    return size.map(positions)


def test_one_bridge_row_per_sized_sale_line(lakehouse):
    bridge = _df(lakehouse, BRIDGE)
    sales = _df(lakehouse, "gold_sales_fact")
    lines = sales[~sales.is_return & (sales["size"] != "One Size")]
    assert bridge.sale_id.is_unique and len(bridge) > 1000
    assert set(bridge.sale_id) == set(lines.sale_id)
    merged = bridge.merge(lines, on="sale_id", suffixes=("", "_sale"), validate="1:1")
    for column in ("date_key", "customer_key", "product_key"):
        assert (merged[column] == merged[f"{column}_sale"]).all(), column
    assert (merged.ordered_size == merged["size"]).all()
    products = _df(lakehouse, "gold_product_dim")[["product_key", "size_range", "category_level_1"]]
    merged = merged.merge(products, on="product_key", suffixes=("", "_dim"))
    assert (merged.size_range == merged.size_range_dim).all()
    assert set(merged.category_level_1) == {"Apparel", "Footwear"}
    assert set(bridge.size_range) == set(SIZE_ORDERS)
    assert all(size in SIZE_ORDERS[system] for size, system in zip(bridge.ordered_size, bridge.size_range))


def test_fit_follows_the_lines_return(lakehouse):
    bridge = _df(lakehouse, BRIDGE)
    sales = _df(lakehouse, "gold_sales_fact")
    returns = sales[sales.is_return & sales.original_sale_id.notna()][["original_sale_id", "return_reason", "date_key"]]
    merged = bridge.merge(returns, left_on="sale_id", right_on="original_sale_id", how="left",
                          suffixes=("", "_fact"), validate="1:1")
    returned = merged.original_sale_id.notna()
    assert returned.any() and (~returned).any()
    assert (merged.is_returned == returned).all()
    assert (merged.return_reason[returned] == merged.return_reason_fact[returned]).all()
    assert merged.return_reason[~returned].isna().all()
    assert (merged.return_date_key[returned] == merged.date_key_fact[returned]).all()
    assert (merged.return_date_key[returned] > merged.date_key[returned]).all()
    size_return = merged.return_reason_fact.isin(["too_small", "too_large"])
    assert (merged.fit_description[size_return] == merged.return_reason_fact[size_return]).all()
    assert (merged.fit_description[~size_return] == "perfect").all()
    assert set(merged.fit_description[returned & ~size_return]) == {"perfect"}  # returned, not for the size
    assert set(merged.fit_description) == {"perfect", "too_small", "too_large"}
    np.testing.assert_array_equal(merged.fit_score, np.where(size_return, 0.3, 1.0))
    assert merged.kept_size[returned].isna().all()
    assert (merged.kept_size[~returned] == merged.ordered_size[~returned]).all()


def test_recommended_size_moves_in_the_right_direction(lakehouse):
    bridge = _df(lakehouse, BRIDGE)
    top = bridge.size_range.map({system: len(sizes) - 1 for system, sizes in SIZE_ORDERS.items()})
    ordered, recommended = _size_position(bridge.ordered_size), _size_position(bridge.recommended_size)
    assert recommended.notna().all()
    step = recommended - ordered
    small, large, perfect = (bridge.fit_description == v for v in ("too_small", "too_large", "perfect"))
    assert (step[perfect] == 0).all()
    assert (step[small] == np.where(ordered[small] == top[small], 0, 1)).all()
    assert (step[large] == np.where(ordered[large] == 0, 0, -1)).all()
    assert (step[small] == 1).any() and (step[large] == -1).any()
    assert all(size in SIZE_ORDERS[system] for size, system in zip(bridge.recommended_size, bridge.size_range))


def test_profile_size_comes_from_the_customers_profile_of_that_system(lakehouse):
    bridge = _df(lakehouse, BRIDGE)
    customers = _df(lakehouse, "gold_customer_dim")[["customer_key", "size_profile_tops", "size_profile_bottoms"]]
    merged = bridge.merge(customers, on="customer_key", validate="m:1")
    anonymous = merged.customer_key == UNKNOWN_CUSTOMER_KEY  # an anonymous line has no profile
    assert anonymous.any() and merged.profile_size[anonymous].isna().all()
    merged = merged[~anonymous]
    tops, bottoms, shoes = (merged.size_range == system for system in ("XS-XXL", "26-40", "5-12"))
    assert tops.any() and bottoms.any() and shoes.any()
    assert (merged.profile_size[tops] == merged.size_profile_tops[tops]).all()
    assert (merged.profile_size[bottoms] == merged.size_profile_bottoms[bottoms]).all()
    assert merged.profile_size[shoes].isna().all()


# ------------------------------------------------------------------------ refresh, re-runs


def test_a_return_written_later_updates_the_earlier_sale_days_row(built, lakehouse, scratch):
    before = built.bridge_after_first_run.set_index("sale_id")
    after = _df(lakehouse, BRIDGE).set_index("sale_id")
    assert before.date_key.max() == _key(MID)
    common = after.loc[before.index]  # every line of the first run's days is still there
    updated = before.index[~before.is_returned & common.is_returned.to_numpy()]
    assert len(updated) > 0
    assert (common.loc[updated, "return_date_key"] > _key(MID)).all()  # returns of the second run
    assert (common.loc[updated, "date_key"] <= _key(MID)).all()  # rows of the first run's days
    assert common.loc[updated, "kept_size"].isna().all()
    # the two incremental runs leave exactly what one run over all the days computes
    write_customer_insights(scratch, START, LAST)
    for name in CUSTOMER_INSIGHT_TABLES:
        assert canonical(scratch, name).equals(canonical(lakehouse, name)), name


def test_bridge_days_are_the_run_days_plus_the_sale_days_of_their_returns(lakehouse):
    sales = _df(lakehouse, "gold_sales_fact")
    first, last = START + dt.timedelta(days=8), LAST
    run_days = {_key(first + dt.timedelta(days=i)) for i in range((last - first).days + 1)}
    returns = sales[sales.is_return & sales.date_key.isin(run_days)]
    lines = sales[~sales.is_return & (sales["size"] != "One Size")]
    returned_days = set(lines.date_key[lines.sale_id.isin(returns.original_sale_id)])
    assert returned_days - run_days  # returns of the run reach back before it
    assert size_fit_bridge_days(DuckDbQueries(lakehouse), first, last) == sorted(run_days | returned_days)


def test_rerunning_a_sub_range_is_idempotent(lakehouse, scratch):
    before = {name: canonical(scratch, name) for name in CUSTOMER_INSIGHT_TABLES}
    stamps = {name: pc.max(scratch.read(name).column(tables.ETL_TIMESTAMP)).as_py() for name in CUSTOMER_INSIGHT_TABLES}
    first, last = START + dt.timedelta(days=3), START + dt.timedelta(days=7)  # 4..8 January
    bridge_days = size_fit_bridge_days(DuckDbQueries(scratch), first, last)
    rows = write_customer_insights(scratch, first, last)
    for name in CUSTOMER_INSIGHT_TABLES:
        assert canonical(scratch, name).equals(before[name]), name
    affinity = _df(scratch, AFFINITY)
    assert set(affinity.date_key[affinity.etl_timestamp > stamps[AFFINITY]]) == {_key(first + dt.timedelta(days=i))
                                                                                for i in range(5)}
    bridge = _df(scratch, BRIDGE)
    rewritten = bridge[bridge.etl_timestamp > stamps[BRIDGE]]
    assert set(rewritten.date_key) == set(bridge_days) and min(bridge_days) < _key(first)
    assert rows[BRIDGE] == len(rewritten) and rows[AFFINITY] == (affinity.etl_timestamp > stamps[AFFINITY]).sum()


def test_days_without_data_are_replaced(lakehouse, scratch):
    """Stale rows of a day without facts disappear when that day is written again."""
    day = LAST + dt.timedelta(days=1)
    for name in CUSTOMER_INSIGHT_TABLES:
        stale = scratch.read(name, [_key(LAST)])
        index = stale.column_names.index("date_key")
        stale = stale.set_column(index, "date_key", pa.array([_key(day)] * stale.num_rows, pa.int32()))
        scratch.write_days(name, stale.cast(CUSTOMER_INSIGHT_TABLES[name].arrow_schema), [_key(day)])
        assert _key(day) in scratch.date_keys(name)
    rows = write_customer_insights(scratch, day, day)
    assert rows == {AFFINITY: 0, BRIDGE: 0}
    for name in CUSTOMER_INSIGHT_TABLES:
        assert _key(day) not in scratch.date_keys(name)
        assert canonical(scratch, name).equals(canonical(lakehouse, name)), name


def test_schema_equals_the_declaration(lakehouse):
    queries = DuckDbQueries(lakehouse)
    computed = {
        AFFINITY: customer_product_affinity(queries, START, LAST),
        BRIDGE: size_fit_bridge(queries, [_key(START + dt.timedelta(days=i)) for i in range(12)]),
    }
    for name, declared in CUSTOMER_INSIGHT_TABLES.items():
        assert lakehouse.read(name).schema.equals(declared.arrow_schema), name
        assert computed[name].schema.equals(declared.generated_schema), name
        assert declared.column_names[-2:] == ["source_system", tables.ETL_TIMESTAMP]
        assert declared.partition_column == "date_key"
        assert all(column.description for column in declared.columns)
        assert canonical(lakehouse, name).equals(computed[name].sort_by(
            [(column, "ascending") for column in computed[name].column_names])), name


def test_missing_source_table_is_named(tmp_path):
    with pytest.raises(LookupError, match="gold_sales_fact"):
        write_customer_insights(Lakehouse(tmp_path / "empty"), START, START)
    with pytest.raises(ValueError, match="empty range"):
        write_customer_insights(Lakehouse(tmp_path / "empty"), LAST, START)


# ------------------------------------------------------------------------------- Dagster


def test_customer_insights_materialise_with_the_chain_and_refresh_earlier_partitions(tmp_path):
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    downstream = build_rollup_assets(config)
    assert [a.node_def.name for a in downstream] == ["rollups", "customer_insights"]
    assert [a.node_def.name for a in build_customer_insight_assets(config)] == ["customer_insights"]
    defs = dg.Definitions(
        assets=[*build_assets(config), *downstream],
        jobs=[dg.define_asset_job("everything", selection=dg.AssetSelection.all())],
        resources=resources(config),
    )
    graph = defs.resolve_asset_graph()
    for name in CUSTOMER_INSIGHT_TABLES:
        node = graph.get(dg.AssetKey(name))
        assert {key.to_user_string() for key in node.parent_keys} == {
            "gold_sales_fact", "gold_customer_event_fact", "gold_customer_dim", "gold_product_dim"}
        assert node.group_name == "customer_insights"
    for name in SALES_ROLLUP_TABLES:
        assert graph.get(dg.AssetKey(name)).group_name == "rollups"

    instance = dg.DagsterInstance.ephemeral()
    job = defs.resolve_job_def("everything")
    ranges = ((START, START + dt.timedelta(days=5)), (START + dt.timedelta(days=6), START + dt.timedelta(days=9)))
    results = [
        job.execute_in_process(instance=instance, tags={"dagster/asset_partition_range_start": first.isoformat(),
                                                        "dagster/asset_partition_range_end": last.isoformat()})
        for first, last in ranges
    ]
    assert all(result.success for result in results) and len(instance.get_runs()) == 2
    second = results[1].asset_materializations_for_node("customer_insights")
    run_days = {(ranges[1][0] + dt.timedelta(days=i)).isoformat() for i in range(4)}
    for name in CUSTOMER_INSIGHT_TABLES:
        partitions = {m.partition for m in second if m.asset_key == dg.AssetKey(name)}
        if name == BRIDGE:  # the run days, and the earlier sale days whose lines came back in them
            assert partitions > run_days and min(partitions) < ranges[1][0].isoformat()
        else:
            assert partitions == run_days
    materialised = {(START + dt.timedelta(days=i)).isoformat() for i in range(10)}
    for name in CUSTOMER_INSIGHT_TABLES:
        assert instance.get_materialized_partitions(dg.AssetKey(name)) == materialised, name
    lakehouse = Lakehouse(config.lakehouse_path)
    for name in CUSTOMER_INSIGHT_TABLES:
        assert lakehouse.date_keys(name) == {_key(START + dt.timedelta(days=i)) for i in range(10)}, name
