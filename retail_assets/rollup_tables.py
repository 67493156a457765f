"""Declarations of the rollup tables: daily, weekly and monthly aggregates of the written facts.

Same vocabulary as ``retail_assets.tables`` (which registers these in ``TABLES``).
"""

from __future__ import annotations

from retail_assets.table_model import FLOAT64, INT32, INT64, STRING, Column, Table, lineage

C = Column

# ---------------------------------------------------------------- shared column groups


def _category(level: int, what: str) -> Column:
    return C(
        f"category_level_{level}",
        STRING,
        f"{what} of the product (gold_product_dim, latest row of the product_key); 'Unknown' if the product "
        "is not in the dimension.",
    )


_LOCATION = C("location_key", INT32, "FK gold_location_dim: the store or fulfilment node whose stock moved.")
_CHANNEL = C("channel_key", INT32, "FK gold_channel_dim.")


def _sales_measures(period: str | None) -> tuple[Column, ...]:
    """The sales measures; ``period`` (week, month) for the rollups of the daily agg."""
    if period is None:
        orders = C("orders", INT64, "Distinct order_id of the sale rows (returns excluded).")
    else:
        orders = C(
            "orders",
            INT64,
            f"Sum of the daily agg's orders over the {period}: an order with lines in several level-2 "
            "categories, or on several days (click-and-collect), counts once per category and day.",
        )
    return (
        orders,
        C("units_sold", INT64, "Units sold on sale rows (returns excluded)."),
        C("gross_revenue", FLOAT64, "Revenue of the sale rows: units x unit price, before discounts."),
        C("discount_amount", FLOAT64, "Promotion and loyalty discounts of the sale rows."),
        C(
            "net_sales",
            FLOAT64,
            "net_sales_amount of sale and return rows: gross_revenue - discount_amount - return_amount.",
        ),
        C("gross_margin", FLOAT64, "gross_margin of sale and return rows (a return reverses its margin)."),
        C("margin_rate", FLOAT64, "gross_margin / net_sales; NULL when net_sales = 0.", True),
        C("return_units", INT64, "Units returned (return rows), as a positive number."),
        C("return_amount", FLOAT64, "Net sales amount refunded on the return rows, as a positive number."),
        C("lost_requests", INT64, "Requests that got no unit at all (rows of gold_lost_sales_fact)."),
        C("lost_units", INT64, "Units those requests asked for."),
        C("lost_revenue", FLOAT64, "Their value at the price asked (gold_lost_sales_fact.lost_revenue)."),
        C("constrained_lines", INT64, "Sale rows whose customer got fewer units than requested "
                                      "(is_inventory_constrained)."),
    )


_AVG_STOCKOUT = {
    "week": "Mean over the week's days of the daily stockout rate of the department (category_level_1) at "
    "the location (gold_inventory_daily_agg); channel-independent, so repeated on each channel's row. "
    "NULL if the location holds no inventory rows of the department.",
    "month": "Mean over the month's days of the daily stockout rate of the department (category_level_1) at "
    "the location (gold_inventory_daily_agg); channel-independent, so repeated on each channel's row. "
    "NULL if the location holds no inventory rows of the department.",
}


def _days_covered(period: str, days: str) -> Column:
    return C(
        "days_covered",
        INT32,
        f"Days of the {period} present in the daily aggs ({days}); fewer means the {period} is to date and "
        "is recomputed when its next days are materialised.",
    )


# ---------------------------------------------------------------------------- tables

GOLD_SALES_DAILY_AGG = Table(
    "gold_sales_daily_agg",
    "Sales, returns and lost demand per day x product category (levels 1-2) x location x channel: one row "
    "for every combination with a sale, a return or a lost request that day.",
    (
        C("date_key", INT32, "FK gold_date_dim (YYYYMMDD): day the stock moved / the request was lost; "
                             "the partition."),
        _category(1, "Department"),
        _category(2, "Category"),
        _LOCATION,
        _CHANNEL,
        *_sales_measures(None),
        *lineage(),
    ),
)

GOLD_INVENTORY_DAILY_AGG = Table(
    "gold_inventory_daily_agg",
    "End-of-day inventory per day x product category (levels 1-2) x location, from gold_inventory_fact.",
    (
        C("date_key", INT32, "FK gold_date_dim (YYYYMMDD): the snapshot day; the partition."),
        _category(1, "Department"),
        _category(2, "Category"),
        C("location_key", INT32, "FK gold_location_dim."),
        C("positions", INT64, "Product x location rows of the snapshot (every launched product)."),
        C("stockout_positions", INT64, "Positions out of stock at close (is_stockout)."),
        C("stockout_rate", FLOAT64, "stockout_positions / positions, in [0, 1]."),
        C("units_on_hand", INT64, "Units physically at the location at close (reserved included)."),
        C("units_available", INT64, "Units customers can buy (on hand - reserved)."),
        C("units_in_transit", INT64, "Units on open replenishment orders."),
        C("inventory_value", FLOAT64, "On-hand value at cost (sum of total_value)."),
        C("overstock_positions", INT64, "Positions with available units above their max stock level "
                                        "(is_overstock)."),
        *lineage(),
    ),
)

GOLD_SALES_WEEKLY_AGG = Table(
    "gold_sales_weekly_agg",
    "gold_sales_daily_agg rolled up per ISO week (Monday-Sunday) x department x location x channel, with "
    "the week's mean stockout rate. A week is to date (days_covered < 7) until all its days are written.",
    (
        C("week_start_date_key", INT32, "Monday of the week (YYYYMMDD); the partition."),
        C("week_end_date_key", INT32, "Sunday of the week (YYYYMMDD), whether or not it has data yet."),
        _days_covered("week", "1-7"),
        _category(1, "Department"),
        _LOCATION,
        _CHANNEL,
        *_sales_measures("week"),
        C("avg_stockout_rate", FLOAT64, _AVG_STOCKOUT["week"], True),
        *lineage(),
    ),
    partition_column="week_start_date_key",
)

GOLD_SALES_MONTHLY_AGG = Table(
    "gold_sales_monthly_agg",
    "gold_sales_daily_agg rolled up per calendar month x department x location x channel, with the month's "
    "mean stockout rate. A month is to date (days_covered < days_in_month) until all its days are written.",
    (
        C("month_key", INT32, "First day of the month (YYYYMM01, a gold_date_dim key); the partition."),
        C("year", INT32, "Calendar year."),
        C("month", INT32, "Calendar month, 1-12."),
        C("days_in_month", INT32, "Days of the calendar month, 28-31."),
        _days_covered("month", "1-31"),
        _category(1, "Department"),
        _LOCATION,
        _CHANNEL,
        *_sales_measures("month"),
        C("avg_stockout_rate", FLOAT64, _AVG_STOCKOUT["month"], True),
        *lineage(),
    ),
    partition_column="month_key",
)

ROLLUP_TABLES: dict[str, Table] = {
    t.name: t
    for t in (GOLD_SALES_DAILY_AGG, GOLD_INVENTORY_DAILY_AGG, GOLD_SALES_WEEKLY_AGG, GOLD_SALES_MONTHLY_AGG)
}

# Register the rollups in the project-wide registry (see the module docstring).
