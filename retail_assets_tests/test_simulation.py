"""Invariants of the simulation core, checked on the tables it produces (no I/O)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets.config import SimulationConfig
from retail_assets.sim import catalog as cat
from retail_assets.sim import inventory as inv
from retail_assets.sim import day as day_step
from retail_assets.sim.context import DayContext
from retail_assets.sim.demand import generate_requests
from retail_assets.sim.geography import US_CITIES
from retail_assets.sim.rng import Streams
from retail_assets.sim.world import build_world

DAYS = 28


@pytest.fixture(scope="module")
def tiny_run():
    context = DayContext.build(build_world(SimulationConfig.build(preset="tiny")))
    state = day_step.state_at_start(context)
    outputs = [day_step.step(context, state, day) for day in range(DAYS)]
    sales = pa.concat_tables([o.sales for o in outputs]).to_pandas()
    lost = pa.concat_tables([o.lost_sales for o in outputs]).to_pandas()
    snapshot = pa.concat_tables([o.inventory for o in outputs]).to_pandas()
    spells = pa.concat_tables([o.stockout_events for o in outputs]).to_pandas()
    return context, sales, lost, snapshot, spells


@pytest.fixture(scope="module")
def tiny_movements():
    context = DayContext.build(build_world(SimulationConfig.build(preset="tiny", shrinkage_rate=0.002)))
    state = day_step.state_at_start(context)
    outputs = [day_step.step(context, state, day) for day in range(DAYS)]
    snapshot = pa.concat_tables([o.inventory for o in outputs]).to_pandas()
    movements = pa.concat_tables([o.movements for o in outputs]).to_pandas()
    forecasts = pa.concat_tables([o.demand_forecasts for o in outputs]).to_pandas()
    return context, snapshot, movements, forecasts


def test_no_negative_inventory(tiny_run):
    _, _, _, snapshot, _ = tiny_run
    for column in ("quantity_on_hand", "quantity_available", "quantity_reserved", "quantity_in_transit"):
        assert snapshot[column].min() >= 0, column
    assert (snapshot.quantity_available == snapshot.quantity_on_hand - snapshot.quantity_reserved).all()


def test_sales_never_exceed_stock_at_purchase(tiny_run):
    _, sales, _, _, _ = tiny_run
    bought = sales[~sales.is_return]
    assert (bought.quantity_sold >= 1).all()
    assert (bought.quantity_sold <= bought.inventory_at_purchase).all()
    assert (bought.quantity_sold <= bought.quantity_requested).all()
    assert (bought.is_inventory_constrained == (bought.quantity_sold < bought.quantity_requested)).all()
    assert bought.is_inventory_constrained.sum() > 0


def test_stockouts_produce_lost_demand(tiny_run):
    _, _, lost, snapshot, _ = tiny_run
    assert len(lost) > 0 and (lost.quantity_requested > 0).all()
    assert (lost.reason == "out_of_stock").all()
    assert snapshot.is_stockout.any()
    out = snapshot[snapshot.is_stockout]
    assert (out.quantity_available == 0).all() and (out.stockout_duration_days >= 1).all()


def test_inventory_conservation_per_position_and_day(tiny_run):
    """on_hand(D) = on_hand(D-1) + received + transferred in - transferred out - sold + restocked
    + adjusted, and each flow agrees with the sales fact."""
    _, sales, _, snapshot, _ = tiny_run
    snap = snapshot.sort_values(["product_key", "location_key", "date_key"])
    previous = snap.groupby(["product_key", "location_key"]).quantity_on_hand.shift(1)
    both = previous.notna()
    expected = (previous + snap.units_received + snap.units_transferred_in - snap.units_transferred_out
                - snap.units_sold + snap.units_restocked + snap.units_adjusted)
    assert (snap.quantity_on_hand[both] == expected[both]).all()

    bought = sales[~sales.is_return].groupby(["product_key", "location_key", "date_key"]).quantity_sold.sum()
    flows = snap.set_index(["product_key", "location_key", "date_key"])
    merged = flows.join(bought.rename("sold_rows"), how="left").fillna({"sold_rows": 0})
    assert (merged.units_sold == merged.sold_rows).all()

    returns = sales[sales.is_return]
    restocked = (-returns.groupby(["product_key", "location_key", "return_restocked_date_key"]).quantity_sold.sum())
    restocked.index = restocked.index.set_names("date_key", level=2)
    first_complete = sorted(snap.date_key.unique())[3]  # restocks of returns made inside the run
    checked = flows[flows.index.get_level_values("date_key") >= first_complete]
    joined = checked.join(restocked.rename("restock_rows"), how="left").fillna({"restock_rows": 0})
    assert (joined.units_restocked == joined.restock_rows).all()


def test_returns_are_negative_rows_restocked_one_to_three_days_later(tiny_run):
    _, sales, _, _, _ = tiny_run
    returns = sales[sales.is_return]
    assert len(returns) > 0
    for column in ("quantity_sold", "revenue", "net_sales_amount"):
        assert (returns[column] < 0).all(), column
    return_day = pd_dates(returns.date_key)
    restock_day = pd_dates(returns.return_restocked_date_key)
    delay = (restock_day - return_day).dt.days
    assert delay.min() >= 1 and delay.max() <= 3
    # every return names a written sale line, except those of lines sold in the unwritten warm-up
    sold = sales[~sales.is_return].set_index("sale_id")
    named = returns[returns.original_sale_id.notna()]
    assert named.original_sale_id.isin(sold.index).all() and len(named) > 0
    assert (named.product_key.to_numpy() == sold.loc[named.original_sale_id, "product_key"].to_numpy()).all()
    unnamed_lag = pd_dates(returns.date_key[returns.original_sale_id.isna()]) - pd_dates(sales.date_key.min())
    assert len(unnamed_lag) > 0 and unnamed_lag.dt.days.max() <= 60


def pd_dates(keys):
    import pandas as pd

    return pd.to_datetime(keys.astype("int64").astype(str), format="%Y%m%d")


def test_pickups_are_reserved_then_collected_next_day(tiny_run):
    _, sales, _, snapshot, _ = tiny_run
    pickups = sales[(sales.fulfillment_type == "pickup") & ~sales.is_return & (sales.request_origin == "new")]
    assert len(pickups) > 0
    lag = (pd_dates(pickups.date_key) - pd_dates(pickups.order_date_key)).dt.days
    assert (lag == 1).all()
    assert snapshot.quantity_reserved.sum() > 0


def test_sale_ids_unique_and_amounts_consistent(tiny_run):
    _, sales, _, _, _ = tiny_run
    assert sales.sale_id.is_unique
    assert np.allclose(sales.revenue, (sales.quantity_sold * sales.unit_price).round(2), atol=0.011)
    assert np.allclose(sales.net_sales_amount, sales.revenue - sales.discount_amount, atol=0.011)
    assert np.allclose(sales.gross_margin, sales.net_sales_amount - sales.quantity_sold * sales.unit_cost, atol=0.011)
    assert set(sales.fulfillment_type) <= set(cat.FULFILLMENT_TYPES)
    assert sales.channel_key.between(1, len(cat.CHANNELS)).all()


def test_allocation_serves_requests_in_priority_order():
    position = np.array([0, 0, 0, 1, 1])
    quantity = np.array([2, 2, 2, 1, 3])
    priority = np.array([3, 1, 2, 0, 1])
    available = np.array([3, 10])
    granted, before = inv.allocate(position, quantity, priority, available)
    # position 0 serves request 1 (2 of 3), then request 2 (1 left), then request 0 (nothing)
    assert granted.tolist() == [0, 2, 1, 1, 3]
    assert before.tolist() == [0, 3, 1, 10, 9]


def test_allocation_order_is_random_across_competitors():
    """Many requests for one unit: who wins varies with the random arrival key."""
    streams = Streams(7)
    winners = []
    for day in range(200):
        priority = streams.bits("arrival", day, np.arange(5))
        granted, _ = inv.allocate(np.zeros(5, dtype=np.int64), np.ones(5, dtype=np.int64), priority, np.array([1]))
        winners.append(int(np.flatnonzero(granted)[0]))
    counts = np.bincount(winners, minlength=5)
    assert (counts > 20).all(), counts


def test_replenishment_orders_arrive(tiny_run):
    _, _, _, snapshot, _ = tiny_run
    assert snapshot.units_received.sum() > 0
    received = snapshot[snapshot.units_received > 0]
    assert (pd_dates(received.date_key) == received.last_replenishment_date.astype("datetime64[ns]")).all()
    in_transit = snapshot[snapshot.quantity_in_transit > 0]
    assert in_transit.next_replenishment_date.notna().all()


def test_policy_levels_meet_target_on_average():
    rate = np.full(20_000, 0.8)
    lead = np.full(20_000, 4)
    s, big_s = inv.policy_levels(rate, lead, np.full(20_000, 14), np.full(20_000, 2), np.full(20_000, 0.075),
                                 Streams(1).uniform("mix", 0, np.arange(20_000)))
    assert (big_s > s).all()
    assert 0 < s.mean() < 10
    higher_service = inv.policy_levels(rate, lead, np.full(20_000, 14), np.full(20_000, 2),
                                       np.full(20_000, 0.01), Streams(1).uniform("mix", 0, np.arange(20_000)))[0]
    assert higher_service.mean() > s.mean()


def test_streams_are_pure_functions_of_their_coordinates():
    streams = Streams(42)
    ids = np.arange(1000)
    whole = streams.uniform("x", 5, ids)
    assert np.array_equal(whole[500:], streams.uniform("x", 5, ids[500:]))
    assert not np.array_equal(whole, streams.uniform("x", 6, ids))
    assert not np.array_equal(whole, Streams(43).uniform("x", 5, ids))
    assert not np.array_equal(whole, streams.uniform("y", 5, ids))
    poisson = streams.poisson("p", 0, np.arange(200_000), 0.3)
    assert abs(poisson.mean() - 0.3) < 0.01


def test_location_count_is_honoured():
    for n in (3, 13, 25, 100):
        world = build_world(SimulationConfig.build(preset="tiny", locations=n))
        assert len(world.locations) == n
        types = world.locations.location_type
        assert {cat.LOC_STORE, cat.LOC_WAREHOUSE, cat.LOC_DC} <= set(types.tolist())


def test_sales_columns_are_filled(tiny_run):
    _, sales, _, _, _ = tiny_run
    in_store = sales[(sales.fulfillment_type == "in_store") & ~sales.is_return]
    assert in_store.pos_terminal_id.notna().all() and in_store.sales_associate_id.notna().all()
    assert sales.is_promotional.any() and sales.promotion_code.notna().any()
    assert pc.all(pa.array(sales.time_key % 100 % 15 == 0)).as_py()


def test_stockout_events_count_the_failed_requests_of_their_spell(tiny_run):
    _, _, lost, _, spells = tiny_run
    closed = spells[spells.is_closed]
    assert len(closed) > 0
    lost = lost.assign(day=pd_dates(lost.date_key))
    spans = closed.assign(start=pd_dates_of(closed.stockout_start_date), end=pd_dates_of(closed.stockout_end_date))
    spans = spans[spans.start >= lost.day.min()]  # spells from the warm-up also count unwritten days
    pairs = spans.merge(lost, on=["product_key", "location_key"], how="left")
    pairs = pairs[(pairs.day >= pairs.start) & (pairs.day <= pairs.end)]
    counted = pairs.groupby("stockout_id").agg(
        attempts=("day", "size"), units=("quantity_requested", "sum"), revenue=("lost_revenue", "sum")
    )
    spans = spans.set_index("stockout_id").join(counted).fillna({"attempts": 0, "units": 0, "revenue": 0.0})
    assert (spans.lost_sales_attempts == spans.attempts).all()
    assert (spans.lost_sales_quantity == spans.units).all()
    assert np.allclose(spans.lost_sales_revenue, spans.revenue, atol=0.05)
    assert closed.lost_sales_revenue.sum() > 0
    duration = (pd_dates_of(closed.stockout_end_date) - pd_dates_of(closed.stockout_start_date)).dt.days + 1
    assert (duration == closed.stockout_duration_days).all()
    restocked = closed[closed.restocked_date.notna()]
    assert ((pd_dates_of(restocked.restocked_date) - pd_dates_of(restocked.stockout_end_date)).dt.days == 1).all()


def pd_dates_of(values):
    import pandas as pd

    return pd.to_datetime(values)


def test_every_stockout_in_the_snapshot_has_an_event(tiny_run):
    _, _, _, snapshot, spells = tiny_run
    out = snapshot[snapshot.is_stockout].copy()
    out["start"] = pd_dates(out.date_key) - pd_to_days(out.stockout_duration_days - 1)
    seen = set(zip(spells.product_key, spells.location_key, pd_dates_of(spells.stockout_start_date)))
    missing = [key for key in zip(out.product_key, out.location_key, out.start) if key not in seen]
    assert not missing
    first_day = spells[spells.date_key == spells.date_key.min()]
    assert (pd_dates_of(first_day.stockout_start_date) < pd_dates(first_day.date_key)).any()  # carried over


def pd_to_days(values):
    import pandas as pd

    return pd.to_timedelta(values, unit="D")


def test_movements_reconcile_with_snapshots(tiny_movements):
    _, snapshot, movements, _ = tiny_movements
    change = movements.groupby(["product_key", "location_key", "date_key"]).quantity.sum().rename("moved")
    snap = snapshot.sort_values(["product_key", "location_key", "date_key"]).set_index(
        ["product_key", "location_key", "date_key"])
    snap["delta"] = snap.quantity_on_hand - snap.groupby(level=[0, 1]).quantity_on_hand.shift(1)
    joined = snap.join(change, how="left").fillna({"moved": 0})
    known = joined.delta.notna()
    assert (joined.delta[known] == joined.moved[known]).all()
    assert movements.movement_id.is_unique
    assert set(movements.movement_type) == {"receipt", "transfer", "sale", "return", "adjustment"}
    assert (movements[movements.movement_type == "adjustment"].quantity < 0).all()


def test_stores_are_replenished_by_transfers_from_their_dc(tiny_movements):
    context, snapshot, movements, _ = tiny_movements
    locations = context.world.locations
    shipments = movements[(movements.movement_type == "transfer") & (movements.quantity < 0)]
    assert len(shipments) > 0
    assert (shipments.location_key == shipments.from_location_key).all()
    source_of = {int(k): int(locations.key[s]) for k, s in zip(locations.key, locations.source_dc) if s >= 0}
    assert all(source_of[int(to)] == int(frm) for frm, to in zip(shipments.from_location_key, shipments.to_location_key))
    dc_keys = set(locations.key[locations.location_type == cat.LOC_DC].tolist())
    assert set(shipments.location_key) <= dc_keys
    assert snapshot.units_transferred_in.sum() > 0 and snapshot.units_adjusted.sum() < 0


def test_forecasts_are_made_the_day_before_and_carry_both_actuals(tiny_movements):
    _, snapshot, _, forecasts = tiny_movements
    assert forecasts.forecast_id.is_unique
    assert ((pd_dates(forecasts.date_key) - pd_dates(forecasts.forecast_date_key)).dt.days == 1).all()
    assert (forecasts.lower_confidence_bound <= forecasts.forecast_quantity).all()
    assert (forecasts.forecast_quantity <= forecasts.upper_confidence_bound).all()
    assert forecasts.actual_demand.sum() > forecasts.actual_quantity.sum()  # (pickups sell the day after)
    sold = forecasts.actual_quantity > 0
    assert forecasts.mape[sold].notna().all() and forecasts.mape[~sold].isna().all()
    assert np.allclose(forecasts.forecast_accuracy[sold], np.maximum(0, 1 - forecasts.mape[sold]), atol=1e-3)
    merged = forecasts.merge(snapshot, on=["product_key", "location_key", "date_key"])
    assert (merged.actual_quantity == merged.units_sold).all()
    # Sales-based forecasts understate demand where shelves were empty: the censoring bias.
    out = merged[merged.is_stockout]
    assert out.forecast_quantity.sum() < out.actual_demand.sum()
    assert 0.7 < forecasts.forecast_quantity.sum() / forecasts.actual_quantity.sum() < 1.3


def test_policy_levels_handle_distribution_center_volumes():
    """Means of thousands of units per lead time (exp(-mean) underflows) still give finite levels."""
    rate = np.array([150.0, 400.0, 0.5])
    s, big_s = inv.policy_levels(rate, np.array([8, 8, 3]), np.array([28, 28, 14]), np.array([12, 12, 2]),
                                 np.array([0.02, 0.0, 0.075]), np.array([0.5, 0.5, 0.5]))
    assert (s[:2] > rate[:2] * 6).all() and (big_s > s).all()


def test_page_urls_hold_for_catalogs_beyond_int16_product_counts():
    """Listing pages sit after one page per product: with 40,000 products their index no longer
    fits the int16 category codes (the ecommerce preset has 50,000)."""
    from retail_assets.sim.clickstream import FILTER, PRODUCT_VIEW, _page_urls

    world = build_world(SimulationConfig.build(preset="tiny", products=40_000))
    last = len(world.products) - 1
    urls = _page_urls(np.array([FILTER, PRODUCT_VIEW]), np.array([last, last]), world).to_pylist()
    category = cat.CATEGORY_LEVEL_3[world.products.category[last]].lower().replace(" ", "-")
    assert urls == [f"/c/{category}", f"/p/{world.products.key[last]}"]


def test_stores_close_on_thanksgiving_and_christmas_day_while_the_web_trades(tiny_run):
    context = tiny_run[0]
    for closed in (dt.date(2025, 11, 27), dt.date(2025, 12, 25)):
        day = context.config.day_ordinal(closed)
        requests = generate_requests(context.world, context.streams, context.calendar, day, 0.68)
        eve = generate_requests(context.world, context.streams, context.calendar, day - 1, 0.68)
        assert len(requests) > 0 and not np.isin(requests.fulfillment, [cat.FULFILL_IN_STORE, cat.FULFILL_SAME_DAY]).any()
        assert not (eve.fulfillment == cat.FULFILL_PICKUP).any()  # it would be collected on the closed day
    usual = generate_requests(context.world, context.streams, context.calendar, context.config.day_ordinal(
        dt.date(2025, 11, 20)), 0.68)
    assert (usual.fulfillment == cat.FULFILL_IN_STORE).any() and (usual.fulfillment == cat.FULFILL_PICKUP).any()


def test_shipped_orders_are_taxed_at_home_and_recovered_carts_are_ordered_when_checked_out(tiny_run):
    context, sales, _, _, _ = tiny_run
    world = context.world
    shipped = sales[(sales.fulfillment_type == "ship") & ~sales.is_return & (sales.customer_key > 0)]
    home_state = US_CITIES.state_code[world.customers.city[shipped.customer_key.to_numpy() - 1]]
    home_rate = np.array([cat.STATE_SALES_TAX.get(code, cat.DEFAULT_SALES_TAX) for code in home_state])
    assert len(shipped) > 100
    np.testing.assert_allclose(shipped.tax_amount, np.round(shipped.net_sales_amount * home_rate, 2), atol=0.011)
    recovered = sales[(sales.request_origin == "recovered_cart") & ~sales.is_return]
    collected_later = recovered.fulfillment_type == "pickup"
    assert len(recovered) > 0
    assert (recovered.order_date_key[~collected_later] == recovered.date_key[~collected_later]).all()


def test_event_timestamps_are_utc_instants_of_the_shoppers_local_day(tiny_run):
    """time_key is the shopper's local clock; event_timestamp the UTC instant: in January, 5 (New
    York) to 10 (Honolulu) hours later."""
    context = tiny_run[0]
    events = day_step.step(context, day_step.state_at_start(context), 0).customer_events.to_pandas()
    utc_hour = events.event_timestamp.dt.hour
    assert ((utc_hour - events.time_key // 100) % 24).between(5, 10).all()
