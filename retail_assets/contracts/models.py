"""A Pandera DataFrameModel per declared table, generated from its declaration (``retail_assets.registry``).

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

from retail_assets import registry
from retail_assets.table_model import (
    BOOL,
    DATE,
    FLOAT64,
    INT32,
    INT64,
    STRING,
    TIMESTAMP,
    Column,
    RowRule,
    Table,
)

POLARS_TYPES: dict[pa.DataType, pl.DataType] = {
    pa.int8(): pl.Int8(),  # the checkpoint's compact codes
    pa.int16(): pl.Int16(),
    pa.list_(pa.int32()): pl.List(pl.Int32()),  # the checkpoint's rings of coming days
    INT32: pl.Int32(),
    INT64: pl.Int64(),
    FLOAT64: pl.Float64(),
    STRING: pl.String(),
    BOOL: pl.Boolean(),
    DATE: pl.Date(),
    TIMESTAMP: pl.Datetime("us", "UTC"),
}
DATE_KEY_FORMAT = "%Y%m%d"
DATE_KEY_FORMAT_CHECK = "date_key_format: not a YYYYMMDD day"  # a check's name is what its failure cases carry


def rule_check_name(rule: RowRule) -> str:
    return f"{rule.name}: {rule.description} ({rule.sql})"


def unique_check_name(columns: tuple[str, ...]) -> str:
    return f"unique_{'_'.join(columns)}: duplicate values of ({', '.join(columns)})"


def not_null_check_name(columns: list[str]) -> str:
    return f"not_null: NULL in one of {', '.join(columns)}"


def reference_check_name(target: tuple[str, str]) -> str:
    return f"references {target[0]}.{target[1]}"


def dtype_check_name(column: Column) -> str:
    """Pandera's name for a column of the wrong type."""
    return f"dtype('{POLARS_TYPES[column.type]}')"


def required_columns(declared: Table) -> list[str]:
    return [column.name for column in declared.columns if not column.nullable]


def unique_column_sets(declared: Table) -> list[tuple[str, ...]]:
    """Each set of columns no two rows may share: the unique columns, and the grain."""
    return list(dict.fromkeys([(c.name,) for c in declared.columns if c.unique] + [declared.key] * bool(declared.key)))


def _row_rule_check(rule: RowRule):
    """A dataframe check that fails the rows where the rule's SQL is false or NULL."""

    def check(cls, data: pandera.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.sql_expr(rule.sql).fill_null(False).alias(rule.name))

    check.__name__ = rule.name
    return pandera.dataframe_check(check, name=rule.name, error=rule_check_name(rule))


def _unique_check(columns: tuple[str, ...]):
    """A dataframe check: no two rows share these columns' values. Counting distinct values is
    4x cheaper than flagging duplicates, so the rows are flagged only when there are some."""
    name = "unique_" + "_".join(columns)

    def check(cls, data: pandera.PolarsData) -> pl.LazyFrame:
        key = pl.struct(columns) if len(columns) > 1 else pl.col(columns[0])
        counts = data.lazyframe.select(key.n_unique().alias("distinct"), pl.len().alias("rows")).collect()
        if counts.item(0, "distinct") == counts.item(0, "rows"):
            return data.lazyframe.select(pl.lit(True).alias(name))
        return data.lazyframe.select((~key.is_duplicated()).alias(name))

    check.__name__ = name
    return pandera.dataframe_check(check, name=name, error=unique_check_name(columns))


def _date_key_check(column: Column):
    """A column check: the int32 is a real YYYYMMDD day (parsed once per distinct value)."""

    def check(cls, data: pandera.PolarsData) -> pl.LazyFrame:
        distinct = data.lazyframe.select(pl.col(data.key).unique().drop_nulls()).collect().get_column(data.key)
        parsed = distinct.cast(pl.String).str.to_date(DATE_KEY_FORMAT, strict=False)
        days = distinct.filter(parsed.is_not_null()).implode()
        return data.lazyframe.select(pl.col(data.key).is_in(days) | pl.col(data.key).is_null())

    check.__name__ = f"{column.name}_is_a_yyyymmdd_day"
    return pandera.check(column.name, name="date_key_format", error=DATE_KEY_FORMAT_CHECK)(check)


def _not_null_check(columns: list[str]):
    """A dataframe check: the required columns hold a value on every row. One pass for all of
    them instead of one query per column: per-check overhead, not data, dominates a batch."""

    def check(cls, data: pandera.PolarsData) -> pl.LazyFrame:
        return data.lazyframe.select(pl.all_horizontal([pl.col(name).is_not_null() for name in columns]))

    check.__name__ = "not_null"
    return pandera.dataframe_check(check, name="not_null", error=not_null_check_name(columns))


def _field(column: Column):
    return pandera.Field(
        nullable=True,  # required columns: one not_null check over all of them
        ge=column.minimum,
        le=column.maximum,
        isin=list(column.allowed) if column.allowed else None,
        description=column.description,
    )


@cache
def contract_model(name: str) -> type[pandera.DataFrameModel]:
    """The DataFrameModel of table ``name`` (strict: exactly the declared columns and types)."""
    declared: Table = registry.TABLES[name]
    namespace: dict[str, object] = {"__annotations__": {}, "__module__": __name__}
    for column in declared.columns:
        namespace["__annotations__"][column.name] = POLARS_TYPES[column.type]
        namespace[column.name] = _field(column)
        if column.is_date_key:
            namespace[f"check_{column.name}_format"] = _date_key_check(column)
    namespace["check_not_null"] = _not_null_check(required_columns(declared))
    for rule in declared.rules:
        namespace[f"rule_{rule.name}"] = _row_rule_check(rule)
    for columns in unique_column_sets(declared):
        namespace[f"check_unique_{'_'.join(columns)}"] = _unique_check(columns)
    namespace["Config"] = type("Config", (), {"name": declared.name, "strict": True, "coerce": False})
    class_name = "".join(part.title() for part in declared.name.split("_")) + "Model"
    return type(class_name, (pandera.DataFrameModel,), namespace)
