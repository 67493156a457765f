"""The realism profile: a lakehouse measured against published retail anchors (issue 14).

Each ``Figure`` is one SQL query (DuckDB's dialect, run through ``Queries``, so on DuckDB or on
Spark through ``portable_sql``) returning ``(part, value)`` rows: the row whose part is NULL holds
the figure, the others its breakdown (by month, funnel step, channel, distance ...), which the
charts draw. Each carries its anchor band, the anchor's source and whether the model controls it
(a configured rate, or a behaviour the simulation is meant to reproduce) or it is informational.
``measure`` judges a range: in band, out of band, or n/a when the range cannot measure the figure
(a share of the year needs a whole calendar year), saying why.

The queries read the tables at the versions readers see (the commit ledger's) and filter the
facts by their partition key, so a profile of a range costs a few scans, whatever its length.
No Dagster here; matplotlib is imported by ``charts`` only (the wheel's base install lacks it).
"""

from __future__ import annotations

import datetime as dt
import io
import math
from collections.abc import Callable
from dataclasses import dataclass, field

from retail_assets.config import SimulationConfig
from retail_assets.days import date_key
from retail_assets.sim.calendar import holidays_for_year
from retail_assets.sim.catalog import RESPONSES, UNKNOWN_CUSTOMER_KEY
from retail_assets.sim.geography import EARTH_RADIUS_KM, US_CITIES
from retail_assets.storage.queries import Queries

IN_BAND, OUT_OF_BAND, NOT_MEASURED = "in band", "out of band", "n/a"
RETURN_WINDOW_DAYS = 30  # a sale's returns counted within the usual 30-day returns policy
STOCKOUT_BAND = (0.05, 0.10)
TURNOVER_BAND = (4.0, 8.0)
DISTANCE_BUCKETS_KM = (50, 150, 400)  # near .. far customers, by distance to their nearest store


@dataclass(frozen=True)
class Span:
    """The range profiled, and the configuration whose rates some anchors are."""

    first: dt.date
    last: dt.date
    config: SimulationConfig

    @property
    def lo(self) -> int:
        return date_key(self.first)

    @property
    def hi(self) -> int:
        return date_key(self.last)

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1

    @property
    def cohort_last(self) -> dt.date:
        """The last sale day whose returns window ends inside the range."""
        return self.last - dt.timedelta(days=RETURN_WINDOW_DAYS)

    @property
    def whole_months(self) -> tuple[dt.date, dt.date] | None:
        """The first days of the first and the last calendar months wholly inside the range."""
        first = self.first if self.first.day == 1 else (self.first.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
        after = self.last + dt.timedelta(days=1)
        last = (after.replace(day=1) - dt.timedelta(days=1)).replace(day=1)
        return (first, last) if first <= last else None

    @property
    def whole_year(self) -> int | None:
        """The latest calendar year wholly inside the range."""
        year = self.last.year if self.last.month == 12 and self.last.day == 31 else self.last.year - 1
        return year if dt.date(year, 1, 1) >= self.first else None

    @property
    def whole_november(self) -> int | None:
        """The year of the latest November wholly inside the range."""
        year = self.last.year if self.last >= dt.date(self.last.year, 11, 30) else self.last.year - 1
        return year if dt.date(year, 11, 1) >= self.first else None


def black_friday(year: int) -> dt.date:
    """The Black Friday of the simulation's calendar."""
    return next(day for day, name in holidays_for_year(year).items() if name == "Black Friday")


Band = tuple[float, float]


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    sql: Callable[[Span], str]  # (part, value) rows: part NULL is the figure, the others its breakdown
    band: Band | Callable[[SimulationConfig], Band]
    source: str
    controlled: bool  # the model is meant to hit the band (config-driven); otherwise informational
    unit: str = "share"  # share, points, ratio, per_year, days, count: how value and band print
    breakdown_unit: str | None = None  # how the breakdown prints, when not as the figure
    unmeasurable: Callable[[Span], str | None] = lambda span: None  # why the range cannot measure it

    @property
    def parts_unit(self) -> str:
        return self.breakdown_unit or self.unit

    def band_for(self, config: SimulationConfig) -> Band:
        return self.band(config) if callable(self.band) else self.band


@dataclass(frozen=True)
class Measured:
    figure: Figure
    value: float | None
    band: Band
    verdict: str
    why_not: str | None = None  # the reason of an n/a verdict
    breakdown: dict[str, float] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return self.figure.key


# ------------------------------------------------------------------------------- SQL parts

def _latest(table: str, key: str, columns: str) -> str:
    """The latest row of each key of an effective-dated dimension (rows sit in their partition)."""
    return (f"SELECT {key}, {columns} FROM {table} "
            f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY effective_date_key DESC) = 1")


def _share(condition: str) -> str:
    """The share of rows meeting ``condition`` (an average of integers: a double on both stores;
    Spark averages 1.0 / 0.0 literals as decimals of five places)."""
    return f"avg(CASE WHEN {condition} THEN 1 ELSE 0 END)"


def _ratio(numerator: str, denominator: str) -> str:
    return f"CAST({numerator} AS DOUBLE) / nullif(CAST({denominator} AS DOUBLE), 0)"


def _month(key: str) -> str:
    """'2025-01' of a YYYYMMDD key."""
    return (f"concat(CAST({key} // 10000 AS VARCHAR), '-', "
            f"lpad(CAST(({key} // 100) % 100 AS VARCHAR), 2, '0'))")


def _sellable_positions(span: Span) -> str:
    """Inventory positions of products still on sale that day (end of life not yet passed)."""
    return f"""
product AS ({_latest('gold_product_dim', 'product_key', 'end_of_life_date')}),
sellable AS (
    SELECT {_month('i.date_key')} AS month, i.is_stockout
    FROM gold_inventory_fact i JOIN product p ON p.product_key = i.product_key
    WHERE i.date_key BETWEEN {span.lo} AND {span.hi}
      AND (p.end_of_life_date IS NULL OR p.end_of_life_date >= day_of_key(i.date_key))
)"""


def _sellable_stockout_rate(span: Span) -> str:
    return f"""WITH {_sellable_positions(span)}
SELECT month AS part, {_share('is_stockout')} AS value FROM sellable GROUP BY GROUPING SETS ((), (month))"""


def _months_out_of_stockout_band(span: Span) -> str:
    low, high = STOCKOUT_BAND
    first, last = span.whole_months
    return f"""WITH {_sellable_positions(span)},
monthly AS (SELECT month, {_share('is_stockout')} AS rate FROM sellable GROUP BY month)
SELECT CAST(NULL AS VARCHAR) AS part, CAST(count(*) FILTER (WHERE rate < {low} OR rate > {high}) AS DOUBLE) AS value
FROM monthly WHERE month BETWEEN '{first:%Y-%m}' AND '{last:%Y-%m}'"""


def _no_whole_month(span: Span) -> str | None:
    if span.whole_months is None:
        return f"needs a whole calendar month; the range is {span.first} .. {span.last}"
    return None


FUNNEL = (("1 product view", "product_view"), ("2 add to cart", "add_to_cart"),
          ("3 checkout start", "checkout_start"), ("4 purchase", "checkout_complete"))


def _conversion(span: Span) -> str:
    """Sessions with a purchase over sessions; the breakdown is the funnel (share of sessions
    reaching each step)."""
    reached = ",\n    ".join(f"max(CASE WHEN event_type = '{event}' THEN 1 ELSE 0 END) AS step{i}"
                             for i, (_, event) in enumerate(FUNNEL))
    steps = "\nUNION ALL ".join(f"SELECT '{label}', avg(step{i}) FROM sessions" for i, (label, _) in enumerate(FUNNEL))
    return f"""WITH sessions AS (
    SELECT session_id, {reached}
    FROM gold_customer_event_fact WHERE date_key BETWEEN {span.lo} AND {span.hi} GROUP BY session_id
)
SELECT CAST(NULL AS VARCHAR) AS part, avg(step{len(FUNNEL) - 1}) AS value FROM sessions
UNION ALL {steps}"""


def _carts(span: Span) -> str:
    """Every online cart of the range: abandoned (the cart fact) or checked out (its order's lines,
    sold or lost), and whether it met low stock: the abandonment fact's trigger; for a checked-out
    cart, a line served from at most ``low_inventory_threshold`` units, or one that found none."""
    threshold = span.config.low_inventory_threshold
    return f"""
online AS (SELECT DISTINCT channel_key FROM gold_channel_dim WHERE channel_type = 'online'),
checked_out_lines AS (
    SELECT order_id, CASE WHEN inventory_at_purchase <= {threshold} THEN 1 ELSE 0 END AS low
    FROM gold_sales_fact
    WHERE NOT is_return AND request_origin = 'new' AND order_date_key BETWEEN {span.lo} AND {span.hi}
      AND channel_key IN (SELECT channel_key FROM online)
    UNION ALL
    SELECT order_id, 1 FROM gold_lost_sales_fact
    WHERE request_origin = 'new' AND date_key BETWEEN {span.lo} AND {span.hi}
      AND channel_key IN (SELECT channel_key FROM online)
),
carts AS (
    SELECT 0 AS abandoned, max(low) AS low FROM checked_out_lines GROUP BY order_id
    UNION ALL
    SELECT 1, CASE WHEN low_inventory_trigger THEN 1 ELSE 0 END
    FROM gold_cart_abandonment_fact WHERE date_key BETWEEN {span.lo} AND {span.hi}
)"""


def _cart_abandonment(span: Span) -> str:
    return f"""WITH {_carts(span)}
SELECT CASE low WHEN 1 THEN 'low-stock carts' WHEN 0 THEN 'other carts' END AS part, avg(abandoned) AS value
FROM carts GROUP BY GROUPING SETS ((), (low))"""


def _low_stock_uplift(span: Span) -> str:
    return f"""WITH {_carts(span)},
rates AS (SELECT low, avg(abandoned) AS rate FROM carts GROUP BY low)
SELECT CAST(NULL AS VARCHAR) AS part, max(rate) FILTER (WHERE low = 1) - max(rate) FILTER (WHERE low = 0) AS value
FROM rates"""


def _cohort_returns(span: Span, breakdown: str, channels: str = "TRUE") -> str:
    """Returned units of the sales of first .. last - 30 days over their units sold."""
    return f"""WITH channel AS ({_latest('gold_channel_dim', 'channel_key', 'channel_code, channel_type')}),
cohort AS (
    SELECT s.sale_id, s.quantity_sold, c.{breakdown} AS part
    FROM gold_sales_fact s JOIN channel c ON c.channel_key = s.channel_key
    WHERE NOT s.is_return AND s.date_key BETWEEN {span.lo} AND {date_key(span.cohort_last)} AND {channels}
),
returned AS (
    SELECT original_sale_id AS sale_id, -sum(quantity_sold) AS units FROM gold_sales_fact
    WHERE is_return AND date_key BETWEEN {span.lo} AND {span.hi} GROUP BY original_sale_id
)
SELECT part, {_ratio('sum(coalesce(r.units, 0))', 'sum(c.quantity_sold)')} AS value
FROM cohort c LEFT JOIN returned r ON r.sale_id = c.sale_id GROUP BY GROUPING SETS ((), (part))"""


def _too_short_for_returns(span: Span) -> str | None:
    if span.cohort_last < span.first:
        return f"needs more than {RETURN_WINDOW_DAYS} days: a sale's returns are counted for {RETURN_WINDOW_DAYS} days"
    return None


def _stockout_responses(span: Span) -> str:
    """The largest gap between a response's share and its configured share, over the first tries
    of new requests (a retry that fails again is lost; a failed substitute is not asked again);
    wanting a substitute counts whether or not one was in stock."""
    configured = ", ".join(f"('{name}', {share})" for name, share in zip(RESPONSES, span.config.stockout_response_shares))
    return f"""WITH configured AS (SELECT * FROM (VALUES {configured}) AS configured(response, share)),
responses AS (
    SELECT CASE WHEN stockout_response = 'no_substitute' THEN 'substitute' ELSE stockout_response END AS response
    FROM gold_lost_sales_fact
    WHERE date_key BETWEEN {span.lo} AND {span.hi} AND request_origin NOT IN ('delayed_retry', 'substitute')
),
shares AS (
    SELECT c.response, c.share, {_ratio('count(r.response)', '(SELECT count(*) FROM responses)')} AS measured
    FROM configured c LEFT JOIN responses r ON r.response = c.response GROUP BY c.response, c.share
)
SELECT CAST(NULL AS VARCHAR) AS part, max(abs(measured - share)) AS value FROM shares
UNION ALL SELECT response, measured FROM shares"""


def _known_customers() -> str:
    """The customer dimension's members: the unknown member (an anonymous order's) excepted."""
    return f"""SELECT * FROM ({_latest('gold_customer_dim', 'customer_key', 'segment, lifetime_value, acquisition_date')})
    WHERE customer_key <> {UNKNOWN_CUSTOMER_KEY}"""


def _orders_per_customer_year(span: Span) -> str:
    """Orders over the customer-years of the range (each customer counted from acquisition)."""
    first, last = f"DATE '{span.first}'", f"DATE '{span.last}'"
    return f"""WITH customer AS ({_known_customers()}),
exposure AS (
    SELECT segment, sum(date_diff('day', greatest(acquisition_date, {first}), {last}) + 1) AS days
    FROM customer WHERE acquisition_date <= {last} GROUP BY segment
),
orders AS (
    SELECT c.segment, count(DISTINCT s.order_id) AS orders
    FROM gold_sales_fact s JOIN customer c ON c.customer_key = s.customer_key
    WHERE NOT s.is_return AND s.order_date_key BETWEEN {span.lo} AND {span.hi} GROUP BY c.segment
)
SELECT segment AS part, {_ratio('365 * sum(coalesce(o.orders, 0))', 'sum(e.days)')} AS value
FROM exposure e LEFT JOIN orders o USING (segment) GROUP BY GROUPING SETS ((), (segment))"""


def _spend_above_lifetime_value(span: Span) -> str:
    return f"""WITH customer AS ({_known_customers()}),
spend AS (
    SELECT customer_key, sum(net_sales_amount) AS spend FROM gold_sales_fact
    WHERE date_key BETWEEN {span.lo} AND {span.hi} GROUP BY customer_key
)
SELECT c.segment AS part, {_share('s.spend > c.lifetime_value')} AS value
FROM spend s JOIN customer c ON c.customer_key = s.customer_key GROUP BY GROUPING SETS ((), (c.segment))"""


def _nov_dec_share(span: Span) -> str:
    year = span.whole_year
    return f"""SELECT CAST(NULL AS VARCHAR) AS part,
    {_ratio(f'sum(net_sales_amount) FILTER (WHERE date_key >= {year}1101)', 'sum(net_sales_amount)')} AS value
FROM gold_sales_fact WHERE date_key BETWEEN {year}0101 AND {year}1231"""


def _no_whole_year(span: Span) -> str | None:
    if span.whole_year is None:
        return f"needs a whole calendar year; the range is {span.first} .. {span.last}"
    return None


def _black_friday_ratio(span: Span) -> str:
    year = span.whole_november
    friday = date_key(black_friday(year))
    return f"""WITH daily AS (
    SELECT date_key, sum(net_sales_amount) AS net FROM gold_sales_fact
    WHERE date_key BETWEEN {year}1101 AND {year}1130 GROUP BY date_key
)
SELECT CAST(NULL AS VARCHAR) AS part, {_ratio(f'max(net) FILTER (WHERE date_key = {friday})', 'sum(net) / 30')} AS value
FROM daily"""


def _no_black_friday(span: Span) -> str | None:
    if span.whole_november is None:
        return f"needs a whole November (with its Black Friday); the range is {span.first} .. {span.last}"
    return None


def _top_products_share(span: Span) -> str:
    """Net sales share of the best-selling 20% of the products sold in the range."""
    return f"""WITH product_sales AS (
    SELECT product_key, sum(net_sales_amount) AS net FROM gold_sales_fact
    WHERE date_key BETWEEN {span.lo} AND {span.hi} GROUP BY product_key
),
ranked AS (
    SELECT net, row_number() OVER (ORDER BY net DESC, product_key) AS position, count(*) OVER () AS products
    FROM product_sales
)
SELECT CAST(NULL AS VARCHAR) AS part,
    {_ratio('sum(net) FILTER (WHERE position <= ceil(0.2 * products))', 'sum(net)')} AS value
FROM ranked"""


def _stock_and_cogs(span: Span, locations: str) -> str:
    """Per location of ``locations``: cost of goods sold (net of returns) and mean daily stock at cost."""
    return f"""WITH location AS ({_latest('gold_location_dim', 'location_key', 'location_name, location_type')}),
stock AS (
    SELECT l.location_type, l.location_name, sum(i.total_value) / {span.days} AS stock
    FROM gold_inventory_fact i JOIN location l ON l.location_key = i.location_key
    WHERE i.date_key BETWEEN {span.lo} AND {span.hi} AND {locations} GROUP BY ALL
),
cogs AS (
    SELECT l.location_name, sum(s.quantity_sold * s.unit_cost) AS cogs
    FROM gold_sales_fact s JOIN location l ON l.location_key = s.location_key
    WHERE s.date_key BETWEEN {span.lo} AND {span.hi} GROUP BY ALL
),
positions AS (SELECT stock.*, coalesce(cogs.cogs, 0) AS cogs FROM stock LEFT JOIN cogs USING (location_name))"""


def _turnover(span: Span, locations: str, breakdown: str) -> str:
    """Annualised cost of goods sold over the mean stock at cost."""
    return f"""{_stock_and_cogs(span, locations)}
SELECT {breakdown} AS part, {_ratio(f'sum(cogs) * 365 / {span.days}', 'sum(stock)')} AS value
FROM positions GROUP BY GROUPING SETS ((), ({breakdown}))"""


def _days_of_supply(span: Span) -> str:
    """Mean stock at cost over the cost of goods sold per day."""
    return f"""{_stock_and_cogs(span, 'TRUE')}
SELECT location_type AS part, {_ratio('sum(stock)', f'sum(cogs) / {span.days}')} AS value
FROM positions GROUP BY GROUPING SETS ((), (location_type))"""


def _lost_demand_share(span: Span) -> str:
    """Units asked for and not served (requests that got nothing, and the shortfall of lines that
    got fewer units than asked) over the units asked for."""
    return f"""WITH sold AS (
    SELECT sum(quantity_sold) AS sold, sum(quantity_requested - quantity_sold) AS short FROM gold_sales_fact
    WHERE NOT is_return AND date_key BETWEEN {span.lo} AND {span.hi}
),
lost AS (SELECT sum(quantity_requested) AS lost FROM gold_lost_sales_fact WHERE date_key BETWEEN {span.lo} AND {span.hi})
SELECT CAST(NULL AS VARCHAR) AS part, {_ratio('coalesce(lost, 0) + short', 'sold + short + coalesce(lost, 0)')} AS value
FROM sold, lost"""


def _forecast_error(span: Span) -> str:
    """WAPE of the day-ahead forecasts against demand (served or not); mean MAPE of the days with demand."""
    return f"""WITH forecasts AS (
    SELECT * FROM gold_demand_forecast_fact WHERE date_key BETWEEN {span.lo} AND {span.hi}
)
SELECT CAST(NULL AS VARCHAR) AS part,
    {_ratio('sum(abs(forecast_quantity - actual_demand))', 'sum(actual_demand)')} AS value FROM forecasts
UNION ALL SELECT 'mean MAPE (days with demand)', avg(mape) FROM forecasts"""


def _interval_coverage(span: Span) -> str:
    """Share of days whose units sold fall inside the forecast's interval, minus its stated level."""
    inside = _share('actual_quantity BETWEEN lower_confidence_bound AND upper_confidence_bound')
    return f"""WITH forecasts AS (
    SELECT * FROM gold_demand_forecast_fact WHERE date_key BETWEEN {span.lo} AND {span.hi}
)
SELECT CAST(NULL AS VARCHAR) AS part, {inside} - avg(confidence_level) AS value FROM forecasts
UNION ALL SELECT 'coverage', {inside} FROM forecasts
UNION ALL SELECT 'stated confidence level', avg(confidence_level) FROM forecasts"""


def _km(lat_a: str, lon_a: str, lat_b: str, lon_b: str) -> str:
    """Great-circle distance (haversine)."""
    return (f"2 * {EARTH_RADIUS_KM} * asin(sqrt(power(sin(radians({lat_b} - {lat_a}) / 2), 2) + "
            f"cos(radians({lat_a})) * cos(radians({lat_b})) * power(sin(radians({lon_b} - {lon_a}) / 2), 2)))")


def _quoted(text: str) -> str:
    return "'" + str(text).replace("'", "''") + "'"


CITIES = ", ".join(f"({_quoted(city)}, {_quoted(state)}, {lat!r}, {lon!r})" for city, state, lat, lon in zip(
    US_CITIES.city, US_CITIES.state_code, US_CITIES.latitude.tolist(), US_CITIES.longitude.tolist()))


def _distance_bucket(km: str) -> str:
    near, *middle, far = DISTANCE_BUCKETS_KM
    cases = [f"WHEN {km} < {near} THEN '1: < {near} km'"]
    cases += [f"WHEN {km} < {high} THEN '{i + 2}: {low}-{high} km'"
              for i, (low, high) in enumerate(zip((near, *middle), (*middle, far)))]
    return f"CASE {' '.join(cases)} ELSE '{len(DISTANCE_BUCKETS_KM) + 1}: >= {far} km' END"


def _store_orders_by_distance(span: Span) -> str:
    """Share of orders placed in a store, by the customer's (city's) distance to the nearest store;
    the figure is the far customers' share over the near customers'."""
    near, far = DISTANCE_BUCKETS_KM[0], DISTANCE_BUCKETS_KM[-1]
    return f"""WITH cities AS (SELECT * FROM (VALUES {CITIES}) AS cities(city, state, latitude, longitude)),
stores AS (
    SELECT latitude, longitude FROM ({_latest('gold_location_dim', 'location_key', 'latitude, longitude, location_type')})
    WHERE location_type = 'store'
),
customer AS ({_latest('gold_customer_dim', 'customer_key', 'geo_city, geo_state')}),
distance AS (
    SELECT c.customer_key, min({_km('t.latitude', 't.longitude', 's.latitude', 's.longitude')}) AS km
    FROM customer c JOIN cities t ON t.city = c.geo_city AND t.state = c.geo_state CROSS JOIN stores s
    GROUP BY c.customer_key
),
channel AS ({_latest('gold_channel_dim', 'channel_key', 'channel_type')}),
orders AS (
    SELECT DISTINCT s.order_id, d.km, ch.channel_type = 'store' AS in_store
    FROM gold_sales_fact s JOIN distance d ON d.customer_key = s.customer_key
    JOIN channel ch ON ch.channel_key = s.channel_key
    WHERE NOT s.is_return AND s.order_date_key BETWEEN {span.lo} AND {span.hi}
)
SELECT CAST(NULL AS VARCHAR) AS part,
    {_ratio(f"{_share('in_store')} FILTER (WHERE km >= {far})", f"{_share('in_store')} FILTER (WHERE km < {near})")}
    AS value FROM orders
UNION ALL SELECT {_distance_bucket('km')}, {_share('in_store')} FROM orders GROUP BY 1"""


# ---------------------------------------------------------------------------- the figures

def _around(setting: str, tolerance: float) -> Callable[[SimulationConfig], Band]:
    """A band of +- ``tolerance`` around a configured rate."""
    return lambda config: (getattr(config, setting) - tolerance, getattr(config, setting) + tolerance)


FIGURES: tuple[Figure, ...] = (
    Figure("sellable_stockout_rate", "Stockout rate of sellable positions (by month)", _sellable_stockout_rate,
           STOCKOUT_BAND, "Gruen, Corsten & Bharadwaj 2002: 8.3% average out-of-stock rate; 5-10% across studies",
           controlled=True),
    Figure("stockout_months_out_of_band", "Whole months whose sellable stockout rate is outside the band",
           _months_out_of_stockout_band, (0, 0), "the same band in every month (issue 14)", controlled=True,
           unit="count", unmeasurable=_no_whole_month),
    Figure("online_conversion", "Online sessions with a purchase (funnel)", _conversion, (0.02, 0.04),
           "industry rule of thumb: 2-4% of e-commerce sessions convert", controlled=True),
    Figure("cart_abandonment_rate", "Online carts abandoned", _cart_abandonment, (0.60, 0.80),
           "Baymard Institute: 70.19% average documented cart abandonment", controlled=True),
    Figure("low_stock_abandonment_uplift", "Abandonment uplift of carts that see low stock", _low_stock_uplift,
           _around("cart_abandonment_increase", 0.03), "configured cart_abandonment_increase +- 3 points",
           controlled=True, unit="points"),
    Figure("return_rate_by_cohort", f"Units returned of the units sold (sales {RETURN_WINDOW_DAYS}+ days before "
           "the range's end, by channel)", lambda span: _cohort_returns(span, "channel_code"),
           _around("return_rate", 0.03), "configured return_rate +- 3 points (NRF/Appriss 2023 Consumer Returns: "
           "14.5% of sales)", controlled=True, unmeasurable=_too_short_for_returns),
    Figure("online_return_rate", "Units returned of the units sold online (by channel)",
           lambda span: _cohort_returns(span, "channel_code", "c.channel_type = 'online'"), (0.20, 0.30),
           "industry rule of thumb: fashion e-commerce returns 20-30%", controlled=False,
           unmeasurable=_too_short_for_returns),
    Figure("stockout_response_gap", "Largest gap between a stockout response's share and its configured share",
           _stockout_responses, (0.0, 0.05), "configured stockout_response_shares (after Gruen, Corsten & "
           "Bharadwaj 2002: 31% buy elsewhere, 45% substitute, 15% delay, 9% do not buy)", controlled=True,
           unit="points"),
    Figure("orders_per_customer_year", "Orders per known customer per year (by segment)", _orders_per_customer_year,
           (2.0, 6.0), "industry rule of thumb: fashion customers buy 2-6 times a year", controlled=True,
           unit="per_year"),
    Figure("spend_above_lifetime_value", "Buying customers whose spend in the range exceeds their lifetime_value",
           _spend_above_lifetime_value, (0.0, 0.05), "lifetime value bounds a customer's spend: a small share at "
           "most (rule of thumb)", controlled=True),
    Figure("nov_dec_share", "November-December share of the year's net sales", _nov_dec_share, (0.18, 0.21),
           "NRF: the holiday season is about 19% of annual retail sales", controlled=True,
           unmeasurable=_no_whole_year),
    Figure("black_friday_ratio", "Black Friday net sales over an average November day", _black_friday_ratio,
           (2.5, 3.5), "industry rule of thumb: Black Friday sells 2.5-3.5x an average November day",
           controlled=True, unit="ratio", unmeasurable=_no_black_friday),
    Figure("top_20_percent_product_share", "Net sales share of the best-selling 20% of products",
           _top_products_share, (0.60, 0.80), "Pareto principle: the top 20% of products bring 60-80% of revenue",
           controlled=False),
    Figure("store_inventory_turnover", "Inventory turnover of the stores (by store)",
           lambda span: _turnover(span, "l.location_type = 'store'", "location_name"), TURNOVER_BAND,
           "industry rule of thumb: apparel retail turns its inventory 4-8 times a year", controlled=True,
           unit="per_year"),
    Figure("inventory_turnover", "Inventory turnover of the whole network (by location type)",
           lambda span: _turnover(span, "TRUE", "location_type"), TURNOVER_BAND,
           "industry rule of thumb: apparel retail turns its inventory 4-8 times a year", controlled=True,
           unit="per_year"),
    Figure("days_of_supply", "Days of supply of the whole network (by location type)", _days_of_supply,
           (365 / TURNOVER_BAND[1], 365 / TURNOVER_BAND[0]), "365 / the 4-8 turns of apparel retail",
           controlled=True, unit="days"),
    Figure("lost_demand_share", "Units asked for and not served", _lost_demand_share, (0.04, 0.08),
           "Gruen, Corsten & Bharadwaj 2002: about 4% of sales lost to out-of-stocks", controlled=False),
    Figure("forecast_wape", "Day-ahead forecast WAPE against demand, per product and location",
           _forecast_error, (0.5, 1.2), "industry rule of thumb for daily item x location forecasts of "
           "intermittent demand", controlled=False),
    Figure("interval_coverage_gap", "Forecast interval coverage of units sold minus its stated confidence level",
           _interval_coverage, (-0.05, 0.05), "a calibrated interval covers its stated confidence_level",
           controlled=True, unit="points", breakdown_unit="share"),
    Figure("store_share_far_over_near", f"In-store order share of customers >= {DISTANCE_BUCKETS_KM[-1]} km from "
           f"a store over that of customers < {DISTANCE_BUCKETS_KM[0]} km (by distance)",
           _store_orders_by_distance, (0.0, 0.5), "distance decay of store patronage (Huff 1964): far customers "
           "shop online", controlled=True, unit="ratio", breakdown_unit="share"),
)


# ------------------------------------------------------------------------------ measuring

def measure(queries: Queries, first: dt.date, last: dt.date, config: SimulationConfig) -> list[Measured]:
    """Every figure of first..last, judged against its band (``config``: the rates the lakehouse
    was made with, which the controlled bands are centred on)."""
    span = Span(first, last, config)
    return [measure_figure(queries, figure, span) for figure in FIGURES]


def measure_figure(queries: Queries, figure: Figure, span: Span) -> Measured:
    """One figure of the span, judged; n/a, saying why, when the span cannot measure it."""
    band = figure.band_for(span.config)
    why_not = figure.unmeasurable(span)
    if why_not:
        return Measured(figure, None, band, NOT_MEASURED, why_not)
    rows = queries.rows(figure.sql(span))
    breakdown = {str(row["part"]): float(row["value"]) for row in sorted(rows, key=lambda row: str(row["part"]))
                 if row["part"] is not None and row["value"] is not None}
    value = next((row["value"] for row in rows if row["part"] is None), None)
    if value is None or math.isnan(float(value)):
        return Measured(figure, None, band, NOT_MEASURED, "nothing to measure it on in the range", breakdown)
    value = float(value)
    verdict = IN_BAND if band[0] <= value <= band[1] else OUT_OF_BAND
    return Measured(figure, value, band, verdict, None, breakdown)


def written_range(queries: Queries) -> tuple[dt.date, dt.date]:
    """The first and last day the lakehouse holds (its inventory snapshots)."""
    first, last = queries.one("SELECT min(date_key), max(date_key) FROM gold_inventory_fact")
    if first is None:
        raise LookupError("the lakehouse holds no day yet: materialise a range first")
    return dt.datetime.strptime(str(first), "%Y%m%d").date(), dt.datetime.strptime(str(last), "%Y%m%d").date()


def daily_net_sales(queries: Queries, first: dt.date, last: dt.date) -> dict[dt.date, float]:
    rows = queries.rows(f"""SELECT day_of_key(date_key) AS day, CAST(sum(net_sales_amount) AS DOUBLE) AS net
FROM gold_sales_fact WHERE date_key BETWEEN {date_key(first)} AND {date_key(last)} GROUP BY date_key ORDER BY date_key""")
    return {row["day"]: row["net"] for row in rows}


@dataclass(frozen=True)
class Profile:
    first: dt.date
    last: dt.date
    figures: list[Measured]
    daily_net_sales: dict[dt.date, float]

    @property
    def out_of_band(self) -> list[Measured]:
        return [m for m in self.figures if m.verdict == OUT_OF_BAND]


def profile(queries: Queries, config: SimulationConfig, first: dt.date | None = None,
            last: dt.date | None = None) -> Profile:
    """The figures and the daily net sales of first..last (default: every day the lakehouse holds)."""
    written_first, written_last = written_range(queries)
    first, last = first or written_first, last or written_last
    return Profile(first, last, measure(queries, first, last, config), daily_net_sales(queries, first, last))


# ------------------------------------------------------------------------------ rendering

def formatted(value: float, unit: str) -> str:
    if unit == "share":
        return f"{value:.1%}"
    if unit == "points":
        return f"{value * 100:+.1f} pts"
    if unit == "ratio":
        return f"{value:.2f}x"
    if unit == "days":
        return f"{value:.0f} d"
    if unit == "count":
        return f"{value:.0f}"
    return f"{value:.1f}/yr"


def markdown(result: Profile) -> str:
    """The figures as a markdown table, then each figure's breakdown."""
    measured = [m for m in result.figures if m.value is not None]
    gaps = [m for m in result.out_of_band if m.figure.controlled]
    lines = [f"## Realism profile, {result.first} .. {result.last} ({(result.last - result.first).days + 1} days)", "",
             f"{len(measured)} figures measured, {len(result.out_of_band)} out of band "
             f"({len(gaps)} the model controls).", "",
             "| figure | value | anchor band | source | model | verdict |", "|---|---|---|---|---|---|"]
    for m in result.figures:
        unit = m.figure.unit
        value = "" if m.value is None else formatted(m.value, unit)
        band = f"{formatted(m.band[0], unit)} - {formatted(m.band[1], unit)}"
        verdict = f"n/a: {m.why_not}" if m.why_not else m.verdict
        model = "controls" if m.figure.controlled else "informational"
        lines.append(f"| {m.figure.label} | {value} | {band} | {m.figure.source} | {model} | {verdict} |")
    lines += ["", "### Breakdowns", ""]
    lines += [f"- {m.figure.label}: " + ", ".join(f"{part} {formatted(value, m.figure.parts_unit)}"
                                                   for part, value in m.breakdown.items())
              for m in result.figures if m.breakdown]
    return "\n".join(lines) + "\n"


def charts(result: Profile, dpi: int = 80) -> dict[str, bytes]:
    """PNG charts, by name: the sellable stockout rate by month (the band shaded), the online
    funnel, the in-store share by distance to a store, and the daily net sales."""
    from matplotlib.figure import Figure as Chart  # the dagster extra's: the wheel's base install lacks it

    by_key = {m.key: m for m in result.figures}
    png: dict[str, bytes] = {}

    def save(name: str, chart: Chart) -> None:
        buffer = io.BytesIO()
        chart.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
        png[name] = buffer.getvalue()

    def bars(name: str, key: str, title: str, band: Band | None = None) -> None:
        parts = dict(sorted(by_key[key].breakdown.items()))
        if not parts:
            return
        chart = Chart(figsize=(6, 3.2))
        axes = chart.subplots()
        axes.bar(list(parts), list(parts.values()), color="#4C72B0", zorder=2)
        if band:
            axes.axhspan(*band, color="#55A868", alpha=0.3, zorder=1, label="anchor band")
            axes.legend(loc="upper left")
        axes.yaxis.set_major_formatter(lambda value, _: f"{value:.0%}")
        axes.set_title(title)
        axes.tick_params(axis="x", labelrotation=30)
        save(name, chart)

    bars("stockout_by_month", "sellable_stockout_rate", "Stockout rate of sellable positions, by month",
         by_key["sellable_stockout_rate"].band)
    bars("funnel", "online_conversion", "Online funnel: share of sessions reaching each step")
    bars("store_share_by_distance", "store_share_far_over_near", "In-store share of orders, by distance to a store")
    if result.daily_net_sales:
        chart = Chart(figsize=(7, 3.2))
        axes = chart.subplots()
        axes.plot(list(result.daily_net_sales), list(result.daily_net_sales.values()), color="#4C72B0", linewidth=1)
        axes.yaxis.set_major_formatter(lambda value, _: f"${value / 1000:,.0f}k")
        axes.set_title("Net sales per day")
        chart.autofmt_xdate()
        save("daily_net_sales", chart)
    return png
