"""The lakehouse's committed tables as SQL, on DuckDB or on Spark: what the rules query.

Both answer the same SQL (``portable_sql``: DuckDB's dialect, transpiled for Spark) over the
tables at the versions the commit ledger holds, so a batch cut short never shows and a rule
gives the same outcome on either store.
"""

from __future__ import annotations

from typing import Protocol

from retail_assets.portable_sql import tables_read, to_spark
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.spark_tables import SparkTables


class Queries(Protocol):
    def one(self, sql: str) -> tuple:
        """The first row of ``sql``'s result."""

    def rows(self, sql: str, limit: int) -> list[dict]:
        """At most ``limit`` rows of ``sql``'s result, as column -> value."""

    def close(self) -> None: ...


class DuckDbQueries:
    """In-process DuckDB over the lakehouse's tables (``Lakehouse.duckdb_connection``)."""

    def __init__(self, lakehouse: Lakehouse):
        self.connection = lakehouse.duckdb_connection()

    def one(self, sql: str) -> tuple:
        return self.connection.execute(sql).fetchall()[0]

    def rows(self, sql: str, limit: int) -> list[dict]:
        relation = self.connection.sql(sql)
        return [dict(zip(relation.columns, row)) for row in relation.limit(limit).fetchall()]

    def close(self) -> None:
        self.connection.close()


class SparkQueries:
    """A Spark session over the lakehouse's tables: each table a query reads becomes a temporary
    view of its Delta table at the ledger's version (time travel), registered on first use."""

    def __init__(self, spark, lakehouse: Lakehouse, tables: SparkTables | None = None):
        self.spark = spark
        self.tables = tables or SparkTables(path=str(lakehouse.root))
        self.versions = lakehouse.ledger_state().versions
        self.views: set[str] = set()

    def frame(self, sql: str):
        """``sql`` as a Spark DataFrame (lazy: nothing runs until it is written or collected)."""
        for name in sorted(tables_read(sql) - self.views):
            if name not in self.versions:
                raise LookupError(f"table {name} has no committed version in the lakehouse")
            self.tables.read(self.spark, name, self.versions[name]).createOrReplaceTempView(name)
            self.views.add(name)
        return self.spark.sql(to_spark(sql))

    def one(self, sql: str) -> tuple:
        return tuple(self.frame(sql).first())

    def rows(self, sql: str, limit: int) -> list[dict]:
        return [row.asDict() for row in self.frame(sql).limit(limit).collect()]

    def close(self) -> None:
        for name in self.views:
            self.spark.catalog.dropTempView(name)
        self.views.clear()
