"""One runner for every engine: a step of the lakehouse over a range of days, as plain events.

The local engine, the Spark engine and the Databricks task run a step with the same
``run_step``. What it yields is what Dagster records, whichever engine ran: each partition's own
metadata, the chain's batches as they commit (a range failing later resumes after them), the
partitions of earlier days a step rewrote, the checks, and on Databricks what was published to
the catalog. ``defs.assets.StepRecorder`` turns the events into Dagster events in the asset's
process; a Databricks task first sends them over Pipes (``as_message``/``from_message``).
No Dagster here.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterable, Iterator
from contextlib import closing
from dataclasses import dataclass

from retail_assets import registry
from retail_assets.analytics.customer_insights import (
    INSIGHTS_OPERATION,
    size_fit_bridge_days,
    write_customer_insights,
)
from retail_assets.analytics.rollups import ROLLUPS_OPERATION, write_rollups
from retail_assets.contracts.ledger import ContractLedger
from retail_assets.contracts.reports import CheckReport, step_reports
from retail_assets.contracts.rules import Window
from retail_assets.days import (
    date_key,
    day_of_key,
    days_between,
    month_starts,
    week_starts,
)
from retail_assets.engine.figures import DaySummary
from retail_assets.engine.local import CHAIN_OPERATION, DIMENSIONS_OPERATION, LocalEngine
from retail_assets.registry import (
    CHAIN_STEP,
    DIMENSIONS_STEP,
    INSIGHTS_STEP,
    ROLLUPS_STEP,
)
from retail_assets.rollup_tables import GOLD_SIZE_FIT_BRIDGE
from retail_assets.storage.queries import Queries

CHAIN_ASSETS = registry.step_assets(CHAIN_STEP)  # the chain's facts and its checkpoint
# The commit ledger's name of each step's transactions.
STEP_OPERATIONS = {DIMENSIONS_STEP: DIMENSIONS_OPERATION, CHAIN_STEP: CHAIN_OPERATION,
                   ROLLUPS_STEP: ROLLUPS_OPERATION, INSIGHTS_STEP: INSIGHTS_OPERATION}
# Partition columns that hold the start of a period (as the rollups define it): a day's partition
# is its period's rows.
PERIOD_START = {
    "week_start_date_key": lambda day: week_starts(day, day)[0],
    "month_key": lambda day: month_starts(day, day)[0],
}


@dataclass(frozen=True)
class Committed:
    """The chain committed these days (one batch): a range failing later resumes after them."""

    days: tuple[DaySummary, ...]


@dataclass(frozen=True)
class DaysWritten:
    """The step replaced these days of ``table``: each day's own metadata, and the values of
    the table's partition column its rows are stored under (a weekly table's week starts)."""

    table: str
    by_day: dict[dt.date, dict[str, object]]
    keys: tuple[int, ...]


@dataclass(frozen=True)
class Refreshed:
    """Partitions of days before the range that the step rewrote as well; ``metadata`` says why."""

    table: str
    days: tuple[dt.date, ...]
    metadata: dict[str, object]


@dataclass(frozen=True)
class Logged:
    message: str


@dataclass(frozen=True)
class Checked:
    report: CheckReport


@dataclass(frozen=True)
class Published:
    """Where a table's judged partitions were copied for readers (Databricks), or why not."""

    table: str
    metadata: dict[str, object]


StepEvent = Committed | DaysWritten | Refreshed | Logged | Checked | Published
EVENT_TYPES = {kind.__name__: kind for kind in (Committed, DaysWritten, Refreshed, Logged, Checked, Published)}


def as_message(event: StepEvent) -> dict[str, object]:
    """The event as JSON-ready values (a Pipes custom message)."""
    if isinstance(event, Committed):
        fields: dict[str, object] = {"days": [day.as_message() for day in event.days]}
    elif isinstance(event, DaysWritten):
        fields = {"table": event.table, "by_day": {str(day): meta for day, meta in event.by_day.items()},
                  "keys": list(event.keys)}
    elif isinstance(event, Refreshed):
        fields = {"table": event.table, "days": [str(day) for day in event.days], "metadata": event.metadata}
    elif isinstance(event, Checked):
        fields = {"report": dataclasses.asdict(event.report)}
    else:
        fields = dataclasses.asdict(event)
    return {"event": type(event).__name__, **fields}


def from_message(message: dict[str, object]) -> StepEvent:
    """The event ``as_message`` made."""
    fields = dict(message)
    kind = EVENT_TYPES[fields.pop("event")]
    if kind is Committed:
        return Committed(tuple(DaySummary.from_message(day) for day in fields["days"]))
    if kind is DaysWritten:
        return DaysWritten(fields["table"], {dt.date.fromisoformat(day): meta for day, meta in fields["by_day"].items()},
                           tuple(fields["keys"]))
    if kind is Refreshed:
        return Refreshed(fields["table"], tuple(dt.date.fromisoformat(day) for day in fields["days"]),
                         fields["metadata"])
    if kind is Checked:
        return Checked(CheckReport(**fields["report"]))
    return kind(**fields)


def run_step(step: str, engine: LocalEngine, ledger: ContractLedger, first: dt.date, last: dt.date
             ) -> Iterator[StepEvent]:
    """Write ``step``'s tables for first..last with ``engine`` under the lakehouse's writer
    lock (another configuration, or a range whose day before is missing, is refused before
    anything is written), then judge them: the contracts ``ledger`` kept and the rules."""
    started = time.perf_counter()
    with engine.lakehouse.writing():
        yield from WRITERS[step](engine, first, last)
    elapsed = time.perf_counter() - started
    validating = sum(ledger.verdict(entry.name).seconds for entry in registry.step_entries(step))
    yield Logged(f"Contracts: {validating:.1f} s validating, {validating / elapsed:.1%} of the {elapsed:.1f} s "
                 f"the step took")
    with closing(engine.queries()) as queries:
        for report in step_reports(step, ledger, queries, engine.config, Window(first, last)):
            yield Checked(report)


def _dimensions(engine: LocalEngine, first: dt.date, last: dt.date) -> Iterator[StepEvent]:
    engine.require_checkpoint_before(first)  # an out-of-order range fails here, before any write
    engine.write_dimensions(first, last)
    yield from _rows_written(engine, registry.step_assets(DIMENSIONS_STEP), first, last)


def _chain(engine: LocalEngine, first: dt.date, last: dt.date) -> Iterator[StepEvent]:
    days: list[DaySummary] = []
    for batch in engine.run(first, last):
        days.extend(batch)
        yield Committed(tuple(batch))
    keys = tuple(summary.date_key for summary in days)
    for name in CHAIN_ASSETS:
        yield DaysWritten(name, {summary.day: day_metadata(summary, name) for summary in days}, keys)


def _rollups(engine: LocalEngine, first: dt.date, last: dt.date) -> Iterator[StepEvent]:
    write_rollups(engine.lakehouse, first, last, engine.queries)  # the spark engine's queries: Spark writes them
    yield from _rows_written(engine, registry.step_assets(ROLLUPS_STEP), first, last)


def _customer_insights(engine: LocalEngine, first: dt.date, last: dt.date) -> Iterator[StepEvent]:
    with closing(engine.queries()) as queries:  # the days write_customer_insights rewrites
        bridge_days = [day_of_key(key) for key in size_fit_bridge_days(queries, first, last)]
    write_customer_insights(engine.lakehouse, first, last, engine.queries)
    earlier = tuple(day for day in bridge_days if day < first)
    if earlier:
        yield Refreshed(GOLD_SIZE_FIT_BRIDGE.name, earlier, {"refreshed_for_returns_dated": f"{first} .. {last}"})
    yield from _rows_written(engine, registry.step_assets(INSIGHTS_STEP), first, last)


WRITERS = {DIMENSIONS_STEP: _dimensions, CHAIN_STEP: _chain, ROLLUPS_STEP: _rollups,
           INSIGHTS_STEP: _customer_insights}


def _rows_written(engine: LocalEngine, names: Iterable[str], first: dt.date, last: dt.date) -> Iterator[DaysWritten]:
    """Each table's written days with the rows its partitions hold, counted by the store."""
    with closing(engine.queries()) as queries:
        yield from rows_by_day(queries, names, first, last)


def rows_by_day(queries: Queries, names: Iterable[str], first: dt.date, last: dt.date) -> Iterator[DaysWritten]:
    """Per table, per day of first..last: the rows its partition holds (for weekly and monthly
    tables, the rows of the day's period), counted by the store (one query for all the tables)."""
    days, counts, starts, keys = days_between(first, last), [], {}, {}
    for name in names:
        column = registry.TABLES[name].partition_column
        starts[name] = {day: partition_start(name, day) for day in days} if column in PERIOD_START else None
        keys[name] = {day: partition_value(name, day) for day in days}
        counts.append(f"SELECT '{name}' AS table_name, {column} AS partition_key, count(*) AS row_count FROM {name}"
                      f" WHERE {column} BETWEEN {min(keys[name].values())} AND {max(keys[name].values())}"
                      f" GROUP BY {column}")
    found = {(row["table_name"], row["partition_key"]): row["row_count"]
             for row in queries.rows(" UNION ALL ".join(counts))} if counts else {}
    for name, by_day in keys.items():
        yield DaysWritten(name, {day: {"dagster/row_count": found.get((name, key), 0),
                                       **({"period_start": str(starts[name][day])} if starts[name] else {})}
                                 for day, key in by_day.items()},
                          tuple(sorted(set(by_day.values()))))


def partition_start(name: str, day: dt.date) -> dt.date:
    """The first day of table ``name``'s partition that holds ``day``'s rows: the day itself, or
    for weekly and monthly tables its period's start."""
    period = PERIOD_START.get(registry.TABLES[name].partition_column)
    return period(day) if period else day


def partition_value(name: str, day: dt.date) -> int:
    """The value of table ``name``'s partition column that holds ``day``'s rows."""
    return date_key(partition_start(name, day))


def day_metadata(summary: DaySummary, name: str) -> dict[str, object]:
    """A chain day's own figures: the table's rows (facts) and the day's headline behaviour."""
    rows = {"dagster/row_count": summary.rows[name]} if name in summary.rows else {}
    return {
        **rows,
        "units_sold": summary.units_sold,
        "units_lost": summary.units_lost,
        "lost_revenue": round(summary.lost_revenue, 2),
        "net_sales": round(summary.net_sales, 2),
        "stockout_rate": round(summary.stockout_rate, 4),
        "constrained_lines": summary.constrained_lines,
        **({} if summary.driver_bytes is None else {"driver_bytes": summary.driver_bytes}),
    }


def written_days(event: StepEvent) -> set[dt.date]:
    """The days of the step's range an event says were committed."""
    if isinstance(event, Committed):
        return {summary.day for summary in event.days}
    return set(event.by_day) if isinstance(event, DaysWritten) else set()


def written_keys(event: StepEvent) -> dict[str, set[int]]:
    """The partition-column values of each table an event says were written (what a publisher
    copies): a committed batch's days for every table the chain writes, including the
    checkpoint's parts (the chain's closing ``DaysWritten`` repeats them: not counted again)."""
    if isinstance(event, Committed):
        keys = {summary.date_key for summary in event.days}
        return {entry.name: set(keys) for entry in registry.step_entries(CHAIN_STEP)}
    if isinstance(event, DaysWritten) and event.table not in CHAIN_ASSETS:
        return {event.table: set(event.keys)}
    if isinstance(event, Refreshed):
        return {event.table: {date_key(day) for day in event.days}}
    return {}
