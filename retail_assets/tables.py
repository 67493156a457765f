"""One declaration per table: column names, Arrow types, nullability and documentation.

The single source of truth for the simulation's Arrow output, the Delta writer and the
``dagster/column_schema`` metadata shown in the UI. ``retail_assets.registry`` lists every
table with its role (these, the rollups of ``rollup_tables`` and the checkpoint's parts).
"""

from __future__ import annotations

from retail_assets.table_model import (  # noqa: F401  (re-exported: the declaration vocabulary)
    BOOL,
    DATE,
    ETL_TIMESTAMP,
    FLOAT64,
    INT32,
    INT64,
    STRING,
    TIMESTAMP,
    Column,
    RowRule,
    Table,
    lineage,
)
from retail_assets.sim import catalog as cat

C = Column

# Allowed values derived from the generator's vocabularies (retail_assets.sim.catalog).
ALL_SIZES = tuple(size for system in cat.SIZE_SYSTEMS for size in system)
MOVEMENT_TYPES, MOVEMENT_REASONS, MOVEMENT_REFERENCES = (
    tuple(sorted({kind[part] for kind in cat.MOVEMENT_KINDS.values()})) for part in range(3)
)
CHANNEL_CODES = tuple(channel.code for channel in cat.CHANNELS)


def _or_unknown(values: tuple[str, ...]) -> tuple[str, ...]:
    """A customer column's vocabulary plus the unknown member's label."""
    return (*values, cat.UNKNOWN)


CATEGORY_LEVEL_1, CATEGORY_LEVEL_2, CATEGORY_LEVEL_3 = (
    tuple(dict.fromkeys(level)) for level in (cat.CATEGORY_LEVEL_1, cat.CATEGORY_LEVEL_2, cat.CATEGORY_LEVEL_3)
)
SIZE_RANGES = tuple(dict.fromkeys(cat.CATEGORY_SIZE_RANGE))

GOLD_SALES_FACT = Table(
    "gold_sales_fact",
    "One row per sold order line, and one negative row per return, dated the day stock moved.",
    (
        C(
            "sale_id",
            STRING,
            "Unique line id: S<order date>-<order number>-<line>; returns R<return date>-...",
            unique=True,
        ),
        C("transaction_id", STRING, "Checkout (or pickup / return) transaction the line belongs to."),
        C("order_id", STRING, "Customer order; a return keeps its original order id."),
        C("line_item_id", STRING, "Line number within the order."),
        C("customer_key", INT32, "FK gold_customer_dim."),
        C("product_key", INT32, "FK gold_product_dim."),
        C("location_key", INT32, "FK gold_location_dim: the store or fulfilment node whose stock moved."),
        C("date_key", INT32, "FK gold_date_dim (YYYYMMDD): day the stock moved; the partition."),
        C("order_date_key", INT32, "Day the order was placed (a pickup is collected a day later; a recovered cart is "
          "ordered the day it is checked out)."),
        C("time_key", INT32, "FK gold_time_dim (hhmm, 15-minute grain)."),
        C("channel_key", INT32, "FK gold_channel_dim."),
        C("quantity_sold", INT32, "Units sold (negative on return rows)."),
        C("quantity_requested", INT32, "Units the customer asked for (negative on return rows)."),
        C(
            "unit_price",
            FLOAT64,
            "Selling price per unit before order discounts (clearance markdown included).",
            minimum=0,
        ),
        C("revenue", FLOAT64, "quantity_sold x unit_price."),
        C("discount_amount", FLOAT64, "Promotion and loyalty discounts of the line."),
        C("net_sales_amount", FLOAT64, "revenue - discount_amount."),
        C("tax_amount", FLOAT64, "Sales tax on net_sales_amount at the state rate where the order is delivered: "
          "the customer's home state for a shipped order, the location's otherwise."),
        C("unit_cost", FLOAT64, "Product unit cost.", minimum=0),
        C("gross_margin", FLOAT64, "net_sales_amount - quantity_sold x unit_cost."),
        C("is_return", BOOL, "TRUE on return rows."),
        C("original_sale_id", STRING, "On return rows, the sale_id of the returned line; NULL when the line was sold "
          "before the lakehouse's first day (a receipt older than the history).", True),
        C("return_restocked_date_key", INT32, "On return rows, the day the units are back in stock.", True),
        C("is_inventory_constrained", BOOL, "The customer got fewer units than requested."),
        C(
            "inventory_at_purchase",
            INT32,
            "Units available at the position just before this line was served.",
            True,
            minimum=0,
        ),
        C("is_exchange", BOOL, "Return exchanged in store for another size."),
        C("is_promotional", BOOL, "A promotion code applied."),
        C("is_clearance", BOOL, "Product in its end-of-life clearance window (marked down)."),
        C("promotion_code", STRING, "Code of the promotion applied.", True),
        C(
            "payment_method",
            STRING,
            "credit_card, debit_card, paypal, apple_pay, gift_card or cash.",
            allowed=cat.PAYMENT_METHODS,
        ),
        C("fulfillment_type", STRING, "in_store, ship, pickup or same_day.", allowed=cat.FULFILLMENT_TYPES),
        C(
            "request_origin",
            STRING,
            "new, recovered_cart (recovery email), delayed_retry (came back after a "
            "stockout) or substitute (bought instead of an out-of-stock product).",
            allowed=cat.ORIGINS,
        ),
        C("size", STRING, "Size ordered (XS-XXL, 26-40, 5-12 or One Size).", allowed=ALL_SIZES),
        C(
            "return_reason",
            STRING,
            "On return rows: too_small, too_large, changed_mind, not_as_described, quality_issue or damaged.",
            True,
            allowed=cat.RETURN_REASONS,
        ),
        C("pos_terminal_id", STRING, "Till of an in-store sale.", True),
        C("sales_associate_id", STRING, "Associate of an in-store sale.", True),
        *lineage(),
    ),
    key=("sale_id",),
    rules=(
        RowRule(
            "sale_or_return_sign",
            "(NOT is_return AND quantity_sold > 0 AND revenue >= 0 AND net_sales_amount >= 0)"
            " OR (is_return AND quantity_sold < 0 AND revenue <= 0 AND net_sales_amount <= 0)",
            "Sale rows have positive units and non-negative amounts; return rows negative units and amounts.",
        ),
        RowRule(
            "sold_within_stock",
            "is_return OR inventory_at_purchase IS NULL OR quantity_sold <= inventory_at_purchase",
            "A sale never takes more units than were available at its position when it was served.",
        ),
        RowRule(
            "sold_within_request",
            "abs(quantity_sold) <= abs(quantity_requested)",
            "Never more units than the customer asked for.",
        ),
        RowRule(
            "return_fields",
            "is_return = (return_reason IS NOT NULL AND return_restocked_date_key IS NOT NULL)",
            "Return rows, and only they, carry a reason and a restock day.",
        ),
        RowRule(
            "original_line_on_returns_only",
            "original_sale_id IS NULL OR is_return",
            "Only a return row names an original line.",
        ),
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
        C("fulfillment_type", STRING, "How the order was to be fulfilled.", allowed=cat.FULFILLMENT_TYPES),
        C("quantity_requested", INT32, "Units the customer wanted.", minimum=1),
        C("unit_price", FLOAT64, "Price per unit at the time.", minimum=0),
        C("lost_revenue", FLOAT64, "quantity_requested x unit_price.", minimum=0),
        C("reason", STRING, "Why no unit was sold: out_of_stock.", allowed=("out_of_stock",)),
        C("request_origin", STRING, "new, recovered_cart, delayed_retry or substitute.", allowed=cat.ORIGINS),
        C(
            "stockout_response",
            STRING,
            "What the customer did: lost_to_competitor, substitute, delay, no_purchase, "
            "no_substitute (wanted one, none in stock), lost_after_retry.",
            allowed=cat.RESPONSES,
        ),
        C("substitute_product_key", INT32, "Product bought instead (its sale is in gold_sales_fact).", True),
        C("retry_date_key", INT32, "Day the customer comes back for the product.", True),
        *lineage(),
    ),
    rules=(
        RowRule(
            "substitute_named",
            "(stockout_response = 'substitute') = (substitute_product_key IS NOT NULL)",
            "A substitute response names the product bought instead, and only it.",
        ),
        RowRule(
            "retry_dated",
            "(stockout_response = 'delay') = (retry_date_key IS NOT NULL)",
            "A delay response has its return day, and only it.",
        ),
    ),
)

GOLD_INVENTORY_FACT = Table(
    "gold_inventory_fact",
    "End-of-day state of every launched product at every location.",
    (
        C("product_key", INT32, "FK gold_product_dim."),
        C("location_key", INT32, "FK gold_location_dim."),
        C("date_key", INT32, "FK gold_date_dim: the snapshot day; the partition."),
        C("quantity_on_hand", INT32, "Units physically at the location at close (reserved included).", minimum=0),
        C("quantity_reserved", INT32, "Units held for click-and-collect orders awaiting pickup.", minimum=0),
        C("quantity_available", INT32, "on_hand - reserved: what customers can buy.", minimum=0),
        C("quantity_in_transit", INT32, "Units on open vendor orders and DC transfers.", minimum=0),
        C("units_received", INT32, "Units received from vendor orders this day.", minimum=0),
        C("units_transferred_in", INT32, "Units received from the distribution center this day.", minimum=0),
        C("units_transferred_out", INT32, "Units shipped to stores and warehouses this day (DCs).", minimum=0),
        C("units_sold", INT32, "Units that left as sales this day (pickups when collected).", minimum=0),
        C("units_restocked", INT32, "Returned units put back into stock this day.", minimum=0),
        C("units_adjusted", INT32, "Stock adjustments this day (negative: shrinkage, damage, miscounts)."),
        C("total_value", FLOAT64, "On-hand value at cost.", minimum=0),
        C("total_value_retail", FLOAT64, "On-hand value at the current selling price.", minimum=0),
        C(
            "days_of_supply",
            FLOAT64,
            "Available units / recent average daily sales (NULL without sales).",
            True,
            minimum=0,
        ),
        C("is_stockout", BOOL, "Sellable product with nothing available at close."),
        C(
            "stockout_duration_days",
            INT32,
            "Consecutive days out of stock, this day included (0 if in stock).",
            minimum=0,
        ),
        C("is_overstock", BOOL, "Available units above the max stock level."),
        C("reorder_point", INT32, "Stock level that triggers a replenishment order.", minimum=0),
        C("max_stock_level", INT32, "Order-up-to level of the replenishment policy.", minimum=0),
        C("last_replenishment_date", DATE, "Last day a replenishment order arrived.", True),
        C("next_replenishment_date", DATE, "Arrival day of the earliest open order.", True),
        *lineage(),
    ),
    key=("product_key", "location_key", "date_key"),
    rules=(
        RowRule(
            "available_is_on_hand_minus_reserved",
            "quantity_available = quantity_on_hand - quantity_reserved",
            "available = on hand - reserved.",
        ),
        RowRule(
            "stockout_means_nothing_available",
            "NOT is_stockout OR (quantity_available = 0 AND stockout_duration_days >= 1)",
            "A stockout position has nothing available and a running spell.",
        ),
    ),
)

GOLD_INVENTORY_MOVEMENT_FACT = Table(
    "gold_inventory_movement_fact",
    "Every change of stock, per position, day and kind: summed per position and day it is exactly the "
    "change of quantity_on_hand in gold_inventory_fact.",
    (
        C("movement_id", STRING, "MV-<date_key>-<type>-<product_key>-<location_key>[-<to location>].", unique=True),
        C("date_key", INT32, "Day of the movement; the partition."),
        C("product_key", INT32, "FK gold_product_dim."),
        C("location_key", INT32, "FK gold_location_dim: the location whose stock changed."),
        C("from_location_key", INT32, "Shipping location of a transfer (NULL for vendors and customers).", True),
        C("to_location_key", INT32, "Receiving location of a transfer.", True),
        C("movement_type", STRING, "receipt, transfer, sale, return or adjustment.", allowed=MOVEMENT_TYPES),
        C(
            "movement_reason",
            STRING,
            "vendor_order, dc_replenishment, customer_sale, customer_return, shrinkage.",
            allowed=MOVEMENT_REASONS,
        ),
        C("quantity", INT32, "Signed change of on-hand units at location_key."),
        C("unit_cost", FLOAT64, "Product unit cost.", minimum=0),
        C("total_cost", FLOAT64, "quantity x unit_cost (signed)."),
        C(
            "reference_type",
            STRING,
            "purchase_order, transfer_order, sales, returns or cycle_count.",
            allowed=MOVEMENT_REFERENCES,
        ),
        *lineage(),
    ),
    key=("movement_id",),
    rules=(
        RowRule(
            "moves_units",
            "quantity <> 0",
            "A movement moves at least one unit.",
        ),
    ),
)

GOLD_DEMAND_FORECAST_FACT = Table(
    "gold_demand_forecast_fact",
    "Next-day forecast of every sellable position, made from observed sales (exponential smoothing "
    "with seasonal indices), next to both actuals: sales (censored by stockouts) and true demand. "
    "Error measures are fractions of actual sales and NULL when nothing sold.",
    (
        C("forecast_id", STRING, "FC-<date_key>-<product_key>-<location_key>.", unique=True),
        C("product_key", INT32, "FK gold_product_dim."),
        C("location_key", INT32, "FK gold_location_dim."),
        C("date_key", INT32, "Day forecast; the partition."),
        C("forecast_date_key", INT32, "Day the forecast was made (the day before)."),
        C("forecast_quantity", FLOAT64, "Expected units sold.", minimum=0),
        C("forecast_revenue", FLOAT64, "forecast_quantity x the day's shelf price.", minimum=0),
        C("lower_confidence_bound", FLOAT64, "Lower bound of the interval at confidence_level (>= 0).", minimum=0),
        C("upper_confidence_bound", FLOAT64, "Upper bound of the interval at confidence_level.", minimum=0),
        C("confidence_level", FLOAT64, "Coverage the interval aims at (0.9).", minimum=0, maximum=1),
        C(
            "actual_quantity",
            INT32,
            "Units sold (pickups when collected): what a sales-based model learns from.",
            minimum=0,
        ),
        C("actual_demand", INT32, "Units customers asked for, lost ones included (the truth).", minimum=0),
        C("actual_revenue", FLOAT64, "actual_quantity x the day's shelf price.", minimum=0),
        C("forecast_accuracy", FLOAT64, "max(0, 1 - mape); NULL when nothing sold.", True, minimum=0, maximum=1),
        C("mape", FLOAT64, "|forecast - actual| / actual (fraction); NULL when nothing sold.", True, minimum=0),
        C(
            "bias",
            FLOAT64,
            "(forecast - actual) / actual (fraction, > 0 = over-forecast); NULL when nothing sold.",
            True,
        ),
        C(
            "demand_bias",
            FLOAT64,
            "(forecast - true demand) / true demand: the bias stockouts hide; NULL when no demand.",
            True,
        ),
        C("model_version", STRING, "Forecast model version."),
        C("model_type", STRING, "Forecast model family."),
        *lineage(),
    ),
    key=("forecast_id",),
    rules=(
        RowRule(
            "forecast_inside_interval",
            "lower_confidence_bound <= forecast_quantity AND forecast_quantity <= upper_confidence_bound",
            "The point forecast lies inside its interval.",
        ),
    ),
)

GOLD_CART_ABANDONMENT_FACT = Table(
    "gold_cart_abandonment_fact",
    "One row per online cart abandoned before checkout. A cart is low inventory when one of its lines' "
    "positions had at most low_inventory_threshold units available when the customer looked; such carts "
    "are abandoned more often. Recovered carts come back as sales (promotion COMEBACK10) on recovery_date_key.",
    (
        C("abandonment_id", INT64, "Unique: date_key x 10^9 + cart number.", unique=True),
        C(
            "cart_id",
            STRING,
            "C<date_key>-<cart number>; the order id the cart would have had is O<date_key>-<number>.",
        ),
        C("session_id", STRING, "The web/app session in gold_customer_event_fact where the cart was filled."),
        C("customer_key", INT32, "FK gold_customer_dim."),
        C("date_key", INT32, "Day the cart was abandoned; the partition."),
        C("time_key", INT32, "Time the customer left (hhmm)."),
        C("channel_key", INT32, "FK gold_channel_dim."),
        C("product_key", INT32, "The cart's highest-value product."),
        C("cart_value", FLOAT64, "Sum of the cart's lines: quantity x the day's price.", minimum=0),
        C("items_count", INT32, "Units in the cart.", minimum=1),
        C("line_count", INT32, "Distinct lines in the cart.", minimum=1),
        C("minutes_in_cart", INT32, "Minutes between the first add-to-cart and leaving.", minimum=0),
        C("low_inventory_trigger", BOOL, "A line's position had <= low_inventory_threshold units available."),
        C("inventory_constrained_items", INT32, "Lines whose position was low at that moment.", minimum=0),
        C("recovery_email_sent", BOOL, "A recovery email went out (opted-in customers)."),
        C("recovery_email_opened", BOOL, "The email was opened."),
        C("recovery_email_clicked", BOOL, "Its link was clicked."),
        C("is_recovered", BOOL, "The customer came back and checked the cart out."),
        C("recovery_date_key", INT32, "Day of the recovered checkout; NULL if not recovered.", True),
        C("recovery_revenue", FLOAT64, "Cart value at the recovery discount (0 if not recovered).", minimum=0),
        C("abandonment_stage", STRING, "cart, shipping or payment.", allowed=cat.ABANDONMENT_STAGES),
        C(
            "suspected_reason",
            STRING,
            "low_inventory (only on low-inventory carts), high_shipping (shipping stage), "
            "price_concern, comparison_shopping, technical_issue, payment_issue (payment stage).",
            allowed=cat.SUSPECTED_REASONS,
        ),
        *lineage(),
    ),
    key=("abandonment_id",),
    rules=(
        RowRule(
            "recovered_carts_dated",
            "is_recovered = (recovery_date_key IS NOT NULL)",
            "A recovered cart has its recovery day, and only it.",
        ),
        RowRule(
            "low_inventory_reason",
            "suspected_reason <> 'low_inventory' OR low_inventory_trigger",
            "Only low-inventory carts are blamed on stock.",
        ),
        RowRule(
            "lines_within_items",
            "line_count <= items_count",
            "A cart has at least one unit per line.",
        ),
    ),
)

GOLD_CUSTOMER_EVENT_FACT = Table(
    "gold_customer_event_fact",
    "Web and app clickstream: every online cart's session (its funnel ends at checkout_complete, or "
    "where the cart was abandoned), recovered carts' sessions, and browse-only sessions. add_to_cart "
    "events are labelled low_stock when the site showed the product as nearly sold out.",
    (
        C("event_id", STRING, "<session_id>-<position in the session>.", unique=True),
        C("session_id", STRING, "SES-<date_key>-<session number>."),
        C("customer_key", INT32, "FK gold_customer_dim."),
        C("date_key", INT32, "Day of the event; the partition."),
        C("time_key", INT32, "FK gold_time_dim (hhmm)."),
        C("event_timestamp", TIMESTAMP, "When the event happened, in UTC (date_key and time_key: the shopper's local "
          "day and time at home)."),
        C("channel_key", INT32, "FK gold_channel_dim (web, app, social, marketplace)."),
        C(
            "event_type",
            STRING,
            "page_view, search, filter_apply, product_view, size_guide_view, add_to_cart, "
            "remove_from_cart, checkout_start, checkout_complete.",
            allowed=cat.EVENT_TYPES,
        ),
        C(
            "event_category",
            STRING,
            "navigation, engagement, cart or checkout.",
            allowed=tuple(sorted(set(cat.EVENT_CATEGORY))),
        ),
        C("event_action", STRING, "What the user did.", allowed=cat.EVENT_ACTIONS),
        C("event_label", STRING, "Product key, search term, low_stock, or the order id of a checkout.", True),
        C("event_value", FLOAT64, "Line value of an add_to_cart, order value of a checkout_complete.", True, minimum=0),
        C("product_key", INT32, "Product of product, size-guide and cart events.", True),
        C("time_on_page_seconds", INT32, "Seconds spent on the page.", minimum=0),
        C("bounce_flag", BOOL, "Single-page session."),
        C("page_url", STRING, "Path of the page."),
        C("referrer_url", STRING, "Where the session came from (NULL: direct).", True),
        C("search_term", STRING, "Query of a search event.", True),
        C("device_type", STRING, "desktop, mobile, tablet or app.", allowed=cat.DEVICE_TYPES),
        C("browser", STRING, "Browser (App for the native apps).", allowed=cat.BROWSERS),
        C("operating_system", STRING, "Windows, macOS, iOS, Android or Linux.", allowed=cat.OPERATING_SYSTEMS),
        C("utm_source", STRING, "Campaign source (NULL: direct).", True),
        C("utm_medium", STRING, "Campaign medium (NULL: direct).", True),
        C("utm_campaign", STRING, "Campaign name (NULL: organic or direct).", True),
        C("conversion_flag", BOOL, "The session ended with a checkout_complete."),
        *lineage(),
    ),
    key=("event_id",),
)

GOLD_STOCKOUT_EVENTS = Table(
    "gold_stockout_events",
    "Stockout spells (runs of days a sellable position closed with nothing available). A spell has a "
    "row on the day it opens (end NULL; the first partition also lists spells carried over from before "
    "the range) and a final row on the day it closes: the latest row per stockout_id is its state.",
    (
        C("stockout_id", STRING, "SO-<product_key>-<location_key>-<start date_key>."),
        C("product_key", INT32, "FK gold_product_dim."),
        C("location_key", INT32, "FK gold_location_dim."),
        C("date_key", INT32, "Day the row was emitted (spell opened, or closed); the partition."),
        C("stockout_start_date", DATE, "First day that closed with nothing available."),
        C("stockout_end_date", DATE, "Last day that closed with nothing available; NULL while open.", True),
        C("stockout_duration_days", INT32, "Days out of stock (so far, for an open spell).", minimum=1),
        C(
            "lost_sales_attempts",
            INT32,
            "Requests that got no unit during the spell (rows of gold_lost_sales_fact).",
            minimum=0,
        ),
        C("lost_sales_quantity", INT32, "Units those requests asked for.", minimum=0),
        C("lost_sales_revenue", FLOAT64, "Their value at the price asked.", minimum=0),
        C("peak_season_flag", BOOL, "The spell touched the holiday or back-to-school peak."),
        C("restocked_date", DATE, "Day units were back on the shelf; NULL while open or if discontinued.", True),
        C("is_closed", BOOL, "TRUE on the final row of a spell."),
        *lineage(),
    ),
    key=("stockout_id", "is_closed"),
    rules=(
        RowRule(
            "closed_spells_end",
            "is_closed = (stockout_end_date IS NOT NULL)",
            "A spell has an end date exactly when it is closed.",
        ),
        RowRule(
            "end_after_start",
            "stockout_end_date IS NULL OR stockout_end_date >= stockout_start_date",
            "A spell ends on or after its start.",
        ),
    ),
)

# --------------------------------------------------------------------------- dimensions
# Dimension rows are written in the daily partition in which they become effective (the
# first partition for everything that predates the range), so each carries the partition
# day in effective_date_key (their partition_column) instead of a date_key.


def _effective_key(what: str = "the row") -> Column:
    return Column(
        "effective_date_key",
        INT32,
        f"Partition (YYYYMMDD) in which {what} was written: the day it became effective, or the first partition.",
    )


GOLD_CUSTOMER_DIM = Table(
    "gold_customer_dim",
    "One row per loyalty member (SCD2 columns; every row is the current version), added on its acquisition day, "
    "plus the unknown member (key 0, labels 'unknown') that anonymous orders and sessions carry.",
    (
        C("customer_key", INT32, "Surrogate key, 1..n; 0 is the unknown member.", unique=True),
        C("customer_id", STRING, "Business id CUST_<8 digits> (CUST_00000000: the unknown member).", unique=True),
        C("email", STRING, "Lower-case email address first.last.<key>@<domain> (example domains only); NULL for the "
          "unknown member.", True),
        C("first_name", STRING, "Given name."),
        C("last_name", STRING, "Family name."),
        C("segment", STRING, "vip, premium, loyal, regular or new.", allowed=_or_unknown(cat.SEGMENTS)),
        C(
            "lifetime_value",
            FLOAT64,
            "Predicted lifetime value in USD: the expected spend of the member's identified orders over "
            f"{cat.CUSTOMER_LIFETIME_YEARS:g} years (their segment's order rate and basket, their activity), with the "
            "estimate's noise.",
            minimum=0,
        ),
        C("acquisition_date", DATE, "Day the customer was acquired."),
        C(
            "acquisition_channel",
            STRING,
            "Marketing channel that acquired the customer (organic_search, ...).",
            allowed=_or_unknown(cat.ACQUISITION_CHANNELS),
        ),
        C(
            "preferred_channel",
            STRING,
            "Channel code the customer shops most (gold_channel_dim.channel_code).",
            allowed=_or_unknown(CHANNEL_CODES),
        ),
        C(
            "preferred_category",
            STRING,
            "Preferred level-2 product category (Tops, Bottoms, ..., Shoes).",
            allowed=_or_unknown(cat.PREFERENCE_CATEGORIES),
        ),
        C("size_profile_tops", STRING, "Usual tops size, XS..XXL.", allowed=_or_unknown(cat.SIZES_TOPS)),
        C("size_profile_bottoms", STRING, "Usual bottoms waist size, 26..40 (even).", allowed=_or_unknown(cat.SIZES_BOTTOMS)),
        C("geo_region", STRING, "US region of the home city: Northeast, Southeast, Midwest, Southwest or West."),
        C("geo_city", STRING, "Home city."),
        C("geo_state", STRING, "Two-letter state code of the home city (city names repeat across states).", True),
        C("nearest_store_id", INT32, "location_key of the store nearest the customer's home (FK gold_location_dim).", True),
        C("loyalty_tier", STRING, "platinum, gold, silver or bronze.", allowed=_or_unknown(cat.LOYALTY_TIERS)),
        C("email_subscribe_flag", BOOL, "Opted in to marketing email."),
        C("sms_subscribe_flag", BOOL, "Opted in to marketing SMS."),
        C("effective_date", DATE, "SCD2: first day this version is valid (the acquisition date)."),
        C("expiration_date", DATE, "SCD2: last day this version is valid; NULL while current.", True),
        C("is_current", BOOL, "SCD2: TRUE on the current version of the customer."),
        _effective_key("the customer"),
        *lineage(),
    ),
    partition_column="effective_date_key",
    key=("customer_key",),
)

GOLD_PRODUCT_DIM = Table(
    "gold_product_dim",
    "One row per product (style-colour), added on its launch day.",
    (
        C("product_key", INT32, "Surrogate key, 1..n.", unique=True),
        C("product_id", STRING, "Business id PRD<7 digits>.", unique=True),
        C("sku", STRING, "Stock keeping unit <brand>-<category>-<key 6 digits>-<colour>.", unique=True),
        C("product_name", STRING, "Display name: brand, colour, material and item (No. 2, 3 ... after the first "
          "product of a name: names are unique).", unique=True),
        C("brand", STRING, "Brand (one of 8); the product name starts with it."),
        C("category_level_1", STRING, "Department: Apparel, Accessories or Footwear.", allowed=CATEGORY_LEVEL_1),
        C(
            "category_level_2",
            STRING,
            "Category: Tops, Bottoms, Dresses, Outerwear, Bags, Jewelry, Scarves or Shoes.",
            allowed=CATEGORY_LEVEL_2,
        ),
        C("category_level_3", STRING, "Leaf category (one of 36), e.g. Jeans.", allowed=CATEGORY_LEVEL_3),
        C("color_family", STRING, "Colour family: Neutral, Blue, Red, Green, Brown or Pink."),
        C("color_name", STRING, "Colour (one of 12)."),
        C("size_range", STRING, "Sizes offered: XS-XXL, 26-40, 5-12 or One Size.", allowed=SIZE_RANGES),
        C("material_primary", STRING, "Main material (one of 10)."),
        C("material_composition", STRING, "Care-label composition of the main material."),
        C("season_code", STRING, "Spring, Summer, Fall, Winter or Year-round.", allowed=cat.SEASONS),
        C("collection_name", STRING, "Collection: <season> <launch year> <line>, e.g. Fall 2025 Atelier."),
        C("launch_date", DATE, "First day the product is on sale."),
        C("end_of_life_date", DATE, "Day the product leaves the assortment (clearance precedes it)."),
        C("base_price", FLOAT64, "Full selling price in USD (29.99-299.99).", minimum=0.01),
        C("unit_cost", FLOAT64, "Landed cost per unit in USD (below base_price).", minimum=0),
        C(
            "margin_percent",
            FLOAT64,
            "(base_price - unit_cost) / base_price x 100, rounded to 2 decimals.",
            minimum=0,
            maximum=100,
        ),
        C("price_tier", STRING, "budget, mid, premium or luxury (by base_price).", allowed=cat.PRICE_TIERS),
        C("sustainability_flag", BOOL, "Main material is organic cotton, linen or recycled polyester."),
        C("is_active", BOOL, "Still in the assortment after the last day of the world's horizon "
          "(RETAIL_HORIZON_DAYS, by default the preset's days; not the range's RETAIL_DAYS)."),
        _effective_key("the product"),
        *lineage(),
    ),
    partition_column="effective_date_key",
    key=("product_key",),
    rules=(
        RowRule(
            "cost_below_price",
            "unit_cost < base_price",
            "Products are sold above cost.",
        ),
        RowRule(
            "launch_before_end_of_life",
            "launch_date <= end_of_life_date",
            "A product launches before it leaves the assortment.",
        ),
    ),
)

GOLD_LOCATION_DIM = Table(
    "gold_location_dim",
    "One row per store, warehouse and distribution center, at real US city coordinates.",
    (
        C("location_key", INT32, "Surrogate key, 1..n.", unique=True),
        C("location_id", STRING, "Business id LOC<3 digits>.", unique=True),
        C(
            "location_name",
            STRING,
            "Unique name: city and kind, e.g. Chicago Flagship, Memphis Distribution Center.",
            unique=True,
        ),
        C("location_type", STRING, "store, warehouse or distribution_center.", allowed=cat.LOCATION_TYPES),
        C(
            "store_format",
            STRING,
            "standard, flagship, outlet, or fulfillment for warehouses and DCs.",
            allowed=cat.STORE_FORMATS,
        ),
        C("address", STRING, "Street address (number and street)."),
        C("city", STRING, "City."),
        C("state", STRING, "Two-letter state code."),
        C("region", STRING, "US region: Northeast, Southeast, Midwest, Southwest or West."),
        C("postal_code", STRING, "ZIP code of the city centre."),
        C("country", STRING, "Country code: USA."),
        C("latitude", FLOAT64, "Latitude of the city centre, degrees.", minimum=-90, maximum=90),
        C("longitude", FLOAT64, "Longitude of the city centre, degrees.", minimum=-180, maximum=180),
        C("timezone", STRING, "IANA time zone of the city."),
        C("selling_square_footage", INT32, "Sales floor area in sq ft (0 for warehouses and DCs).", minimum=0),
        C("total_square_footage", INT32, "Total building area in sq ft.", minimum=1),
        C("is_flagship", BOOL, "Flagship store."),
        C("opened_date", DATE, "Day the location opened."),
        C("is_active", BOOL, "Location is operating."),
        _effective_key("the location"),
        *lineage(),
    ),
    partition_column="effective_date_key",
    key=("location_key",),
    rules=(
        RowRule(
            "selling_area_inside_building",
            "selling_square_footage <= total_square_footage",
            "The sales floor fits in the building.",
        ),
    ),
)

GOLD_DATE_DIM = Table(
    "gold_date_dim",
    "One row per calendar day, with US retail holidays and sales: from January 1 of the year before the start to "
    "a year after the last partition (partition D adds the day 365 days after D; the first partition holds "
    "everything up to a year after it), so every date a fact points to, back or ahead, is there.",
    (
        C("date_key", INT32, "Surrogate key YYYYMMDD.", unique=True),
        C("calendar_date", DATE, "The day.", unique=True),
        C("year", INT32, "Calendar year."),
        C("quarter", INT32, "Calendar quarter, 1-4.", minimum=1, maximum=4),
        C("month", INT32, "Calendar month, 1-12.", minimum=1, maximum=12),
        C("month_name", STRING, "Month name, January..December."),
        C("week_of_year", INT32, "ISO week number, 1-53.", minimum=1, maximum=53),
        C("day_of_month", INT32, "Day of the month, 1-31.", minimum=1, maximum=31),
        C("day_of_week", INT32, "ISO day of week, Monday = 1 .. Sunday = 7.", minimum=1, maximum=7),
        C("day_name", STRING, "Day name, Monday..Sunday."),
        C("is_weekend", BOOL, "Saturday or Sunday."),
        C("is_holiday", BOOL, "A US retail holiday (rule-based, e.g. Thanksgiving = 4th Thursday of November)."),
        C("holiday_name", STRING, "Holiday name(s), joined by ' / ' when they share a day; NULL otherwise.", True),
        C(
            "season",
            STRING,
            "Meteorological season: Winter, Spring, Summer or Fall.",
            allowed=("Winter", "Spring", "Summer", "Fall"),
        ),
        C("fiscal_year", INT32, "Retail fiscal year (starts 1 February, named for the year it starts in)."),
        C("fiscal_quarter", INT32, "Fiscal quarter, 1-4.", minimum=1, maximum=4),
        C("fiscal_month", INT32, "Fiscal month, 1-12 (February = 1).", minimum=1, maximum=12),
        C("is_last_day_of_month", BOOL, "Last day of the calendar month."),
        C("is_peak_season", BOOL, "Holiday (15 Nov - 31 Dec) or back-to-school (1 Aug - 10 Sep) peak."),
        C("is_sale_period", BOOL, "Inside a sale event window."),
        C("sale_event_name", STRING, "Sale event of the day (e.g. Black Friday Weekend); NULL outside sales.", True),
        _effective_key("the day"),
        *lineage(),
    ),
    partition_column="effective_date_key",
    key=("date_key",),
    rules=(
        RowRule(
            "weekend_days",
            "is_weekend = (day_of_week >= 6)",
            "Saturday and Sunday are the weekend.",
        ),
    ),
)

GOLD_CHANNEL_DIM = Table(
    "gold_channel_dim",
    "The 8 sales channels.",
    (
        C("channel_key", INT32, "Surrogate key, 1..8.", unique=True),
        C("channel_code", STRING, "Channel code, e.g. WEB_MOBILE, STORE_POS.", allowed=CHANNEL_CODES),
        C("channel_name", STRING, "Display name."),
        C("channel_type", STRING, "online or store."),
        C("channel_category", STRING, "web, app, physical, social or marketplace."),
        C("device_category", STRING, "desktop, mobile, pos_terminal, kiosk or mixed."),
        C("is_digital", BOOL, "Orders are placed digitally."),
        C("is_owned", BOOL, "Channel operated by the retailer (not a third-party platform)."),
        C(
            "commission_rate",
            FLOAT64,
            "Share of net sales paid to the platform (0 on owned channels).",
            minimum=0,
            maximum=1,
        ),
        _effective_key("the channel"),
        *lineage(),
    ),
    partition_column="effective_date_key",
    key=("channel_key",),
)

GOLD_TIME_DIM = Table(
    "gold_time_dim",
    "Time of day at 15-minute grain (96 rows).",
    (
        C("time_key", INT32, "Surrogate key hhmm (0, 15, ..., 2345).", unique=True),
        C("hour", INT32, "Hour, 0-23.", minimum=0, maximum=23),
        C("minute", INT32, "Minute: 0, 15, 30 or 45.", minimum=0, maximum=45),
        C("am_pm", STRING, "AM or PM.", allowed=("AM", "PM")),
        C("hour_12", INT32, "Hour on the 12-hour clock, 1-12.", minimum=1, maximum=12),
        C("period_of_day", STRING, "night (22-5h), morning (6-11h), afternoon (12-16h) or evening (17-21h)."),
        C("is_business_hours", BOOL, "Store opening hours, 10:00-20:59."),
        C("is_peak_hours", BOOL, "Lunch (12:00-13:59) or after-work (17:00-19:59) peak."),
        _effective_key("the time slot"),
        *lineage(),
    ),
    partition_column="effective_date_key",
    key=("time_key",),
)
