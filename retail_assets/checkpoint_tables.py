"""Declarations of the ``inventory_checkpoint``'s six tables: what day D+1 starts from.

The Arrow layouts come from the simulation core (``sim.checkpoint``); this module gives them
what every other table has: column documentation and a contract (types, ranges, keys, the
positions' own invariants), so a checkpoint that a bug or a hand edit made impossible is
refused before it is committed instead of poisoning every later day.
"""

from __future__ import annotations

from dataclasses import replace

import pyarrow as pa

from retail_assets.sim import checkpoint
from retail_assets.sim import inventory as inv
from retail_assets.table_model import Column, RowRule, Table
from retail_assets.tables import GOLD_SALES_FACT

CHECKPOINT_DAY = Column("date_key", pa.int32(), "The day whose end this state is (YYYYMMDD): day D+1 starts from it.")
POSITION = "Global position id: product index x number of locations + location index."

# Columns not described by the state arrays or the sales fact.
_DESCRIPTIONS = {
    "position": POSITION,
    "location": "Location index (location_key - 1).",
    checkpoint.SCHEDULED_ROW_DATE: "The date_key the sale or return row will carry when it is emitted.",
    "line_id": "The line's id: keys its random draws (returns, retries) on every later day.",
    "fit": "-1 too small, 0 fits, +1 too large: drives the return decision.",
    "due_day": "Day ordinal on which the row (or request) comes due.",
    "restock_day": "Day ordinal on which a returned unit goes back on the shelf.",
    "customer": "Customer index (customer_key - 1).",
    "order_number": "The order's number within its day.",
    "line_number": "The line's number within its order.",
    "channel": "Channel index (channel_key - 1).",
    "fulfillment": "How the order is fulfilled: in store, shipped, or picked up.",
    "product": "Product index (product_key - 1).",
    "quantity": "Units requested or ordered.",
    "time_slot": "Quarter-hour of the day the request arrives.",
    "unit_price": "Price per unit the customer saw.",
    "discount_rate": "Share of the list price taken off.",
    "is_clearance": "The product was in clearance when the request was made.",
    "promotion": "Promotion index, -1 for none.",
    "payment": "Payment method index.",
    "is_cart": "The request went through an online cart (may be abandoned).",
    "order_day": "Day ordinal the order was placed.",
    "origin": "Why the request exists: new, delayed retry, recovered cart, substitute.",
    "size": "Size index within the product's size system.",
    "store_position": "Global position id of the ordering store's product.",
    "dc_position": "Global position id of the same product at the store's distribution center.",
    "ordered": "Units the store ordered.",
    "shipped": "Units the DC's wave shipped to the store.",
    "transfer_day": "Day ordinal the shipped units arrive at the store.",
    "vendor": "Units the DC could not cover, shipped by the vendor directly.",
    "vendor_day": "Day ordinal the vendor's units arrive at the store.",
}
_NON_NEGATIVE = {"on_hand", "reserved", "stockout_days", "spell_attempts", "spell_lost_units", "spell_lost_revenue",
                 "on_order", "quantity", "ordered", "shipped", "vendor", "review_stockout_days",
                 "review_sellable_days", "review_clearance_stockout_days", "review_clearance_sellable_days"}


def _state_descriptions() -> dict[str, str]:
    every_scope = (inv.POSITION, inv.LOCATION, inv.RING_SLOTS)
    return {f.name: f.metadata["description"] for scope in every_scope for f in inv.InventoryState.arrays(scope)}


def _columns(schema: pa.Schema, known: dict[str, Column] | None = None) -> tuple[Column, ...]:
    """Declared columns of a checkpoint layout: the sales fact's own columns where the layout
    carries them (``known``), documented internal columns otherwise."""
    known = known or {}
    descriptions = {**_DESCRIPTIONS, **_state_descriptions()}
    declared = [CHECKPOINT_DAY]
    for field in schema:
        if field.name == "date_key":
            continue
        if field.name in known:
            declared.append(replace(known[field.name], unique=False))  # unique per day only: see the keys
            continue
        declared.append(Column(field.name, field.type, descriptions[field.name],
                               minimum=0 if field.name in _NON_NEGATIVE else None))
    return tuple(declared)


def _sales_columns() -> dict[str, Column]:
    """The sales fact's columns as a scheduled row carries them (its date_key renamed), with
    their types and nullability: ranges and vocabularies are checked on the day the row is
    emitted, by the sales fact's contract, not again on every day it waits in the state."""
    columns = {c.name: replace(c, minimum=None, maximum=None, allowed=None) for c in GOLD_SALES_FACT.columns}
    row_date = columns.pop("date_key")
    columns[checkpoint.SCHEDULED_ROW_DATE] = replace(
        row_date, name=checkpoint.SCHEDULED_ROW_DATE, description=_DESCRIPTIONS[checkpoint.SCHEDULED_ROW_DATE])
    return columns


SCHEMAS = checkpoint.CHECKPOINT_SCHEMAS
INVENTORY_CHECKPOINT = Table(
    "inventory_checkpoint",
    "Per product x location, the state at the end of the day: stock, reservations, what is on its "
    "way (rings of the coming days), the (s, S) policy, the demand and forecast models, and the open "
    "stockout spell. One row per position per day.",
    _columns(SCHEMAS[checkpoint.POSITIONS]),
    key=("date_key", "position"),
    rules=(RowRule("reserved_within_on_hand", "reserved <= on_hand",
                   "Reserved units are units on the shelf."),),
)
INVENTORY_CHECKPOINT_LOCATIONS = Table(
    "inventory_checkpoint_locations",
    "Per location, the service feedback of its replenishment planning at the end of the day.",
    _columns(SCHEMAS[checkpoint.LOCATIONS]),
    key=("date_key", "location"),
)
INVENTORY_CHECKPOINT_SCHEDULED_SALES = Table(
    "inventory_checkpoint_scheduled_sales",
    "Sales fact rows not yet emitted at the end of the day: click-and-collect orders to be "
    "collected and returns to come, each with the day it comes due.",
    _columns(SCHEMAS[checkpoint.SCHEDULED], known=_sales_columns()),
    key=("date_key", "sale_id"),
)
INVENTORY_CHECKPOINT_SCHEDULED_REQUESTS = Table(
    "inventory_checkpoint_scheduled_requests",
    "Customers coming back at the end of the day: delayed retries after a stockout and recovered carts.",
    _columns(SCHEMAS[checkpoint.REQUESTS]),
    key=("date_key", "line_id"),
)
INVENTORY_CHECKPOINT_TRANSFER_ORDERS = Table(
    "inventory_checkpoint_transfer_orders",
    "Stores' orders of the evening, waiting for their distribution center's wave the next morning.",
    _columns(SCHEMAS[checkpoint.ORDERS]),
    key=("date_key", "store_position"),
)
INVENTORY_CHECKPOINT_TRANSFER_NOTICES = Table(
    "inventory_checkpoint_transfer_notices",
    "The wave's answers of the morning (shipped by the DC, or by the vendor directly), booked at the "
    "stores the next morning.",
    _columns(SCHEMAS[checkpoint.NOTICES]),
    key=("date_key", "store_position"),
)

# Checkpoint part (the core's name) -> its table.
CHECKPOINT_PARTS: dict[str, Table] = {
    checkpoint.POSITIONS: INVENTORY_CHECKPOINT,
    checkpoint.LOCATIONS: INVENTORY_CHECKPOINT_LOCATIONS,
    checkpoint.SCHEDULED: INVENTORY_CHECKPOINT_SCHEDULED_SALES,
    checkpoint.REQUESTS: INVENTORY_CHECKPOINT_SCHEDULED_REQUESTS,
    checkpoint.ORDERS: INVENTORY_CHECKPOINT_TRANSFER_ORDERS,
    checkpoint.NOTICES: INVENTORY_CHECKPOINT_TRANSFER_NOTICES,
}
