"""One simulated day: ``state(D-1) + world + day D -> tables for day D + state(D)``.

The day is a pipeline of functions over the block's frozen ``DayContext`` and its state:
1. Morning (``morning.morning``): the DCs' answers to yesterday's wave are booked at the
   stores; replenishment and return restocks due today go on the shelf; pickups ordered
   yesterday are collected; returns due today come back; each DC's wave ships what it can of
   its stores' orders of last evening, the rest goes to the vendor.
2. Trading (``trading.trading_day``): customers' requests are served at each position in order
   of arrival (random times, random tie-break): min(requested, what is left). Requests that
   get nothing are lost, retried later or substituted.
3. Evening (``evening.evening``): demand and sales rates are updated, the (s, S) policy orders
   what is needed (stores from their DC, DCs and launches from vendors), the day's sales are
   booked.
4. Emit (``emit.day_tables``): the day's tables.

A store and its DC only talk through those orders and answers, one night apart: that is what
lets any grouping of locations step on its own (a Spark task) with messages crossing the
day's one exchange.
"""

from __future__ import annotations

import numpy as np

from retail_assets.sim import inventory as inv
from retail_assets.sim import replenishment
from retail_assets.sim.context import DEMAND_SCAN_DAYS, DayContext
from retail_assets.sim.demand import SCHEDULED_REQUESTS_SCHEMA, Requests, generate_requests
from retail_assets.sim.emit import DayTables, day_tables
from retail_assets.sim.evening import evening
from retail_assets.sim.morning import morning
from retail_assets.sim.scheduled_sales import empty_scheduled
from retail_assets.sim.trading import trading_day

__all__ = ["DayContext", "DayTables", "initial_state", "state_at_start", "step"]


def initial_state(ctx: DayContext) -> inv.InventoryState:
    """State at the end of the day before the warm-up: every position somewhere in its
    replenishment cycle, as in steady state.

    Planning rates come from a scan of unconstrained demand just before the warm-up; a
    distribution center's also count the demand of the stores and warehouses it replenishes
    (their orders are its demand; they may be in other blocks, so the scan is world-wide).
    Under an (s, S) policy positions are spread over their cycle, so each starts with a
    stock drawn from s+1..S, not all at S (a full, synchronised start is out of stock too
    rarely, then all at once). The warm-up then runs the full simulation.
    """
    world, positions = ctx.world, ctx.positions
    n_pos = positions.n_positions
    first_warmup = -ctx.config.warmup_days
    n_products, n_locations = len(world.products), positions.n_locations
    base_demand = np.zeros(n_products * n_locations)
    abandonment = ctx.config.cart_abandonment_base_rate
    for day in range(first_warmup - DEMAND_SCAN_DAYS, first_warmup):
        requests = generate_requests(world, ctx.streams, ctx.calendar, day, abandonment)
        checkout_share = np.where(requests.is_cart, 1 - abandonment, 1.0)
        key = requests.product.astype(np.int64) * n_locations + requests.location
        demanded = np.bincount(key, weights=requests.quantity * checkout_share, minlength=n_products * n_locations)
        base_demand += demanded / np.repeat(ctx.planning.product_index(day), n_locations)
    source_dc = world.locations.source_dc
    supplied = np.zeros((n_locations, n_locations))  # location -> the DC replenishing it
    supplied[np.flatnonzero(source_dc >= 0), source_dc[source_dc >= 0]] = 1.0
    echelon = (base_demand.reshape(n_products, n_locations) @ (np.eye(n_locations) + supplied)).reshape(-1)
    state_rate = echelon[positions.key] / DEMAND_SCAN_DAYS
    own_rate = base_demand[positions.key] / DEMAND_SCAN_DAYS  # what the position itself sells
    target = ctx.config.target_stockout_rate
    controlled = replenishment.controlled_target(
        ctx, state_rate, first_warmup - 1, np.ones(n_locations), np.full(n_locations, target))
    reorder_point, order_up_to = replenishment.policy(ctx, state_rate, first_warmup, controlled)
    stock = ctx.streams.integers("initial_stock", first_warmup, positions.key, reorder_point + 1, order_up_to)
    launched = world.products.launch_day[positions.product] < first_warmup
    return inv.InventoryState(
        day=first_warmup - 1,
        on_hand=np.where(launched, stock, 0).astype(np.int32),
        reserved=np.zeros(n_pos, dtype=np.int32),
        inbound=np.zeros((inv.RING, n_pos), dtype=np.int32),
        transfers=np.zeros((inv.RING, n_pos), dtype=np.int32),
        restock=np.zeros((inv.RING, n_pos), dtype=np.int32),
        reorder_point=reorder_point,
        order_up_to=order_up_to,
        demand_rate=state_rate,
        sales_rate=own_rate * ctx.forecast_index(first_warmup),
        forecast_base=own_rate,
        forecast_error_var=np.maximum(own_rate, inv.MIN_DEMAND_RATE),
        stockout_days=np.zeros(n_pos, dtype=np.int32),
        spell_attempts=np.zeros(n_pos, dtype=np.int32),
        spell_lost_units=np.zeros(n_pos, dtype=np.int32),
        spell_lost_revenue=np.zeros(n_pos),
        spell_peak=np.zeros(n_pos, dtype=bool),
        last_receipt_day=np.full(n_pos, inv.NO_DAY, dtype=np.int32),
        on_order=np.zeros(n_pos, dtype=np.int32),
        service_adjustment=np.ones(n_locations),
        controlled_target=controlled,
        review_stockout_days=np.zeros(n_locations, dtype=np.int64),
        review_sellable_days=np.zeros(n_locations, dtype=np.int64),
        review_clearance_stockout_days=np.zeros(n_locations, dtype=np.int64),
        review_clearance_sellable_days=np.zeros(n_locations, dtype=np.int64),
        scheduled_sales=empty_scheduled(),
        scheduled_requests=SCHEDULED_REQUESTS_SCHEMA.empty_table(),
        transfer_orders=inv.TRANSFER_ORDERS_SCHEMA.empty_table(),
        transfer_notices=inv.TRANSFER_NOTICES_SCHEMA.empty_table(),
    )


def state_at_start(ctx: DayContext) -> inv.InventoryState:
    """State at the end of day -1: the initial state run through the warm-up."""
    state = initial_state(ctx)
    for day in range(-ctx.config.warmup_days, 0):
        step(ctx, state, day, emit=False)
    return state


def step(ctx: DayContext, state: inv.InventoryState, day: int, emit: bool = True,
         new_requests: Requests | None = None) -> DayTables | None:
    """Advance ``state`` (in place) through ``day``; return the day's tables when ``emit``.

    ``new_requests``: the day's new requests at the block's locations, when the customer side
    ran elsewhere (customer blocks); generated here otherwise.
    """
    if state.day != day - 1:
        raise ValueError(f"state is at day {state.day}, cannot simulate day {day}")
    today_morning = morning(ctx, state, day)
    trading = trading_day(ctx, state, day, new_requests)
    today_evening = evening(ctx, state, day, today_morning, trading)
    state.day = day
    return day_tables(ctx, state, day, today_morning, trading, today_evening) if emit else None
