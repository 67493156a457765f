"""A day's summary figures (Dagster metadata, the run summary), from its tables.

The figures are sums, so the figures of a day's location blocks add up to the whole world's:
the Spark engine's tasks compute them next to the rows, and only these few numbers per block
reach the driver.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass

import numpy as np

from retail_assets.sim.day import DayTables


def day_figures(day: DayTables) -> dict[str, float]:
    """The day's additive figures."""
    sales, lost, snapshot = day.sales, day.lost_sales, day.inventory
    is_return = sales.column("is_return").to_numpy(zero_copy_only=False)
    return {
        "units_sold": int(sales.column("quantity_sold").to_numpy()[~is_return].sum()),
        "units_lost": int(lost.column("quantity_requested").to_numpy().sum()),
        "lost_revenue": float(lost.column("lost_revenue").to_numpy().sum()),
        "net_sales": float(sales.column("net_sales_amount").to_numpy().sum()),
        "stockout_positions": int(np.sum(snapshot.column("is_stockout").to_numpy(zero_copy_only=False))),
        "positions": snapshot.num_rows,
        "constrained_lines": int(sales.column("is_inventory_constrained").to_numpy(zero_copy_only=False).sum()),
    }


@dataclass(frozen=True)
class DaySummary:
    """Per-day figures shown as Dagster metadata and in the run summary."""

    day: dt.date
    date_key: int
    rows: dict[str, int]
    units_sold: int
    units_lost: int
    lost_revenue: float
    net_sales: float
    stockout_rate: float
    constrained_lines: int
    driver_bytes: int | None = None  # Spark: what the driver collected for the day (None: in-process)

    @classmethod
    def of(cls, day: dt.date, date_key: int, rows: dict[str, int], figures: dict[str, float],
           driver_bytes: int | None = None) -> "DaySummary":
        """The summary of a day from its rows per table and its figures (``day_figures``, or
        the sum of its blocks')."""
        return cls(
            driver_bytes=driver_bytes,
            day=day, date_key=date_key, rows=rows,
            units_sold=int(figures["units_sold"]), units_lost=int(figures["units_lost"]),
            lost_revenue=float(figures["lost_revenue"]), net_sales=float(figures["net_sales"]),
            stockout_rate=figures["stockout_positions"] / figures["positions"] if figures["positions"] else 0.0,
            constrained_lines=int(figures["constrained_lines"]),
        )

    def as_message(self) -> dict[str, object]:
        """The summary as JSON-ready values (a Pipes message from a remote task)."""
        return {**dataclasses.asdict(self), "day": self.day.isoformat()}

    @classmethod
    def from_message(cls, message: dict[str, object]) -> "DaySummary":
        return cls(**{**message, "day": dt.date.fromisoformat(message["day"])})
