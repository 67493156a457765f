"""The vocabulary of table declarations: Column, Table and the Arrow types they use.

Kept apart from the declarations themselves so that every declaration module (facts and
dimensions in ``tables``, aggregates in ``rollup_tables``) can import it without cycles.
"""
from __future__ import annotations

from dataclasses import dataclass

import pyarrow as pa

STRING, INT32, INT64, FLOAT64, BOOL, DATE = pa.string(), pa.int32(), pa.int64(), pa.float64(), pa.bool_(), pa.date32()
TIMESTAMP = pa.timestamp("us", tz="UTC")
ETL_TIMESTAMP = "etl_timestamp"  # the one column that differs between two runs of the same config


@dataclass(frozen=True)
class Column:
    name: str
    type: pa.DataType
    description: str
    nullable: bool = False


@dataclass(frozen=True)
class Table:
    name: str
    description: str
    columns: tuple[Column, ...]
    partition_column: str = "date_key"  # int32 YYYYMMDD of the Dagster partition holding the row

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


def lineage() -> tuple[Column, ...]:
    return (
        Column("source_system", STRING, "Name of the generator that produced the row."),
        Column(ETL_TIMESTAMP, TIMESTAMP, "When the row was written (the only non-deterministic column)."),
    )


