"""Tables written by Spark, as Delta tables (delta-spark): what analysts query with Spark.

On Databricks the chain's tables are Unity Catalog tables ``catalog.schema.table``
(``saveAsTable``); locally, Delta tables in folders under a path. Either way Spark writes them
from the executors, and a re-run of days replaces exactly those days (``replaceWhere`` on the
partition column's range), as the local lakehouse's predicate overwrite does. A folder table is
an ordinary Delta table: delta-rs and DuckDB read the very rows Spark wrote.

Catalog, schema and table names reach SQL, so they must be plain identifiers: a name that is
not is refused before anything is written, with the field named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

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
        name = identifier(table, "table")
        return f"{self.path.rstrip('/')}/{name}" if self.path else f"`{self.catalog}`.`{self.schema}`.`{name}`"

    def replace_days(self, frame, table: str, partition_column: str, first_key: int, last_key: int) -> int:
        """Replace the days first_key..last_key of ``table`` with ``frame``'s rows; the Delta
        version that holds them (from the table's history, through delta-spark)."""
        from delta.tables import DeltaTable

        column = identifier(partition_column, "partition column")
        writer = (frame.write.format("delta").mode("overwrite")
                  .option("replaceWhere", f"{column} BETWEEN {int(first_key)} AND {int(last_key)}"))
        location, spark = self.location(table), frame.sparkSession
        if self.path:
            writer.save(location)
            written = DeltaTable.forPath(spark, location)
        else:
            writer.saveAsTable(location)
            written = DeltaTable.forName(spark, location)
        return written.history(1).first()["version"]
