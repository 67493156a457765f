"""Check outcomes as plain data, for Dagster asset checks here and Pipes reports from a cluster.

Nothing here imports Dagster: the remote entry script (``retail_assets.remote``) runs where only
``dagster-pipes`` is installed, and reports the same checks the local assets would yield.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.contracts.ledger import ContractLedger, markdown_table
from retail_assets.contracts.rules import BusinessRule, Window, rules_for
from retail_assets.storage.queries import Queries


@dataclass(frozen=True)
class CheckReport:
    table: str  # the asset checked (the checkpoint's parts report on the checkpoint's asset)
    check_name: str
    passed: bool
    warn_only: bool = False
    metadata: dict[str, object] = field(default_factory=dict)  # plain values
    markdown: dict[str, str] = field(default_factory=dict)  # values to show as markdown
    not_evaluated: str | None = None  # the reason a check could not be judged: a WARN, not a pass

    @property
    def severity(self) -> str:
        """"WARN" or "ERROR", as Dagster and Pipes name them; a check not evaluated warns."""
        return "WARN" if self.warn_only or self.not_evaluated else "ERROR"


def step_reports(step: str, ledger: ContractLedger, queries: Queries, config: SimulationConfig,
                 window: Window) -> Iterator[CheckReport]:
    """Every check of a step's run, in process or on a cluster alike: the contract of each table
    it writes (on the rows ``ledger`` validated), then the business rules of those tables, as
    SQL on ``queries`` (the store the engine wrote: DuckDB over delta-rs, or Spark)."""
    names = [entry.name for entry in registry.step_entries(step)]
    yield from contract_reports(ledger, names)
    yield from rule_reports(queries, rules_for(names, config), window)


def contract_reports(ledger: ContractLedger, names: Iterable[str]) -> Iterator[CheckReport]:
    for name in names:
        entry = registry.ENTRIES[name]
        verdict = ledger.verdict(name)
        metadata: dict[str, object] = {
            "rows_checked": verdict.rows,
            "batches": verdict.batches,
            "failures": verdict.failures,
            "validation_seconds": round(verdict.seconds, 3),
        }
        markdown = {}
        if not verdict.passed:
            metadata["failures_by_check"] = dict(verdict.failures_by_check)
            markdown["failure_sample"] = verdict.sample_markdown()
        yield CheckReport(entry.asset, entry.contract_check, verdict.passed, metadata=metadata, markdown=markdown)


def rule_reports(queries: Queries, rules: Iterable[BusinessRule], window: Window) -> Iterator[CheckReport]:
    for rule in rules:
        started = time.perf_counter()
        outcome = rule.evaluate(queries, window)
        metadata: dict[str, object] = {
            **outcome.metadata,
            "first_day": str(window.first),
            "last_day": str(window.last),
            "validation_seconds": round(time.perf_counter() - started, 3),
        }
        if outcome.not_evaluated:
            metadata["not_evaluated"] = outcome.not_evaluated
        markdown = {"offending_rows": markdown_table(outcome.sample)} if outcome.sample else {}
        yield CheckReport(rule.table, rule.name, outcome.passed, rule.warn_only, metadata, markdown,
                          outcome.not_evaluated)
