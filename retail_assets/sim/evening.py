"""The evening of a day, after the shops close.

Shrinkage is counted; demand, sales and forecast rates learn from the day; stockout spells
open and close; the day's service counts join the weekly review's; the (s, S) policy orders
what is needed (stores from their DC, DCs and launches from vendors); the day's sales are
booked: pickups to collect tomorrow and returns to come join the schedule.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from retail_assets.sim import catalog as cat
from retail_assets.sim import inventory as inv
from retail_assets.sim import records, replenishment
from retail_assets.sim.context import DayContext
from retail_assets.sim.demand import ORIGIN_NEW, ORIGIN_RECOVERED_CART
from retail_assets.sim.morning import Morning
from retail_assets.sim.returns import decide_returns
from retail_assets.sim.scheduled_sales import collected_pickups
from retail_assets.sim.trading import Trading


@dataclass(frozen=True)
class Evening:
    """What the evening learnt and wrote (arrays per position) and the rows it made."""

    demanded: np.ndarray  # true demand: what reached checkout the first time
    units_sold: np.ndarray
    sellable: np.ndarray
    is_stockout: np.ndarray  # closing with nothing available
    shrunk: np.ndarray  # units lost to shrinkage
    spells: pa.Table  # stockout spells opening or closing today
    sold_today: pa.Table  # sale rows dated today (immediate sales, collected pickups), internal columns kept


def evening(ctx: DayContext, state: inv.InventoryState, day: int, morning: Morning, trading: Trading) -> Evening:
    """Advance ``state`` (in place) through the evening of ``day``."""
    n_positions = ctx.positions.n_positions
    requests, positions, granted = trading.requests, trading.positions, trading.granted
    # True demand: what reached checkout the first time (retries and substitutes are echoes of it).
    genuine = ~trading.abandoned & np.isin(requests.origin, (ORIGIN_NEW, ORIGIN_RECOVERED_CART))
    demanded = inv.position_sums(positions[genuine], requests.quantity[genuine], n_positions)
    pickup = requests.fulfillment == cat.FULFILL_PICKUP
    units_sold = inv.position_sums(positions, np.where(pickup, 0, granted), n_positions) + morning.collected
    sellable = ctx.sellable(day)
    _learn_rates(state, sellable, demanded, units_sold, morning)
    shrunk = _shrink(ctx, state, day)
    is_stockout = sellable & (state.available == 0)
    spells = _track_spells(ctx, state, day, is_stockout, sellable, trading)
    _count_service(ctx, state, day, is_stockout, sellable)
    replenishment.review_and_order(ctx, state, day)
    return Evening(
        demanded=demanded, units_sold=units_sold, sellable=sellable, is_stockout=is_stockout, shrunk=shrunk,
        spells=spells, sold_today=_book_sales(ctx, state, trading, morning.due, day),
    )


def _learn_rates(state: inv.InventoryState, sellable: np.ndarray, demanded: np.ndarray, units_sold: np.ndarray,
                 morning: Morning) -> None:
    """Exponential smoothing of the deseasonalised demand, the sales and the forecast model and
    its squared errors (rates of products off sale stay as they were)."""
    alpha, seasonal_index = inv.DEMAND_SMOOTHING, morning.seasonal_index
    deseasonalised = (1 - alpha) * state.demand_rate + alpha * demanded / seasonal_index
    state.demand_rate = np.where(sellable, deseasonalised, state.demand_rate)
    state.sales_rate = (1 - alpha) * state.sales_rate + alpha * units_sold
    state.forecast_base = np.where(
        sellable, (1 - alpha) * state.forecast_base + alpha * units_sold / seasonal_index, state.forecast_base
    )
    error = np.where(sellable, (units_sold - morning.forecast) ** 2, state.forecast_error_var)
    state.forecast_error_var = (1 - alpha) * state.forecast_error_var + alpha * error


def _shrink(ctx: DayContext, state: inv.InventoryState, day: int) -> np.ndarray:
    """Shrinkage (theft, damage, miscounts): a position loses a unit with probability
    proportional to its available stock. Returns units lost per position."""
    u = ctx.streams.uniform("shrink", day, ctx.positions.key)
    lost = (u < state.available * ctx.config.shrinkage_rate).astype(np.int32)
    state.on_hand -= lost
    return lost


def _track_spells(ctx: DayContext, state: inv.InventoryState, day: int, is_stockout: np.ndarray,
                  sellable: np.ndarray, trading: Trading) -> pa.Table:
    """Advance every position's stockout spell; rows for spells opening or closing today.

    A spell is a run of days closing with nothing available. Its lost-sales counters are the
    requests that got no unit during it (these can only happen on a day that closes empty:
    stock only arrives in the morning). The first day also reports spells carried over from
    the warm-up, so spells open at the start of the range are visible too.
    """
    n_positions = len(is_stockout)
    failed, requests = trading.failed, trading.requests
    where = trading.positions[failed]
    attempts = np.bincount(where, minlength=n_positions)
    units = np.bincount(where, weights=requests.quantity[failed], minlength=n_positions)
    revenue = np.bincount(where, weights=requests.quantity[failed] * requests.unit_price[failed], minlength=n_positions)
    was_open = state.stockout_days > 0
    closing = np.flatnonzero(was_open & ~is_stockout)
    closed = records.stockout_spells(
        ctx, day, closing, start_day=day - state.stockout_days[closing], last_day=day - 1,
        restocked=sellable[closing], state=state,
    )
    carried = np.where(was_open, 1, 0)
    state.stockout_days = np.where(is_stockout, state.stockout_days + 1, 0).astype(np.int32)
    state.spell_attempts = np.where(is_stockout, state.spell_attempts * carried + attempts, 0).astype(np.int32)
    state.spell_lost_units = np.where(is_stockout, state.spell_lost_units * carried + units, 0).astype(np.int32)
    state.spell_lost_revenue = np.where(is_stockout, state.spell_lost_revenue * carried + revenue, 0.0)
    peak_today = bool(ctx.calendar.columns["is_peak_season"][day - ctx.calendar.first_day])
    state.spell_peak = is_stockout & ((state.spell_peak & was_open) | peak_today)
    opening = np.flatnonzero(is_stockout & (~was_open | (day == 0)))
    opened = records.stockout_spells(
        ctx, day, opening, start_day=day - state.stockout_days[opening] + 1, last_day=None,
        restocked=None, state=state,
    )
    return pa.concat_tables([closed, opened])


def _count_service(ctx: DayContext, state: inv.InventoryState, day: int, is_stockout: np.ndarray,
                   sellable: np.ndarray) -> None:
    """Add the day's sellable and out-of-stock position-days to the review's counts, per
    location; those of products in clearance also on their own."""
    location_of, n = ctx.positions.location, ctx.positions.n_locations
    clearance = sellable & (day >= ctx.world.products.clearance_from_day[ctx.positions.product])
    for out, total, where in ((state.review_stockout_days, state.review_sellable_days, sellable),
                              (state.review_clearance_stockout_days, state.review_clearance_sellable_days, clearance)):
        out += np.bincount(location_of, weights=is_stockout & where, minlength=n).astype(np.int64)
        total += np.bincount(location_of, weights=where, minlength=n).astype(np.int64)


def _book_sales(ctx: DayContext, state: inv.InventoryState, trading: Trading, due: pa.Table, day: int) -> pa.Table:
    """Today's sale rows (immediate sales + collected pickups); new pickups and the returns of
    today's sales go into the schedule."""
    immediate, pickups = records.sale_rows(ctx, trading.requests, trading.granted, trading.available_before, day)
    sold_today = pa.concat_tables([immediate, collected_pickups(due)])
    returns = records.return_rows(ctx, sold_today, decide_returns(ctx, sold_today, day))
    state.scheduled_sales = pa.concat_tables([state.scheduled_sales, pickups, returns])
    return sold_today
