"""A table's contract as SQL, judged where the rows are stored (Spark) instead of read back here.

The checks of the table's Pandera model (``contracts.models``), generated from the same
declaration, under the same names, counting the same failure cases: a value out of its range
or vocabulary, a day that is not YYYYMMDD, a required column NULL, a row rule not true, rows
sharing a grain, a key its dimension does not hold; and the stored columns against the declared
ones (missing, unexpected, another type: then only those are judged). One query counts every
check of every table judged together, over the written days (DuckDB's dialect, run by DuckDB or
by Spark: ``storage.queries``): on Spark a query costs a fraction of a second whatever its rows,
so the tables of a step are judged at once. A failing check costs one more query, for a few of
its cases.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property

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
class ReferenceCheck:
    """A key that must exist in its dimension (NULL refers to nothing)."""

    name: str
    column: str
    dimension: str
    key: str

    def joined(self, alias: str) -> str:
        """The dimension's keys, joined to the written rows as ``alias.known`` (at most one match)."""
        return (f" LEFT JOIN (SELECT DISTINCT {self.key} AS known FROM {self.dimension}) AS {alias}"
                f" ON written.{self.column} = {alias}.known")

    def passes(self, alias: str) -> str:
        return f"written.{self.column} IS NULL OR {alias}.known IS NOT NULL"


@dataclass(frozen=True)
class GrainCheck:
    """Columns no two of the written rows share."""

    name: str
    column: str  # the table's name, as Pandera reports a check of whole rows
    columns: tuple[str, ...]

    def shared(self, days: str) -> str:
        return f"FROM {self.column} WHERE {days} GROUP BY {', '.join(self.columns)} HAVING count(*) > 1"

    def failures(self, days: str) -> str:
        """One row, one column: the rows whose values another row shares (each copy counts)."""
        return f"SELECT coalesce(sum(copies), 0) AS failures FROM (SELECT count(*) AS copies {self.shared(days)}) AS shared"


@dataclass(frozen=True)
class Judged:
    """Stored days of one table to judge: ``keys``, values of its ``key_column``."""

    declared: Table
    keys: tuple[int, ...]
    key_column: str


@dataclass(frozen=True)
class TableContract:
    """The contract of one table over the days judged, as SQL."""

    judged: Judged

    @cached_property
    def days(self) -> str:
        return day_predicate(self.judged.keys, key_column=self.judged.key_column)

    @cached_property
    def checks(self) -> tuple[list[RowCheck], list[ReferenceCheck], list[GrainCheck]]:
        declared = self.judged.declared
        return row_checks(declared), reference_checks(declared), grain_checks(declared)

    @property
    def written(self) -> str:
        """The written rows, each joined to the keys of the dimensions it refers to."""
        references = self.checks[1]
        return f"FROM {self.judged.declared.name} AS written" + "".join(
            check.joined(f"dimension_{i}") for i, check in enumerate(references))

    def counted(self) -> str:
        """One row: the table's name, its rows, the failure cases of each check (in ``checks`` order)."""
        rows, references, grains = self.checks
        conditions = [check.passes for check in rows] + [check.passes(f"dimension_{i}")
                                                         for i, check in enumerate(references)]
        sums = "".join(f", CAST(coalesce(sum(CASE WHEN {condition} THEN 0 ELSE 1 END), 0) AS BIGINT) AS failures_{i}"
                       for i, condition in enumerate(conditions))
        failures = [f"counted.failures_{i}" for i in range(len(conditions))] + [
            f"CAST(grain_{i}.failures AS BIGINT)" for i in range(len(grains))]
        return (f"SELECT '{self.judged.declared.name}' AS table_name, counted.rows_checked, [{', '.join(failures)}]"
                f" AS failures FROM (SELECT count(*) AS rows_checked{sums} {self.written} WHERE {self.days}) AS counted"
                + "".join(f" CROSS JOIN ({grain.failures(self.days)}) AS grain_{i}" for i, grain in enumerate(grains)))

    def cases(self) -> list[str]:
        """For each check (in ``checks`` order), its failure cases as a failure_case column."""
        rows, references, grains = self.checks
        table, days = self.judged.declared.name, self.days
        return ([f"SELECT {check.shown} AS failure_case FROM {table}"
                 f" WHERE ({days}) AND NOT coalesce(({check.passes}), FALSE)" for check in rows]
                + [f"SELECT CAST(written.{check.column} AS VARCHAR) AS failure_case {self.written}"
                   f" WHERE ({days}) AND NOT ({check.passes(f'dimension_{i}')})" for i, check in enumerate(references)]
                + [f"SELECT {_shown(grain.columns)} AS failure_case {grain.shared(days)}" for grain in grains])


def stored_findings(queries: Queries, judged: Sequence[Judged], cases_per_check: int) -> dict[str, Findings]:
    """The contracts of several tables judged on their stored days, by table: one query counts
    the failure cases of every check of every table (a table of another shape than declared is
    judged on its shape alone), and one more per failing check lists a few of its cases."""
    found: dict[str, Findings] = {}
    contracts = []
    for table in judged:
        name = table.declared.name
        shape = shape_cases(table.declared, queries.arrow_schema(name))
        if shape:  # the row checks would not compile: the shape is the finding
            days = day_predicate(table.keys, key_column=table.key_column)
            rows = int(queries.one(f"SELECT count(*) FROM {name} WHERE {days}")[0])
            found[name] = Findings(rows, dict(Counter(case["check"] for case in shape)), shape)
        else:
            contracts.append(TableContract(table))
    if not contracts:
        return found
    counted = {row["table_name"]: row for row in queries.rows(" UNION ALL ".join(c.counted() for c in contracts))}
    for contract in contracts:
        name = contract.judged.declared.name
        findings = found[name] = Findings(int(counted[name]["rows_checked"]))
        for check, count, sql in zip(sum(contract.checks, []), counted[name]["failures"], contract.cases()):
            if count:
                findings.counts[check.name] = int(count)
                findings.cases.extend({"check": check.name, "column": check.column, "failure_case": str(case["failure_case"])}
                                      for case in queries.rows(sql, limit=cases_per_check))
    return found


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


def reference_checks(declared: Table) -> list[ReferenceCheck]:
    return [ReferenceCheck(reference_check_name(target), column.name, *target)
            for column in declared.columns if (target := column.references(declared)) is not None]


def grain_checks(declared: Table) -> list[GrainCheck]:
    return [GrainCheck(unique_check_name(columns), declared.name, columns) for columns in unique_column_sets(declared)]


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


def _same_zone(dtype: pl.DataType) -> pl.DataType:
    """UTC timestamps as the declarations spell them (DuckDB names the zone Etc/UTC)."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone in ("Etc/UTC", "UTC"):
        return pl.Datetime(dtype.time_unit, "UTC")
    return dtype


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
