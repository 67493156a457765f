"""A Pandera DataFrameModel per declared table, generated from ``retail_assets.tables``.

Nothing is declared here: types, nullability, ranges, vocabularies, unique columns, the grain
(``Table.key``) and row rules all come from the table declarations, which also give the Arrow
write schema and the ``dagster/column_schema`` metadata. The models validate Polars frames
(``pandera.polars``): a batch of Arrow rows converts without copying.
"""

from __future__ import annotations

from functools import cache

import pandera.polars as pandera
import polars as pl
import pyarrow as pa

from retail_assets import tables
from retail_assets.table_model import Column, RowRule, Table

POLARS_TYPES: dict[pa.DataType, pl.DataType] = {
    tables.INT32: pl.Int32(),
    tables.INT64: pl.Int64(),
    tables.FLOAT64: pl.Float64(),
    tables.STRING: pl.String(),
    tables.BOOL: pl.Boolean(),
    tables.DATE: pl.Date(),
    tables.TIMESTAMP: pl.Datetime("us", "UTC"),
}
DATE_KEY_FORMAT = "%Y%m%d"


def _row_rule_check(rule: RowRule):
    """A dataframe check that fails the rows where the rule's SQL is false or NULL."""

    def check(cls, data: pandera.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.sql_expr(rule.sql).fill_null(False).alias(rule.name))

    check.__name__ = rule.name
    return pandera.dataframe_check(check, name=rule.name, error=f"{rule.description} ({rule.sql})")


def _date_key_check(column: Column):
    """A column check: the int32 is a real YYYYMMDD day."""

    def check(cls, data: pandera.PolarsData) -> pl.LazyFrame:
        as_date = pl.col(data.key).cast(pl.String).str.to_date(DATE_KEY_FORMAT, strict=False)
        return data.lazyframe.select(as_date.is_not_null() | pl.col(data.key).is_null())

    check.__name__ = f"{column.name}_is_a_yyyymmdd_day"
    return pandera.check(column.name, name="date_key_format", error="not a YYYYMMDD day")(check)


def _field(column: Column):
    return pandera.Field(
        nullable=column.nullable,
        ge=column.minimum,
        le=column.maximum,
        isin=list(column.allowed) if column.allowed else None,
        unique=column.unique,
        description=column.description,
    )


@cache
def contract_model(name: str) -> type[pandera.DataFrameModel]:
    """The DataFrameModel of table ``name`` (strict: exactly the declared columns and types)."""
    declared: Table = tables.TABLES[name]
    namespace: dict[str, object] = {"__annotations__": {}, "__module__": __name__}
    for column in declared.columns:
        namespace["__annotations__"][column.name] = POLARS_TYPES[column.type]
        namespace[column.name] = _field(column)
        if column.is_date_key:
            namespace[f"check_{column.name}_format"] = _date_key_check(column)
    for rule in declared.rules:
        namespace[f"rule_{rule.name}"] = _row_rule_check(rule)
    namespace["Config"] = type(
        "Config",
        (),
        {"name": declared.name, "strict": True, "coerce": False, "unique": list(declared.key) or None},
    )
    class_name = "".join(part.title() for part in declared.name.split("_")) + "Model"
    return type(class_name, (pandera.DataFrameModel,), namespace)
