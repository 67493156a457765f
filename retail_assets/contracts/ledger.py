"""Validate every batch written to the lakehouse against its table's contract, and keep score.

``ContractLedger.validate(name, rows)`` is the lakehouse's write hook: it runs on exactly the
rows about to be committed (a day, or the days of a batch of a range run), checks them against
the table's generated Pandera model and its references to the dimensions, and adds the outcome
to the table's ``Verdict``: rows checked, failures, a sample of failure cases and the time spent.
Days Spark wrote are judged by Spark, with the same contract as SQL (``sql_contract``). The
Dagster assets turn the verdicts into asset check results at the end of a run.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass, field

import pandera.polars as pandera
import polars as pl
import pyarrow as pa

from retail_assets import registry
from retail_assets.contracts.models import POLARS_TYPES, contract_model, reference_check_name
from retail_assets.contracts.sql_contract import Findings, Judged, stored_findings
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.queries import StoredDays

SAMPLE_ROWS = 10  # failure cases kept per table
SAMPLE_PER_CHECK = 3
FAILURE_COLUMNS = ("check", "column", "failure_case")


@dataclass
class Verdict:
    """Everything validated for one table during a run."""

    table: str
    rows: int = 0
    batches: int = 0
    failures: int = 0
    seconds: float = 0.0
    failures_by_check: dict[str, int] = field(default_factory=dict)
    sample: list[dict[str, str]] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return self.failures == 0

    def add(self, findings: Findings, seconds: float) -> None:
        """A batch's findings (``findings.cases``: at most ``SAMPLE_PER_CHECK`` of each check)."""
        self.rows += findings.rows
        self.batches += 1
        self.seconds += seconds
        for check, count in findings.counts.items():
            self.failures += count
            self.failures_by_check[check] = self.failures_by_check.get(check, 0) + count
        self.sample.extend(findings.cases[:max(SAMPLE_ROWS - len(self.sample), 0)])

    def sample_markdown(self) -> str:
        """The sample as a markdown table (what the Dagster UI shows)."""
        return markdown_table(self.sample)


def markdown_table(rows: list[dict]) -> str:
    """Rows (dicts with the same keys) as a markdown table; long cells cut at 200 characters."""
    columns = list(rows[0]) if rows else list(FAILURE_COLUMNS)
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    for row in rows:
        lines.append("| " + " | ".join(str(row[name]).replace("|", "\\|")[:200] for name in columns) + " |")
    return "\n".join(lines)


class ContractLedger:
    """Validates the batches written to ``lakehouse`` and keeps one ``Verdict`` per table.

    Referenced dimension keys are read from the lakehouse when first needed and re-read after
    that dimension is written again; a table that refers to itself (the date dimension's
    effective_date_key) also sees the keys of the batch being validated. Thread-safe, whichever
    thread prepares the writes.
    """

    def __init__(self, lakehouse: Lakehouse):
        self._lakehouse = lakehouse
        self._verdicts: dict[str, Verdict] = {}
        self._dimension_keys: dict[tuple[str, str], pl.Series] = {}
        self._stored: list[tuple[str, StoredDays]] = []  # days stored elsewhere, judged at the next verdict
        self._lock = threading.Lock()

    def validate(self, name: str, rows: pa.Table | StoredDays) -> None:
        """Check ``rows`` of table ``name`` (tables without a declaration are ignored): a batch
        of rows here, with the Pandera model; or days stored by Spark, judged there with the same
        contract as SQL (``sql_contract``), nothing of them read back, all such tables together
        when a verdict is next asked for (a Spark query costs the same for one table or ten)."""
        if name not in registry.TABLES:
            return
        if isinstance(rows, StoredDays):
            with self._lock:
                self._stored.append((name, rows))
            return
        started = time.perf_counter()
        frame = pl.from_arrow(rows)
        assert isinstance(frame, pl.DataFrame)
        with self._lock:
            cases = pl.concat([_schema_failures(name, frame), self._orphans(name, frame)])
            counts = dict(cases.group_by("check").len().iter_rows())
            sample = cases.group_by("check", maintain_order=True).head(SAMPLE_PER_CHECK).to_dicts()
            self._record(name, Findings(frame.height, counts, sample), time.perf_counter() - started)

    def verdict(self, name: str) -> Verdict:
        """The verdict of table ``name``: an empty pass if nothing of it was written."""
        with self._lock:
            self._judge_stored()
            return self._verdicts.get(name, Verdict(name))

    # ------------------------------------------------------------------ internals
    def _judge_stored(self) -> None:
        """Under the lock: the stored days not judged yet, every table at once, in the store that
        holds them, at the versions readers now see (each table's days as its last write left
        them: a run writes a day once)."""
        if not self._stored:
            return
        started, keys = time.perf_counter(), {}
        for name, days in self._stored:
            keys.setdefault((name, days.key_column), set()).update(days.keys)
        judged = [Judged(registry.TABLES[name], tuple(sorted(days)), column) for (name, column), days in keys.items()]
        with closing(self._stored[-1][1].open_queries()) as queries:
            found = stored_findings(queries, judged, SAMPLE_PER_CHECK)
        self._stored.clear()
        share = (time.perf_counter() - started) / len(found)  # one query judged them all
        for name, findings in found.items():
            self._record(name, findings, share)

    def _record(self, name: str, findings: Findings, seconds: float) -> None:
        """Under the lock: the findings added to the table's verdict; the table's keys are read
        again when next referenced (its rows are about to be committed)."""
        self._dimension_keys = {target: keys for target, keys in self._dimension_keys.items() if target[0] != name}
        self._verdicts.setdefault(name, Verdict(name)).add(findings, seconds)

    def _orphans(self, name: str, frame: pl.DataFrame) -> pl.DataFrame:
        """Failure cases of the keys that are not in the dimension they refer to."""
        declared = registry.TABLES[name]
        found = [_no_failures()]
        as_declared = {c.name for c in declared.columns if frame.schema.get(c.name) == POLARS_TYPES[c.type]}
        for column in declared.columns:
            target = column.references(declared)
            if target is None or column.name not in as_declared:  # missing or mistyped: the schema says so
                continue
            known = self._keys(target)
            if target[0] == name and target[1] in as_declared:
                known = pl.concat([known, frame.get_column(target[1])])
            values = frame.get_column(column.name).drop_nulls()
            orphans = values.filter(~values.is_in(known.implode()))
            if orphans.len():
                found.append(pl.DataFrame({
                    "check": reference_check_name(target),
                    "column": column.name,
                    "failure_case": orphans.cast(pl.String),
                }))
        return pl.concat(found)

    def _keys(self, target: tuple[str, str]) -> pl.Series:
        if target not in self._dimension_keys:
            table, column = target
            if self._lakehouse.exists(table):
                keys = self._lakehouse.read(table, columns=[column]).column(column)
                self._dimension_keys[target] = pl.Series(column, keys).unique()
            else:
                self._dimension_keys[target] = pl.Series(column, [], dtype=pl.Int32)
        return self._dimension_keys[target]


def checked_lakehouse(root, fingerprint: Mapping[str, str] | None = None) -> tuple[ContractLedger, Lakehouse]:
    """A lakehouse whose every write is validated by the returned ledger (which reads the
    dimensions it checks references against through that lakehouse, so it sees the dimensions
    of the transaction being written); ``fingerprint``: the configuration the lakehouse must
    have been made with."""
    return checked(Lakehouse(root, fingerprint=fingerprint))


def checked(lakehouse: Lakehouse) -> tuple[ContractLedger, Lakehouse]:
    """``lakehouse`` with every write validated by the returned ledger (``checked_lakehouse``)."""
    ledger = ContractLedger(lakehouse)
    lakehouse.on_write = ledger.validate
    return ledger, lakehouse


def _no_failures() -> pl.DataFrame:
    return pl.DataFrame(schema={name: pl.String for name in FAILURE_COLUMNS})


def _schema_failures(name: str, frame: pl.DataFrame) -> pl.DataFrame:
    """Failure cases of the table's Pandera model (all checks, lazily collected)."""
    try:
        contract_model(name).validate(frame, lazy=True)
    except pandera.errors.SchemaErrors as errors:
        cases = errors.failure_cases
        return cases.select(
            pl.col("check").cast(pl.String),
            pl.col("column").cast(pl.String),
            pl.col("failure_case").cast(pl.String),
        )
    return _no_failures()
