"""Position side of a day: stock state, random allocation, replenishment policy.

A position is one product at one location, index ``product * n_locations + location``.
Inbound replenishment orders and return restocks are ring buffers indexed by
``day % RING``: a unit scheduled for day D sits in slot D % RING until the morning of D.
"""

from __future__ import annotations

from dataclasses import Field, dataclass, field, fields

import numpy as np
import pyarrow as pa

RING = 16  # longest lead time or restock delay must be < RING days
NO_DAY = np.iinfo(np.int32).min  # "never" for day columns
DEMAND_SMOOTHING = 1.0 / 28.0  # EWMA weight of today's demand in the demand rate
MIN_DEMAND_RATE = 0.02  # floor on the planning rate, units per day
POLICY_REVIEW_DAYS = 7  # reorder points are recomputed weekly, as planning systems do
LEAD_JITTER_PROBS = np.array([0.2, 0.6, 0.2])  # lead time -1, +0, +1 day
# Service feedback: each weekly review scales a location's planning target by
# (target / achieved) ** GAIN, as planners tune safety stock to the service they observe. Stock
# answers a new target only as positions reorder (weeks for slow movers), so the loop is gentle:
# what moves with the season is set ahead by the goal of the safety-stock positions instead
# (``controlled_target``).
SERVICE_FEEDBACK_GAIN = 0.25
SERVICE_ADJUSTMENT_BOUNDS = (0.25, 6.0)
MAX_PLANNING_TARGET = 0.5


POSITION, RING_SLOTS, LOCATION = "position", "ring", "location"  # scopes of state arrays
# Messages between locations, keyed by global position ids (product * n_locations + location), so
# they can travel between the blocks of a Spark run.
TRANSFER_ORDERS_SCHEMA = pa.schema([
    ("store_position", pa.int64()), ("dc_position", pa.int64()), ("quantity", pa.int32()), ("order_day", pa.int32()),
])
TRANSFER_NOTICES_SCHEMA = pa.schema([
    ("store_position", pa.int64()), ("ordered", pa.int32()), ("shipped", pa.int32()), ("transfer_day", pa.int32()),
    ("vendor", pa.int32()), ("vendor_day", pa.int32()),
])


def _state(scope: str, dtype: type, description: str) -> Field:
    """A state array: ``scope`` says what it is indexed by, ``dtype`` how it is checkpointed,
    ``description`` what its checkpoint column means."""
    return field(metadata={"scope": scope, "dtype": np.dtype(dtype), "description": description})


@dataclass
class InventoryState:
    """Everything day D+1 needs from day D: the inventory checkpoint.

    Array fields declare their scope and dtype, from which the checkpoint tables are derived.
    """

    day: int  # last simulated day ordinal
    on_hand: np.ndarray = _state(POSITION, np.int32, "Units on the shelf, reserved ones included.")
    reserved: np.ndarray = _state(POSITION, np.int32, "Units held for click-and-collect orders not yet collected.")
    inbound: np.ndarray = _state(RING_SLOTS, np.int32,
                                "Vendor units arriving, element k on the (k+1)th day after the checkpoint.")
    transfers: np.ndarray = _state(RING_SLOTS, np.int32,
                                "DC transfer units arriving, element k on the (k+1)th day after the checkpoint.")
    restock: np.ndarray = _state(RING_SLOTS, np.int32,
                                "Returned units going back on the shelf, element k on the (k+1)th day after the checkpoint.")
    reorder_point: np.ndarray = _state(POSITION, np.int32,
                                "s of the (s, S) policy: at or below this inventory position the position orders.")
    order_up_to: np.ndarray = _state(POSITION, np.int32,
                                "S of the (s, S) policy: the inventory position an order brings the position up to.")
    demand_rate: np.ndarray = _state(POSITION, np.float64,
                                "Smoothed true demand per day, deseasonalised (the planning rate).")
    sales_rate: np.ndarray = _state(POSITION, np.float64, "Smoothed units sold per day.")
    forecast_base: np.ndarray = _state(POSITION, np.float64,
                                "The sales-based forecast model's base rate, deseasonalised.")
    forecast_error_var: np.ndarray = _state(POSITION, np.float64, "Smoothed squared forecast error.")
    stockout_days: np.ndarray = _state(POSITION, np.int32, "Consecutive days out of stock so far (0: in stock).")
    spell_attempts: np.ndarray = _state(POSITION, np.int32,
                                "Requests that got nothing during the open stockout spell.")
    spell_lost_units: np.ndarray = _state(POSITION, np.int32,
                                "Units of the requests that got nothing during the open stockout spell.")
    spell_lost_revenue: np.ndarray = _state(POSITION, np.float64,
                                "Value at the asked price of the units lost during the open stockout spell.")
    spell_peak: np.ndarray = _state(POSITION, np.bool_, "The open stockout spell touched the peak season.")
    last_receipt_day: np.ndarray = _state(POSITION, np.int32,
                                "Day ordinal of the last receipt (the int32 minimum if never replenished).")
    on_order: np.ndarray = _state(POSITION, np.int32, "Units ordered from the DC, not yet answered by its wave.")
    service_adjustment: np.ndarray = _state(LOCATION, np.float64,
                                "Service feedback factor on the location's planning target.")
    controlled_target: np.ndarray = _state(LOCATION, np.float64,
                                "Planning stockout target of the location's safety-stock positions.")
    review_stockout_days: np.ndarray = _state(LOCATION, np.int64,
                                "Position-days out of stock since the last weekly review.")
    review_sellable_days: np.ndarray = _state(LOCATION, np.int64,
                                "Sellable position-days since the last weekly review.")
    review_clearance_stockout_days: np.ndarray = _state(LOCATION, np.int64,
                                "Of the position-days out of stock: those of products in clearance.")
    review_clearance_sellable_days: np.ndarray = _state(LOCATION, np.int64,
                                "Of the sellable position-days: those of products in clearance.")
    scheduled_sales: pa.Table = field(default=None)  # future sales rows: pickups to collect, returns to come
    scheduled_requests: pa.Table = field(default=None)  # customers coming back: retries, recovered carts
    transfer_orders: pa.Table = field(default=None)  # stores' orders, served by their DC's next-morning wave
    transfer_notices: pa.Table = field(default=None)  # the wave's answers, booked at the stores next morning

    @classmethod
    def arrays(cls, scope: str) -> list[Field]:
        return [f for f in fields(cls) if f.metadata.get("scope") == scope]

    @property
    def available(self) -> np.ndarray:
        return self.on_hand - self.reserved

    @property
    def in_transit(self) -> np.ndarray:
        return (self.inbound.sum(axis=0, dtype=np.int64) + self.transfers.sum(axis=0, dtype=np.int64)).astype(np.int32)

    @property
    def inventory_position(self) -> np.ndarray:
        """What a position has and is owed: available, in transit, returns to restock, on order."""
        return self.available + self.in_transit + self.restock.sum(axis=0, dtype=np.int32) + self.on_order

    def copy(self) -> "InventoryState":
        return InventoryState(
            **{f.name: (getattr(self, f.name).copy() if isinstance(getattr(self, f.name), np.ndarray)
                        else getattr(self, f.name)) for f in fields(self)}
        )


def allocate(
    position: np.ndarray, quantity: np.ndarray, priority: np.ndarray, available: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Serve competing requests for each position in ``priority`` order.

    A request gets min(requested, what is left). Returns (granted units, units available just
    before the request was served). Fully vectorised: sort by (position, priority), then an
    exclusive running sum of requested units inside each position's group.
    """
    order = np.lexsort((priority, position))
    pos_sorted, qty_sorted = position[order], quantity[order].astype(np.int64)
    running = np.cumsum(qty_sorted)
    group_start = np.ones(len(order), dtype=bool)
    group_start[1:] = pos_sorted[1:] != pos_sorted[:-1]
    start_index = np.maximum.accumulate(np.where(group_start, np.arange(len(order)), 0))
    requested_before = running - qty_sorted - (running[start_index] - qty_sorted[start_index])
    left_before = np.maximum(available[pos_sorted].astype(np.int64) - requested_before, 0)
    granted_sorted = np.minimum(qty_sorted, left_before)
    granted = np.empty(len(order), dtype=np.int32)
    before = np.empty(len(order), dtype=np.int32)
    granted[order] = granted_sorted
    before[order] = left_before
    return granted, before


def position_sums(position: np.ndarray, values: np.ndarray, n_positions: int) -> np.ndarray:
    return np.bincount(position, weights=values, minlength=n_positions).astype(np.int64)


def policy_levels(
    rate: np.ndarray,
    lead_days: np.ndarray,
    cover_days: np.ndarray,
    min_order: np.ndarray,
    target: np.ndarray,
    mix_u: np.ndarray,
    cover_rate: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Reorder point s and order-up-to level S of an (s, S) policy, per position.

    The order quantity covers ``cover_days`` of demand at ``cover_rate`` (the demand expected
    while the order sells; ``rate`` if not given). With Poisson demand at ``rate`` while an order
    is awaited, the expected share of days out of stock is (expected empty days while an order
    is in transit) / (cycle length + those days: demand on an empty shelf is lost, not
    backordered). s is the smallest stock whose share is within ``target``; since s is an
    integer, a position whose share at s - 1 overshoots is set to s - 1 with the probability
    (from ``mix_u``) that makes its expected share equal the target. This is where the stockout
    rate comes from: safety stock, not a quota of empty shelves.
    """
    rate = np.maximum(rate, MIN_DEMAND_RATE)
    cover_rate = rate if cover_rate is None else np.maximum(cover_rate, MIN_DEMAND_RATE)
    order_qty = order_quantity(cover_rate, cover_days, min_order)
    cycle_days = order_qty / cover_rate
    max_lead = int(lead_days.max())
    horizon = np.arange(1, max_lead)[:, None]  # days t after ordering with stock still exposed
    exposed = horizon < lead_days[None, :]
    mean = rate[None, :] * horizon
    # The Poisson pmf is advanced in log space: exp(-mean) underflows for the large means of
    # distribution centers, and a zero pmf would never let the cdf grow.
    log_pmf = -mean
    cdf = np.exp(log_pmf)  # P(D_t <= s - 1), advanced as s grows; starts at s = 1
    largest = float(mean.max(initial=0.0))
    s_cap = int(np.ceil(largest + 12 * np.sqrt(largest) + 20))  # beyond it, demand has (numerically) no tail
    reorder = np.zeros(len(rate), dtype=np.int64)
    previous_share = share_at_zero(lead_days, order_qty, cover_rate)
    target = np.broadcast_to(target, rate.shape)
    pending = previous_share > target
    s = 0
    while pending.any():
        s += 1
        idx = np.flatnonzero(pending)
        empty_days = ((1.0 - cdf[:, idx]) * exposed[:, idx]).sum(axis=0)
        share = empty_days / (cycle_days[idx] + empty_days)
        done = (share <= target[idx]) | (s >= s_cap)
        finished = idx[done]
        over = previous_share[finished]
        take_lower = mix_u[finished] < (target[finished] - share[done]) / np.maximum(over - share[done], 1e-12)
        reorder[finished] = np.where(take_lower, s - 1, s)
        pending[finished] = False
        previous_share[idx] = share
        log_pmf[:, idx] += np.log(mean[:, idx] / s)
        cdf[:, idx] += np.exp(log_pmf[:, idx])
    return reorder.astype(np.int32), (reorder + order_qty).astype(np.int32)


def order_quantity(cover_rate: np.ndarray, cover_days: np.ndarray, min_order: np.ndarray) -> np.ndarray:
    """Units one replenishment order brings: ``cover_days`` of demand, at least ``min_order``."""
    return np.maximum(np.ceil(np.maximum(cover_rate, MIN_DEMAND_RATE) * cover_days), min_order).astype(np.int64)


def share_at_zero(lead_days: np.ndarray, order_qty: np.ndarray, cover_rate: np.ndarray) -> np.ndarray:
    """Expected share of days out of stock with s = 0: the shelf is empty for the whole lead time
    (the ordering day included) once per cycle of selling ``order_qty`` units plus that wait.
    The least a position can be out of stock: one whose share is under the target is in the
    long tail, where the lot size, not safety stock, sets the service."""
    return lead_days / (order_qty / np.maximum(cover_rate, 1e-9) + lead_days)


def controlled_target(
    target: float,
    sellable: np.ndarray,
    settled: np.ndarray,
    settled_out: np.ndarray,
    clearance: np.ndarray,
    clearance_share: np.ndarray,
    adjustment: np.ndarray,
) -> np.ndarray:
    """Per location: the planning target of the positions its safety stock controls this week.

    A location meets ``target`` as a whole. Some of its positions' weeks are settled already
    (``settled`` of them, expected ``settled_out`` position-days out per day): the long tail,
    whose lot size alone keeps it under the target, and positions whose stock decides the week
    (more than an order's worth above what the lead time needs: not out; less than the lead time
    needs: out until an order placed now arrives). Products in clearance are not replenished and
    are out ``clearance_share`` of the time. The other positions aim at the rest, so their goal
    moves ahead with the season: after a peak, when stock bought for it still fills shelves,
    the positions in play carry less safety stock. ``adjustment`` is the service feedback.
    """
    controlled = sellable - settled - clearance
    goal = (target * sellable - settled_out - clearance * clearance_share) / np.maximum(controlled, 1)
    goal = np.where(controlled > 0, np.clip(goal, target / 4, MAX_PLANNING_TARGET), target)
    return np.minimum(goal * adjustment, MAX_PLANNING_TARGET)


def clearance_share(state: InventoryState, target: float) -> np.ndarray:
    """Per location: the share of clearance position-days out since the last review (``target`` if none)."""
    days = state.review_clearance_sellable_days
    return np.where(days > 0, state.review_clearance_stockout_days / np.maximum(days, 1), target)


def adjust_service(state: InventoryState, target: float) -> None:
    """Close the loop on achieved service: rescale each location's feedback factor by
    (target / achieved) ** GAIN, achieved over its sellable positions since the last review, and
    start a new review period."""
    achieved = state.review_stockout_days / np.maximum(state.review_sellable_days, 1)
    observed = state.review_sellable_days > 0
    ratio = target / np.maximum(achieved, target / 8)
    low, high = SERVICE_ADJUSTMENT_BOUNDS
    state.service_adjustment = np.where(
        observed, np.clip(state.service_adjustment * ratio**SERVICE_FEEDBACK_GAIN, low, high), state.service_adjustment
    )
    for counts in (state.review_stockout_days, state.review_sellable_days,
                   state.review_clearance_stockout_days, state.review_clearance_sellable_days):
        counts[:] = 0


def lead_times(base: np.ndarray, jitter_u: np.ndarray) -> np.ndarray:
    """Supplier lead time per order: the location's base, one day early or late at times."""
    jitter = np.searchsorted(np.cumsum(LEAD_JITTER_PROBS), jitter_u, side="right") - 1
    return np.clip(base + jitter, 1, RING - 1).astype(np.int32)


def next_arrival_day(inbound: np.ndarray, day: int) -> np.ndarray:
    """Day of the earliest pending arrival per position after ``day``, NO_DAY if none."""
    result = np.full(inbound.shape[1], NO_DAY, dtype=np.int32)
    for offset in range(RING - 1, 0, -1):
        has = inbound[(day + offset) % RING] > 0
        result[has] = day + offset
    return result
