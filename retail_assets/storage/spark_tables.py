"""Tables written by Spark: what analysts query on Databricks.

On Databricks the chain's tables become Delta tables ``catalog.schema.table`` in Unity Catalog
(``saveAsTable``); a re-run of days replaces exactly those days (``replaceWhere`` on the
partition column's range), as the local lakehouse's predicate overwrite does. Where the Delta
jars are absent (this machine: no Maven), the same writer produces Parquet folders under a
path, replacing the written days' partitions (dynamic partition overwrite).

Catalog, schema and table names reach SQL, so they must be plain identifiers: a name that is
not is refused before anything is written, with the field named.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,254}")
FORMATS = ("delta", "parquet")


def identifier(value: str, field: str) -> str:
    """``value`` when it is a plain SQL identifier; a ValueError naming ``field`` otherwise."""
    if not isinstance(value, str) or not IDENTIFIER.fullmatch(value):
        raise ValueError(f"{field}={value!r} is not a plain identifier: use letters, digits and underscores, "
                         "not starting with a digit (at most 255 characters)")
    return value


@dataclass(frozen=True)
class SparkTables:
    """Where Spark writes: Unity Catalog ``catalog.schema`` (Delta), or a folder ``path``."""

    catalog: str | None = None
    schema: str | None = None
    path: str | None = None
    format: str = "delta"

    def __post_init__(self):
        if self.format not in FORMATS:
            raise ValueError(f"format={self.format!r}; allowed: {', '.join(FORMATS)}")
        if self.path is None:
            if self.catalog is None or self.schema is None:
                raise ValueError("set catalog and schema (Unity Catalog tables) or path (a folder of tables)")
            identifier(self.catalog, "catalog")
            identifier(self.schema, "schema")
            if self.format != "delta":
                raise ValueError("catalog tables are written as Delta; use path for Parquet")

    def location(self, table: str) -> str:
        name = identifier(table, "table")
        return f"{self.path.rstrip('/')}/{name}" if self.path else f"`{self.catalog}`.`{self.schema}`.`{name}`"

    def replace_days(self, frame, table: str, partition_column: str, first_key: int, last_key: int) -> None:
        """Replace the days first_key..last_key of ``table`` with ``frame``'s rows."""
        column = identifier(partition_column, "partition column")
        writer = frame.write.format(self.format).mode("overwrite")
        if self.format == "delta":
            writer = writer.option("replaceWhere", f"{column} BETWEEN {int(first_key)} AND {int(last_key)}")
        else:
            writer = writer.partitionBy(column).option("partitionOverwriteMode", "dynamic")
        if self.path:
            writer.save(self.location(table))
        else:
            writer.saveAsTable(self.location(table))
