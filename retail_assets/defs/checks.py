"""Asset checks: every table's contract and the business rules, on what a run wrote.

The checks are unpartitioned ``check_specs`` of the multi-assets (partitioned checks would stay
planned in single-run backfills): each run evaluates them on the days it wrote, a day or a range.
Contract checks of dimensions, facts and the checkpoint are blocking: a failure stops the
downstream assets.
"""

from collections.abc import Iterator

import dagster as dg

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.contracts.ledger import ContractLedger
from retail_assets.contracts.reports import CheckReport, step_reports
from retail_assets.contracts.rules import Window, rules_for
from retail_assets.storage.queries import Queries

CONTRACT_DESCRIPTION = (
    "The rows written by the run against the table's declared contract (Pandera): types, nullability, "
    "ranges, vocabularies, unique keys, row rules, YYYYMMDD days, and keys that exist in their dimensions.")


def step_check_specs(step: str, config: SimulationConfig) -> list[dg.AssetCheckSpec]:
    """The checks a step's run evaluates: a contract per table it writes, then its tables' rules."""
    entries = registry.step_entries(step)
    contracts = [
        dg.AssetCheckSpec(entry.contract_check, asset=entry.asset, blocking=entry.contract_blocks_downstream,
                          description=CONTRACT_DESCRIPTION if entry.asset == entry.name
                          else f"{entry.name}: {CONTRACT_DESCRIPTION}")
        for entry in entries
    ]
    rules = [dg.AssetCheckSpec(rule.name, asset=rule.table, blocking=rule.blocking, description=rule.description)
             for rule in rules_for([entry.name for entry in entries], config)]
    return [*contracts, *rules]


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


def step_check_results(step: str, ledger: ContractLedger, queries: Queries, config: SimulationConfig,
                       window: Window) -> Iterator[dg.AssetCheckResult]:
    return map(check_result, step_reports(step, ledger, queries, config, window))
