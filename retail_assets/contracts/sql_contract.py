"""A table's contract as SQL, judged where the rows are stored (Spark) instead of read back here.

The checks of the table's Pandera model (``contracts.models``), generated from the same
declaration, under the same names, counting the same failure cases: a value out of its range
or vocabulary, a day that is not YYYYMMDD, a required column NULL, a row rule not true, rows
sharing a grain, a key its dimension does not hold; and the stored columns against the declared
ones (missing, unexpected, another type: then only those are judged). One query counts every
check over the written days (DuckDB's dialect, run by DuckDB or by Spark: ``storage.queries``);
a failing check costs one more query, for a few of its cases.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import pandera.polars as pandera
import polars as pl
import pyarrow as pa
import sqlglot
from sqlglot import exp

from retail_assets.contracts.models import (
    DATE_KEY_FORMAT_CHECK,
    POLARS_TYPES,
    dtype_check_name,
    not_null_check_name,
    reference_check_name,
    required_columns,
    rule_check_name,
    unique_check_name,
    unique_column_sets,
)
from retail_assets.portable_sql import DIALECT
from retail_assets.storage.delta import day_predicate
from retail_assets.storage.queries import Queries
from retail_assets.table_model import Table

SHOWN_COLUMNS = 8  # at most this many columns in a failure case of a whole-row check


@dataclass
class Findings:
    """What validating a batch found: its rows, the failure cases per check and a few of them."""

    rows: int
    counts: dict[str, int] = field(default_factory=dict)
    cases: list[dict[str, str]] = field(default_factory=list)  # check, column, failure_case


@dataclass(frozen=True)
class RowCheck:
    """A condition on each row on its own."""

    name: str  # what its failure cases carry (Pandera's name)
    column: str  # the column checked, or the table's name for a check of whole rows (as Pandera)
    passes: str  # SQL, true on a passing row (NULL fails)
    shown: str  # SQL, the text a failure case shows


@dataclass(frozen=True)
class SetCheck:
    """A condition on rows together (a grain, a dimension's keys)."""

    name: str
    column: str
    failures: str  # SQL, one row and column: the failure cases counted
    cases: str  # SQL, a failure_case column


def stored_findings(queries: Queries, declared: Table, keys: Sequence[int], key_column: str,
                    cases_per_check: int) -> Findings:
    """The contract of ``declared`` judged on its stored rows of ``keys`` (values of ``key_column``)."""
    days = day_predicate(keys, key_column=key_column)
    table = declared.name
    shape = shape_cases(declared, queries.arrow_schema(table))
    if shape:  # the row checks would not compile: the shape is the finding
        (rows,) = queries.one(f"SELECT count(*) FROM {table} WHERE {days}")
        return Findings(int(rows), _tally(shape), shape)
    rows, sets = row_checks(declared), set_checks(declared, days)
    counted = ", ".join(f"coalesce(sum(CASE WHEN {check.passes} THEN 0 ELSE 1 END), 0) AS row_check_{i}"
                        for i, check in enumerate(rows))
    result = queries.one(f"SELECT * FROM (SELECT count(*) AS rows_checked, {counted} FROM {table} WHERE {days}) AS row_counts"
                         + "".join(f" CROSS JOIN ({check.failures}) AS set_check_{i}" for i, check in enumerate(sets)))
    findings = Findings(int(result[0]))
    cases_sql = [f"SELECT {check.shown} AS failure_case FROM {table} WHERE ({days}) AND NOT ({_fails_to_true(check)})"
                 for check in rows] + [check.cases for check in sets]
    for check, count, sql in zip([*rows, *sets], result[1:], cases_sql):
        if count:
            findings.counts[check.name] = findings.counts.get(check.name, 0) + int(count)
            findings.cases.extend({"check": check.name, "column": check.column, "failure_case": str(case["failure_case"])}
                                  for case in queries.rows(sql, limit=cases_per_check))
    return findings


def row_checks(declared: Table) -> list[RowCheck]:
    """Every condition of the contract on a row on its own, in the Pandera model's terms."""
    checks = []
    grain = declared.key or tuple(c.name for c in declared.columns if c.unique)
    for column in declared.columns:
        name = column.name
        if column.minimum is not None:
            checks.append(RowCheck(pandera.Check.ge(column.minimum).error, name,
                                   f"{name} IS NULL OR {name} >= {column.minimum!r}", _text(name)))
        if column.maximum is not None:
            checks.append(RowCheck(pandera.Check.le(column.maximum).error, name,
                                   f"{name} IS NULL OR {name} <= {column.maximum!r}", _text(name)))
        if column.allowed:
            vocabulary = ", ".join("'" + value.replace("'", "''") + "'" for value in column.allowed)
            checks.append(RowCheck(pandera.Check.isin(list(column.allowed)).error, name,
                                   f"{name} IS NULL OR {name} IN ({vocabulary})", _text(name)))
        if column.is_date_key:
            checks.append(RowCheck(DATE_KEY_FORMAT_CHECK, name, f"{name} IS NULL OR ({_is_yyyymmdd(name)})", _text(name)))
    required = required_columns(declared)
    nulls = ", ".join(f"CASE WHEN {name} IS NULL THEN '{name}' END" for name in required)
    checks.append(RowCheck(not_null_check_name(required), declared.name,
                           " AND ".join(f"{name} IS NOT NULL" for name in required),
                           f"concat_ws(', ', {_shown(grain)}, 'NULL: ' || concat_ws(' ', {nulls}))"
                           if grain else f"'NULL: ' || concat_ws(' ', {nulls})"))
    for rule in declared.rules:
        used = {column.name for column in sqlglot.parse_one(rule.sql, read=DIALECT).find_all(exp.Column)}
        shown = [*grain, *(c.name for c in declared.columns if c.name in used and c.name not in grain)]
        checks.append(RowCheck(rule_check_name(rule), declared.name, rule.sql, _shown(shown[:SHOWN_COLUMNS])))
    return checks


def set_checks(declared: Table, days: str) -> list[SetCheck]:
    """The grain and unique columns over the written days, and the keys in their dimensions."""
    table, checks = declared.name, []
    for columns in unique_column_sets(declared):
        shared = f"FROM {table} WHERE {days} GROUP BY {', '.join(columns)} HAVING count(*) > 1"
        checks.append(SetCheck(unique_check_name(columns), table,
                               f"SELECT coalesce(sum(copies), 0) AS failures FROM (SELECT count(*) AS copies {shared}) AS shared",
                               f"SELECT {_shown(columns)} AS failure_case {shared}"))
    for column in declared.columns:
        target = column.references(declared)
        if target is None:
            continue
        orphans = (f"FROM {table} AS written LEFT JOIN (SELECT DISTINCT {target[1]} AS known FROM {target[0]}) AS dimension"
                   f" ON written.{column.name} = dimension.known"
                   f" WHERE ({days}) AND written.{column.name} IS NOT NULL AND dimension.known IS NULL")
        checks.append(SetCheck(reference_check_name(target), column.name, f"SELECT count(*) AS failures {orphans}",
                               f"SELECT CAST(written.{column.name} AS VARCHAR) AS failure_case {orphans}"))
    return checks


def shape_cases(declared: Table, stored: pa.Schema) -> list[dict[str, str]]:
    """Failure cases of the stored columns against the declared ones, as Pandera names them:
    a declared column missing, a column not declared, a column of another type."""
    types = {name: _same_zone(dtype) for name, dtype in pl.from_arrow(stored.empty_table()).schema.items()}
    cases = [{"check": "column_in_dataframe", "column": declared.name, "failure_case": column.name}
             for column in declared.columns if column.name not in types]
    declared_names = {column.name for column in declared.columns}
    cases += [{"check": "column_in_schema", "column": declared.name, "failure_case": name}
              for name in types if name not in declared_names]
    return cases + [{"check": dtype_check_name(column), "column": column.name, "failure_case": str(types[column.name])}
                    for column in declared.columns
                    if column.name in types and types[column.name] != POLARS_TYPES[column.type]]


def _tally(cases: list[dict[str, str]]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for case in cases:
        counts[case["check"]] = counts.get(case["check"], 0) + 1
    return counts


def _same_zone(dtype: pl.DataType) -> pl.DataType:
    """UTC timestamps as the declarations spell them (DuckDB names the zone Etc/UTC)."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone in ("Etc/UTC", "UTC"):
        return pl.Datetime(dtype.time_unit, "UTC")
    return dtype


def _fails_to_true(check: RowCheck) -> str:
    """The check's condition with NULL as false (a failure), as the count treats it."""
    return f"coalesce(({check.passes}), FALSE)"


def _text(column: str) -> str:
    return f"CAST({column} AS VARCHAR)"


def _shown(columns: Sequence[str]) -> str:
    """SQL text ``a=1, b=NULL`` of the columns."""
    return "concat_ws(', ', " + ", ".join(f"'{name}=' || coalesce(CAST({name} AS VARCHAR), 'NULL')"
                                          for name in columns) + ")"


def _is_yyyymmdd(key: str) -> str:
    """SQL: the int ``key`` is a real day written YYYYMMDD (arithmetic only: no engine's date
    parser, none of which agree on what they reject)."""
    year, month, day = f"({key} // 10000)", f"(({key} // 100) % 100)", f"({key} % 100)"
    leap = f"CASE WHEN {year} % 4 = 0 AND ({year} % 100 <> 0 OR {year} % 400 = 0) THEN 1 ELSE 0 END"
    month_days = f"CASE WHEN {month} = 2 THEN 28 + {leap} ELSE 30 + ({month} + {month} // 8) % 2 END"
    return f"{key} BETWEEN 10000101 AND 99991231 AND {month} BETWEEN 1 AND 12 AND {day} BETWEEN 1 AND {month_days}"
