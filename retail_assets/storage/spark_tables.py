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
import os
from dataclasses import dataclass, field

from retail_assets.storage.delta import TABLE_CONFIGURATION, day_predicate

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
CATALOG_SCHEMA_FOLDER = "_spark/schema"  # a registered schema's own folder, under the path: it holds no table


def identifier(value: str, field: str) -> str:
    """``value`` when it is a plain SQL identifier; a ValueError naming ``field`` otherwise."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise ValueError(f"{field}={value!r} is not a plain identifier: use letters, digits and underscores, "
                         "not starting with a digit (at most 255 characters)")
    return value


@dataclass(frozen=True)
class SparkTables:
    """Where Spark writes Delta tables: Unity Catalog ``catalog.schema``, or a folder ``path``;
    with both, the folder's tables are also registered as ``catalog.schema.table`` (locally the
    session's ``spark_catalog``), so that Spark users query them by name."""

    catalog: str | None = None
    schema: str | None = None
    path: str | None = None
    _registered: set[str] = field(default_factory=set, compare=False, repr=False)  # tables registered by this object
    _created: set[str] = field(default_factory=set, compare=False, repr=False)  # tables known to exist
    _schema_ready: set[str] = field(default_factory=set, compare=False, repr=False)  # the catalog's schema exists

    def __post_init__(self):
        if (self.catalog is None) != (self.schema is None):
            raise ValueError("set catalog and schema together")
        if self.path is None and self.catalog is None:
            raise ValueError("set catalog and schema (Unity Catalog tables) or path (a folder of tables)")
        if self.catalog is not None:
            identifier(self.catalog, "catalog")
            identifier(self.schema, "schema")

    def describe(self) -> str:
        """Where the tables are, for messages."""
        return self.path if self.path else f"{self.catalog}.{self.schema}"

    def exists(self, spark, table: str) -> bool:
        """Whether ``table`` exists: a Delta table in its folder, or the name in the catalog."""
        if self.path:
            return os.path.isdir(os.path.join(self.location(table), "_delta_log"))
        return spark.catalog.tableExists(f"{self.catalog}.{self.schema}.{identifier(table, 'table')}")

    def names(self, spark) -> list[str]:
        """The tables there, sorted (the schema is created if missing)."""
        if self.path:
            return sorted(name for name in (os.listdir(self.path) if os.path.isdir(self.path) else [])
                          if IDENTIFIER.fullmatch(name) and self.exists(spark, name))
        self.create_schema(spark)
        rows = spark.sql(f"SHOW TABLES IN `{self.catalog}`.`{self.schema}`").collect()
        return sorted(row["tableName"] for row in rows if not row["isTemporary"])

    def create_schema(self, spark) -> None:
        """The catalog's schema, created if missing (catalog tables only), once per object."""
        if self.path is None and not self._schema_ready:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{self.catalog}`.`{self.schema}`")
            self._schema_ready.add(self.schema)

    def catalog_name(self, table: str) -> str:
        """``catalog.schema.table``, quoted."""
        return f"`{self.catalog}`.`{self.schema}`.`{identifier(table, 'table')}`"

    def location(self, table: str) -> str:
        """What Spark's reader and writer take: the table's folder, or its catalog name."""
        name = identifier(table, "table")
        return f"{self.path.rstrip('/')}/{name}" if self.path else self.catalog_name(name)

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
        every column nullable) and ``properties``, unless it exists (asked once per object: each
        question is a Delta snapshot, and a batch writes fourteen tables)."""
        if table in self._created:
            return
        columns = ", ".join(f"`{identifier(field.name, 'column')}` {field.dataType.simpleString()}"
                            f"{'' if field.nullable else ' NOT NULL'}" for field in schema.fields)
        settings = ", ".join(f"'{key}' = '{value}'" for key, value in properties.items())
        self.create_schema(spark)
        spark.sql(f"CREATE TABLE IF NOT EXISTS {self.sql_name(table)} ({columns}) USING DELTA"
                  + (f" TBLPROPERTIES ({settings})" if settings else ""))
        if self.path and self.catalog:
            self.register(spark, table)
        self._created.add(table)

    def register(self, spark, table: str) -> None:
        """The folder's table named ``catalog.schema.table`` in the session's catalog (an external
        table: its rows stay in the folder, which DuckDB and delta-rs read too), once per object.
        A name already given to another folder is refused, naming both: the catalog may be shared."""
        if table in self._registered:
            return
        folder, name = self.location(table), self.catalog_name(table)
        if "'" in folder:
            raise ValueError(f"path={self.path!r} contains a quote, which a table LOCATION cannot hold")
        spark.sql(f"CREATE SCHEMA IF NOT EXISTS `{self.catalog}`.`{self.schema}`"
                  f" LOCATION '{self.path.rstrip('/')}/{CATALOG_SCHEMA_FOLDER}'")
        spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING DELTA LOCATION '{folder}'")
        registered_at = spark.sql(f"DESCRIBE DETAIL {name}").select("location").first()[0]
        if _folder(registered_at) != _folder(folder):
            raise ValueError(f"{name} already names the table at {registered_at}, not this lakehouse's {folder}: "
                             f"register this lakehouse under another schema, or DROP TABLE {name} (its rows stay)")
        self._registered.add(table)

    def write(self, frame, table: str, schema, keys: Sequence[int], partition_column: str) -> tuple[int, int]:
        """``table`` created if missing (the declared ``schema``, the lakehouse's table settings),
        then its partitions ``keys`` replaced with ``frame``'s rows (``replace_days``)."""
        self.create_if_missing(frame.sparkSession, table, schema, TABLE_CONFIGURATION)
        return self.replace_days(frame, table, keys, partition_column)

    def append(self, frame, table: str) -> None:
        """Append ``frame``'s rows to ``table`` (one Delta commit)."""
        if self.path:
            frame.write.format("delta").mode("append").save(self.location(table))
        else:
            frame.writeTo(self.location(table)).append()

    def replace_days(self, frame, table: str, keys: Sequence[int], partition_column: str) -> tuple[int, int]:
        """Replace exactly the partitions ``keys`` of ``table`` with ``frame``'s rows, written by
        the executors (``replaceWhere``: the lakehouse's own day predicate); the Delta version that
        holds them and the rows written."""
        predicate = day_predicate(keys, key_column=identifier(partition_column, "column"))
        if self.path:
            frame.write.format("delta").mode("overwrite").option("replaceWhere", predicate).save(self.location(table))
        else:  # Spark 3.5 refuses saveAsTable's replaceWhere on a catalog table ("truncate in batch mode")
            from pyspark.sql import functions as F

            frame.writeTo(self.location(table)).overwrite(F.expr(predicate))
        return self.last_write(frame.sparkSession, table)


def _folder(location: str) -> str:
    """A table location as a plain absolute folder (``file:`` URIs and trailing slashes dropped)."""
    return os.path.normpath(location.removeprefix("file://").removeprefix("file:"))
