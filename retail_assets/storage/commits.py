"""The commit ledger: the one record of what a lakehouse holds.

A batch of days writes many tables, one Delta commit each, and a process can die between two
of them. So a batch is committed only when its row lands in the ledger, a small Delta table
written last: one row per table of every committed batch, with the table's Delta version, the
days, the configuration that made them and the code version. Readers see every table at the
version the ledger names, so a half-written batch is invisible, and the next writer restores
tables that ran ahead of the ledger (``Lakehouse`` does both).
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import pyarrow as pa
from deltalake import DeltaTable, write_deltalake

LEDGER_TABLE = "_lakehouse_commits"
LEDGER_SCHEMA = pa.schema([
    pa.field("commit_id", pa.int64(), nullable=False),
    pa.field("committed_at", pa.timestamp("us", tz="UTC"), nullable=False),
    pa.field("operation", pa.string(), nullable=False),
    pa.field("first_date_key", pa.int32()),
    pa.field("last_date_key", pa.int32()),
    pa.field("table_name", pa.string(), nullable=False),
    pa.field("table_version", pa.int64(), nullable=False),
    pa.field("configuration", pa.string()),
    pa.field("code_version", pa.string(), nullable=False),
])


def code_version() -> str:
    try:
        return metadata.version("retail-assets")
    except metadata.PackageNotFoundError:
        return "unknown"


@dataclass(frozen=True)
class CommitRecord:
    """The ledger's last word on one table: which version, written by which commit."""

    version: int
    commit_id: int
    operation: str
    first_date_key: int | None
    last_date_key: int | None

    def describe(self) -> str:
        days = ("" if self.first_date_key is None else
                f", days {self.first_date_key}" + ("" if self.last_date_key == self.first_date_key
                                                    else f"..{self.last_date_key}"))
        return f"commit {self.commit_id} ({self.operation}{days})"


@dataclass(frozen=True)
class LedgerState:
    """What the ledger says at one of its versions."""

    ledger_version: int
    tables: dict[str, CommitRecord] = field(default_factory=dict)
    configuration: dict[str, str] | None = None  # of the newest commit that recorded one
    commits: int = 0
    day_ranges: dict[str, frozenset[tuple[int, int]]] = field(default_factory=dict)  # operation -> ranges

    @property
    def versions(self) -> dict[str, int]:
        return {name: record.version for name, record in self.tables.items()}

    def committed(self, operation: str, date_key: int) -> bool:
        """True when a committed batch of ``operation`` covered the day ``date_key``."""
        firsts, lasts = _merged(self.day_ranges.get(operation, frozenset()))
        at = bisect.bisect_right(firsts, date_key) - 1
        return at >= 0 and date_key <= lasts[at]


@functools.lru_cache(maxsize=64)
def _merged(ranges: frozenset[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """Overlapping ranges merged, as sorted firsts and their lasts (for bisection)."""
    firsts: list[int] = []
    lasts: list[int] = []
    for first, last in sorted(ranges):
        if lasts and first <= lasts[-1]:
            lasts[-1] = max(lasts[-1], last)
        else:
            firsts.append(first)
            lasts.append(last)
    return firsts, lasts


class CommitLedger:
    """The ledger of the lakehouse at ``root``; cached by the ledger's own Delta version. A
    subclass that keeps the ledger elsewhere passes no root and implements the storage hooks."""

    def __init__(self, root: Path | None):
        self.path = root / LEDGER_TABLE if root is not None else None
        self._state: LedgerState | None = None
        self._handle: DeltaTable | None = None  # the writer's, between appends

    def exists(self) -> bool:
        return DeltaTable.is_deltatable(str(self.path))

    def create(self) -> None:
        """An empty ledger: from now on a table the ledger does not name is an unfinished write."""
        write_deltalake(str(self.path), LEDGER_SCHEMA.empty_table(), mode="append")
        self._state = self._handle = None

    def state(self, trust_cache: bool = False) -> LedgerState:
        """The committed state. ``trust_cache`` when this process holds the writer lock (nobody
        else can append); otherwise the ledger's version is checked first."""
        if not self.exists():
            return LedgerState(ledger_version=-1)
        if self._state is not None and trust_cache:
            return self._state
        version = self._version()
        if self._state is None or self._state.ledger_version != version:
            self._state = _state_of(version, self._rows(version))
        return self._state

    # The storage: a Delta table written with delta-rs (``SparkCommitLedger``: with Spark).
    def _version(self) -> int:
        """The ledger's newest version (through a handle kept for ``_rows`` and ``_append``)."""
        self._handle = DeltaTable(str(self.path))
        return self._handle.version()

    def _rows(self, version: int) -> list[dict]:
        """Every row of the ledger at ``version``, the one ``_version`` just answered."""
        return self._handle.to_pyarrow_table().to_pylist()  # a few rows per batch: small

    def _append(self, rows: pa.Table) -> int:
        """Append ``rows`` in one commit; the ledger's new version."""
        write_deltalake(str(self.path), rows, mode="append")
        if self._handle is None:
            self._handle = DeltaTable(str(self.path))
        else:
            self._handle.update_incremental()  # the appending writer holds the lock: no one else appended
        return self._handle.version()

    def append(self, operation: str, first_date_key: int | None, last_date_key: int | None,
               versions: Mapping[str, int], configuration: Mapping[str, str] | None) -> None:
        """Commit a batch: one row per table it wrote, in one Delta commit."""
        state = self.state(trust_cache=True)
        commit_id = state.commits + 1
        names = sorted(versions)
        count = len(names)
        rows = pa.table({
            "commit_id": pa.array([commit_id] * count, pa.int64()),
            "committed_at": pa.array([dt.datetime.now(dt.timezone.utc)] * count, pa.timestamp("us", tz="UTC")),
            "operation": [operation] * count,
            "first_date_key": pa.array([first_date_key] * count, pa.int32()),
            "last_date_key": pa.array([last_date_key] * count, pa.int32()),
            "table_name": names,
            "table_version": pa.array([versions[name] for name in names], pa.int64()),
            "configuration": [None if configuration is None else json.dumps(dict(configuration), sort_keys=True)] * count,
            "code_version": [code_version()] * count,
        }, schema=LEDGER_SCHEMA)
        version = self._append(rows)
        tables = dict(state.tables)
        for name in names:
            tables[name] = CommitRecord(versions[name], commit_id, operation, first_date_key, last_date_key)
        self._state = LedgerState(
            ledger_version=version,
            tables=tables,
            configuration=dict(configuration) if configuration is not None else state.configuration,
            commits=commit_id,
            day_ranges=_with_range(state.day_ranges, operation, first_date_key, last_date_key),
        )


def _with_range(ranges: dict[str, frozenset[tuple[int, int]]], operation: str, first: int | None,
                last: int | None) -> dict[str, frozenset[tuple[int, int]]]:
    if first is None or last is None:
        return ranges
    return {**ranges, operation: ranges.get(operation, frozenset()) | {(first, last)}}


def _state_of(version: int, rows: list[dict]) -> LedgerState:
    rows = sorted(rows, key=lambda row: row["commit_id"])
    tables: dict[str, CommitRecord] = {}
    ranges: dict[str, frozenset[tuple[int, int]]] = {}
    configuration = None
    for row in rows:
        tables[row["table_name"]] = CommitRecord(row["table_version"], row["commit_id"], row["operation"],
                                                 row["first_date_key"], row["last_date_key"])
        ranges = _with_range(ranges, row["operation"], row["first_date_key"], row["last_date_key"])
        if row["configuration"] is not None:
            configuration = json.loads(row["configuration"])
    return LedgerState(version, tables, configuration, rows[-1]["commit_id"] if rows else 0, ranges)
