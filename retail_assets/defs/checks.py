"""Asset checks: every table's contract and the business rules, on what a run wrote.

The checks are unpartitioned ``check_specs`` of the multi-assets (partitioned checks would stay
planned in single-run backfills): each run evaluates them on the days it wrote, a day or a range.
Contract checks of dimensions and facts are blocking: a failure stops the downstream assets.
"""

import time
from collections.abc import Iterable, Iterator

import dagster as dg

from retail_assets.contracts.ledger import ContractLedger, markdown_table
from retail_assets.contracts.rules import RULES, BusinessRule, Window
from retail_assets.storage.delta import Lakehouse

CONTRACT_CHECK = "contract"


def contract_check_specs(names: Iterable[str], blocking: bool) -> list[dg.AssetCheckSpec]:
    return [
        dg.AssetCheckSpec(
            CONTRACT_CHECK,
            asset=name,
            blocking=blocking,
            description="The rows written by the run against the table's declared contract (Pandera): types, "
            "nullability, ranges, vocabularies, unique keys, row rules, YYYYMMDD days, and keys that exist in "
            "their dimensions.",
        )
        for name in names
    ]


def contract_results(ledger: ContractLedger, names: Iterable[str]) -> Iterator[dg.AssetCheckResult]:
    for name in names:
        verdict = ledger.verdict(name)
        metadata: dict[str, object] = {
            "rows_checked": verdict.rows,
            "batches": verdict.batches,
            "failures": verdict.failures,
            "validation_seconds": round(verdict.seconds, 3),
        }
        if not verdict.passed:
            metadata["failures_by_check"] = dg.MetadataValue.json(verdict.failures_by_check)
            metadata["failure_sample"] = dg.MetadataValue.md(verdict.sample_markdown())
        yield dg.AssetCheckResult(asset_key=name, check_name=CONTRACT_CHECK, passed=verdict.passed, metadata=metadata)


def rules_for(names: Iterable[str]) -> list[BusinessRule]:
    wanted = set(names)
    return [rule for rule in RULES if rule.table in wanted]


def rule_check_specs(rules: Iterable[BusinessRule]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(rule.name, asset=rule.table, blocking=rule.blocking, description=rule.description)
            for rule in rules]


def rule_results(lakehouse: Lakehouse, rules: Iterable[BusinessRule], window: Window) -> Iterator[dg.AssetCheckResult]:
    connection = lakehouse.duckdb_connection()
    try:
        for rule in rules:
            started = time.perf_counter()
            outcome = rule.evaluate(connection, window)
            metadata: dict[str, object] = {
                **outcome.metadata,
                "first_day": str(window.first),
                "last_day": str(window.last),
                "validation_seconds": round(time.perf_counter() - started, 3),
            }
            if outcome.sample:
                metadata["offending_rows"] = dg.MetadataValue.md(markdown_table(outcome.sample))
            yield dg.AssetCheckResult(
                asset_key=rule.table,
                check_name=rule.name,
                passed=outcome.passed,
                severity=dg.AssetCheckSeverity.WARN if rule.warn_only else dg.AssetCheckSeverity.ERROR,
                metadata=metadata,
            )
    finally:
        connection.close()
