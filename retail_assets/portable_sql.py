"""SQL written once, in DuckDB's dialect, run on DuckDB and on Spark.

The rules, rollups and insights are SQL text in DuckDB's dialect. DuckDB runs it as written,
with ``MACROS`` created on its connection; Spark runs ``to_spark(sql)``: sqlglot rewrites the
dialect (``QUALIFY`` into a sub-query, ``//`` into ``DIV``, ``::INT`` into ``CAST`` ...) and each
macro call is replaced by the macro's own body, so a macro has one definition for both stores.

Only what both stores compute identically belongs in this SQL: exact integer and DECIMAL sums,
IEEE divisions of exact values; no floating sum whose order the engine chooses (Spark combines
partial aggregates in any order), no ordered aggregate (Spark has none).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sqlglot
from sqlglot import exp

DIALECT = "duckdb"  # the dialect the project's SQL is written in


@dataclass(frozen=True)
class Macro:
    name: str
    parameters: tuple[str, ...]
    body: str  # DuckDB SQL over the parameters

    @property
    def duckdb_definition(self) -> str:
        return f"CREATE OR REPLACE TEMP MACRO {self.name}({', '.join(self.parameters)}) AS {self.body};"


MACROS = (
    # day_of_key(20250131) = DATE '2025-01-31': the lakehouse's YYYYMMDD keys as dates
    Macro("day_of_key", ("k",), "make_date(k // 10000, (k // 100) % 100, k % 100)"),
    # key_of_day(DATE '2025-01-31') = 20250131
    Macro("key_of_day", ("d",), "CAST(year(d) * 10000 + month(d) * 100 + day(d) AS INTEGER)"),
    # money summed exactly: the facts hold cent amounts, a DECIMAL sum is the same in any order
    Macro("rollup_money", ("x",), "CAST(x AS DECIMAL(18, 6))"),
)
DUCKDB_MACROS = "\n".join(macro.duckdb_definition for macro in MACROS)
_BY_NAME = {macro.name: macro for macro in MACROS}


def _expand(node: exp.Expression) -> exp.Expression:
    """A macro call replaced by the macro's body, its arguments substituted (themselves expanded)."""
    if not isinstance(node, exp.Anonymous) or node.name.lower() not in _BY_NAME:
        return node
    macro = _BY_NAME[node.name.lower()]
    if len(node.expressions) != len(macro.parameters):
        raise ValueError(f"SQL macro {macro.name} takes {len(macro.parameters)} argument(s), "
                         f"got {len(node.expressions)}: {node.sql(DIALECT)}")
    arguments = {name: argument.transform(_expand) for name, argument in zip(macro.parameters, node.expressions)}
    body = sqlglot.parse_one(macro.body, read=DIALECT)
    return body.transform(lambda part: exp.paren(arguments[part.name].copy(), copy=False)
                          if isinstance(part, exp.Column) and part.name in arguments and not part.table else part)


@functools.lru_cache(maxsize=512)
def to_spark(sql: str, renamed: tuple[tuple[str, str], ...] = ()) -> str:
    """``sql`` (DuckDB dialect, the project's macros allowed) as Spark SQL; ``renamed``: pairs
    (table, name Spark knows it by), for the tables ``sql`` reads."""
    statements = sqlglot.parse(sql, read=DIALECT)
    if len(statements) != 1 or statements[0] is None:
        raise ValueError(f"expected one SQL statement, got {len(statements)}")
    names = dict(renamed)
    ctes = {cte.alias_or_name for cte in statements[0].find_all(exp.CTE)}

    def rewrite(node: exp.Expression) -> exp.Expression:
        if isinstance(node, exp.Table) and node.name in names and node.name not in ctes:
            return exp.table_(names[node.name], alias=node.alias or node.name)  # t.column still resolves
        return _expand(node)

    return statements[0].transform(rewrite).sql(dialect="spark")


def tables_read(sql: str) -> set[str]:
    """The names of the tables ``sql`` reads (common table expressions excepted)."""
    tree = sqlglot.parse_one(sql, read=DIALECT)
    ctes = {cte.alias_or_name for cte in tree.find_all(exp.CTE)}
    return {table.name for table in tree.find_all(exp.Table) if table.name and table.name not in ctes}
