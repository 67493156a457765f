"""Daily, weekly and monthly rollups of the written facts, as DuckDB SQL over the Delta tables.

Tables (declared in ``retail_assets.rollup_tables``):

- ``gold_sales_daily_agg``: gold_sales_fact (sale and return rows) full-outer-joined with
  gold_lost_sales_fact, per date_key x category_level_1 x category_level_2 x location x channel.
- ``gold_inventory_daily_agg``: gold_inventory_fact per date_key x category levels 1-2 x location.
- ``gold_sales_weekly_agg`` / ``gold_sales_monthly_agg``: the daily sales agg per ISO week / calendar
  month x category_level_1 x location x channel, plus the mean over the period's days of the daily
  stockout rate of the department at the location (from the inventory daily agg; the same value
  on every channel's row).

``write_rollups(lakehouse, first, last)`` replaces the daily aggs of exactly first..last (a day
without facts ends up without rows, so re-runs are idempotent), then recomputes every week and
month touched by first..last from the daily agg *tables*, i.e. from all days of those periods in
the lakehouse, not only the run's days, and replaces those periods (predicate overwrite on
``week_start_date_key`` / ``month_key``). A period whose days are not all written yet is "to
date": ``days_covered`` counts its days present in the daily aggs.

Determinism: money is summed as DECIMAL (the facts hold cent amounts, summed exactly whatever the
order the threads or tasks combine them in) and the mean stockout rate as integers (``RATE_QUANTUM``),
so a re-run, on DuckDB or on Spark, writes bit-identical values. Products are joined on product_key only (dimensions are
effective-dated: most rows sit in the first partition), using the latest row of each key; a
product missing from gold_product_dim is reported under category 'Unknown' instead of being
dropped, so the rollups always add up to the facts.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import closing

import pyarrow as pa

from retail_assets import registry
from retail_assets.days import (
    date_key,
    day_chunks,
    days_between,
    month_starts,
    week_starts,
)
from retail_assets.rollup_tables import (
    GOLD_INVENTORY_DAILY_AGG,
    GOLD_SALES_DAILY_AGG,
    GOLD_SALES_MONTHLY_AGG,
    GOLD_SALES_WEEKLY_AGG,
)
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.queries import DuckDbQueries, Queries
from retail_assets.table_model import etl_now
from retail_assets.tables import Table

__all__ = [
    "SOURCE_SYSTEM",
    "SOURCE_TABLES",
    "inventory_daily_agg",
    "sales_daily_agg",
    "sales_monthly_agg",
    "sales_weekly_agg",
    "write_rollups",
]

SOURCE_SYSTEM = "retail_assets_rollups"
SOURCE_TABLES = registry.step_upstream(registry.ROLLUPS_STEP)
UNKNOWN = "Unknown"

CHUNK_DAYS = 31  # daily aggs computed and written per step of a long range
# Daily rates are averaged as exact integer sums of rate x 1e12: the same bits in any summation
# order (DuckDB's threads, Spark's partial aggregates), to 1e-12.
RATE_QUANTUM = 1e12


def _period_end(unit: str, start: dt.date) -> dt.date:
    if unit == "week":
        return start + dt.timedelta(days=6)
    return (start + dt.timedelta(days=32)).replace(day=1) - dt.timedelta(days=1)


# ---------------------------------------------------------------------------------- SQL

# Latest row of each product_key, whatever partition it was written in.
_PRODUCT = """
product AS (
    SELECT product_key, category_level_1, category_level_2
    FROM gold_product_dim
    QUALIFY row_number() OVER (
        PARTITION BY product_key ORDER BY effective_date_key DESC, category_level_1, category_level_2) = 1
)"""

_COUNTS = ("orders", "units_sold", "return_units", "lost_requests", "lost_units", "constrained_lines")
_AMOUNTS = ("gross_revenue", "discount_amount", "net_sales", "gross_margin", "return_amount", "lost_revenue")
_MEASURES = (
    "orders", "units_sold", "gross_revenue", "discount_amount", "net_sales", "gross_margin", "margin_rate",
    "return_units", "return_amount", "lost_requests", "lost_units", "lost_revenue", "constrained_lines",
)


def _measure_columns() -> str:
    """Final select list of the sales measures from (possibly NULL) sums: 0 for a missing piece."""
    out = []
    for name in _MEASURES:
        if name == "margin_rate":
            out.append(
                "CASE WHEN coalesce(net_sales, 0) = 0 THEN NULL "
                "ELSE CAST(gross_margin AS DOUBLE) / CAST(net_sales AS DOUBLE) END AS margin_rate"
            )
        elif name in _COUNTS:
            out.append(f"CAST(coalesce({name}, 0) AS BIGINT) AS {name}")
        else:
            out.append(f"CAST(coalesce({name}, 0) AS DOUBLE) AS {name}")
    return ",\n    ".join(out)


def _category(alias: str = "p") -> str:
    return (f"coalesce({alias}.category_level_1, '{UNKNOWN}') AS category_level_1, "
            f"coalesce({alias}.category_level_2, '{UNKNOWN}') AS category_level_2")


def _sales_daily_sql(lo: int, hi: int) -> str:
    return f"""
WITH {_PRODUCT},
sales AS (
    SELECT s.date_key, {_category()}, s.location_key, s.channel_key,
        count(DISTINCT s.order_id) FILTER (WHERE NOT s.is_return) AS orders,
        sum(s.quantity_sold) FILTER (WHERE NOT s.is_return) AS units_sold,
        sum(rollup_money(s.revenue)) FILTER (WHERE NOT s.is_return) AS gross_revenue,
        sum(rollup_money(s.discount_amount)) FILTER (WHERE NOT s.is_return) AS discount_amount,
        sum(rollup_money(s.net_sales_amount)) AS net_sales,
        sum(rollup_money(s.gross_margin)) AS gross_margin,
        -sum(s.quantity_sold) FILTER (WHERE s.is_return) AS return_units,
        -sum(rollup_money(s.net_sales_amount)) FILTER (WHERE s.is_return) AS return_amount,
        count(*) FILTER (WHERE s.is_inventory_constrained AND NOT s.is_return) AS constrained_lines
    FROM gold_sales_fact s LEFT JOIN product p ON p.product_key = s.product_key
    WHERE s.date_key BETWEEN {lo} AND {hi}
    GROUP BY ALL
),
lost AS (
    SELECT l.date_key, {_category()}, l.location_key, l.channel_key,
        count(*) AS lost_requests,
        sum(l.quantity_requested) AS lost_units,
        sum(rollup_money(l.lost_revenue)) AS lost_revenue
    FROM gold_lost_sales_fact l LEFT JOIN product p ON p.product_key = l.product_key
    WHERE l.date_key BETWEEN {lo} AND {hi}
    GROUP BY ALL
)
SELECT date_key, category_level_1, category_level_2, location_key, channel_key,
    {_measure_columns()},
    '{SOURCE_SYSTEM}' AS source_system
FROM sales FULL OUTER JOIN lost USING (date_key, category_level_1, category_level_2, location_key, channel_key)
ORDER BY date_key, category_level_1, category_level_2, location_key, channel_key
"""


def _inventory_daily_sql(lo: int, hi: int) -> str:
    return f"""
WITH {_PRODUCT}
SELECT i.date_key, {_category()}, i.location_key,
    CAST(count(*) AS BIGINT) AS positions,
    CAST(count(*) FILTER (WHERE i.is_stockout) AS BIGINT) AS stockout_positions,
    CAST(count(*) FILTER (WHERE i.is_stockout) AS DOUBLE) / count(*) AS stockout_rate,
    CAST(sum(i.quantity_on_hand) AS BIGINT) AS units_on_hand,
    CAST(sum(i.quantity_available) AS BIGINT) AS units_available,
    CAST(sum(i.quantity_in_transit) AS BIGINT) AS units_in_transit,
    CAST(sum(rollup_money(i.total_value)) AS DOUBLE) AS inventory_value,
    CAST(count(*) FILTER (WHERE i.is_overstock) AS BIGINT) AS overstock_positions,
    '{SOURCE_SYSTEM}' AS source_system
FROM gold_inventory_fact i LEFT JOIN product p ON p.product_key = i.product_key
WHERE i.date_key BETWEEN {lo} AND {hi}
GROUP BY ALL
ORDER BY 1, 2, 3, 4
"""


_PERIOD_COLUMNS = {
    "week": "key_of_day(period) AS week_start_date_key, key_of_day(period + 6) AS week_end_date_key, days_covered",
    "month": "key_of_day(period) AS month_key, CAST(year(period) AS INTEGER) AS year, "
             "CAST(month(period) AS INTEGER) AS month, CAST(day(last_day(period)) AS INTEGER) AS days_in_month, "
             "days_covered",
}


def _period_sql(unit: str, lo: int, hi: int) -> str:
    period = f"CAST(date_trunc('{unit}', day_of_key(date_key)) AS DATE)"
    sums = ",\n        ".join(
        f"sum(rollup_money({name})) AS {name}" if name in _AMOUNTS else f"sum({name}) AS {name}"
        for name in _MEASURES if name != "margin_rate"
    )
    return f"""
WITH sales AS (
    SELECT *, {period} AS period FROM gold_sales_daily_agg WHERE date_key BETWEEN {lo} AND {hi}
),
inventory AS (
    SELECT date_key, {period} AS period, category_level_1, location_key,
        CAST(sum(stockout_positions) AS DOUBLE) / sum(positions) AS stockout_rate
    FROM gold_inventory_daily_agg WHERE date_key BETWEEN {lo} AND {hi}
    GROUP BY ALL
),
stockout AS (
    SELECT period, category_level_1, location_key,
        CAST(sum(CAST(round(stockout_rate * {RATE_QUANTUM:g}) AS BIGINT)) AS DOUBLE) / (count(*) * {RATE_QUANTUM:g})
            AS avg_stockout_rate
    FROM inventory GROUP BY ALL
),
covered AS (
    SELECT period, CAST(count(DISTINCT date_key) AS INTEGER) AS days_covered
    FROM (SELECT period, date_key FROM sales UNION ALL SELECT period, date_key FROM inventory)
    GROUP BY period
),
totals AS (
    SELECT period, category_level_1, location_key, channel_key,
        {sums}
    FROM sales GROUP BY ALL
)
SELECT {_PERIOD_COLUMNS[unit]}, category_level_1, location_key, channel_key,
    {_measure_columns()},
    avg_stockout_rate,
    '{SOURCE_SYSTEM}' AS source_system
FROM totals JOIN covered USING (period) LEFT JOIN stockout USING (period, category_level_1, location_key)
ORDER BY period, category_level_1, location_key, channel_key
"""


# ------------------------------------------------------------------------------ rollups


def sales_daily_agg(queries: DuckDbQueries, first: dt.date, last: dt.date) -> pa.Table:
    """gold_sales_daily_agg rows of the days first..last (etl_timestamp excepted)."""
    return queries.generated_rows(GOLD_SALES_DAILY_AGG, _sales_daily_sql(date_key(first), date_key(last)))


def inventory_daily_agg(queries: DuckDbQueries, first: dt.date, last: dt.date) -> pa.Table:
    """gold_inventory_daily_agg rows of the days first..last (etl_timestamp excepted)."""
    return queries.generated_rows(GOLD_INVENTORY_DAILY_AGG, _inventory_daily_sql(date_key(first), date_key(last)))


def _period_agg(queries: DuckDbQueries, unit: str, starts: list[dt.date], declared: Table) -> pa.Table:
    lo, hi = date_key(starts[0]), date_key(_period_end(unit, starts[-1]))
    return queries.generated_rows(declared, _period_sql(unit, lo, hi))


def sales_weekly_agg(queries: DuckDbQueries, first: dt.date, last: dt.date) -> pa.Table:
    """gold_sales_weekly_agg rows of every week touched by first..last, computed from the daily agg
    tables seen by ``queries`` (all their days in those weeks)."""
    return _period_agg(queries, "week", week_starts(first, last), GOLD_SALES_WEEKLY_AGG)


def sales_monthly_agg(queries: DuckDbQueries, first: dt.date, last: dt.date) -> pa.Table:
    """gold_sales_monthly_agg rows of every month touched by first..last, from the daily agg tables."""
    return _period_agg(queries, "month", month_starts(first, last), GOLD_SALES_MONTHLY_AGG)


DAILY_AGGS = ((GOLD_SALES_DAILY_AGG, _sales_daily_sql), (GOLD_INVENTORY_DAILY_AGG, _inventory_daily_sql))
PERIOD_AGGS = ((GOLD_SALES_WEEKLY_AGG, "week", week_starts), (GOLD_SALES_MONTHLY_AGG, "month", month_starts))


ROLLUPS_OPERATION = "rollups"  # the commit ledger's name of write_rollups


def write_rollups(lakehouse: Lakehouse, first: dt.date, last: dt.date,
                  open_queries: Callable[[], Queries] | None = None) -> dict[str, int]:
    """Compute and write the four rollups for first..last; rows written per table.

    Daily aggs: exactly the days first..last are replaced. Weekly / monthly: every period touched
    by first..last is recomputed from the daily agg tables and replaced. ``open_queries``: the
    store that computes and writes them (default: DuckDB and delta-rs in this process; the
    Spark engine's: Spark, from its executors).
    """
    if last < first:
        raise ValueError(f"empty range: last day {last} is before first day {first}")
    missing = [name for name in SOURCE_TABLES if not lakehouse.exists(name)]
    if missing:
        raise LookupError(f"cannot compute rollups: table(s) {', '.join(missing)} missing in {lakehouse.root}")
    open_queries = open_queries or (lambda: DuckDbQueries(lakehouse))
    with lakehouse.transaction(ROLLUPS_OPERATION, [date_key(first), date_key(last)]):  # all four tables, or none
        stamp = etl_now()
        rows: dict[str, int] = {declared.name: 0 for declared, _ in DAILY_AGGS}
        with closing(open_queries()) as queries:
            for chunk_first, chunk_last in day_chunks(first, last, CHUNK_DAYS):
                days = [date_key(day) for day in days_between(chunk_first, chunk_last)]
                for declared, sql in DAILY_AGGS:
                    rows[declared.name] += queries.replace_days(declared, sql(days[0], days[-1]), days, stamp)
        with closing(open_queries()) as queries:  # a fresh snapshot that sees the daily aggs just written
            for declared, unit, periods in PERIOD_AGGS:
                starts = periods(first, last)
                keys = [date_key(start) for start in starts]
                sql = _period_sql(unit, keys[0], date_key(_period_end(unit, starts[-1])))
                rows[declared.name] = queries.replace_days(declared, sql, keys, stamp)
    return rows
