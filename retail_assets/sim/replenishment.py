"""Replenishment: the (s, S) policy and its planning, the evening's orders, the DCs' morning wave
and the stores' booking of its answers.

Stores and warehouses order from their distribution center in the evening; the DC's wave
serves those orders the next morning and its answers are booked at the stores the morning
after. A store and its DC only talk through these messages, one night apart: that is what
lets any grouping of locations step on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from retail_assets.sim import catalog as cat
from retail_assets.sim import inventory as inv
from retail_assets.sim.context import DayContext

VENDOR_DIRECT_EXTRA_DAYS = 4  # a store order the DC cannot cover ships from the vendor, slower


@dataclass(frozen=True)
class Transfers:
    """DC-to-location shipments leaving today: DC positions (of this block), destination
    location indexes and units."""

    source: np.ndarray
    destination_location: np.ndarray
    quantity: np.ndarray


def planning_rates(ctx: DayContext, base_rate: np.ndarray, day: int, positions: np.ndarray
                   ) -> tuple[np.ndarray, np.ndarray]:
    """Demand expected per day while an order is awaited and while it sells, planned on ``day``.

    The deseasonalised rate times the mean forecast index of two windows: the lead times of
    the orders placed until the next review (the reorder point covers them), and the cover
    period after an order arrives (the order quantity). Planning from the season ahead, not
    from the trailing rate, keeps the stock in step with the calendar: stock bought for
    December's peak is not bought again for January.
    """
    lead, cover_days = ctx.planning.lead_days, ctx.world.locations.cover_days
    product, location = ctx.positions.product[positions], ctx.positions.location[positions]
    lead_index = ctx.planning.window_index(
        np.full(ctx.positions.n_locations, day + 1), day + inv.POLICY_REVIEW_DAYS - 1 + lead, product, location)
    cover_index = ctx.planning.window_index(day + lead + 1, day + lead + cover_days, product, location)
    return base_rate * lead_index, base_rate * cover_index


def plan_rates(ctx: DayContext, base_rate: np.ndarray, day: int, positions: np.ndarray | None = None
               ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Planning rates of ``positions`` (all by default): while an order is awaited, while it
    sells, and the least share of days each can be out of stock, its lot size's."""
    locations = ctx.world.locations
    positions = np.arange(len(base_rate)) if positions is None else positions
    loc = ctx.positions.location[positions]
    lead_rate, cover_rate = planning_rates(ctx, base_rate, day, positions)
    order_qty = inv.order_quantity(cover_rate, locations.cover_days[loc], locations.min_order[loc])
    return lead_rate, cover_rate, inv.share_at_zero(ctx.planning.lead_days[loc], order_qty, cover_rate)


def policy(ctx: DayContext, base_rate: np.ndarray, day: int, controlled_target: np.ndarray,
           positions: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(s, S) of ``positions`` (all by default) planned on ``day`` from their deseasonalised
    rates: the long tail for the configured target (its lot size keeps it under), the others
    for their location's ``controlled_target``."""
    locations = ctx.world.locations
    positions = np.arange(len(base_rate)) if positions is None else positions
    loc = ctx.positions.location[positions]
    lead_rate, cover_rate, floor = plan_rates(ctx, base_rate, day, positions)
    base = ctx.config.target_stockout_rate
    return inv.policy_levels(
        lead_rate, ctx.planning.lead_days[loc], locations.cover_days[loc], locations.min_order[loc],
        np.where(floor <= base, base, controlled_target[loc]),
        ctx.streams.uniform("policy_mix", day, ctx.positions.key[positions]), cover_rate=cover_rate,
    )


def controlled_target(
    ctx: DayContext, base_rate: np.ndarray, day: int, adjustment: np.ndarray, clearance_share: np.ndarray,
    stock: np.ndarray | None = None,
) -> np.ndarray:
    """Per location: the planning target of its safety-stock positions for the coming week
    (``inv.controlled_target``), given the positions whose week is already settled.

    The long tail is expected out as often as its lot size makes it. With the positions'
    inventory ``stock`` known (not at the start of the world), a position holding more than
    an order on top of what its lead time needs is not expected out this week, and one
    holding less than its lead time needs is expected out from when it runs dry until an
    order placed now arrives.
    """
    products, location_of, n = ctx.world.products, ctx.positions.location, ctx.positions.n_locations
    target = ctx.config.target_stockout_rate
    lead_rate, cover_rate, floor = plan_rates(ctx, base_rate, day)
    sellable = ctx.sellable(day)
    clearance = sellable & (day >= products.clearance_from_day[ctx.positions.product])
    tail = sellable & ~clearance & (floor <= target)
    settled, settled_out = tail, np.where(tail, floor, 0.0)
    if stock is not None:
        lead = ctx.planning.lead_days[location_of]
        order_qty = inv.order_quantity(cover_rate, ctx.world.locations.cover_days[location_of],
                                       ctx.world.locations.min_order[location_of])
        in_play = sellable & ~clearance & ~tail
        over = in_play & (stock > order_qty + lead_rate * lead)
        short_days = lead - stock / np.maximum(lead_rate, 1e-9)
        under = in_play & ~over & (short_days > 0)
        settled = tail | over | under
        settled_out = settled_out + np.where(
            under, np.minimum(short_days, inv.POLICY_REVIEW_DAYS) / inv.POLICY_REVIEW_DAYS, 0.0)
    return inv.controlled_target(
        target,
        sellable=np.bincount(location_of, weights=sellable, minlength=n),
        settled=np.bincount(location_of, weights=settled, minlength=n),
        settled_out=np.bincount(location_of, weights=settled_out, minlength=n),
        clearance=np.bincount(location_of, weights=clearance, minlength=n),
        clearance_share=clearance_share,
        adjustment=adjustment,
    )


def review_and_order(ctx: DayContext, state: inv.InventoryState, day: int) -> None:
    """Weekly policy review, launch orders, then (s, S) orders for positions at or below s.

    Stores and warehouses order from their distribution center: the order waits for the DC's
    wave tomorrow morning (``wave``) and counts in their inventory position meanwhile.
    Distribution centers order from vendors, as do launches (timed to arrive on launch day).
    """
    products, locations = ctx.world.products, ctx.world.locations
    product_of, location_of = ctx.positions.product, ctx.positions.location
    if day % inv.POLICY_REVIEW_DAYS == 0:
        target = ctx.config.target_stockout_rate
        clearance_share = inv.clearance_share(state, target)
        if day - inv.POLICY_REVIEW_DAYS >= -ctx.config.warmup_days - 1:  # a whole week observed
            inv.adjust_service(state, target)
        state.controlled_target = controlled_target(
            ctx, state.demand_rate, day, state.service_adjustment, clearance_share, state.inventory_position)
        state.reorder_point, state.order_up_to = policy(ctx, state.demand_rate, day, state.controlled_target)
    base_lead = locations.lead_days[location_of]
    launching = products.launch_day[product_of] - base_lead == day
    if launching.any():
        seed_launch_rates(ctx, state, day, launching)
    launched = products.launch_day[product_of] <= day
    orderable = launched & (day < products.clearance_from_day[product_of])
    is_dc = locations.location_type[location_of] == cat.LOC_DC

    def order_quantity(candidates: np.ndarray) -> np.ndarray:
        position = state.inventory_position
        reorder = candidates & orderable & (position <= state.reorder_point)
        return np.where(reorder, np.maximum(state.order_up_to - position, 0), 0)

    wanted = order_quantity(~is_dc)
    ordering = np.flatnonzero(wanted > 0)
    state.on_order[ordering] += wanted[ordering].astype(np.int32)
    dc_position = (product_of[ordering].astype(np.int64) * ctx.positions.n_locations
                   + locations.source_dc[location_of[ordering]])
    state.transfer_orders = pa.Table.from_pydict({
        "store_position": ctx.positions.key[ordering], "dc_position": dc_position,
        "quantity": wanted[ordering].astype(np.int32), "order_day": np.full(len(ordering), day, dtype=np.int32),
    }, schema=inv.TRANSFER_ORDERS_SCHEMA)

    vendor = np.where(launching, state.order_up_to, order_quantity(is_dc))
    buying = np.flatnonzero(vendor > 0)
    lead = np.where(
        launching[buying],
        base_lead[buying],
        inv.lead_times(base_lead[buying], ctx.streams.uniform("lead_time", day, ctx.positions.key[buying])),
    )
    np.add.at(state.inbound, ((day + lead) % inv.RING, buying), vendor[buying].astype(np.int32))


def seed_launch_rates(ctx: DayContext, state: inv.InventoryState, day: int, launching: np.ndarray) -> None:
    """A new product's base rate: its popularity x the location's base demand per unit popularity."""
    products = ctx.world.products
    current = ctx.positions.by_product(state.demand_rate)
    live = (products.launch_day <= day) & (day <= products.end_of_life_day)
    per_popularity = current[live].sum(axis=0) / max(products.popularity[live].sum(), 1e-9)
    prior = (products.popularity[:, None] * per_popularity[None, :]).reshape(-1)
    state.demand_rate = np.where(launching, prior, state.demand_rate)
    state.sales_rate = np.where(launching, prior * ctx.forecast_index(day), state.sales_rate)
    positions = np.flatnonzero(launching)
    s, big_s = policy(ctx, state.demand_rate[positions], day, state.controlled_target, positions)
    state.reorder_point[positions] = s
    state.order_up_to[positions] = big_s


def wave(ctx: DayContext, state: inv.InventoryState, day: int) -> Transfers:
    """The DCs of this block serve last evening's store orders from what they have: competing
    orders in random order; what a DC cannot cover the vendor ships to the store directly
    (slower). The answers reach the stores tomorrow morning (``book_notices``)."""
    n_positions, streams = ctx.positions.n_positions, ctx.streams
    orders = state.transfer_orders
    state.transfer_orders = inv.TRANSFER_ORDERS_SCHEMA.empty_table()
    store = orders.column("store_position").to_numpy()
    quantity = orders.column("quantity").to_numpy()
    source = ctx.positions.local_position(orders.column("dc_position").to_numpy())
    shipped, _ = inv.allocate(source, quantity, streams.bits("transfer_priority", day, store), state.available)
    state.on_hand -= inv.position_sums(source, shipped, n_positions).astype(np.int32)
    requested = inv.position_sums(source, quantity, n_positions)
    state.demand_rate += inv.DEMAND_SMOOTHING * requested / ctx.forecast_index(day)
    destination = store % ctx.positions.n_locations
    base_lead = ctx.world.locations.lead_days[destination]
    transfer_lead = inv.lead_times(base_lead, streams.uniform("transfer_lead", day, store))
    direct_lead = inv.lead_times(base_lead + VENDOR_DIRECT_EXTRA_DAYS, streams.uniform("direct_lead", day, store))
    state.transfer_notices = pa.Table.from_pydict({
        "store_position": store, "ordered": quantity, "shipped": shipped, "transfer_day": day + transfer_lead,
        "vendor": quantity - shipped, "vendor_day": day + direct_lead,
    }, schema=inv.TRANSFER_NOTICES_SCHEMA)
    moving = shipped > 0
    return Transfers(source=source[moving], destination_location=destination[moving], quantity=shipped[moving])


def book_notices(ctx: DayContext, state: inv.InventoryState) -> None:
    """Stores book their DC's answers: shipments and vendor-direct orders join the rings."""
    notices = state.transfer_notices
    state.transfer_notices = inv.TRANSFER_NOTICES_SCHEMA.empty_table()
    position = ctx.positions.local_position(notices.column("store_position").to_numpy())
    columns = {name: notices.column(name).to_numpy() for name in notices.column_names if name != "store_position"}
    state.on_order -= inv.position_sums(position, columns["ordered"], ctx.positions.n_positions).astype(np.int32)
    for ring, units, arrival in ((state.transfers, "shipped", "transfer_day"), (state.inbound, "vendor", "vendor_day")):
        some = columns[units] > 0
        np.add.at(ring, (columns[arrival][some] % inv.RING, position[some]), columns[units][some])
