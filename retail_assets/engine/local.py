"""The embedded engine: runs the simulation core in-process and writes Delta tables.

A run covers consecutive days. It starts from the checkpoint of the day before (or from the
warm-up when the first day is the start date), steps day by day, and commits every few days:
all tables of those days (facts and checkpoint parts) as one lakehouse transaction, committed
by its row in the commit ledger. A crash therefore leaves the lakehouse before or after a
batch, never inside one, and a retry resumes from the last committed checkpoint.
Memory is bounded by the batch, not by the number of days.
Commits run on one writer thread, overlapping the simulation of the next batch (two batches
in memory at most); they stay in day order, and a failed commit ends the run.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.days import date_key, days_between
from retail_assets.engine.figures import DaySummary, day_figures
from retail_assets.registry import Role
from retail_assets.sim import checkpoint, dimensions
from retail_assets.sim import day as day_step
from retail_assets.sim.context import DayContext
from retail_assets.sim.day import DayTables
from retail_assets.sim.world import build_world
from retail_assets.storage.delta import Lakehouse, PreparedWrite
from retail_assets.storage.queries import DuckDbQueries, Queries
from retail_assets.storage.write_behind import WriteBehind
from retail_assets.table_model import etl_now

CHAIN_FACTS = registry.entries(Role.CHAIN_FACT)  # written from the DayTables field each names
CHECKPOINT_PARTS = registry.entries(Role.CHECKPOINT_PART)  # written from the core's checkpoint part each names
DIMENSIONS_OPERATION = "dimensions"  # the commit ledger's names of the engine's transactions
CHAIN_OPERATION = "daily_chain"
MAX_BATCH_DAYS = 7
MAX_BATCH_ROWS = 2_000_000  # buffered rows of every table before a commit: bounds memory (mid_market: 3-4 days)


class MissingCheckpointError(RuntimeError):
    """Day D cannot run: the inventory checkpoint of day D-1 is not in the lakehouse."""


def first_missing_day(lakehouse: Lakehouse, start: dt.date, last: dt.date,
                      operations: Iterable[str] = (CHAIN_OPERATION,)) -> dt.date | None:
    """The first day of start..last that one of ``operations`` has not committed (by the commit
    ledger); None when all have."""
    state, names = lakehouse.ledger_state(), tuple(operations)
    return next((day for day in days_between(start, last)
                 if not all(state.committed(name, date_key(day)) for name in names)), None)


@dataclass
class RangeResult:
    days: list[DaySummary] = field(default_factory=list)

    @property
    def rows(self) -> dict[str, int]:
        totals: dict[str, int] = {}
        for day in self.days:
            for name, count in day.rows.items():
                totals[name] = totals.get(name, 0) + count
        return totals


class LocalEngine:
    """Simulate and write a range of days to a Delta lakehouse on this machine."""

    def __init__(self, config: SimulationConfig, lakehouse: Lakehouse | None = None):
        self.config = config
        self.lakehouse = lakehouse or Lakehouse(config.lakehouse_path, fingerprint=config.world_fingerprint())
        self.context = DayContext.build(build_world(config))  # the whole world as one block

    def run(self, first: dt.date, last: dt.date) -> Iterator[list[DaySummary]]:
        """Simulate first..last; yield the summaries of each committed batch of days."""
        self._check_range(first, last)
        batch: list[DayTables] = []
        checkpoints: list[dict[str, pa.Table]] = []
        buffered = 0
        last_day = self.config.day_ordinal(last)
        with WriteBehind() as writer:  # batch k is committed while batch k+1 is simulated
            for day_tables, day_checkpoint in self._simulate(first, last):
                batch.append(day_tables)
                checkpoints.append(day_checkpoint)
                buffered += day_tables.rows
                if len(batch) >= MAX_BATCH_DAYS or buffered >= MAX_BATCH_ROWS or day_tables.day == last_day:
                    writes, summaries = self._prepare(batch, checkpoints)  # here: contracts run between steps
                    committed = writer.submit(self._commit, writes, summaries)
                    if committed is not None:
                        yield committed
                    batch, checkpoints, buffered = [], [], 0
            yield writer.finish()

    def run_all(self, first: dt.date, last: dt.date) -> RangeResult:
        result = RangeResult()
        for summaries in self.run(first, last):
            result.days.extend(summaries)
        return result

    # ------------------------------------------------------------------ internals
    def queries(self) -> Queries:
        """SQL over the tables this engine writes (the rules' store): DuckDB over delta-rs."""
        return DuckDbQueries(self.lakehouse)

    def _check_range(self, first: dt.date, last: dt.date) -> None:
        if last < first:
            raise ValueError(f"empty range: last day {last} is before first day {first}")
        if first < self.config.start_date:
            raise ValueError(f"{first} is before the configured start_date {self.config.start_date}")

    def _simulate(self, first: dt.date, last: dt.date) -> Iterator[tuple[DayTables, dict[str, pa.Table]]]:
        """Each day's tables and end-of-day checkpoint, in day order."""
        context = self.context
        previous = self._checkpoint_before(first)
        state = day_step.state_at_start(context) if previous is None else checkpoint.state_from_tables(
            previous, self.config.day_ordinal(first) - 1, context.positions.n_positions)
        for day in range(self.config.day_ordinal(first), self.config.day_ordinal(last) + 1):
            day_tables = day_step.step(context, state, day)
            yield day_tables, checkpoint.state_to_tables(state, day_tables.date_key)

    def require_checkpoint_before(self, first: dt.date) -> None:
        """Refuse a range whose day before has no checkpoint, naming the first missing day, so a
        step can fail before it writes anything."""
        if first <= self.config.start_date:
            return
        previous = first - dt.timedelta(days=1)
        missing = first_missing_day(self.lakehouse, self.config.start_date, previous)
        if missing is not None:
            raise MissingCheckpointError(
                f"cannot simulate {first}: no inventory checkpoint for {previous} (partition {previous} of "
                f"inventory_checkpoint). The first day missing from the lakehouse is {missing}: materialise "
                f"{missing} .. {first} as one range (or let the schedule catch up)."
            )

    def _checkpoint_before(self, first: dt.date) -> dict[str, pa.Table] | None:
        """The checkpoint tables of the day before ``first``; None when ``first`` is the start date."""
        self.require_checkpoint_before(first)
        day = self.config.day_ordinal(first)
        if day == 0:
            return None
        previous_key = self.context.calendar.date_key(day - 1)
        return {part.checkpoint_part: self.lakehouse.read(part.name, date_keys=[previous_key])
                for part in CHECKPOINT_PARTS}

    def write_dimensions(self, first: dt.date, last: dt.date) -> dict[str, int]:
        """Write the dimension rows effective on first..last (one ledger commit for them all)."""
        self._check_range(first, last)
        first_day, last_day = self.config.day_ordinal(first), self.config.day_ordinal(last)
        keys = [self.context.calendar.date_key(day) for day in range(first_day, last_day + 1)]
        stamp = etl_now()
        with self.lakehouse.transaction(DIMENSIONS_OPERATION, keys):
            return {name: self._write_dimension(name, first_day, last_day, keys, stamp)
                    for name in registry.names(Role.DIMENSION)}

    def _write_dimension(self, name: str, first_day: int, last_day: int, keys: list[int], stamp: pa.Scalar) -> int:
        """One dimension's rows of first_day..last_day, built here and written with delta-rs."""
        prepared, _ = self._prepare_table(name, dimensions.BUILDERS[name](self.context.world, first_day, last_day),
                                          keys, stamp)
        return self.lakehouse.commit(prepared)

    def _prepare_table(
        self, name: str, data: pa.Table, keys: list[int], stamp: pa.Scalar
    ) -> tuple[PreparedWrite, dict[int, int]]:
        """Stamp, conform to the declared schema and prepare the write; rows per key."""
        declared = registry.TABLES[name]
        data = declared.conform(data, stamp)
        key_column = declared.partition_column
        prepared = self.lakehouse.prepare_days(name, data, keys, key_column=key_column)
        values, counts = np.unique(data.column(key_column).to_numpy(), return_counts=True)
        return prepared, dict(zip(values.tolist(), counts.tolist()))

    def _prepare(
        self, batch: list[DayTables], checkpoints: list[dict[str, pa.Table]]
    ) -> tuple[list[PreparedWrite], list[DaySummary]]:
        """The batch's writes, facts first and checkpoints last, and its days' summaries. Runs on
        the simulating thread: the write thread is the busier one."""
        keys = [day.date_key for day in batch]
        stamp = etl_now()
        writes: list[PreparedWrite] = []
        rows: dict[str, dict[int, int]] = {}
        for fact in CHAIN_FACTS:
            prepared, rows[fact.name] = self._prepare_table(
                fact.name, pa.concat_tables([getattr(day, fact.day_tables_field) for day in batch]), keys, stamp)
            writes.append(prepared)
        for part in CHECKPOINT_PARTS:
            state = pa.concat_tables([c[part.checkpoint_part] for c in checkpoints])
            writes.append(self.lakehouse.prepare_days(part.name, state, keys))
        summaries = [self._summary(day, {name: counts.get(day.date_key, 0) for name, counts in rows.items()})
                     for day in batch]
        return writes, summaries

    def _commit(self, writes: list[PreparedWrite], summaries: list[DaySummary]) -> list[DaySummary]:
        """Commit a batch's writes as one transaction; the summaries of its days."""
        with self.lakehouse.transaction(CHAIN_OPERATION, [summary.date_key for summary in summaries]):
            for prepared in writes:
                self.lakehouse.commit(prepared)
        return summaries

    def _summary(self, day: DayTables, rows: dict[str, int]) -> DaySummary:
        return DaySummary.of(self.context.calendar.date(day.day), day.date_key, rows, day_figures(day))
