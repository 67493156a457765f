"""One declaration per table: column names, Arrow types, nullability and documentation.

The single source of truth for the simulation's Arrow output, the Delta writer and the
``dagster/column_schema`` metadata shown in the UI.
"""

from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

STRING, INT32, INT64, FLOAT64, BOOL, DATE = pa.string(), pa.int32(), pa.int64(), pa.float64(), pa.bool_(), pa.date32()
TIMESTAMP = pa.timestamp("us", tz="UTC")


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    day_keyed: bool = True  # has a date_key column holding the partition day

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]


def _lineage() -> tuple[Column, ...]:
    return (
        Column("source_system", STRING, "Name of the generator that produced the row."),
        Column("etl_timestamp", TIMESTAMP, "When the row was written (the only non-deterministic column)."),
    )


C = Column

GOLD_SALES_FACT = Table(
    "gold_sales_fact",
    "One row per sold order line, and one negative row per return, dated the day stock moved.",
    (
        C("sale_id", STRING, "Unique line id: S<order date>-<order number>-<line>; returns R<return date>-..."),
        C("transaction_id", STRING, "Checkout (or pickup / return) transaction the line belongs to."),
        C("order_id", STRING, "Customer order; a return keeps its original order id."),
        C("line_item_id", STRING, "Line number within the order."),
        C("customer_key", INT32, "FK gold_customer_dim."),
        C("product_key", INT32, "FK gold_product_dim."),
        C("location_key", INT32, "FK gold_location_dim: the store or fulfilment node whose stock moved."),
        C("date_key", INT32, "FK gold_date_dim (YYYYMMDD): day the stock moved; the partition."),
        C("order_date_key", INT32, "Day the order was placed (a pickup is collected a day later)."),
        C("time_key", INT32, "FK gold_time_dim (hhmm, 15-minute grain)."),
        C("channel_key", INT32, "FK gold_channel_dim."),
        C("quantity_sold", INT32, "Units sold (negative on return rows)."),
        C("quantity_requested", INT32, "Units the customer asked for (negative on return rows)."),
        C("unit_price", FLOAT64, "Selling price per unit before order discounts (clearance markdown included)."),
        C("revenue", FLOAT64, "quantity_sold x unit_price."),
        C("discount_amount", FLOAT64, "Promotion and loyalty discounts of the line."),
        C("net_sales_amount", FLOAT64, "revenue - discount_amount."),
        C("tax_amount", FLOAT64, "Sales tax on net_sales_amount at the location's state rate."),
        C("unit_cost", FLOAT64, "Product unit cost."),
        C("gross_margin", FLOAT64, "net_sales_amount - quantity_sold x unit_cost."),
        C("is_return", BOOL, "TRUE on return rows."),
        C("original_sale_id", STRING, "On return rows, the sale_id of the returned line.", True),
        C("return_restocked_date_key", INT32, "On return rows, the day the units are back in stock.", True),
        C("is_inventory_constrained", BOOL, "The customer got fewer units than requested."),
        C("inventory_at_purchase", INT32, "Units available at the position just before this line was served.", True),
        C("is_exchange", BOOL, "Return exchanged in store for another size."),
        C("is_promotional", BOOL, "A promotion code applied."),
        C("is_clearance", BOOL, "Product in its end-of-life clearance window (marked down)."),
        C("promotion_code", STRING, "Code of the promotion applied.", True),
        C("payment_method", STRING, "credit_card, debit_card, paypal, apple_pay, gift_card or cash."),
        C("fulfillment_type", STRING, "in_store, ship, pickup or same_day."),
        C("pos_terminal_id", STRING, "Till of an in-store sale.", True),
        C("sales_associate_id", STRING, "Associate of an in-store sale.", True),
        *_lineage(),
    ),
)

GOLD_LOST_SALES_FACT = Table(
    "gold_lost_sales_fact",
    "Purchase requests that got no unit at all: the ground truth of demand censored by stockouts.",
    (
        C("date_key", INT32, "Day of the request."),
        C("time_key", INT32, "Time of the request (hhmm)."),
        C("order_id", STRING, "Order the line belonged to."),
        C("line_item_id", STRING, "Line number within the order."),
        C("customer_key", INT32, "FK gold_customer_dim."),
        C("product_key", INT32, "FK gold_product_dim."),
        C("location_key", INT32, "FK gold_location_dim."),
        C("channel_key", INT32, "FK gold_channel_dim."),
        C("fulfillment_type", STRING, "How the order was to be fulfilled."),
        C("quantity_requested", INT32, "Units the customer wanted."),
        C("unit_price", FLOAT64, "Price per unit at the time."),
        C("lost_revenue", FLOAT64, "quantity_requested x unit_price."),
        C("reason", STRING, "Why no unit was sold: out_of_stock."),
        *_lineage(),
    ),
)

GOLD_INVENTORY_FACT = Table(
    "gold_inventory_fact",
    "End-of-day state of every launched product at every location.",
    (
        C("product_key", INT32, "FK gold_product_dim."),
        C("location_key", INT32, "FK gold_location_dim."),
        C("date_key", INT32, "FK gold_date_dim: the snapshot day; the partition."),
        C("quantity_on_hand", INT32, "Units physically at the location at close (reserved included)."),
        C("quantity_reserved", INT32, "Units held for click-and-collect orders awaiting pickup."),
        C("quantity_available", INT32, "on_hand - reserved: what customers can buy."),
        C("quantity_in_transit", INT32, "Units on open replenishment orders."),
        C("units_received", INT32, "Units received from replenishment orders this day."),
        C("units_sold", INT32, "Units that left as sales this day (pickups when collected)."),
        C("units_restocked", INT32, "Returned units put back into stock this day."),
        C("total_value", FLOAT64, "On-hand value at cost."),
        C("total_value_retail", FLOAT64, "On-hand value at the current selling price."),
        C("days_of_supply", FLOAT64, "Available units / recent average daily sales (NULL without sales).", True),
        C("is_stockout", BOOL, "Sellable product with nothing available at close."),
        C("stockout_duration_days", INT32, "Consecutive days out of stock, this day included (0 if in stock)."),
        C("is_overstock", BOOL, "Available units above the max stock level."),
        C("reorder_point", INT32, "Stock level that triggers a replenishment order."),
        C("max_stock_level", INT32, "Order-up-to level of the replenishment policy."),
        C("last_replenishment_date", DATE, "Last day a replenishment order arrived.", True),
        C("next_replenishment_date", DATE, "Arrival day of the earliest open order.", True),
        *_lineage(),
    ),
)

TABLES: dict[str, Table] = {t.name: t for t in (GOLD_SALES_FACT, GOLD_LOST_SALES_FACT, GOLD_INVENTORY_FACT)}


def register(table: Table) -> Table:
    TABLES[table.name] = table
    return table
