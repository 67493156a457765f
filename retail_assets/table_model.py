"""The vocabulary of table declarations: Column, Table and the Arrow types they use.

Kept apart from the declarations themselves so that every declaration module (facts and
dimensions in ``tables``, aggregates in ``rollup_tables``) can import it without cycles.
"""
from __future__ import annotations

import datetime as dt

from dataclasses import dataclass

import pyarrow as pa

STRING, INT32, INT64, FLOAT64, BOOL, DATE = pa.string(), pa.int32(), pa.int64(), pa.float64(), pa.bool_(), pa.date32()
TIMESTAMP = pa.timestamp("us", tz="UTC")
ETL_TIMESTAMP = "etl_timestamp"  # the one column that differs between two runs of the same config


# Conformed foreign keys: a column with one of these names holds the key of that dimension.
DIMENSION_KEYS = {
    "customer_key": ("gold_customer_dim", "customer_key"),
    "product_key": ("gold_product_dim", "product_key"),
    "substitute_product_key": ("gold_product_dim", "product_key"),
    "location_key": ("gold_location_dim", "location_key"),
    "from_location_key": ("gold_location_dim", "location_key"),
    "to_location_key": ("gold_location_dim", "location_key"),
    "channel_key": ("gold_channel_dim", "channel_key"),
    "time_key": ("gold_time_dim", "time_key"),
}
DATE_DIMENSION = ("gold_date_dim", "date_key")


@dataclass(frozen=True)
class Column:
    """A column and its contract: Arrow type, nullability, range, vocabulary, uniqueness."""

    name: str
    type: pa.DataType
    description: str
    nullable: bool = False
    minimum: float | None = None  # inclusive bounds of a numeric column
    maximum: float | None = None
    allowed: tuple[str, ...] | None = None  # the vocabulary of a string column
    unique: bool = False

    @property
    def is_date_key(self) -> bool:
        """An int32 YYYYMMDD day: ``date_key``, ``*_date_key`` or ``month_key``."""
        return self.type == INT32 and (self.name in ("date_key", "month_key") or self.name.endswith("_date_key"))

    def references(self, table: "Table") -> tuple[str, str] | None:
        """(dimension, key column) this column of ``table`` must exist in, if any: the conformed
        dimension keys, and every date key in the date dimension (which holds a year ahead of its
        partitions, so a restock or a retry resolves too). A dimension's own key refers to nothing."""
        if self.name in DIMENSION_KEYS:
            target = DIMENSION_KEYS[self.name]
        elif self.is_date_key:
            target = DATE_DIMENSION
        else:
            return None
        return None if target == (table.name, self.name) else target


@dataclass(frozen=True)
class RowRule:
    """A condition every row satisfies, as a boolean SQL expression over the row's columns
    (evaluated by Polars SQL in the contracts; DuckDB and Spark SQL read it the same way)."""

    name: str
    sql: str
    description: str


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    partition_column: str = "date_key"  # int32 YYYYMMDD of the Dagster partition holding the row
    key: tuple[str, ...] = ()  # the grain: columns unique together
    rules: tuple[RowRule, ...] = ()

    @property
    def arrow_schema(self) -> pa.Schema:
        return pa.schema([pa.field(c.name, c.type, nullable=c.nullable) for c in self.columns])

    @property
    def generated_schema(self) -> pa.Schema:
        """What the simulation produces: every column but etl_timestamp, which the writer stamps."""
        schema = self.arrow_schema
        return schema.remove(schema.get_field_index(ETL_TIMESTAMP))

    @property
    def column_names(self) -> list[str]:
        return [c.name for c in self.columns]

    def select_generated(self, data: pa.Table) -> pa.Table:
        """A query's result as generated rows: the declared columns (etl_timestamp excepted) in
        order, cast to the declared types; a ValueError naming a NOT NULL column that has nulls."""
        schema = self.generated_schema
        data = data.select(schema.names)
        for field in schema:
            if not field.nullable and data.column(field.name).null_count:
                raise ValueError(f"{self.name}.{field.name} is declared NOT NULL but the query produced nulls")
        return data.cast(schema)

    def conform(self, generated: pa.Table, stamp: pa.Scalar) -> pa.Table:
        """Generated rows as written: stamped with ``stamp`` (etl_timestamp), in the declared
        column order and types."""
        stamped = generated.append_column(ETL_TIMESTAMP, pa.repeat(stamp, generated.num_rows))
        return stamped.select(self.column_names).cast(self.arrow_schema)


def etl_now() -> pa.Scalar:
    """The etl_timestamp of rows written now (one per write, shared by the tables it touches)."""
    return pa.scalar(dt.datetime.now(dt.timezone.utc), TIMESTAMP)


def lineage() -> tuple[Column, ...]:
    return (
        Column("source_system", STRING, "Name of the generator that produced the row."),
        Column(ETL_TIMESTAMP, TIMESTAMP, "When the row was written (the only non-deterministic column)."),
    )


