"""Declarations of the downstream tables: daily, weekly and monthly aggregates of the written facts,
and the customer insights (customer x product affinity, size-fit bridge).

Same vocabulary as ``retail_assets.tables``; ``retail_assets.registry`` lists them with their roles.
"""

from __future__ import annotations

from retail_assets.table_model import BOOL, DATE, FLOAT64, INT32, INT64, STRING, Column, Table, lineage

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
        orders = C("orders", INT64, "Distinct order_id of the sale rows (returns excluded).", minimum=0)
    else:
        orders = C(
            "orders",
            INT64,
            f"Sum of the daily agg's orders over the {period}: an order with lines in several level-2 "
            "categories, or on several days (click-and-collect), counts once per category and day.",
            minimum=0,
        )
    return (
        orders,
        C("units_sold", INT64, "Units sold on sale rows (returns excluded).", minimum=0),
        C("gross_revenue", FLOAT64, "Revenue of the sale rows: units x unit price, before discounts.", minimum=0),
        C("discount_amount", FLOAT64, "Promotion and loyalty discounts of the sale rows.", minimum=0),
        C(
            "net_sales",
            FLOAT64,
            "net_sales_amount of sale and return rows: gross_revenue - discount_amount - return_amount.",
        ),
        C("gross_margin", FLOAT64, "gross_margin of sale and return rows (a return reverses its margin)."),
        C("margin_rate", FLOAT64, "gross_margin / net_sales; NULL when net_sales = 0.", True),
        C("return_units", INT64, "Units returned (return rows), as a positive number.", minimum=0),
        C("return_amount", FLOAT64, "Net sales amount refunded on the return rows, as a positive number.", minimum=0),
        C("lost_requests", INT64, "Requests that got no unit at all (rows of gold_lost_sales_fact).", minimum=0),
        C("lost_units", INT64, "Units those requests asked for.", minimum=0),
        C("lost_revenue", FLOAT64, "Their value at the price asked (gold_lost_sales_fact.lost_revenue).", minimum=0),
        C(
            "constrained_lines",
            INT64,
            "Sale rows whose customer got fewer units than requested (is_inventory_constrained).",
            minimum=0,
        ),
    )


_AVG_STOCKOUT = {
    "week": "Mean over the week's days of the daily stockout rate of the department (category_level_1) at "
    "the location (gold_inventory_daily_agg); channel-independent, so repeated on each channel's row. "
    "NULL if the location holds no inventory rows of the department.",
    "month": "Mean over the month's days of the daily stockout rate of the department (category_level_1) at "
    "the location (gold_inventory_daily_agg); channel-independent, so repeated on each channel's row. "
    "NULL if the location holds no inventory rows of the department.",
}


def _days_covered(period: str, days: str, most: int) -> Column:
    return C(
        "days_covered",
        INT32,
        f"Days of the {period} present in the daily aggs ({days}); fewer means the {period} is to date and "
        "is recomputed when its next days are materialised.",
        minimum=1,
        maximum=most,
    )


# ---------------------------------------------------------------------------- tables

GOLD_SALES_DAILY_AGG = Table(
    "gold_sales_daily_agg",
    "Sales, returns and lost demand per day x product category (levels 1-2) x location x channel: one row "
    "for every combination with a sale, a return or a lost request that day.",
    (
        C("date_key", INT32, "FK gold_date_dim (YYYYMMDD): day the stock moved / the request was lost; the partition."),
        _category(1, "Department"),
        _category(2, "Category"),
        _LOCATION,
        _CHANNEL,
        *_sales_measures(None),
        *lineage(),
    ),
    key=("date_key", "category_level_1", "category_level_2", "location_key", "channel_key"),
)

GOLD_INVENTORY_DAILY_AGG = Table(
    "gold_inventory_daily_agg",
    "End-of-day inventory per day x product category (levels 1-2) x location, from gold_inventory_fact.",
    (
        C("date_key", INT32, "FK gold_date_dim (YYYYMMDD): the snapshot day; the partition."),
        _category(1, "Department"),
        _category(2, "Category"),
        C("location_key", INT32, "FK gold_location_dim."),
        C("positions", INT64, "Product x location rows of the snapshot (every launched product).", minimum=1),
        C("stockout_positions", INT64, "Positions out of stock at close (is_stockout).", minimum=0),
        C("stockout_rate", FLOAT64, "stockout_positions / positions, in [0, 1].", minimum=0, maximum=1),
        C("units_on_hand", INT64, "Units physically at the location at close (reserved included).", minimum=0),
        C("units_available", INT64, "Units customers can buy (on hand - reserved).", minimum=0),
        C("units_in_transit", INT64, "Units on open replenishment orders.", minimum=0),
        C("inventory_value", FLOAT64, "On-hand value at cost (sum of total_value).", minimum=0),
        C(
            "overstock_positions",
            INT64,
            "Positions with available units above their max stock level (is_overstock).",
            minimum=0,
        ),
        *lineage(),
    ),
    key=("date_key", "category_level_1", "category_level_2", "location_key"),
)

GOLD_SALES_WEEKLY_AGG = Table(
    "gold_sales_weekly_agg",
    "gold_sales_daily_agg rolled up per ISO week (Monday-Sunday) x department x location x channel, with "
    "the week's mean stockout rate. A week is to date (days_covered < 7) until all its days are written.",
    (
        C("week_start_date_key", INT32, "Monday of the week (YYYYMMDD); the partition."),
        C("week_end_date_key", INT32, "Sunday of the week (YYYYMMDD), whether or not it has data yet."),
        _days_covered("week", "1-7", 7),
        _category(1, "Department"),
        _LOCATION,
        _CHANNEL,
        *_sales_measures("week"),
        C("avg_stockout_rate", FLOAT64, _AVG_STOCKOUT["week"], True, minimum=0, maximum=1),
        *lineage(),
    ),
    partition_column="week_start_date_key",
    key=("week_start_date_key", "category_level_1", "location_key", "channel_key"),
)

GOLD_SALES_MONTHLY_AGG = Table(
    "gold_sales_monthly_agg",
    "gold_sales_daily_agg rolled up per calendar month x department x location x channel, with the month's "
    "mean stockout rate. A month is to date (days_covered < days_in_month) until all its days are written.",
    (
        C("month_key", INT32, "First day of the month (YYYYMM01, a gold_date_dim key); the partition."),
        C("year", INT32, "Calendar year."),
        C("month", INT32, "Calendar month, 1-12.", minimum=1, maximum=12),
        C("days_in_month", INT32, "Days of the calendar month, 28-31.", minimum=28, maximum=31),
        _days_covered("month", "1-31", 31),
        _category(1, "Department"),
        _LOCATION,
        _CHANNEL,
        *_sales_measures("month"),
        C("avg_stockout_rate", FLOAT64, _AVG_STOCKOUT["month"], True, minimum=0, maximum=1),
        *lineage(),
    ),
    partition_column="month_key",
    key=("month_key", "category_level_1", "location_key", "channel_key"),
)

# ------------------------------------------------------------------- customer insights
# Written by retail_assets.analytics.customer_insights (formulas and refresh rules there).

AFFINITY_WINDOW_DAYS = 90
AFFINITY_WEIGHTS = {"purchases": 3.0, "returns": -2.0, "add_to_carts": 1.0, "product_views": 0.3}
# The score saturates as e / (e + half): no transcendental function, whose last bit differs between
# libraries (DuckDB's libm, the JVM's), so DuckDB and Spark compute the same bits.
AFFINITY_HALF_SATURATION = 3.5  # the engagement scored 0.5
SIZE_RETURN_FIT_SCORE = 0.3
AFFINITY_FORMULA = "e / (e + {:g}), e = max(0, {})".format(
    AFFINITY_HALF_SATURATION,
    " ".join(f"{'-' if w < 0 else '+'} {abs(w):g} x {name}" for name, w in AFFINITY_WEIGHTS.items()).lstrip("+ "),
)

_WINDOW = (
    f"over the trailing {AFFINITY_WINDOW_DAYS} days ending date_key (inclusive; shorter in the first "
    f"partitions, which have less history)"
)

GOLD_CUSTOMER_PRODUCT_AFFINITY_AGG = Table(
    "gold_customer_product_affinity_agg",
    f"One row per day x customer x product for every pair with an interaction that day (a sale line, a "
    f"product_view or an add_to_cart event), with the pair's engagement {_WINDOW}, an affinity score and the "
    "product's rank among the customer's rows of the day.",
    (
        C(
            "date_key",
            INT32,
            "FK gold_date_dim (YYYYMMDD): day of the interaction that produced the row (sales "
            "by the day stock moved, events by their day); the partition.",
        ),
        C("customer_key", INT32, "FK gold_customer_dim."),
        C("product_key", INT32, "FK gold_product_dim."),
        _category(1, "Department"),
        C("purchases", INT64, f"Sale lines of the pair (returns excluded) {_WINDOW}.", minimum=0),
        C("units_purchased", INT64, f"Units on those sale lines {_WINDOW}.", minimum=0),
        C("returns", INT64, f"Return rows of the pair dated {_WINDOW} (the returned line may be older).", minimum=0),
        C("product_views", INT64, f"product_view events of the pair (gold_customer_event_fact) {_WINDOW}.", minimum=0),
        C("add_to_carts", INT64, f"add_to_cart events of the pair {_WINDOW}.", minimum=0),
        C(
            "last_interaction_date",
            DATE,
            "Latest day the pair had an interaction: the row's own day, by "
            "construction (a row exists only for a day with an interaction).",
        ),
        C(
            "days_since_last_interaction",
            INT32,
            f"Days from the pair's latest interaction before date_key (within the {AFFINITY_WINDOW_DAYS}-day window, "
            "i.e. 1..89) to date_key; NULL if the pair had none in the window (a first interaction). "
            "Returns are not interactions.",
            True,
            minimum=1,
            maximum=AFFINITY_WINDOW_DAYS - 1,
        ),
        C(
            "view_to_purchase_ratio",
            FLOAT64,
            "purchases / product_views over the window; NULL when there were no "
            "views (can exceed 1: store purchases need no view).",
            True,
            minimum=0,
        ),
        C(
            "cart_to_purchase_ratio",
            FLOAT64,
            "purchases / add_to_carts over the window; NULL when there were no add-to-carts (can exceed 1).",
            True,
            minimum=0,
        ),
        C(
            "affinity_score",
            FLOAT64,
            f"{AFFINITY_FORMULA} over the window, in [0, 1): 0 without net engagement; e.g. "
            "0.46 for one purchase, 0.63 for two, 0.08 for a single view.",
            minimum=0,
            maximum=1,
        ),
        C(
            "recommendation_rank",
            INT32,
            "Rank of the product among the customer's rows of the day: 1, 2, ... by "
            "affinity_score descending, ties by product_key ascending (no gaps).",
            minimum=1,
        ),
        C(
            "predicted_cltv_impact",
            FLOAT64,
            "affinity_score x base_price x expected repeat purchases over the next 365 days, where expected repeat "
            f"purchases = max(purchases, 1) x 365 / {AFFINITY_WINDOW_DAYS} (the pair's purchase rate in the window "
            "annualised, at least one purchase per window for a pair not bought yet). USD at full price; NULL if "
            "the product is not in gold_product_dim.",
            True,
            minimum=0,
        ),
        *lineage(),
    ),
    key=("date_key", "customer_key", "product_key"),
)

GOLD_SIZE_FIT_BRIDGE = Table(
    "gold_size_fit_bridge",
    "One row per sale line (returns excluded) of a sized product (ordered size other than 'One Size': apparel "
    "and footwear), with what the data reveals about the fit: the line's return (if any, found in the whole "
    "gold_sales_fact) and its reason. A partition is refreshed when a return of one of its lines is written: "
    "a run over days D1..Dn also rewrites the sale days of the lines returned on D1..Dn.",
    (
        C("sale_id", STRING, "The sale line (gold_sales_fact.sale_id); unique in the table.", unique=True),
        C("date_key", INT32, "FK gold_date_dim (YYYYMMDD): day of the sale line (the day stock moved); the partition."),
        C("customer_key", INT32, "FK gold_customer_dim."),
        C("product_key", INT32, "FK gold_product_dim."),
        C("ordered_size", STRING, "Size on the sale line: XS..XXL, 26..40 (even) or 5..12."),
        C(
            "size_range",
            STRING,
            "Sizes the product is offered in (gold_product_dim: XS-XXL, 26-40 or 5-12); the "
            "range of the ordered size if the product is not in the dimension.",
        ),
        C(
            "profile_size",
            STRING,
            "The customer's usual size in that size system (gold_customer_dim, latest row): "
            "size_profile_tops for XS-XXL, size_profile_bottoms for 26-40; NULL for shoes "
            "(5-12: no profile) or if the customer is not in the dimension.",
            True,
        ),
        C(
            "fit_description",
            STRING,
            "too_small / too_large when the line was returned with that return_reason; 'perfect' otherwise (kept, "
            "or returned for a reason unrelated to size): the fit the data reveals, not a measured one.",
            allowed=("too_small", "too_large", "perfect"),
        ),
        C(
            "fit_score",
            FLOAT64,
            f"1.0 for 'perfect', {SIZE_RETURN_FIT_SCORE} for a size-related return (too_small / too_large).",
            minimum=0,
            maximum=1,
        ),
        C(
            "is_returned",
            BOOL,
            "A return row of gold_sales_fact references the line (original_sale_id), whatever day it is dated.",
        ),
        C("return_date_key", INT32, "Day of that return row (the earliest, if several); NULL if not returned.", True),
        C("return_reason", STRING, "return_reason of that return row; NULL if not returned.", True),
        C("kept_size", STRING, "ordered_size if the line was kept; NULL if returned.", True),
        C(
            "recommended_size",
            STRING,
            "One size up the size system's order (XS, S, M, L, XL, XXL / 26, 28, ..., 40 / 5, 6, ..., 12) if "
            "too_small, one size down if too_large, capped at the ends of the order; the ordered size otherwise.",
        ),
        *lineage(),
    ),
    key=("sale_id",),
)
