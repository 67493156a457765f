"""A lakehouse whose tables and commit ledger Spark keeps: Unity Catalog tables on Databricks.

The commit protocol is the folder lakehouse's (``storage.delta.Lakehouse``): a batch's tables are
written first and committed by its ledger rows, written last; readers see each table at the
ledger's version; the next writer restores the tables a cut-short batch left ahead
(``RESTORE TABLE``) and drops those it created. Only the storage differs: every table, the ledger
included, is a Delta table that Spark writes where ``SparkTables`` says (managed tables
``catalog.schema.table``, or folders), so the process holding the session needs no access to the
tables' files: on Databricks, nothing but the cluster's session.

One writer at a time: this process's lock is re-entrant and exclusive on its own machine only;
between Databricks jobs it is the Dagster writer pool (one step at a time) that keeps writers apart.
"""

from __future__ import annotations

import hashlib
import shutil
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path

import pyarrow as pa

from retail_assets.storage.commits import LEDGER_SCHEMA, LEDGER_TABLE, CommitLedger
from retail_assets.storage.delta import TABLE_CONFIGURATION, Lakehouse
from retail_assets.storage.lock import WriterLock
from retail_assets.storage.spark_tables import SparkTables


class SparkCommitLedger(CommitLedger):
    """The commit ledger as a Delta table that Spark reads and appends to, beside the tables."""

    def __init__(self, spark, tables: SparkTables):
        super().__init__(root=None)  # no folder of its own: its storage is the hooks below
        self.spark, self.tables = spark, tables

    def exists(self) -> bool:
        return self.tables.exists(self.spark, LEDGER_TABLE)

    def create(self) -> None:
        from pyspark.sql.pandas.types import from_arrow_schema

        self.tables.create_if_missing(self.spark, LEDGER_TABLE, from_arrow_schema(LEDGER_SCHEMA), TABLE_CONFIGURATION)
        self._state = None

    def _version(self) -> int:
        return self.tables.version(self.spark, LEDGER_TABLE)

    def _rows(self, version: int) -> list[dict]:
        return [row.asDict() for row in self.tables.read(self.spark, LEDGER_TABLE, version).collect()]

    def _append(self, rows: pa.Table) -> int:
        from pyspark.sql.pandas.types import from_arrow_schema

        frame = self.spark.createDataFrame(rows.to_pylist(), from_arrow_schema(LEDGER_SCHEMA))
        self.tables.append(frame, LEDGER_TABLE)
        return self._version()


class SparkLakehouse(Lakehouse):
    """A lakehouse stored by Spark in ``tables``; ``root`` is a folder for the engine's scratch
    (the Spark engine's block rows), which every executor must reach (on Databricks, a volume)."""

    def __init__(self, root: str | Path, spark, tables: SparkTables,
                 on_write: Callable[[str, object], None] | None = None, fingerprint: Mapping[str, str] | None = None):
        super().__init__(root, on_write, fingerprint)
        self.spark, self.tables = spark, tables
        self._ledger = SparkCommitLedger(spark, tables)
        store = hashlib.sha256(repr((tables.catalog, tables.schema, tables.path)).encode()).hexdigest()[:16]
        self._lock = WriterLock(Path(tempfile.gettempdir()) / "retail_assets" / store)

    def __repr__(self) -> str:
        return f"SparkLakehouse({self.tables.describe()})"

    # The storage hooks of ``Lakehouse``, in Spark.
    def describe(self) -> str:
        return self.tables.describe()

    def _stored_tables(self) -> list[str]:
        return [name for name in self.tables.names(self.spark) if name != LEDGER_TABLE]

    def _current_version(self, name: str) -> int:
        return self.tables.version(self.spark, name)

    def _remove(self, name: str) -> None:
        if self.tables.path:
            shutil.rmtree(self.tables.location(name))
        else:
            self.spark.sql(f"DROP TABLE IF EXISTS {self.tables.sql_name(name)}")

    def _restore(self, name: str, version: int) -> None:
        self.spark.sql(f"RESTORE TABLE {self.tables.sql_name(name)} TO VERSION AS OF {int(version)}")

    def _newest_version(self, name: str) -> int:
        return self.tables.version(self.spark, name)
