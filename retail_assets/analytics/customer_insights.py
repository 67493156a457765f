"""Customer insights derived from the facts and dimensions, as DuckDB SQL over the Delta tables.

Tables (declared in ``retail_assets.rollup_tables``):

- ``gold_customer_product_affinity_agg``: partition D holds one row per customer x product with an
  interaction on D (a sale line, i.e. not a return, dated D; or a ``product_view`` /
  ``add_to_cart`` event dated D), with the pair's engagement over the trailing
  ``AFFINITY_WINDOW_DAYS`` (90) days D-89..D:

  * purchases / units_purchased: sale lines of the pair (returns excluded) and their units;
    returns: return rows of the pair dated in the window; product_views / add_to_carts: events.
  * days_since_last_interaction: D minus the pair's latest interaction day in D-89..D-1,
    NULL if none (``last_interaction_date`` is D itself, by construction). Returns are not
    interactions: a return alone neither creates a row nor counts as a previous interaction.
  * view_to_purchase_ratio = purchases / product_views, cart_to_purchase_ratio = purchases /
    add_to_carts (NULL on a zero denominator; both can exceed 1, store purchases need no event).
  * affinity_score = e / (e + 3.5), e = max(0, 3 purchases - 2 returns + 1 add_to_carts + 0.3 product_views)
    (``AFFINITY_WEIGHTS``, ``AFFINITY_HALF_SATURATION``): 0 without net engagement, saturating
    towards 1 without reaching it; one purchase gives 0.46, two 0.63, a purchase plus a cart and
    three views 0.58.
  * recommendation_rank: row_number over the customer's rows of D by score desc, product_key asc.
  * predicted_cltv_impact = affinity_score x base_price x expected repeat purchases over the next
    year, the latter = max(purchases, 1) x 365 / 90 (the pair's purchase rate in the window
    annualised; a pair not bought yet is credited one purchase per window, weighted by its
    low score). NULL when the product is not in gold_product_dim.

  The first partitions of a lakehouse see less than 90 days of history (nothing before the
  first written day). Partition D depends on the facts of D-89..D: a run over D1..Dn reads
  D1-89..Dn, so it is exact as long as the facts of earlier days do not change afterwards (they
  are deterministic for a configuration).

- ``gold_size_fit_bridge``: one row per sale line (not a return) of a sized product (ordered
  size other than 'One Size'), with the line's return, looked up in the *whole* sales fact
  (a return is dated days or weeks after its sale, always on or after it), its reason and
  what it reveals about the fit: too_small / too_large for a return with that reason, 'perfect'
  otherwise (fit_score 1.0, or ``SIZE_RETURN_FIT_SCORE`` = 0.3 for a size return), and the
  size to recommend next time (one step up / down the size system's order, capped at its ends).

  **Refresh rule.** A bridge row changes when a return of its line is written, i.e. when a
  *later* partition of gold_sales_fact is written. So a run over the days D1..Dn writes the
  bridge days  {D1..Dn}  U  {date_key of every sized sale line referenced by a return dated in
  D1..Dn}  (``size_fit_bridge_days``), each replaced as a whole from the current sales fact. With
  the facts written day by day (the chain runs before this asset in every run), every sale
  day's bridge rows therefore always reflect every return written so far; re-running any range
  is idempotent.

``write_customer_insights(lakehouse, first, last)`` writes both (predicate overwrite of exactly
the days above: a day without data ends up empty). Integer measures and a fixed evaluation order
make re-runs bit-identical. Products and customers are joined on their key only, using the latest
row of each key (dimensions are effective-dated, most rows sit in the first partition).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import closing

import pyarrow as pa

from retail_assets import registry
from retail_assets.analytics.rollups import UNKNOWN
from retail_assets.days import date_key, day_chunks, days_between
from retail_assets.rollup_tables import (
    AFFINITY_HALF_SATURATION,
    AFFINITY_WEIGHTS,
    AFFINITY_WINDOW_DAYS,
    GOLD_CUSTOMER_PRODUCT_AFFINITY_AGG,
    GOLD_SIZE_FIT_BRIDGE,
    SIZE_RETURN_FIT_SCORE,
)
from retail_assets.sim.catalog import SIZES_BOTTOMS, SIZES_SHOES, SIZES_TOPS, UNKNOWN_CUSTOMER_KEY
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.queries import DuckDbQueries, Queries

from retail_assets.table_model import etl_now

__all__ = [
    "AffinityWindow",
    "SIZE_ORDERS",
    "SOURCE_SYSTEM",
    "SOURCE_TABLES",
    "customer_product_affinity",
    "size_fit_bridge",
    "size_fit_bridge_days",
    "write_customer_insights",
]

SOURCE_SYSTEM = "retail_assets_customer_insights"
SOURCE_TABLES = registry.step_upstream(registry.INSIGHTS_STEP)
ONE_SIZE = "One Size"
# Size range (gold_product_dim.size_range) -> its sizes, smallest first.
SIZE_ORDERS: dict[str, tuple[str, ...]] = {"XS-XXL": SIZES_TOPS, "26-40": SIZES_BOTTOMS, "5-12": SIZES_SHOES}
# Which gold_customer_dim profile column holds the customer's size in a size system (shoes: none).
PROFILE_COLUMNS = {"XS-XXL": "size_profile_tops", "26-40": "size_profile_bottoms"}
SIZE_RETURN_REASONS = ("too_small", "too_large")


CHUNK_DAYS = 14  # days computed and written per step of a long range
PAIR_DAYS = "affinity_pair_days"  # temp table of AffinityWindow


def _sql_string(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _keys(first: dt.date, last: dt.date) -> list[int]:
    return [date_key(day) for day in days_between(first, last)]


# ---------------------------------------------------------------------------- affinity


def _pair_days_sql(lo: int, hi: int) -> str:
    """One row per member x product x day of lo..hi with any activity (a return alone included);
    the unknown member's anonymous orders and sessions are nobody's affinity."""
    return f"""
WITH sales AS (
    SELECT date_key, customer_key, product_key,
        count(*) FILTER (WHERE NOT is_return) AS purchases,
        coalesce(sum(quantity_sold) FILTER (WHERE NOT is_return), 0) AS units_purchased,
        count(*) FILTER (WHERE is_return) AS returns,
        0 AS product_views, 0 AS add_to_carts
    FROM gold_sales_fact
    WHERE date_key BETWEEN {lo} AND {hi} AND customer_key <> {UNKNOWN_CUSTOMER_KEY}
    GROUP BY ALL
),
events AS (
    SELECT date_key, customer_key, product_key,
        0 AS purchases, 0 AS units_purchased, 0 AS returns,
        count(*) FILTER (WHERE event_type = 'product_view') AS product_views,
        count(*) FILTER (WHERE event_type = 'add_to_cart') AS add_to_carts
    FROM gold_customer_event_fact
    WHERE date_key BETWEEN {lo} AND {hi} AND customer_key <> {UNKNOWN_CUSTOMER_KEY}
        AND event_type IN ('product_view', 'add_to_cart') AND product_key IS NOT NULL
    GROUP BY ALL
)
SELECT date_key, customer_key, product_key,
    CAST(day_of_key(date_key) - DATE '1970-01-01' AS INTEGER) AS day_number,
    CAST(sum(purchases) AS INTEGER) AS purchases, CAST(sum(units_purchased) AS INTEGER) AS units_purchased,
    CAST(sum(returns) AS INTEGER) AS returns, CAST(sum(product_views) AS INTEGER) AS product_views,
    CAST(sum(add_to_carts) AS INTEGER) AS add_to_carts,
    sum(purchases) + sum(product_views) + sum(add_to_carts) > 0 AS interacted
FROM (SELECT * FROM sales UNION ALL SELECT * FROM events)
GROUP BY date_key, customer_key, product_key
"""


def _affinity_sql(lo: int, hi: int, window_lo: int | None = None) -> str:
    """Affinity rows of lo..hi from the pair days of the temporary table ``PAIR_DAYS``, or, given
    ``window_lo``, of a common table expression over the facts of window_lo..hi."""
    weighted = " + ".join(f"{float(weight)!r} * {name}" for name, weight in AFFINITY_WEIGHTS.items())
    preceding = AFFINITY_WINDOW_DAYS - 1
    pair_days = "" if window_lo is None else f"{PAIR_DAYS} AS ({_pair_days_sql(window_lo, hi)}),"
    return f"""
WITH {pair_days}
product AS (
    SELECT product_key, category_level_1, base_price
    FROM gold_product_dim
    QUALIFY row_number() OVER (PARTITION BY product_key ORDER BY effective_date_key DESC, category_level_1) = 1
),
windowed AS (  -- each interaction of lo..hi joined to its pair's days of the trailing window
    SELECT t.date_key, t.customer_key, t.product_key, t.day_number,
        sum(h.purchases) AS purchases,
        sum(h.units_purchased) AS units_purchased,
        sum(h.returns) AS returns,
        sum(h.product_views) AS product_views,
        sum(h.add_to_carts) AS add_to_carts,
        max(h.day_number) FILTER (WHERE h.interacted AND h.day_number < t.day_number) AS previous_day_number
    FROM {PAIR_DAYS} t JOIN {PAIR_DAYS} h
        ON h.customer_key = t.customer_key AND h.product_key = t.product_key
        AND h.day_number BETWEEN t.day_number - {preceding} AND t.day_number
    WHERE t.interacted AND t.date_key BETWEEN {lo} AND {hi}
    GROUP BY t.date_key, t.customer_key, t.product_key, t.day_number
),
scored AS (
    SELECT w.*, coalesce(p.category_level_1, '{UNKNOWN}') AS category_level_1, p.base_price,
        engagement / (engagement + {float(AFFINITY_HALF_SATURATION)!r}) AS affinity_score
    FROM (SELECT *, CAST(greatest(0, {weighted}) AS DOUBLE) AS engagement FROM windowed) w
        LEFT JOIN product p USING (product_key)
)
SELECT date_key, customer_key, product_key, category_level_1,
    CAST(purchases AS BIGINT) AS purchases,
    CAST(units_purchased AS BIGINT) AS units_purchased,
    CAST(returns AS BIGINT) AS returns,
    CAST(product_views AS BIGINT) AS product_views,
    CAST(add_to_carts AS BIGINT) AS add_to_carts,
    day_of_key(date_key) AS last_interaction_date,
    CAST(day_number - previous_day_number AS INTEGER) AS days_since_last_interaction,
    CASE WHEN product_views = 0 THEN NULL ELSE CAST(purchases AS DOUBLE) / product_views END
        AS view_to_purchase_ratio,
    CASE WHEN add_to_carts = 0 THEN NULL ELSE CAST(purchases AS DOUBLE) / add_to_carts END
        AS cart_to_purchase_ratio,
    affinity_score,
    CAST(row_number() OVER (
        PARTITION BY date_key, customer_key ORDER BY affinity_score DESC, product_key) AS INTEGER)
        AS recommendation_rank,
    affinity_score * base_price * (CAST(greatest(purchases, 1) AS DOUBLE) * 365 / {AFFINITY_WINDOW_DAYS})
        AS predicted_cltv_impact,
    '{SOURCE_SYSTEM}' AS source_system
FROM scored
ORDER BY date_key, customer_key, recommendation_rank
"""


class AffinityWindow:
    """The affinity SQL of chunk after chunk over one store.

    On DuckDB the daily customer x product activity of the trailing window is held in a temp
    table that slides with the chunks, so each fact day is read and aggregated once per run, and
    only the pairs active in the chunk are joined to their history (a hash join on the pair:
    about 8x faster than a RANGE window over every pair of the 90 days). Chunks in increasing day
    order slide the table; any other order reloads it. A store without temporary tables (Spark)
    computes each chunk's window in the query itself.
    """

    def __init__(self, queries: Queries):
        self._queries = queries
        self._held: tuple[dt.date, dt.date] | None = None  # days whose activity is in the temp table

    def sql(self, first: dt.date, last: dt.date) -> str:
        """The gold_customer_product_affinity_agg query of the days first..last (etl_timestamp
        excepted), over the facts of first - 89 days .. last."""
        window_first = first - dt.timedelta(days=AFFINITY_WINDOW_DAYS - 1)
        if not self._queries.temporary_tables:
            return _affinity_sql(date_key(first), date_key(last), date_key(window_first))
        held = self._held
        if held is None or not held[0] <= window_first <= held[1] + dt.timedelta(days=1):
            self._queries.execute(
                f"CREATE OR REPLACE TEMP TABLE {PAIR_DAYS} AS "
                + _pair_days_sql(date_key(window_first), date_key(last)))
            held = (window_first, last)
        else:
            self._queries.execute(f"DELETE FROM {PAIR_DAYS} WHERE date_key < {date_key(window_first)}")
            if last > held[1]:
                new_first = held[1] + dt.timedelta(days=1)
                self._queries.execute(
                    f"INSERT INTO {PAIR_DAYS} " + _pair_days_sql(date_key(new_first), date_key(last)))
            held = (window_first, max(last, held[1]))
        self._held = held
        return _affinity_sql(date_key(first), date_key(last))


def customer_product_affinity(queries: DuckDbQueries, first: dt.date, last: dt.date) -> pa.Table:
    """gold_customer_product_affinity_agg rows of the days first..last (etl_timestamp excepted),
    reading the facts of first - 89 days .. last."""
    return queries.generated_rows(GOLD_CUSTOMER_PRODUCT_AFFINITY_AGG, AffinityWindow(queries).sql(first, last))


# ---------------------------------------------------------------------------- size fit


def _sizes_values() -> str:
    return ", ".join(
        f"({_sql_string(system)}, {_sql_string(size)}, {position})"
        for system, sizes in SIZE_ORDERS.items()
        for position, size in enumerate(sizes)
    )


def size_fit_bridge_days(queries: Queries, first: dt.date, last: dt.date) -> list[int]:
    """The bridge days a run over first..last writes: first..last, plus the days of the sized sale
    lines returned on first..last (sorted date_keys)."""
    lo, hi = date_key(first), date_key(last)
    # Lines dated first..last are in anyway: look only for lines dated before first. A return
    # carries its line's order_date_key and a line is dated on or after its order, so those lines
    # come from orders before first and sit in [earliest such order, first), a literal range the
    # scans prune files with (the search stays as small as the return window, however long the run).
    returns = (f"is_return AND date_key BETWEEN {lo} AND {hi} AND order_date_key < {lo} "
               f"AND size <> {_sql_string(ONE_SIZE)}")
    (earliest_order,) = queries.one(f"SELECT min(order_date_key) FROM gold_sales_fact WHERE {returns}")
    if earliest_order is None:
        return _keys(first, last)
    returned_days = queries.rows(f"""
        SELECT DISTINCT o.date_key
        FROM (SELECT original_sale_id FROM gold_sales_fact WHERE {returns}) r
            JOIN gold_sales_fact o ON o.sale_id = r.original_sale_id
        WHERE o.date_key >= {earliest_order} AND o.date_key < {lo} AND NOT o.is_return
    """)
    return sorted(set(_keys(first, last)) | {row["date_key"] for row in returned_days})


def _size_fit_sql(keys: list[int]) -> str:
    key_list = ", ".join(str(key) for key in keys)
    profile = " ".join(f"WHEN {_sql_string(system)} THEN c.{column}" for system, column in PROFILE_COLUMNS.items())
    size_reasons = ", ".join(_sql_string(reason) for reason in SIZE_RETURN_REASONS)
    return f"""
WITH sizes(size_system, size, position) AS (VALUES {_sizes_values()}),
systems AS (SELECT size_system, max(position) AS top_position FROM sizes GROUP BY size_system),
product AS (
    SELECT product_key, size_range
    FROM gold_product_dim
    QUALIFY row_number() OVER (PARTITION BY product_key ORDER BY effective_date_key DESC, size_range) = 1
),
customer AS (
    SELECT customer_key, size_profile_tops, size_profile_bottoms
    FROM gold_customer_dim
    WHERE customer_key <> {UNKNOWN_CUSTOMER_KEY}  -- an anonymous order has no size profile
    QUALIFY row_number() OVER (
        PARTITION BY customer_key ORDER BY effective_date_key DESC, is_current DESC, effective_date DESC) = 1
),
returned AS (  -- a return is dated on or after its line, and carries the line's order day (<= the line's)
    SELECT original_sale_id AS sale_id,
        min(date_key) AS return_date_key,
        arg_min(return_reason, (date_key, sale_id)) AS return_reason  -- the first return's
    FROM gold_sales_fact
    WHERE is_return AND original_sale_id IS NOT NULL AND date_key >= {keys[0]} AND order_date_key <= {keys[-1]}
    GROUP BY original_sale_id
),
lines AS (
    SELECT s.sale_id, s.date_key, s.customer_key, s.product_key, s.size AS ordered_size,
        z.size_system, z.position, r.return_date_key, r.return_reason,
        CASE WHEN r.return_reason IN ({size_reasons}) THEN r.return_reason ELSE 'perfect' END AS fit_description
    FROM gold_sales_fact s
        LEFT JOIN sizes z ON z.size = s.size
        LEFT JOIN returned r ON r.sale_id = s.sale_id
    WHERE s.date_key IN ({key_list}) AND NOT s.is_return AND s.size <> {_sql_string(ONE_SIZE)}
)
SELECT l.sale_id, l.date_key, l.customer_key, l.product_key, l.ordered_size,
    coalesce(p.size_range, l.size_system, '{UNKNOWN}') AS size_range,
    CASE l.size_system {profile} END AS profile_size,
    l.fit_description,
    CASE WHEN l.fit_description = 'perfect' THEN 1.0::DOUBLE ELSE {float(SIZE_RETURN_FIT_SCORE)!r}::DOUBLE END
        AS fit_score,
    l.return_date_key IS NOT NULL AS is_returned,
    l.return_date_key,
    l.return_reason,
    CASE WHEN l.return_date_key IS NULL THEN l.ordered_size END AS kept_size,
    coalesce(recommended.size, l.ordered_size) AS recommended_size,
    '{SOURCE_SYSTEM}' AS source_system
FROM lines l
    LEFT JOIN product p ON p.product_key = l.product_key
    LEFT JOIN customer c ON c.customer_key = l.customer_key
    LEFT JOIN systems t ON t.size_system = l.size_system
    LEFT JOIN sizes recommended ON recommended.size_system = l.size_system
        AND recommended.position = least(greatest(
            l.position + CASE l.fit_description WHEN 'too_small' THEN 1 WHEN 'too_large' THEN -1 ELSE 0 END,
            0), t.top_position)
ORDER BY l.date_key, l.sale_id
"""


def size_fit_bridge(queries: DuckDbQueries, keys: list[int]) -> pa.Table:
    """gold_size_fit_bridge rows of the sale days ``keys`` (date_keys; etl_timestamp excepted),
    with the returns of the whole sales fact."""
    keys = sorted({int(key) for key in keys})
    if not keys:
        return GOLD_SIZE_FIT_BRIDGE.generated_schema.empty_table()
    return queries.generated_rows(GOLD_SIZE_FIT_BRIDGE, _size_fit_sql(keys))


# ------------------------------------------------------------------------------- write


INSIGHTS_OPERATION = "customer_insights"  # the commit ledger's name of write_customer_insights


def write_customer_insights(lakehouse: Lakehouse, first: dt.date, last: dt.date,
                            open_queries: Callable[[], Queries] | None = None) -> dict[str, int]:
    """Compute and write both customer insight tables for first..last; rows written per table.

    Affinity: exactly the days first..last are replaced. Size-fit bridge: first..last plus the sale
    days of the lines returned on first..last (``size_fit_bridge_days``) are replaced.
    ``open_queries``: the store that computes and writes them (default: DuckDB and delta-rs in
    this process; the Spark engine's: Spark, from its executors).
    """
    if last < first:
        raise ValueError(f"empty range: last day {last} is before first day {first}")
    missing = [name for name in SOURCE_TABLES if not lakehouse.exists(name)]
    if missing:
        raise LookupError(
            f"cannot compute customer insights: table(s) {', '.join(missing)} missing in {lakehouse.root}"
        )
    open_queries = open_queries or (lambda: DuckDbQueries(lakehouse))
    with lakehouse.transaction(INSIGHTS_OPERATION, [date_key(first), date_key(last)]):  # both tables, or none
        stamp = etl_now()
        written = {GOLD_CUSTOMER_PRODUCT_AFFINITY_AGG.name: 0, GOLD_SIZE_FIT_BRIDGE.name: 0}
        # One snapshot for the run: it reads only the facts and dimensions, which this does not write.
        with closing(open_queries()) as queries:
            affinity_window = AffinityWindow(queries)
            # Each bridge day is written once: a chunk's own days (their returns, up to the last day,
            # are already in the facts), and with the first chunk the earlier days refreshed by returns.
            earlier_days = [key for key in size_fit_bridge_days(queries, first, last) if key < date_key(first)]
            for chunk_first, chunk_last in day_chunks(first, last, CHUNK_DAYS):  # memory flat in the range length
                days = _keys(chunk_first, chunk_last)
                bridge_days = (earlier_days if chunk_first == first else []) + days
                written[GOLD_CUSTOMER_PRODUCT_AFFINITY_AGG.name] += queries.replace_days(
                    GOLD_CUSTOMER_PRODUCT_AFFINITY_AGG, affinity_window.sql(chunk_first, chunk_last), days, stamp)
                written[GOLD_SIZE_FIT_BRIDGE.name] += queries.replace_days(
                    GOLD_SIZE_FIT_BRIDGE, _size_fit_sql(bridge_days), bridge_days, stamp)
    return written
