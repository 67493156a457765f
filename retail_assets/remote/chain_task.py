"""The daily chain as a remote task: simulate and write a range of days where the job runs, and
report the tables' materialisations and every chain check back to Dagster through Pipes.

The Dagster run passes the configuration and the partition range in the Pipes extras (Pipes does
not pass a range itself): ``config_json``, ``first_day``, ``last_day``. ``RETAIL_PIPES_IO=dbfs``
selects the DBFS context loader and message writer of a Databricks cluster; otherwise the
defaults (a local file or environment variables), as in the tests.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sys

from dagster_pipes import (
    PipesCliArgsParamsLoader,
    PipesContext,
    PipesDbfsContextLoader,
    PipesDbfsMessageWriter,
    PipesEnvVarParamsLoader,
    open_dagster_pipes,
)

from retail_assets.config import SimulationConfig
from retail_assets.contracts.ledger import checked_lakehouse
from retail_assets.contracts.reports import CheckReport, contract_reports, rule_reports
from retail_assets.contracts.rules import Window, rules_for
from retail_assets.engine.local import CHAIN_TABLES, LocalEngine

CHECKPOINT = "inventory_checkpoint"


def _open() -> PipesContext:
    cli = any(argument.startswith("--dagster-pipes") for argument in sys.argv[1:])
    params = PipesCliArgsParamsLoader() if cli else PipesEnvVarParamsLoader()
    if os.environ.get("RETAIL_PIPES_IO") == "dbfs":
        return open_dagster_pipes(params_loader=params, context_loader=PipesDbfsContextLoader(),
                                  message_writer=PipesDbfsMessageWriter())
    return open_dagster_pipes(params_loader=params)


def _report_check(pipes: PipesContext, report: CheckReport) -> None:
    metadata = {key: {"raw_value": value, "type": "json"} if isinstance(value, dict) else value
                for key, value in report.metadata.items()}
    metadata.update({key: {"raw_value": text, "type": "md"} for key, text in report.markdown.items()})
    pipes.report_asset_check(report.check_name, report.passed, "WARN" if report.warn_only else "ERROR",
                             metadata=metadata, asset_key=report.table)


def run(pipes: PipesContext) -> None:
    """Simulate the range of the extras and report its tables and checks."""
    config = SimulationConfig.build(**json.loads(pipes.get_extra("config_json")))
    first, last = (dt.date.fromisoformat(pipes.get_extra(name)) for name in ("first_day", "last_day"))
    ledger, lakehouse = checked_lakehouse(config.lakehouse_path)
    rows: dict[str, int] = {}
    for committed in LocalEngine(config, lakehouse).run(first, last):
        pipes.log.info(f"committed {committed[0].day} .. {committed[-1].day}")
        for summary in committed:
            for name, count in summary.rows.items():
                rows[name] = rows.get(name, 0) + count
    for name in CHAIN_TABLES:
        pipes.report_asset_materialization(
            asset_key=name, metadata={"dagster/row_count": rows.get(name, 0), "first_day": str(first),
                                      "last_day": str(last)})
    pipes.report_asset_materialization(asset_key=CHECKPOINT, metadata={"last_day": str(last)})
    for report in contract_reports(ledger, CHAIN_TABLES):
        _report_check(pipes, report)
    for report in rule_reports(lakehouse, rules_for(CHAIN_TABLES), Window(first, last)):
        _report_check(pipes, report)


def main() -> None:
    with _open() as pipes:
        run(pipes)


if __name__ == "__main__":
    main()
