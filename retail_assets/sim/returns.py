"""Returns: which of the lines sold today come back, when, why, and when they are restocked.

Decisions only; ``records.return_rows`` turns them into the sales rows scheduled for the
return day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.sim.context import DayContext
from retail_assets.sim.demand import SLOT_CUMULATIVE
from retail_assets.sim.return_odds import line_factor

# Returns: digital orders come back more often (return_odds) and later than store purchases.
OTHER_RETURN_REASON_PROBS = np.array([0.4, 0.25, 0.2, 0.15])  # reasons of returns that fit
RETURN_LAG_DAYS = {True: (5, 24), False: (1, 14)}
EXCHANGE_SHARE = 0.2  # in-store returns swapped for another size


@dataclass(frozen=True)
class Returns:
    """The returned lines among a day's sale rows (aligned on ``rows``)."""

    rows: np.ndarray  # indexes of the returned rows in the day's sale rows
    line_id: np.ndarray  # keys the return's draws (the sale's line id, pickups folded in)
    reason: np.ndarray  # RETURN_REASONS code
    return_day: np.ndarray
    restock_day: np.ndarray
    time_slot: np.ndarray
    is_exchange: np.ndarray


def decide_returns(ctx: DayContext, sold: pa.Table, day: int) -> Returns:
    """Which lines sold today (``sold``: sale rows with their internal columns) come back."""
    world, config, streams = ctx.world, ctx.config, ctx.streams
    # Pickups collected today share line ids with today's orders: fold the pickup flag in.
    remote = pc.not_equal(sold.column("fulfillment_type"), "in_store").to_numpy(zero_copy_only=False)
    collected = pc.not_equal(sold.column("date_key"), sold.column("order_date_key")).to_numpy(zero_copy_only=False)
    ids = sold.column("line_id").to_numpy() * 2 + collected
    segment = world.customers.segment[sold.column("customer").to_numpy()]
    fit = sold.column("fit").to_numpy()
    probability = config.return_rate * line_factor(remote, fit, segment) / ctx.mean_return_factor
    returned = np.flatnonzero(streams.uniform("return", day, ids) < probability)
    ids, remote, fit = ids[returned], remote[returned], fit[returned]
    other_reason = streams.choice("return_reason", day, ids, np.cumsum(OTHER_RETURN_REASON_PROBS))
    lag_low = np.where(remote, RETURN_LAG_DAYS[True][0], RETURN_LAG_DAYS[False][0])
    lag_high = np.where(remote, RETURN_LAG_DAYS[True][1], RETURN_LAG_DAYS[False][1])
    return_day = day + streams.integers("return_lag", day, ids, lag_low, lag_high)
    delay_low, delay_high = config.return_delay_days
    return Returns(
        rows=returned,
        line_id=ids,
        reason=np.where(fit < 0, 0, np.where(fit > 0, 1, 2 + other_reason)),
        return_day=return_day,
        restock_day=return_day + streams.integers("restock_delay", day, ids, delay_low, delay_high),
        time_slot=streams.choice("return_slot", day, ids, SLOT_CUMULATIVE[True]),
        is_exchange=~remote & (fit != 0) & (streams.uniform("exchange", day, ids) < EXCHANGE_SHARE),
    )
