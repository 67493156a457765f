"""The day's tables: the rows of everything the morning, the trading and the evening did."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.sim import clickstream, records
from retail_assets.sim import inventory as inv
from retail_assets.sim.context import DayContext
from retail_assets.sim.evening import Evening
from retail_assets.sim.morning import Morning
from retail_assets.sim.scheduled_sales import finish_sales
from retail_assets.sim.trading import Trading


@dataclass(frozen=True)
class DayTables:
    day: int
    date_key: int
    sales: pa.Table
    lost_sales: pa.Table
    inventory: pa.Table
    stockout_events: pa.Table
    movements: pa.Table
    demand_forecasts: pa.Table
    cart_abandonments: pa.Table
    customer_events: pa.Table

    @property
    def rows(self) -> int:
        """Rows of every table of the day (the clickstream is most of them)."""
        return sum(value.num_rows for value in vars(self).values() if isinstance(value, pa.Table))


def day_tables(ctx: DayContext, state: inv.InventoryState, day: int, morning: Morning, trading: Trading,
               evening: Evening) -> DayTables:
    """The rows of ``day``, from its stages' outcomes and the state at its end."""
    flows = records.PositionFlows(
        received=morning.received, transferred_in=morning.transferred_in, transferred_out=inv.position_sums(
            morning.transfers.source, morning.transfers.quantity, ctx.positions.n_positions),
        sold=evening.units_sold, restocked=morning.restocked, adjusted=-evening.shrunk,
    )
    due_returns = morning.due.filter(pc.field("is_return"))
    return DayTables(
        day=day,
        date_key=ctx.calendar.date_key(day),
        sales=finish_sales(pa.concat_tables([evening.sold_today, due_returns])),
        lost_sales=records.lost_sales(ctx, trading, day),
        inventory=records.inventory_snapshot(ctx, state, day, evening.is_stockout, flows),
        stockout_events=evening.spells,
        movements=records.movements(ctx, day, flows, morning.transfers),
        demand_forecasts=records.demand_forecasts(
            ctx, day, np.flatnonzero(evening.sellable), morning.forecast, morning.forecast_spread,
            evening.units_sold, evening.demanded,
        ),
        cart_abandonments=records.abandoned_carts(ctx, trading, day),
        customer_events=clickstream.customer_events(ctx, trading, day),
    )
