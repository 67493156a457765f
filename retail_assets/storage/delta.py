"""Delta Lake storage layer of the retail lakehouse (delta-rs, no Spark).

Layout
------
Every table is one Delta table in ``<root>/<table_name>``. Day-keyed tables
carry an int32 ``date_key`` column (YYYYMMDD) equal to the Dagster daily
partition. Tables are *not* Hive-partitioned (one folder per day gave many
tiny files); instead rows are written sorted by ``date_key`` and the per-file
min/max statistics in the Delta log let a predicate overwrite touch only the
files whose ``date_key`` range intersects the days being replaced. Files that
hold only untouched days are neither read nor rewritten; a file that mixes
replaced and untouched days (e.g. from an earlier multi-day write) is
rewritten without the replaced days.

Transactions and concurrency
----------------------------
``write_days`` replaces the rows of the given days with ONE Delta commit
(``write_deltalake(mode="overwrite", predicate=...)``): re-running a day or a
range is idempotent. A batch spanning many tables is one ``transaction``: it
is committed when its row lands in the commit ledger (``storage.commits``),
written last. Every read sees each table at the version the ledger names, so
a batch cut short by a crash is invisible; the next writer restores the tables
it had already written, and refuses a table whose committed version was lost.
One process writes at a time (``storage.lock``: an OS lock the kernel releases
when the holder dies), and a lakehouse made with a configuration refuses a
writer with another one (``fingerprint``) before anything is written.

Only local paths are supported/tested (the lakehouse lives on local disk).
"""

from __future__ import annotations

import errno
import logging
import re
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as pads
import pyarrow.fs as pafs
from deltalake import CommitProperties, DeltaTable, WriterProperties, write_deltalake
from deltalake.exceptions import SchemaMismatchError

from retail_assets.days import (
    date_key,
    day_of_key,
    days_between,
    is_date_key,
)
from retail_assets.portable_sql import DUCKDB_MACROS
from retail_assets.storage.commits import LEDGER_TABLE, CommitLedger, LedgerState
from retail_assets.storage.lock import WriterLock

__all__ = [
    "COMPRESSION",
    "DATE_KEY",
    "MAX_ROW_GROUP_SIZE",
    "TARGET_FILE_SIZE",
    "ConfigurationDriftError",
    "Lakehouse",
    "LakehouseStateError",
]

log = logging.getLogger(__name__)

DATE_KEY = "date_key"

# --------------------------------------------------------------------------
# Writer tuning (deltalake 1.6.6 / pyarrow 26, 2 cores, local disk).
# Measured with /tmp/storage_bench.py: 5M rows x 25 mixed columns (int32,
# int64, float64, bool, dictionary + plain strings, date32, timestamps),
# sorted by date_key over 30 days; median of 3 runs, ranges over 3 sessions
# (this VM is noisy, +-20%). write_deltalake encodes on ONE core here.
#
#   rows/s              append        predicate overwrite (all 30 days)  size
#   SNAPPY (default)    1.05-1.14M    0.93-1.13M                       420 MiB
#   ZSTD(1)             1.00-1.42M    0.90-1.34M                       348 MiB
#   ZSTD(3)             0.79-0.87M    0.79-0.81M                       339 MiB
#   LZ4_RAW             1.32-1.57M    1.17-1.43M                       431 MiB
#   UNCOMPRESSED        1.61-2.27M    1.38-1.78M                       476 MiB
#   row groups 256Ki rows instead of 1Mi: -10..-30% and +8% size -> keep 1Mi
#   target file 32 MiB: 1.14-1.22M append; 64 vs 100 MiB: equal within noise
#   in an interleaved A/B (64: 0.93-1.16M, 100: 1.00-1.29M append),
#   but re-writing 1 day (167k rows) inside multi-day files costs 0.63-0.69 s
#   at 64 MiB vs 0.76-1.0 s at 100 MiB and 1.1-1.9 s at 128/256 MiB.
#   Through Lakehouse.write_days (LZ4_RAW, 64 MiB): 30-day write 1.11M rows/s,
#   re-run of the range 1.17M rows/s, one commit per day (167k rows) 0.70M
#   rows/s (0.56M when replacing); read 11M rows/s; compact 1.3M rows/s.
#   (Hive partitioning by day had measured 0.76M rows/s.)
# Choice: LZ4_RAW = fastest codec that still compresses (uncompressed is
# ~20% faster to write but larger on disk, and its size gap grows on less
# random data); zstd/snappy were both slower here. Readable by pyarrow,
# DuckDB, delta-rs and Spark >= 3.4.
# --------------------------------------------------------------------------
COMPRESSION = "LZ4_RAW"
COMPRESSION_LEVEL: int | None = None
MAX_ROW_GROUP_SIZE = 1024 * 1024  # rows (= arrow-rs default; stated explicitly)
TARGET_FILE_SIZE = 64 * 1024 * 1024  # bytes

# Table properties set when a table is created. delta-rs only collects
# file statistics for the first 32 columns by default; a date_key beyond
# column 32 would then have no min/max and every predicate overwrite would
# rewrite the whole table. -1 = statistics for all columns (cheap: they come
# from the parquet footer the writer produces anyway).
TABLE_CONFIGURATION: dict[str, str | None] = {
    "delta.dataSkippingNumIndexedCols": "-1",
}

_TABLE_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def _writer_properties() -> WriterProperties:
    return WriterProperties(
        compression=COMPRESSION,  # type: ignore[arg-type]
        compression_level=COMPRESSION_LEVEL,
        max_row_group_size=MAX_ROW_GROUP_SIZE,
    )


def _normalise_keys(date_keys: Iterable[int]) -> list[int]:
    if isinstance(date_keys, (str, bytes)):
        raise TypeError("date_keys must be a sequence of ints, not a string")
    keys: set[int] = set()
    for k in date_keys:
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)):
            raise TypeError(f"date_keys must be ints, got {k!r} ({type(k).__name__})")
        keys.add(int(k))
    if not keys:
        raise ValueError("date_keys must not be empty")
    for k in keys:
        if not -(2**31) <= k < 2**31:
            raise ValueError(f"date_key {k} does not fit in int32")
    return sorted(keys)


def _is_contiguous(keys: list[int]) -> bool:
    """True when ``keys`` (sorted, distinct) cover a gap-free range: either
    consecutive integers or consecutive calendar days in YYYYMMDD form
    (20250131 -> 20250201). Only then is ``min <= date_key <= max`` exactly
    equivalent to ``date_key IN keys`` for a table of valid date keys."""
    if keys[-1] - keys[0] == len(keys) - 1:
        return True
    if not (is_date_key(keys[0]) and is_date_key(keys[-1])):
        return False
    return keys == [date_key(day) for day in days_between(day_of_key(keys[0]), day_of_key(keys[-1]))]


@dataclass(frozen=True)
class PreparedWrite:
    """A checked replacement of some days of a table, ready to commit."""

    name: str
    data: pa.Table
    predicate: str
    metadata: dict[str, Any]
    date_keys: tuple[int, ...]


class LakehouseStateError(RuntimeError):
    """The lakehouse's tables disagree with its commit ledger in a way no writer can repair."""


class ConfigurationDriftError(ValueError):
    """The lakehouse was made with another configuration than the one asking to write it."""


def day_predicate(
    date_keys: Iterable[int], *, contiguous: bool = True, key_column: str = DATE_KEY
) -> str:
    """SQL predicate (delta-rs / DataFusion syntax) selecting exactly ``date_keys``
    of ``key_column``.

    A range ``date_key >= a AND date_key <= b`` is used only when the caller
    says ``contiguous=True`` *and* the keys really are gap-free (consecutive
    integers or consecutive calendar days); otherwise an ``IN`` list. The
    result always selects exactly the given days, so a wrong ``contiguous``
    hint can never delete a day the caller did not pass.
    """
    keys = _normalise_keys(date_keys)
    col = _check_key_column(key_column)
    if len(keys) == 1:
        return f"{col} = {keys[0]}"
    if contiguous and _is_contiguous(keys):
        return f"{col} >= {keys[0]} AND {col} <= {keys[-1]}"
    return f"{col} IN ({', '.join(str(k) for k in keys)})"


def _check_key_column(key_column: str) -> str:
    if not isinstance(key_column, str) or not _TABLE_NAME_RE.match(key_column):
        raise ValueError(f"invalid key column name {key_column!r}")
    return key_column


def _check_no_null_columns(data: pa.Table) -> None:
    for field in data.schema:
        if pa.types.is_null(field.type):
            raise ValueError(
                f"column {field.name!r} has Arrow type null (e.g. built from an "
                "empty or all-None list); cast it to its intended type before writing"
            )


def _prepare_day_data(data: pa.Table, keys: list[int], key_column: str = DATE_KEY) -> pa.Table:
    """Validate ``data`` against ``keys``; return it with an int32 key column,
    sorted by it (stable, so the within-day order is kept)."""
    if not isinstance(data, pa.Table):
        raise TypeError(f"data must be a pyarrow.Table, got {type(data).__name__}")
    if key_column not in data.column_names:
        raise ValueError(f"data has no {key_column!r} column (columns: {data.column_names})")
    _check_no_null_columns(data)
    idx = data.column_names.index(key_column)
    col = data.column(idx)
    if not pa.types.is_integer(col.type):
        raise ValueError(f"{key_column} must be an integer column, got {col.type}")
    if col.type != pa.int32():
        col = col.cast(pa.int32())  # safe cast: raises on overflow
        data = data.set_column(idx, data.schema.field(idx).with_type(pa.int32()), col)
    if data.num_rows == 0:
        return data
    if col.null_count:
        raise ValueError(
            f"{col.null_count} row(s) of data have a null {key_column}; "
            f"expected only {_fmt_keys(keys)}"
        )
    ok = pc.is_in(col, value_set=pa.array(keys, pa.int32()))
    if not pc.all(ok).as_py():
        bad = pc.filter(col, pc.invert(ok))
        offending = sorted(pc.unique(bad).to_pylist())
        raise ValueError(
            f"data contains {len(bad)} row(s) with {key_column} outside the days "
            f"being written: offending {key_column}(s) {offending[:10]}"
            f"{' ...' if len(offending) > 10 else ''}; expected only {_fmt_keys(keys)}"
        )
    arr = col.to_numpy()
    if arr.size > 1 and not bool(np.all(arr[1:] >= arr[:-1])):
        order = pc.sort_indices(data, sort_keys=[(key_column, "ascending")])
        data = data.take(order)
    return data


def _same_type(table_type: pa.DataType, written: pa.DataType) -> bool:
    """Equal, reading dictionary-encoded and large strings as the strings Delta stores."""
    def plain(kind: pa.DataType) -> pa.DataType:
        if pa.types.is_dictionary(kind):
            kind = kind.value_type
        return pa.string() if pa.types.is_large_string(kind) or pa.types.is_string_view(kind) else kind
    return plain(table_type) == plain(written)


def _is_disk_full(error: BaseException) -> bool:
    return getattr(error, "errno", None) == errno.ENOSPC or "No space left on device" in str(error)


def _fmt_keys(keys: list[int]) -> str:
    if len(keys) <= 6:
        return str(keys)
    return f"[{keys[0]}, {keys[1]}, ..., {keys[-1]}] ({len(keys)} keys)"


class Lakehouse:
    """A folder of Delta tables, one sub-folder per table, and the ledger of its commits.

    Reads see each table at its committed version (the ledger's); inside a transaction, the
    writer also sees its own uncommitted writes. Writes take the lakehouse's writer lock.
    """

    def __init__(
        self,
        root: str | Path,
        on_write: Callable[[str, object], None] | None = None,
        fingerprint: Mapping[str, str] | None = None,
    ) -> None:
        """``on_write(name, rows)`` sees exactly the rows of every write, just before it is
        committed (the data contracts validate there): a pyarrow Table, or what another writer
        passes to ``record_written``. ``fingerprint``: the configuration
        values the data depends on; a lakehouse made with other values refuses this writer."""
        self.root = Path(root).expanduser().resolve()
        self.on_write = on_write
        self.fingerprint = dict(fingerprint) if fingerprint is not None else None
        self._ledger = CommitLedger(self.root)
        self._lock = WriterLock(self.root)
        self._transaction: dict[str, int] | None = None  # table -> version written, not yet committed
        self._handles: dict[str, DeltaTable] = {}  # the writer's tables, updated incrementally while it holds the lock

    def __repr__(self) -> str:
        return f"Lakehouse({str(self.root)!r})"

    # ------------------------------------------------------------------ paths
    def table_path(self, name: str) -> str:
        """Absolute path of table ``name`` (``<root>/<name>``)."""
        if not isinstance(name, str) or not _TABLE_NAME_RE.match(name):
            raise ValueError(
                f"invalid table name {name!r}: use letters, digits and '_' "
                "(it is also the DuckDB view name)"
            )
        return str(self.root / name)

    def exists(self, name: str) -> bool:
        """True when table ``name`` has committed rows (or was written by the open transaction)."""
        return self._visible_version(name) is not None

    def tables(self) -> list[str]:
        """Names of the committed tables, sorted (the ledger itself excluded)."""
        return sorted(self.visible_versions())

    def visible_versions(self) -> dict[str, int]:
        """Each table's version readers see: the committed one, or the open transaction's."""
        return {**self.ledger_state().versions, **(self._transaction or {})}

    def ledger_state(self) -> LedgerState:
        """What the ledger has committed (tables, versions, configuration)."""
        return self._ledger.state(trust_cache=self._lock.held)

    def _visible_version(self, name: str) -> int | None:
        if self._transaction is not None and name in self._transaction:
            return self._transaction[name]
        return self.ledger_state().versions.get(name)

    def _table(self, name: str) -> DeltaTable:
        path = self.table_path(name)
        version = self._visible_version(name)
        if version is None:
            raise LookupError(f"Delta table {name!r} has no committed version in {self.root}")
        try:
            return DeltaTable(path, version=version)
        except Exception as error:  # deltalake raises TableNotFoundError or a generic error
            raise LakehouseStateError(
                f"table {name!r} cannot be read at its committed version {version} ({error}); "
                f"{self._way_out()}"
            ) from None

    def _to_dataset(
        self, name: str, dt: DeltaTable, file_pruning_predicate: str | None = None
    ) -> pads.Dataset:
        # Local tables: read through pyarrow's native LocalFileSystem instead of
        # delta-rs's Python-wrapped storage handler (DuckDB scans measured
        # ~1.4x faster that way).
        fs = pafs.SubTreeFileSystem(self.table_path(name), pafs.LocalFileSystem())
        return dt.to_pyarrow_dataset(filesystem=fs, file_pruning_predicate=file_pruning_predicate)

    # ---------------------------------------------------------- writer, commits
    @contextmanager
    def writing(self) -> Iterator[Lakehouse]:
        """Hold the writer lock (re-entrant). On taking it: refuse another configuration, then
        bring every table back to its committed version; nothing is written before both."""
        first = self._lock.acquire()
        try:
            if first:
                self._handles.clear()
                self._open_for_writing()
            yield self
        finally:
            self._lock.release()

    @contextmanager
    def transaction(self, operation: str, date_keys: Iterable[int] | None = None) -> Iterator[Lakehouse]:
        """Writes inside are committed together when the block ends without an exception: the
        ledger row written last is the commit. ``date_keys``: the days the batch covers."""
        if self._transaction is not None:
            raise RuntimeError("a lakehouse transaction is already open; nest the writes in it instead")
        keys = _normalise_keys(date_keys) if date_keys is not None else None
        with self.writing():
            self._transaction = {}
            try:
                yield self
                if self._transaction:
                    self._ledger.append(operation, keys[0] if keys else None, keys[-1] if keys else None,
                                        self._transaction, self.fingerprint)
            finally:
                self._transaction = None

    def check_configuration(self) -> None:
        """Raise ConfigurationDriftError when the lakehouse was made with other values than
        ``fingerprint``, naming each differing field and both values."""
        recorded = self.ledger_state().configuration
        if recorded is None or self.fingerprint is None:
            return
        differing = [(name, recorded.get(name, "(unset)"), self.fingerprint.get(name, "(unset)"))
                     for name in sorted(set(recorded) | set(self.fingerprint))
                     if recorded.get(name) != self.fingerprint.get(name)]
        if differing:
            fields = "; ".join(f"{name}: lakehouse {old}, requested {new}" for name, old, new in differing)
            raise ConfigurationDriftError(
                f"lakehouse {self.root} was made with another configuration ({fields}). Its days would no "
                "longer agree with each other: use the lakehouse's values (only the range may be extended), "
                "or write into a new lakehouse folder."
            )

    def _open_for_writing(self) -> None:
        self._ledger.state()  # re-read: another writer may have committed since this handle last looked
        if not self._ledger.exists():
            if self._stored_tables():
                raise LakehouseStateError(
                    f"{self.describe()} holds Delta tables but no commit ledger ({LEDGER_TABLE}): it was written by an "
                    "earlier version of retail-assets. Write into a new lakehouse folder, or delete this one "
                    "(make clean) and run again."
                )
            self._ledger.create()
        self.check_configuration()
        self._recover()

    # The tables' storage: folders written with delta-rs (``SparkLakehouse``: tables Spark keeps).
    def describe(self) -> str:
        """Where the tables are, for messages."""
        return str(self.root)

    def _stored_tables(self) -> list[str]:
        """The tables in storage, committed or not (the ledger excluded)."""
        if not self.root.is_dir():
            return []
        return [path.name for path in sorted(self.root.iterdir())
                if path.name != LEDGER_TABLE and _TABLE_NAME_RE.match(path.name) and (path / "_delta_log").is_dir()]

    def _current_version(self, name: str) -> int:
        return DeltaTable(self.table_path(name)).version()

    def _remove(self, name: str) -> None:
        shutil.rmtree(self.table_path(name))

    def _restore(self, name: str, version: int) -> None:
        DeltaTable(self.table_path(name)).restore(version)

    def verify(self) -> None:
        """Raise LakehouseStateError when a committed table, or its committed version, is lost."""
        self._compare(self.ledger_state())

    def _compare(self, state: LedgerState) -> tuple[list[str], dict[str, int]]:
        """The tables no commit knows, and the tables ahead of their committed version; raises
        when a committed table or version is missing."""
        found = self._stored_tables()
        problems = [f"{name} (missing; committed by {record.describe()})"
                    for name, record in state.tables.items() if name not in found]
        unknown, ahead = [], {}
        for name in found:
            record = state.tables.get(name)
            if record is None:
                unknown.append(name)
                continue
            try:
                current = self._current_version(name)
            except Exception:  # noqa: BLE001 - its log is gone or unreadable: as lost as a missing table
                current = -1
            if current < record.version:
                problems.append(f"{name} (at version {current}, committed {record.version} by {record.describe()})")
            elif current > record.version:
                ahead[name] = record.version
        if problems:
            raise LakehouseStateError(
                f"lakehouse {self.describe()}: the committed state of {', '.join(problems)} is lost (a deleted table "
                f"or Delta log entry). {self._way_out()}"
            )
        return unknown, ahead

    def _recover(self) -> None:
        """Tables ahead of the ledger (a batch cut short) go back to their committed version, and
        tables the ledger does not know (created by such a batch) are removed; a table behind the
        ledger (its committed version lost) stops the writer before it writes anything."""
        unknown, ahead = self._compare(self._ledger.state(trust_cache=True))
        for name in unknown:
            log.warning("removing %s from %s: created by a batch that was never committed", name, self.describe())
            self._remove(name)
        restored = {}
        for name, version in ahead.items():
            log.warning("restoring %s to its committed version %d (a batch was cut short)", name, version)
            self._restore(name, version)
            restored[name] = self._newest_version(name)
        if restored:
            self._ledger.append("recover", None, None, restored, self.fingerprint)

    def _way_out(self) -> str:
        return (f"Put back the lost files under {self.root} from a backup, or rebuild the lakehouse: delete the "
                "folder (make clean) and materialise the range again (same seed, same configuration: the same rows).")

    # ----------------------------------------------------------------- writes
    def _write(
        self,
        name: str,
        data: pa.Table,
        *,
        predicate: str | None,
        schema_mode: str | None,
        metadata: dict[str, Any],
    ) -> None:
        path = self.table_path(name)
        assert self._transaction is not None, "writes happen inside a transaction"
        committed = self._visible_version(name)
        if committed is not None and schema_mode is None:
            self._check_schema(name, data.schema)
        try:
            write_deltalake(
                path,
                data,
                mode="overwrite",
                predicate=predicate,
                schema_mode=schema_mode,  # type: ignore[arg-type]
                configuration=None if committed is not None else TABLE_CONFIGURATION,
                target_file_size=TARGET_FILE_SIZE,
                writer_properties=_writer_properties(),
                commit_properties=CommitProperties(custom_metadata=metadata),
            )
        except SchemaMismatchError as error:
            raise self._schema_error(name, str(error)) from None
        except OSError as error:
            raise self._storage_error(name, error) from None
        except Exception as error:  # delta-rs wraps I/O errors (ENOSPC reads "Failed to parse parquet")
            if _is_disk_full(error):
                raise self._storage_error(name, OSError(errno.ENOSPC, str(error))) from None
            raise
        self._transaction[name] = self._newest_version(name)

    def _newest_version(self, name: str) -> int:
        """The newest version on disk, through a handle kept while the lock is held: reading only
        the new log entries, not the whole log again (40 ms a table at 60 versions)."""
        handle = self._handles.get(name)
        if handle is None:
            handle = self._handles[name] = DeltaTable(self.table_path(name))
        else:
            handle.update_incremental()
        return handle.version()

    def _check_schema(self, name: str, schema: pa.Schema) -> None:
        """Refuse a column whose type differs from the committed table's (delta-rs would cast some)."""
        existing = pa.schema(self._table(name).schema().to_arrow())
        differing = [
            f"{field.name}: table {existing.field(field.name).type}, written {field.type}"
            for field in schema
            if field.name in existing.names and not _same_type(existing.field(field.name).type, field.type)
        ]
        missing = [column for column in existing.names if column not in schema.names]
        added = [column for column in schema.names if column not in existing.names]
        if differing or missing or added:
            details = "; ".join(differing + [f"missing {', '.join(missing)}"] * bool(missing)
                                + [f"new {', '.join(added)}"] * bool(added))
            raise self._schema_error(name, details)

    def _schema_error(self, name: str, details: str) -> ValueError:
        return ValueError(
            f"table {name!r} in {self.root} has another schema than this version writes ({details}); "
            "it was written by an older version or another configuration: write into a new lakehouse "
            "folder, or delete this one (make clean) and re-run from the first day"
        )

    def _storage_error(self, name: str, error: OSError) -> OSError:
        if error.errno == errno.ENOSPC or _is_disk_full(error):
            free = shutil.disk_usage(self.root).free / 2**20
            return OSError(errno.ENOSPC,
                           f"disk full writing table {name!r} under {self.root} ({free:,.0f} MiB free): nothing of "
                           "this batch is committed; free some space (or choose a --lakehouse on a larger disk) and "
                           "run the same range again")
        return OSError(error.errno, f"cannot write table {name!r} under {self.root}: {error}")

    def write_days(
        self,
        name: str,
        data: pa.Table,
        date_keys: Sequence[int],
        *,
        contiguous: bool = True,
        key_column: str = DATE_KEY,
    ) -> int:
        """Replace the rows of exactly ``date_keys`` in table ``name`` with ``data``.

        One Delta transaction (predicate overwrite on ``date_key``): rows of
        other days are untouched, days in ``date_keys`` without rows in
        ``data`` end up empty, and a retry of the same call is idempotent.
        Creates the table with ``data``'s schema on first write (also when
        ``data`` has 0 rows). ``date_key`` is stored as int32 (other integer
        types are cast) and rows are written sorted by it. Outside a
        ``transaction`` the write is committed on its own.

        ``contiguous=True`` (default) lets the predicate be the compact range
        ``date_key >= min AND date_key <= max``; it is used only when the keys
        are verified gap-free (consecutive integers or calendar days), so the
        replaced set is always exactly ``date_keys``.

        Raises ValueError, before anything is written, when a row of ``data``
        has a ``date_key`` not in ``date_keys`` (or null), or when a column's
        type differs from the existing table's.

        ``key_column`` names the int32 YYYYMMDD column holding the Dagster
        partition day (default ``date_key``; e.g. ``effective_date_key`` for
        dimension tables). Pass the same column to ``read``/``date_keys``.

        Returns the number of rows written.
        """
        return self.commit(self.prepare_days(name, data, date_keys, contiguous=contiguous, key_column=key_column))

    def prepare_days(
        self,
        name: str,
        data: pa.Table,
        date_keys: Sequence[int],
        *,
        contiguous: bool = True,
        key_column: str = DATE_KEY,
    ) -> PreparedWrite:
        """The checks and preparation of ``write_days`` (``on_write`` sees the rows here),
        without the commit: a caller may prepare on one thread and ``commit`` on another."""
        keys = _normalise_keys(date_keys)
        key_column = _check_key_column(key_column)
        data = _prepare_day_data(data, keys, key_column)
        if self.on_write is not None:
            self.on_write(name, data)
        predicate = day_predicate(keys, contiguous=contiguous, key_column=key_column)
        return PreparedWrite(name, data, predicate, {
            "retail_assets.operation": "write_days",
            "retail_assets.key_column": key_column,
            "retail_assets.date_keys": _fmt_keys(keys),
            "retail_assets.rows": data.num_rows,
        }, tuple(keys))

    def commit(self, prepared: PreparedWrite) -> int:
        """Write a prepared day replacement (one Delta commit); rows written. Inside a
        transaction it becomes visible with the transaction; outside, at once."""
        if self._transaction is None:
            with self.transaction("write_days", prepared.date_keys):
                return self.commit(prepared)
        self._write(prepared.name, prepared.data, predicate=prepared.predicate, schema_mode=None,
                    metadata=prepared.metadata)
        return prepared.data.num_rows

    def record(self, operation: str, date_keys: Iterable[int], versions: Mapping[str, int]) -> None:
        """A ledger entry that writes no table: ``operation`` over ``date_keys`` used the tables at
        ``versions``, their committed ones (what was published elsewhere, and from where)."""
        keys = _normalise_keys(date_keys)
        with self.writing():
            self._ledger.append(operation, keys[0], keys[-1], dict(versions), self.fingerprint)

    def record_written(self, name: str, version: int, date_keys: Sequence[int], *, key_column: str = DATE_KEY,
                       rows: object = None) -> None:
        """Inside a transaction: table ``name`` was written up to ``version`` by another writer
        of this process (Spark, under this process's lock), replacing ``date_keys``; it commits
        with the transaction. ``on_write`` sees ``rows``, what the writer says of its rows (Spark:
        where they are stored, to be judged there), else the rows of those days read back here."""
        self.table_path(name)
        if self._transaction is None:
            raise RuntimeError(f"record_written({name!r}) outside a transaction: open one around the writes")
        self._handles.pop(name, None)  # its log moved without this handle
        self._transaction[name] = int(version)
        if self.on_write is not None:
            self.on_write(name, rows if rows is not None else self.read(name, date_keys, key_column=key_column))

    def replace_all(self, name: str, data: pa.Table) -> int:
        """Overwrite the whole table ``name`` with ``data`` (one transaction).

        For tables that are not day-keyed (dimensions, ...). The schema may
        change between calls (``schema_mode="overwrite"``). Returns rows written.
        """
        if not isinstance(data, pa.Table):
            raise TypeError(f"data must be a pyarrow.Table, got {type(data).__name__}")
        _check_no_null_columns(data)
        if self._transaction is None:
            with self.transaction("replace_all"):
                return self.replace_all(name, data)
        if self.on_write is not None:
            self.on_write(name, data)
        self._write(
            name,
            data,
            predicate=None,
            schema_mode="overwrite",
            metadata={"retail_assets.operation": "replace_all", "retail_assets.rows": data.num_rows},
        )
        return data.num_rows

    # ------------------------------------------------------------------ reads
    def dataset(
        self,
        name: str,
        date_keys: Iterable[int] | None = None,
        *,
        key_column: str = DATE_KEY,
    ) -> pads.Dataset:
        """pyarrow Dataset of the current version of ``name``.

        With ``date_keys`` only the files whose date_key statistics may
        contain those days are included (pruned from the Delta log); rows are
        NOT filtered — use :meth:`read` for exact rows.
        """
        dt = self._table(name)
        if date_keys is None:
            return self._to_dataset(name, dt)
        return self._to_dataset(name, dt, day_predicate(date_keys, key_column=key_column))

    def read(
        self,
        name: str,
        date_keys: Sequence[int] | None = None,
        columns: list[str] | None = None,
        *,
        key_column: str = DATE_KEY,
    ) -> pa.Table:
        """Read table ``name`` (optionally only ``date_keys`` and ``columns``).

        File pruning happens on the Delta log statistics, then rows are
        filtered exactly. ``date_keys=[]`` returns an empty table. Strings
        come back as plain ``string`` even if written dictionary-encoded.
        Raises LookupError when the table does not exist.
        """
        dt = self._table(name)
        if date_keys is None:
            return self._to_dataset(name, dt).to_table(columns=columns)
        keys = sorted({int(k) for k in date_keys})
        if not keys:
            schema = pa.schema(dt.schema().to_arrow())
            if columns is not None:
                schema = pa.schema([schema.field(c) for c in columns])
            return schema.empty_table()
        ds = self._to_dataset(name, dt, day_predicate(keys, key_column=key_column))
        return ds.to_table(columns=columns, filter=pc.field(key_column).isin(keys))

    def date_keys(self, name: str, *, key_column: str = DATE_KEY) -> set[int]:
        """Distinct date_keys (values of ``key_column``) present in ``name``;
        reads only that column, batch by batch. Raises LookupError when the
        table does not exist."""
        ds = self._to_dataset(name, self._table(name))
        out: set[int] = set()
        for batch in ds.to_batches(columns=[_check_key_column(key_column)]):
            if batch.num_rows:
                out.update(pc.unique(batch.column(0)).drop_null().to_pylist())
        return out

    def version(self, name: str) -> int:
        """Committed Delta version of ``name`` (LookupError if it has none)."""
        return self._table(name).version()

    # ------------------------------------------------------------ maintenance
    def compact(self, name: str) -> dict[str, Any]:
        """Bin-pack small files (order preserved, so files stay clustered by
        date_key) as one commit, then vacuum everything unreferenced with zero
        retention (a second commit).

        Old versions become unreadable (no time travel): never run it while
        another process reads this table. Returns the optimize metrics plus
        ``vacuumed_files``.
        """
        path = self.table_path(name)
        with self.transaction("compact"):  # the lock is held and the table is at its committed version
            metrics = self._table(name).optimize.compact(
                target_size=TARGET_FILE_SIZE,
                writer_properties=_writer_properties(),
            )
            self._transaction[name] = self._newest_version(name)  # type: ignore[index]
        with self.transaction("vacuum"):  # after the commit: a crash never needs the vacuumed files back
            removed = DeltaTable(path).vacuum(
                retention_hours=0,
                dry_run=False,
                enforce_retention_duration=False,
                full=True,
            )
            self._transaction[name] = self._newest_version(name)  # type: ignore[index]
        metrics["vacuumed_files"] = len(removed)
        return metrics

    # ------------------------------------------------------------------- SQL
    def duckdb_connection(self) -> duckdb.DuckDBPyConnection:
        """In-memory DuckDB connection with one view per committed table, at its
        committed version (a batch cut short never shows), and the ledger's view
        ``_lakehouse_commits``.

        Each view scans the table's pyarrow Dataset (the DuckDB ``delta``
        extension is not installed and nothing may be downloaded), with
        filter/projection push-down. The views are a snapshot of the table
        versions at call time: call again after writes, and do not compact a
        table while a connection built before the compaction is in use.
        """
        con = duckdb.connect(database=":memory:")
        con.execute(DUCKDB_MACROS)  # day_of_key(date_key), key_of_day(date), rollup_money(x)
        for name in self.tables():
            con.register(name, self._to_dataset(name, self._table(name)))
        if self._ledger.exists():
            con.register(LEDGER_TABLE, self._to_dataset(LEDGER_TABLE, DeltaTable(str(self._ledger.path))))
        return con
