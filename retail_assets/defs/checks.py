"""Asset checks: every table's contract and the business rules, on what a run wrote.

The checks are unpartitioned ``check_specs`` of the multi-assets (partitioned checks would stay
planned in single-run backfills): each run evaluates them on the days it wrote, a day or a range.
Contract checks of dimensions and facts are blocking: a failure stops the downstream assets.
"""

from collections.abc import Iterable, Iterator

import dagster as dg

from retail_assets.contracts.ledger import ContractLedger
from retail_assets.contracts.reports import CONTRACT_CHECK, CheckReport, contract_reports, rule_reports
from retail_assets.contracts.rules import BusinessRule, Window
from retail_assets.storage.delta import Lakehouse


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


def check_result(report: CheckReport) -> dg.AssetCheckResult:
    return dg.AssetCheckResult(
        asset_key=report.table,
        check_name=report.check_name,
        passed=report.passed,
        severity=dg.AssetCheckSeverity[report.severity],
        description=report.not_evaluated,
        metadata={
            **{key: dg.MetadataValue.json(value) if isinstance(value, dict) else value
               for key, value in report.metadata.items()},
            **{key: dg.MetadataValue.md(text) for key, text in report.markdown.items()},
        },
    )


def contract_results(ledger: ContractLedger, names: Iterable[str]) -> Iterator[dg.AssetCheckResult]:
    return map(check_result, contract_reports(ledger, names))


def rule_check_specs(rules: Iterable[BusinessRule]) -> list[dg.AssetCheckSpec]:
    return [dg.AssetCheckSpec(rule.name, asset=rule.table, blocking=rule.blocking, description=rule.description)
            for rule in rules]


def rule_results(lakehouse: Lakehouse, rules: Iterable[BusinessRule], window: Window) -> Iterator[dg.AssetCheckResult]:
    return map(check_result, rule_reports(lakehouse, rules, window))
