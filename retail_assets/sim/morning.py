"""The morning of a day, before the shops open.

The DCs' answers to yesterday's wave are booked at the stores; replenishment and return
restocks due today go on the shelf; pickups ordered yesterday are collected (their sale rows
are dated today); returns due today come back (restocked 1-3 days later); each DC's wave
ships what it can of its stores' orders of last evening (random priority), the rest goes to
the vendor. The day's forecast is made with what was known at the end of the day before.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from retail_assets.sim import inventory as inv
from retail_assets.sim import replenishment
from retail_assets.sim.context import DayContext
from retail_assets.sim.replenishment import Transfers
from retail_assets.sim.scheduled_sales import split_due


@dataclass(frozen=True)
class Morning:
    """What the morning moved (arrays per position) and the day's forecast."""

    received: np.ndarray  # from vendors
    transferred_in: np.ndarray  # from the DC
    restocked: np.ndarray  # returns back on the shelf
    collected: np.ndarray  # pickups collected
    due: pa.Table  # scheduled sales rows due today: the pickups collected and the returns
    transfers: Transfers  # the wave's shipments
    seasonal_index: np.ndarray
    forecast: np.ndarray
    forecast_spread: np.ndarray


def morning(ctx: DayContext, state: inv.InventoryState, day: int) -> Morning:
    """Advance ``state`` (in place) through the morning of ``day``."""
    n_positions = ctx.positions.n_positions
    slot = day % inv.RING
    replenishment.book_notices(ctx, state)
    received = state.inbound[slot].copy()
    transferred_in = state.transfers[slot].copy()
    restocked = state.restock[slot].copy()
    state.inbound[slot] = 0
    state.transfers[slot] = 0
    state.restock[slot] = 0
    state.on_hand += received + transferred_in + restocked
    state.last_receipt_day[(received + transferred_in) > 0] = day
    due, state.scheduled_sales = split_due(state.scheduled_sales, day)
    due_positions = ctx.positions.row_positions(due)
    due_quantity = due.column("quantity_sold").to_numpy()
    due_is_return = due.column("is_return").to_numpy(zero_copy_only=False)
    collected = inv.position_sums(due_positions[~due_is_return], due_quantity[~due_is_return], n_positions)
    state.on_hand -= collected.astype(np.int32)
    state.reserved -= collected.astype(np.int32)
    restock_day = due.column("restock_day").to_numpy()[due_is_return]
    np.add.at(state.restock, (restock_day % inv.RING, due_positions[due_is_return]), -due_quantity[due_is_return])
    transfers = replenishment.wave(ctx, state, day)
    seasonal_index = ctx.forecast_index(day)
    return Morning(
        received=received, transferred_in=transferred_in, restocked=restocked, collected=collected, due=due,
        transfers=transfers, seasonal_index=seasonal_index,
        forecast=state.forecast_base * seasonal_index, forecast_spread=np.sqrt(state.forecast_error_var),
    )
