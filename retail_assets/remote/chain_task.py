"""The daily chain as a remote task: run the Spark engine over a range of days where the job runs,
and report the tables' materialisations and every chain check back to Dagster through Pipes.

The Dagster run passes the configuration, the partition range (Pipes does not pass a range
itself) and where Spark publishes the tables in the Pipes extras: ``config_json``,
``first_day``, ``last_day``, ``publish``. The task parameter ``--retail-pipes-io`` selects the
Pipes channel: Unity Catalog volume files (classic and serverless), or DBFS on request.
The task checks the session's Spark version before anything else. No Dagster here: only
``dagster-pipes``.
"""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import closing

from dagster_pipes import (
    PipesCliArgsParamsLoader,
    PipesContext,
    PipesDbfsContextLoader,
    PipesDbfsMessageWriter,
    PipesEnvVarParamsLoader,
    PipesUnityCatalogVolumesContextLoader,
    PipesUnityCatalogVolumesMessageWriter,
    open_dagster_pipes,
)

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.contracts.ledger import checked_lakehouse
from retail_assets.contracts.reports import CheckReport, step_reports
from retail_assets.contracts.rules import Window
from retail_assets.days import day_of_partition
from retail_assets.engine.local import CHAIN_FACTS
from retail_assets.engine.spark import SparkEngine
from retail_assets.engine.spark_session import default_session, require_supported_spark
from retail_assets.remote import COMMITTED_MESSAGE, PIPES_IO_ARGUMENT
from retail_assets.storage.spark_tables import SparkTables


def _open() -> PipesContext:
    """Pipes over the channel the resource chose (``--retail-pipes-io``): Unity Catalog volume
    files, or DBFS files."""
    cli = any(argument.startswith("--dagster-pipes") for argument in sys.argv[1:])
    params = PipesCliArgsParamsLoader() if cli else PipesEnvVarParamsLoader()
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument(PIPES_IO_ARGUMENT, choices=("volumes", "dbfs"), required=True)
    io = vars(parser.parse_known_args()[0])[PIPES_IO_ARGUMENT.lstrip("-").replace("-", "_")]
    if io == "dbfs":
        return open_dagster_pipes(params_loader=params, context_loader=PipesDbfsContextLoader(),
                                  message_writer=PipesDbfsMessageWriter())
    return open_dagster_pipes(params_loader=params, context_loader=PipesUnityCatalogVolumesContextLoader(),
                              message_writer=PipesUnityCatalogVolumesMessageWriter())


def _report_check(pipes: PipesContext, report: CheckReport) -> None:
    metadata = {key: {"raw_value": value, "type": "json"} if isinstance(value, dict) else value
                for key, value in report.metadata.items()}
    metadata.update({key: {"raw_value": text, "type": "md"} for key, text in report.markdown.items()})
    pipes.report_asset_check(report.check_name, report.passed, report.severity,
                             metadata=metadata, asset_key=report.table)


def run(pipes: PipesContext) -> None:
    """Simulate the range of the extras and report its tables and checks."""
    spark = default_session()
    require_supported_spark(spark.version)  # before the lakehouse is touched
    config = SimulationConfig.build(**json.loads(pipes.get_extra("config_json")))
    first, last = (day_of_partition(pipes.get_extra(name)) for name in ("first_day", "last_day"))
    ledger, lakehouse = checked_lakehouse(config.lakehouse_path, config.world_fingerprint())
    publish = SparkTables(**pipes.get_extra("publish"))
    rows: dict[str, int] = {}
    engine = SparkEngine(config, lakehouse, spark, publish=publish)
    committed_through = None
    try:
        for committed in engine.run(first, last):
            pipes.log.info(f"committed {committed[0].day} .. {committed[-1].day}")
            # Dagster records these days as they arrive: a range failing later resumes after them.
            pipes.report_custom_message({COMMITTED_MESSAGE: [summary.as_message() for summary in committed]})
            committed_through = committed[-1].day
            for summary in committed:
                for name, count in summary.rows.items():
                    rows[name] = rows.get(name, 0) + count
    except Exception:
        if committed_through is not None:  # the days kept are published as after a success, once judged
            _publish_judged(engine, ledger, first, committed_through)
        raise
    with closing(engine.queries()) as queries:  # the rules run on the cluster's Spark
        reports = list(step_reports(registry.CHAIN_STEP, ledger, queries, config, Window(first, last)))
    published = _publish_judged(engine, ledger, first, last)
    for fact in CHAIN_FACTS:
        state = ({"published_delta_version": published[fact.name]} if fact.name in published
                 else {"published": "no: its contract failed"})
        pipes.report_asset_materialization(
            asset_key=fact.name, metadata={"dagster/row_count": rows.get(fact.name, 0), "first_day": str(first),
                                           "last_day": str(last), **state})
    pipes.report_asset_materialization(asset_key=registry.CHECKPOINT_ASSET, metadata={"last_day": str(last)})
    for report in reports:
        _report_check(pipes, report)


def _publish_judged(engine: SparkEngine, ledger, first, last) -> dict[str, int]:
    """The committed days first..last of the chain's tables whose contracts passed, copied to the
    catalog (a table that failed stays out); the versions published, by table."""
    passed = [entry.name for entry in registry.step_entries(registry.CHAIN_STEP) if ledger.verdict(entry.name).passed]
    return engine.publish_committed(first, last, passed)


def main() -> None:
    with _open() as pipes:
        run(pipes)


if __name__ == "__main__":
    main()
