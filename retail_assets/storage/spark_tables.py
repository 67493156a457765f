"""Tables written by Spark, as Delta tables (delta-spark): what analysts query with Spark.

On Databricks the chain's tables are Unity Catalog tables ``catalog.schema.table``
(``saveAsTable``); locally, Delta tables in folders under a path. Either way Spark writes them
from the executors, and a re-run of days replaces exactly those days (``replaceWhere`` on the
partition column's days), as the local lakehouse's predicate overwrite does. A folder table is
an ordinary Delta table: delta-rs and DuckDB read the very rows Spark wrote.

Catalog, schema and table names reach SQL, so they must be plain identifiers: a name that is
not is refused before anything is written, with the field named.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from retail_assets.storage.delta import TABLE_CONFIGURATION, day_predicate

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")


def identifier(value: str, field: str) -> str:
    """``value`` when it is a plain SQL identifier; a ValueError naming ``field`` otherwise."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise ValueError(f"{field}={value!r} is not a plain identifier: use letters, digits and underscores, "
                         "not starting with a digit (at most 255 characters)")
    return value


@dataclass(frozen=True)
class SparkTables:
    """Where Spark writes Delta tables: Unity Catalog ``catalog.schema``, or a folder ``path``."""

    catalog: str | None = None
    schema: str | None = None
    path: str | None = None

    def __post_init__(self):
        if self.path is None:
            if self.catalog is None or self.schema is None:
                raise ValueError("set catalog and schema (Unity Catalog tables) or path (a folder of tables)")
            identifier(self.catalog, "catalog")
            identifier(self.schema, "schema")

    def location(self, table: str) -> str:
        """What Spark's reader and writer take: the table's folder, or its catalog name."""
        name = identifier(table, "table")
        return f"{self.path.rstrip('/')}/{name}" if self.path else f"`{self.catalog}`.`{self.schema}`.`{name}`"

    def sql_name(self, table: str) -> str:
        """The table in Spark SQL: ``delta.`folder``` or ``catalog.schema.table``."""
        if not self.path:
            return self.location(table)
        folder = self.location(table)
        if "`" in folder:
            raise ValueError(f"path={self.path!r} contains a backtick, which Spark SQL cannot quote")
        return f"delta.`{folder}`"

    def read(self, spark, table: str, version: int | None = None):
        """The table as a DataFrame, at ``version`` (time travel) when given."""
        reader = spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", int(version))
        return reader.load(self.location(table)) if self.path else reader.table(self.location(table))

    def version(self, spark, table: str) -> int:
        """The table's newest Delta version (``DESCRIBE HISTORY``: classic and Spark Connect alike)."""
        return self.last_write(spark, table)[0]

    def last_write(self, spark, table: str) -> tuple[int, int]:
        """The table's newest Delta version and the new rows that commit wrote (its operation
        metrics: the rows output less those copied from the files a ``replaceWhere`` rewrote)."""
        newest = spark.sql(f"DESCRIBE HISTORY {self.sql_name(table)} LIMIT 1").select(
            "version", "operationMetrics").first()
        metrics = newest[1] or {}
        return int(newest[0]), int(metrics.get("numOutputRows", 0)) - int(metrics.get("numCopiedRows", 0))

    def create_if_missing(self, spark, table: str, schema, properties: dict[str, str]) -> None:
        """Create ``table`` with the declared columns' nullability (a DataFrame write would make
        every column nullable) and ``properties``, unless it exists."""
        columns = ", ".join(f"`{identifier(field.name, 'column')}` {field.dataType.simpleString()}"
                            f"{'' if field.nullable else ' NOT NULL'}" for field in schema.fields)
        settings = ", ".join(f"'{key}' = '{value}'" for key, value in properties.items())
        spark.sql(f"CREATE TABLE IF NOT EXISTS {self.sql_name(table)} ({columns}) USING DELTA"
                  + (f" TBLPROPERTIES ({settings})" if settings else ""))

    def write(self, frame, table: str, schema, keys: Sequence[int], partition_column: str) -> tuple[int, int]:
        """``table`` created if missing (the declared ``schema``, the lakehouse's table settings),
        then its partitions ``keys`` replaced with ``frame``'s rows (``replace_days``)."""
        self.create_if_missing(frame.sparkSession, table, schema, TABLE_CONFIGURATION)
        return self.replace_days(frame, table, keys, partition_column)

    def replace_days(self, frame, table: str, keys: Sequence[int], partition_column: str) -> tuple[int, int]:
        """Replace exactly the partitions ``keys`` of ``table`` with ``frame``'s rows, written by
        the executors (``replaceWhere``: the lakehouse's own day predicate); the Delta version that
        holds them and the rows written."""
        writer = (frame.write.format("delta").mode("overwrite")
                  .option("replaceWhere", day_predicate(keys, key_column=identifier(partition_column, "column"))))
        if self.path:
            writer.save(self.location(table))
        else:
            writer.saveAsTable(self.location(table))
        return self.last_write(frame.sparkSession, table)
