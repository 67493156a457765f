"""Sales rows scheduled for a later day: pickups to collect tomorrow, returns to come.

They wait in the state (and the checkpoint) as full sales rows plus a few internal columns,
and are published on their due day.
"""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc

from retail_assets import tables

INTERNAL_COLUMNS = (
    pa.field("line_id", pa.int64()),  # keys the line's random draws
    pa.field("customer", pa.int64()),  # the shopper's profile (its segment drives returns), even when anonymous
    pa.field("fit", pa.int8()),  # -1 too small, 0 perfect, +1 too large: drives returns
    pa.field("due_day", pa.int32()),  # day ordinal the row is emitted
    pa.field("restock_day", pa.int32()),  # day ordinal a return goes back on the shelf
)
SCHEDULED_SCHEMA = pa.schema(list(tables.GOLD_SALES_FACT.generated_schema) + list(INTERNAL_COLUMNS))


def empty_scheduled() -> pa.Table:
    return SCHEDULED_SCHEMA.empty_table()


def split_due(scheduled: pa.Table, day: int) -> tuple[pa.Table, pa.Table]:
    """(rows due on ``day``, rows still in the future)."""
    due_day = scheduled.column("due_day")
    return scheduled.filter(pc.equal(due_day, day)), scheduled.filter(pc.greater(due_day, day))


def collected_pickups(due: pa.Table) -> pa.Table:
    return due.filter(pc.invert(due.column("is_return")))


def finish_sales(rows: pa.Table) -> pa.Table:
    """Drop the simulation's internal columns: what remains is the published sales row."""
    return rows.drop_columns([f.name for f in INTERNAL_COLUMNS])
