"""The lakehouse's tables as SQL, on DuckDB or on Spark: what the rules query and the rollups write.

Both answer the same SQL (``portable_sql``: DuckDB's dialect, transpiled for Spark) over the
tables at the versions readers see (the ledger's, or the open transaction's), so a batch cut
short never shows and a rule gives the same outcome on either store. ``replace_days`` writes a
query's rows over days of a declared table: on DuckDB the rows pass through this process to
delta-rs; on Spark the executors compute and write them, and this process reads back only the
new version and the row count (and the rows, when the ledger validates them).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa

from retail_assets.portable_sql import tables_read, to_spark
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.spark_tables import SparkTables
from retail_assets.table_model import ETL_TIMESTAMP, Table


class Queries(Protocol):
    temporary_tables: bool  # whether ``execute`` may create and change temporary tables

    def one(self, sql: str) -> tuple:
        """The first row of ``sql``'s result."""

    def rows(self, sql: str, limit: int | None = None) -> list[dict]:
        """``sql``'s result (at most ``limit`` rows), as column -> value."""

    def arrow_schema(self, name: str) -> pa.Schema:
        """The columns of table ``name`` as stored."""

    def replace_days(self, declared: Table, sql: str, keys: Sequence[int], stamp: pa.Scalar) -> int:
        """Inside the lakehouse's transaction: exactly the partitions ``keys`` of ``declared``
        replaced with the rows of ``sql``, stamped; the rows written."""

    def close(self) -> None: ...


@dataclass(frozen=True)
class StoredDays:
    """Days of a table that another writer (Spark) committed, to be judged where they are stored:
    what that writer hands the lakehouse's ``on_write`` hook instead of the rows themselves.
    ``open_queries`` opens SQL over the lakehouse's tables at the versions readers now see."""

    open_queries: Callable[[], Queries]
    keys: tuple[int, ...]
    key_column: str


class DuckDbQueries:
    """In-process DuckDB over the lakehouse's tables (``Lakehouse.duckdb_connection``)."""

    temporary_tables = True

    def __init__(self, lakehouse: Lakehouse):
        self.lakehouse = lakehouse
        self.connection = lakehouse.duckdb_connection()

    def one(self, sql: str) -> tuple:
        return self.connection.execute(sql).fetchall()[0]

    def rows(self, sql: str, limit: int | None = None) -> list[dict]:
        relation = self.connection.sql(sql)
        relation = relation if limit is None else relation.limit(limit)
        return [dict(zip(relation.columns, row)) for row in relation.fetchall()]

    def execute(self, sql: str) -> None:
        """A statement without result (temporary tables)."""
        self.connection.execute(sql)

    def arrow(self, sql: str) -> pa.Table:
        return self.connection.sql(sql).to_arrow_table()

    def arrow_schema(self, name: str) -> pa.Schema:
        return self.arrow(f"SELECT * FROM {name} LIMIT 0").schema

    def generated_rows(self, declared: Table, sql: str) -> pa.Table:
        """``sql``'s rows as ``declared``'s generated rows (``Table.select_generated``)."""
        return declared.select_generated(self.arrow(sql))

    def replace_days(self, declared: Table, sql: str, keys: Sequence[int], stamp: pa.Scalar) -> int:
        rows = self.generated_rows(declared, sql)
        return self.lakehouse.write_days(declared.name, declared.conform(rows, stamp), keys,
                                         key_column=declared.partition_column)

    def close(self) -> None:
        self.connection.close()


class SparkQueries:
    """A Spark session over the lakehouse's tables: each table a query reads becomes a temporary
    view of its Delta table at the version readers see (time travel), registered on first use
    under a name of this object's own, so that several may be open on one session."""

    temporary_tables = False
    _opened = itertools.count()

    def __init__(self, spark, lakehouse: Lakehouse, tables: SparkTables | None = None):
        self.spark = spark
        self.lakehouse = lakehouse
        self.tables = tables or SparkTables(path=str(lakehouse.root))
        self.versions = lakehouse.visible_versions()
        self.views: dict[str, str] = {}  # table -> its temporary view
        self._prefix = f"retail_q{next(self._opened)}_"

    def frame(self, sql: str):
        """``sql`` as a Spark DataFrame (lazy: nothing runs until it is written or collected)."""
        for name in sorted(tables_read(sql) - self.views.keys()):
            if name not in self.versions:
                raise LookupError(f"table {name} has no committed version in the lakehouse")
            view = self._prefix + name
            self.tables.read(self.spark, name, self.versions[name]).createOrReplaceTempView(view)
            self.views[name] = view
        return self.spark.sql(to_spark(sql, tuple(sorted(self.views.items()))))

    def arrow_schema(self, name: str) -> pa.Schema:
        from pyspark.sql.pandas.types import to_arrow_schema

        schema = self.frame(f"SELECT * FROM {name}").schema
        try:
            return to_arrow_schema(schema, timezone="UTC")  # PySpark 4 asks the timestamps' zone
        except TypeError:
            return to_arrow_schema(schema)  # PySpark 3.5: UTC

    def one(self, sql: str) -> tuple:
        return tuple(self.frame(sql).first())

    def rows(self, sql: str, limit: int | None = None) -> list[dict]:
        frame = self.frame(sql)
        return [row.asDict() for row in (frame if limit is None else frame.limit(limit)).collect()]

    def replace_days(self, declared: Table, sql: str, keys: Sequence[int], stamp: pa.Scalar) -> int:
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        schema = from_arrow_schema(declared.arrow_schema)
        frame = self.frame(sql).select(*[
            (F.lit(stamp.as_py()) if field.name == ETL_TIMESTAMP else F.col(field.name)).cast(field.dataType)
            .alias(field.name) for field in schema.fields])
        version, rows = self.tables.write(frame, declared.name, schema, keys, declared.partition_column)
        self.lakehouse.record_written(declared.name, version, keys, key_column=declared.partition_column,
                                      rows=StoredDays(self.reopened, tuple(keys), declared.partition_column))
        return rows

    def reopened(self) -> "SparkQueries":
        """Another ``SparkQueries`` on the same session and tables, at the versions readers now see."""
        return SparkQueries(self.spark, self.lakehouse, self.tables)

    def close(self) -> None:
        for view in self.views.values():
            self.spark.catalog.dropTempView(view)
        self.views.clear()
