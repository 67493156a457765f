"""Business rules over the written lakehouse: the reference system's six validations, and more.

Each rule is SQL over the Delta tables (written once, run on DuckDB or on Spark:
``storage.queries``), evaluated for the days a run wrote (first..last), and returns the measured value(s) and a sample of offending rows. Rules that
measure rates need enough data: they look back over a trailing window ending on the last day
(at least ``MIN_WINDOW_DAYS``), across earlier runs' days too. The bands they judge against
come from the configuration that generated the data (``Bands``), so a changed policy is judged
by its own targets.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial

from retail_assets.config import SimulationConfig
from retail_assets.days import date_key, day_chunks
from retail_assets.storage.queries import Queries

CONSERVATION_CHUNK_DAYS = 31  # days of movements checked per query: memory flat in the run length

STOCKOUT_BAND_FACTORS = (2 / 3, 4 / 3)  # x target_stockout_rate: 5%..10% around the default 7.5%
UPLIFT_TOLERANCE_POINTS = 2.0  # +- around cart_abandonment_increase: 8..12 points around the default 10
RESTOCK_MEAN_TOLERANCE_DAYS = 0.5  # +- around the midpoint of return_delay_days (uniform): 1.5..2.5 for 1..3
MIN_WINDOW_DAYS = 7  # constrained sales and stockout events are expected within a week
MAX_UPLIFT_ERROR_POINTS = 1.0  # a difference measured less precisely than this says nothing about the band
UPLIFT_WINDOW_DAYS = 28  # a difference of rates: a few thousand carts (small), cheap even on long runs
SAMPLE_ROWS = 10


@dataclass
class Outcome:
    passed: bool
    metadata: dict[str, float | int | str]
    sample: list[dict] = field(default_factory=list)  # offending rows
    not_evaluated: str | None = None  # why the data could not judge the rule (then ``passed`` is False)

    @classmethod
    def skipped(cls, metadata: dict[str, float | int | str], reason: str) -> "Outcome":
        """Too little data to judge: reported as such, never as a pass."""
        return cls(False, metadata, not_evaluated=f"not evaluated: {reason}")


@dataclass(frozen=True)
class Window:
    """The days a run wrote, and the trailing windows rules look back over."""

    first: dt.date
    last: dt.date

    @property
    def keys(self) -> tuple[int, int]:
        return date_key(self.first), date_key(self.last)

    def trailing(self, days: int) -> tuple[int, int]:
        """(first, last) date keys of the last max(days, run length) days."""
        start = min(self.first, self.last - dt.timedelta(days=days - 1))
        return date_key(start), date_key(self.last)

    def last_days(self, days: int) -> tuple[int, int]:
        """(first, last) date keys of exactly the last ``days`` days, earlier runs' days included."""
        return date_key(self.last - dt.timedelta(days=days - 1)), date_key(self.last)


@dataclass(frozen=True)
class Bands:
    """What the rules accept, derived from the configuration that generated the data."""

    stockout_rate: tuple[float, float]
    uplift_points: tuple[float, float]
    restock_delay_days: tuple[int, int]
    restock_mean_days: tuple[float, float]

    @classmethod
    def of(cls, config: SimulationConfig) -> "Bands":
        """Rounded to 6 decimals, so the default config's bands are exactly 0.05..0.10 and 8..12."""
        target, uplift = config.target_stockout_rate, 100 * config.cart_abandonment_increase
        low, high = config.return_delay_days
        middle = (low + high) / 2
        return cls(
            stockout_rate=(round(target * STOCKOUT_BAND_FACTORS[0], 6), round(target * STOCKOUT_BAND_FACTORS[1], 6)),
            uplift_points=(round(uplift - UPLIFT_TOLERANCE_POINTS, 6), round(uplift + UPLIFT_TOLERANCE_POINTS, 6)),
            restock_delay_days=(low, high),
            restock_mean_days=(middle - RESTOCK_MEAN_TOLERANCE_DAYS, middle + RESTOCK_MEAN_TOLERANCE_DAYS),
        )

    @property
    def stockout_text(self) -> str:
        return f"{100 * self.stockout_rate[0]:g}%..{100 * self.stockout_rate[1]:g}%"


@dataclass(frozen=True)
class BusinessRule:
    name: str
    table: str  # the asset the check is attached to
    description: str
    evaluate: Callable[[Queries, Window], Outcome]  # on DuckDB or Spark alike
    blocking: bool = False  # an ERROR failure stops the downstream assets
    warn_only: bool = False  # failures show as WARN


def _in(value: float | None, band: tuple[float, float]) -> bool:
    return value is not None and band[0] <= value <= band[1]


def _stockout_rate_latest_day(queries: Queries, window: Window, bands: Bands) -> Outcome:
    _, last = window.keys
    (rate,) = queries.one(f"SELECT avg(is_stockout::INT) FROM gold_inventory_fact WHERE date_key = {last}")
    return Outcome(_in(rate, bands.stockout_rate), {"stockout_rate": _round(rate), "date_key": last,
                                                    "band": bands.stockout_text})


def _stockout_rate_over_run(queries: Queries, window: Window, bands: Bands) -> Outcome:
    first, last = window.keys
    (rate,) = queries.one(f"""SELECT avg(rate) FROM (SELECT avg(is_stockout::INT) AS rate FROM gold_inventory_fact
                                   WHERE date_key BETWEEN {first} AND {last} GROUP BY date_key)""")
    return Outcome(_in(rate, bands.stockout_rate), {"mean_daily_stockout_rate": _round(rate),
                                                    "band": bands.stockout_text})


def _constrained_sales(queries: Queries, window: Window) -> Outcome:
    first, last = window.trailing(MIN_WINDOW_DAYS)
    days, constrained, short_units = queries.one(f"""
        SELECT count(DISTINCT date_key), coalesce(sum(is_inventory_constrained::INT), 0),
               coalesce(sum(quantity_requested - quantity_sold), 0)
        FROM gold_sales_fact WHERE NOT is_return AND date_key BETWEEN {first} AND {last}""")
    (lost_units,) = queries.one(f"""SELECT coalesce(sum(quantity_requested), 0) FROM gold_lost_sales_fact
                                         WHERE date_key BETWEEN {first} AND {last}""")
    metadata = {"days": days, "constrained_lines": constrained, "units_short_on_constrained_lines": short_units,
                "lost_units": lost_units}
    if days < MIN_WINDOW_DAYS:
        return Outcome.skipped(metadata, f"{days} day(s) of sales, fewer than {MIN_WINDOW_DAYS}")
    return Outcome(constrained > 0 and lost_units > 0, metadata)


def _stockout_events_agree(queries: Queries, window: Window) -> Outcome:
    first, last = window.trailing(MIN_WINDOW_DAYS)
    spells = f"""
        spells AS (  -- closed spells whose every day is in the lakehouse
            SELECT * FROM gold_stockout_events
            WHERE is_closed AND date_key BETWEEN {first} AND {last}
              AND stockout_start_date >= (SELECT day_of_key(min(date_key))
                                          FROM gold_inventory_fact)),
        counted AS (
            SELECT s.stockout_id, count(l.date_key) AS attempts, coalesce(sum(l.quantity_requested), 0) AS units
            FROM spells s LEFT JOIN gold_lost_sales_fact l
              ON l.product_key = s.product_key AND l.location_key = s.location_key
             AND day_of_key(l.date_key) BETWEEN s.stockout_start_date AND s.stockout_end_date
            GROUP BY s.stockout_id)"""
    days, events, lost_revenue = queries.one(f"""
        SELECT (SELECT count(DISTINCT date_key) FROM gold_inventory_fact WHERE date_key BETWEEN {first} AND {last}),
               count(*), coalesce(sum(lost_sales_revenue), 0)
        FROM gold_stockout_events WHERE date_key BETWEEN {first} AND {last}""")
    disagreeing = f"""WITH {spells}
        SELECT s.stockout_id, s.lost_sales_attempts, c.attempts AS counted_attempts,
               s.lost_sales_quantity, c.units AS counted_units
        FROM spells s JOIN counted c USING (stockout_id)
        WHERE s.lost_sales_attempts <> c.attempts OR s.lost_sales_quantity <> c.units
        ORDER BY s.stockout_id"""
    (mismatches,) = queries.one(f"SELECT count(*) FROM ({disagreeing})")
    metadata = {"days": days, "event_rows": events, "lost_sales_revenue": _round(lost_revenue, 2),
                "spells_disagreeing_with_lost_sales": mismatches}
    enough = days >= MIN_WINDOW_DAYS
    passed = mismatches == 0 and (not enough or (events > 0 and lost_revenue > 0))
    return Outcome(passed, metadata, queries.rows(disagreeing, SAMPLE_ROWS) if mismatches else [])


def _abandonment_uplift(queries: Queries, window: Window, bands: Bands) -> Outcome:
    first, last = window.last_days(UPLIFT_WINDOW_DAYS)
    low_rate, other_rate, low_carts, other_carts = queries.one(f"""
        WITH carts AS (  -- every new online cart: its session, low if an add-to-cart showed low stock
            SELECT session_id, bool_or(event_label = 'low_stock') AS low,
                   NOT bool_or(event_type = 'checkout_complete') AS abandoned
            FROM gold_customer_event_fact
            WHERE date_key BETWEEN {first} AND {last} AND utm_campaign IS DISTINCT FROM 'cart_recovery'
            GROUP BY session_id HAVING bool_or(event_type = 'add_to_cart'))
        SELECT avg(abandoned::INT) FILTER (WHERE low), avg(abandoned::INT) FILTER (WHERE NOT low),
               count(*) FILTER (WHERE low), count(*) FILTER (WHERE NOT low)
        FROM carts""")
    metadata: dict[str, float | int | str] = {
        "low_inventory_abandonment_rate": _round(low_rate), "other_abandonment_rate": _round(other_rate),
        "low_inventory_carts": low_carts, "other_carts": other_carts,
        "band_points": f"{bands.uplift_points[0]:g}..{bands.uplift_points[1]:g}",
    }
    if low_rate is None or other_rate is None:
        return Outcome.skipped(metadata, "no carts of one kind")
    uplift = 100 * (low_rate - other_rate)
    error = 100 * math.sqrt(low_rate * (1 - low_rate) / low_carts + other_rate * (1 - other_rate) / other_carts)
    metadata.update(uplift_points=_round(uplift, 2), standard_error_points=_round(error, 2))
    if error > MAX_UPLIFT_ERROR_POINTS:
        return Outcome.skipped(metadata, f"too few carts (standard error {error:.1f} points "
                                         f"> {MAX_UPLIFT_ERROR_POINTS:g})")
    return Outcome(_in(uplift, bands.uplift_points), metadata)


def _no_negative_available(queries: Queries, window: Window) -> Outcome:
    first, last = window.keys
    negative = f"""SELECT product_key, location_key, date_key, quantity_on_hand, quantity_reserved, quantity_available
                   FROM gold_inventory_fact WHERE date_key BETWEEN {first} AND {last} AND quantity_available < 0
                   ORDER BY date_key, product_key, location_key"""
    (count,) = queries.one(f"SELECT count(*) FROM ({negative})")
    return Outcome(count == 0, {"negative_rows": count}, queries.rows(negative, SAMPLE_ROWS) if count else [])


def _restock_delay(queries: Queries, window: Window, bands: Bands) -> Outcome:
    first, last = window.keys
    delays = f"""SELECT sale_id, date_key, return_restocked_date_key,
                        datediff('day', day_of_key(date_key), day_of_key(return_restocked_date_key)) AS delay_days
                 FROM gold_sales_fact WHERE is_return AND date_key BETWEEN {first} AND {last}"""
    low, high = bands.restock_delay_days
    returns, shortest, longest, mean = queries.one(f"SELECT count(*), min(delay_days), max(delay_days), avg(delay_days) FROM ({delays})")
    outside = f"SELECT * FROM ({delays}) WHERE delay_days NOT BETWEEN {low} AND {high} ORDER BY date_key, sale_id"
    (count,) = queries.one(f"SELECT count(*) FROM ({outside})")
    passed = count == 0 and (returns == 0 or _in(mean, bands.restock_mean_days))
    mean_low, mean_high = bands.restock_mean_days
    return Outcome(passed, {"returns": returns, "min_delay_days": shortest or 0, "max_delay_days": longest or 0,
                            "mean_delay_days": _round(mean, 3), "band_days": f"{low}..{high}",
                            "mean_band_days": f"{mean_low:g}..{mean_high:g}", "returns_outside_band": count},
                   queries.rows(outside, SAMPLE_ROWS) if count else [])


def _unreconciled_sql(first: dt.date, last: dt.date) -> str:
    """Positions and days of first..last whose on-hand is not yesterday's plus the day's movements."""
    lo, hi = date_key(first), date_key(last)
    return f"""
        WITH days AS (
            SELECT product_key, location_key, date_key, quantity_on_hand,
                   lag(quantity_on_hand) OVER (PARTITION BY product_key, location_key ORDER BY date_key) AS previous
            FROM gold_inventory_fact
            WHERE date_key BETWEEN {date_key(first - dt.timedelta(days=1))} AND {hi}),
        moved AS (SELECT product_key, location_key, date_key, sum(quantity) AS moved
                  FROM gold_inventory_movement_fact WHERE date_key BETWEEN {lo} AND {hi} GROUP BY ALL)
        SELECT d.product_key, d.location_key, d.date_key, d.previous AS yesterday_on_hand,
               coalesce(m.moved, 0) AS movements, d.quantity_on_hand AS today_on_hand
        FROM days d LEFT JOIN moved m USING (product_key, location_key, date_key)
        WHERE d.date_key >= {lo} AND d.previous IS NOT NULL
          AND d.quantity_on_hand <> d.previous + coalesce(m.moved, 0)
        ORDER BY d.date_key, d.product_key, d.location_key"""


def _conservation(queries: Queries, window: Window) -> Outcome:
    count, sample = 0, []
    for first, last in day_chunks(window.first, window.last, CONSERVATION_CHUNK_DAYS):
        broken = _unreconciled_sql(first, last)
        (found,) = queries.one(f"SELECT count(*) FROM ({broken})")
        count += found
        if found and len(sample) < SAMPLE_ROWS:
            sample += queries.rows(broken, SAMPLE_ROWS)[: SAMPLE_ROWS - len(sample)]
    return Outcome(count == 0, {"positions_days_not_reconciled": count}, sample)


def _round(value: float | None, digits: int = 4) -> float | str:
    return "n/a" if value is None else round(float(value), digits)


def rules(config: SimulationConfig) -> tuple[BusinessRule, ...]:
    """Every rule, judging against the bands of ``config`` (named in their descriptions)."""
    bands = Bands.of(config)
    delay_low, delay_high = bands.restock_delay_days
    uplift_low, uplift_high = bands.uplift_points
    middle = (delay_low + delay_high) / 2
    stockout = f"[{100 * bands.stockout_rate[0]:g}%, {100 * bands.stockout_rate[1]:g}%]"
    return (
        BusinessRule("stockout_rate_latest_day", "gold_inventory_fact",
                     f"Share of positions out of stock at the close of the run's last day, in {stockout}.",
                     partial(_stockout_rate_latest_day, bands=bands)),
        BusinessRule("stockout_rate_over_run", "gold_inventory_fact",
                     f"Mean daily stockout rate over the run's days, in {stockout}.",
                     partial(_stockout_rate_over_run, bands=bands), warn_only=True),
        BusinessRule("inventory_constrained_sales", "gold_sales_fact",
                     f"Over the last {MIN_WINDOW_DAYS}+ days: sale lines limited by stock exist and lost demand > 0.",
                     _constrained_sales),
        BusinessRule("stockout_events_agree_with_lost_sales", "gold_stockout_events",
                     f"Stockout events exist with lost revenue > 0 (over {MIN_WINDOW_DAYS}+ days), and every closed "
                     "spell's lost attempts and units equal the lost-demand rows inside it.", _stockout_events_agree),
        BusinessRule("low_inventory_abandonment_uplift", "gold_cart_abandonment_fact",
                     f"Over the {UPLIFT_WINDOW_DAYS} days ending on the run's last day, low-inventory carts are "
                     f"abandoned {uplift_low:g}-{uplift_high:g} points more often than the others (evaluated once the "
                     f"difference is known to within {MAX_UPLIFT_ERROR_POINTS:g} point, one standard error).",
                     partial(_abandonment_uplift, bands=bands)),
        BusinessRule("no_negative_available", "gold_inventory_fact",
                     "No position ever has negative quantity_available.", _no_negative_available, blocking=True),
        BusinessRule("return_restock_delay", "gold_sales_fact",
                     f"Returned units are back in stock {delay_low}-{delay_high} days after the return, about "
                     f"{middle:g} on average.", partial(_restock_delay, bands=bands)),
        BusinessRule("inventory_conservation", "gold_inventory_movement_fact",
                     "Per position and day: yesterday's on-hand + the day's movements = today's on-hand.",
                     _conservation, blocking=True),
    )


def rules_for(names, config: SimulationConfig) -> list[BusinessRule]:
    """The rules attached to the tables ``names``, with the bands of ``config``."""
    wanted = set(names)
    return [rule for rule in rules(config) if rule.table in wanted]
