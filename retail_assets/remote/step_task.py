"""A step as a remote task: run it with the Spark engine over a range of days where the job runs
(``engine.steps.run_step``, as the local and Spark engines do in the Dagster process), and send
each of its events back to Dagster through Pipes; then publish the tables whose contracts passed.

The Dagster run passes the step, the configuration, the partition range (Pipes does not pass a
range itself), where the lakehouse of record is kept (its tables and commit ledger, as Spark
writes them: ``storage.spark_lakehouse``) and where Spark publishes the judged tables in the
Pipes extras: ``step``, ``config_json``, ``first_day``, ``last_day``, ``store``, ``publish``, and
``scratch``, a folder on the volume for the engine's block rows (the configuration's lakehouse
path is the Dagster host's and is not used there). The task parameter ``--retail-pipes-io`` selects the
Pipes channel: Unity Catalog volume files (classic and serverless), or DBFS on request.
The task checks the session's Spark version before anything else. No Dagster here: only
``dagster-pipes``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
from collections.abc import Iterator

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
from retail_assets.contracts.ledger import ContractLedger, checked
from retail_assets.days import date_key, day_of_partition, days_between
from retail_assets.engine.spark import SparkEngine
from retail_assets.engine.spark_session import default_session, require_supported_spark
from retail_assets.engine.steps import (
    STEP_OPERATIONS,
    Logged,
    Published,
    StepEvent,
    as_message,
    partition_value,
    run_step,
    written_days,
    written_keys,
)
from retail_assets.remote import PIPES_IO_ARGUMENT, STEP_EVENT_MESSAGE

PUBLISHED = "published "  # + a step's operation: the ledger's record of days published to the catalog
from retail_assets.storage.queries import StoredDays
from retail_assets.storage.spark_lakehouse import SparkLakehouse
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


def run(pipes: PipesContext) -> None:
    """Publish what earlier jobs of the step committed but never published, then run the step of
    the extras over their range with the Spark engine, sending each event of
    ``engine.steps.run_step`` back as it happens; then publish what was judged."""
    spark = default_session()
    require_supported_spark(spark.version)  # before the lakehouse is touched
    config = SimulationConfig.build(**json.loads(pipes.get_extra("config_json")))
    step = pipes.get_extra("step")
    first, last = (day_of_partition(pipes.get_extra(name)) for name in ("first_day", "last_day"))
    store = SparkTables(**pipes.get_extra("store"))  # the lakehouse of record: every table and its ledger
    scratch = pipes.get_extra("scratch")  # the engine's block rows: a folder every executor reaches
    ledger, lakehouse = checked(SparkLakehouse(scratch, spark, store, fingerprint=config.world_fingerprint()))
    engine = SparkEngine(config, lakehouse, spark, publish=SparkTables(**pipes.get_extra("publish")))
    written: dict[str, set[int]] = {}
    days: set[dt.date] = set()

    def send(event: StepEvent) -> None:
        pipes.report_custom_message({STEP_EVENT_MESSAGE: as_message(event)})

    with lakehouse.writing():  # the job is the writer throughout: the store is checked (and a cut batch undone) once
        for event in publish_backlog(engine, step, first):
            send(event)
        try:
            for event in run_step(step, engine, ledger, first, last):
                for name, keys in written_keys(event).items():
                    written.setdefault(name, set()).update(keys)
                days |= written_days(event)
                send(event)
        finally:  # what was committed is published once judged, the range failing or not
            if written:
                for event in publish_judged(engine, ledger, step, written, days):
                    send(event)


def publish_judged(engine: SparkEngine, ledger: ContractLedger, step: str, written: dict[str, set[int]],
                   days: set[dt.date]) -> Iterator[Published]:
    """The committed partitions ``written`` of the step's tables whose contracts passed, copied to
    the catalog, and ``days`` recorded in the store's ledger as published; a table that failed
    stays out, and says so on its asset."""
    passed = _publish(engine, step, {name: sorted(keys) for name, keys in written.items()
                                     if ledger.verdict(name).passed}, days)
    for entry in registry.step_entries(step):
        if entry.name != entry.asset or entry.name not in written:
            continue  # the checkpoint's parts publish with it; nothing written, nothing to say
        yield Published(entry.name, {"published_delta_version": passed[entry.name]} if entry.name in passed
                        else {"published": "no: its contract failed"})


def publish_backlog(engine: SparkEngine, step: str, before: dt.date) -> Iterator[Logged]:
    """The days before ``before`` that the step committed but that were never published (a job
    killed between its commit and its publication): judged now, published if they pass."""
    state, operation = engine.lakehouse.ledger_state(), STEP_OPERATIONS[step]
    backlog = [day for day in days_between(engine.config.start_date, before - dt.timedelta(days=1))
               if state.committed(operation, date_key(day)) and not state.committed(PUBLISHED + operation, date_key(day))]
    if not backlog:
        return
    judge = ContractLedger(engine.lakehouse)  # a verdict of its own: not this run's checks
    keys = {entry.name: sorted({partition_value(entry.name, day) for day in backlog})
            for entry in registry.step_entries(step)}
    for name, table_keys in keys.items():
        column = registry.ENTRIES[name].declaration.partition_column
        judge.validate(name, StoredDays(engine.queries, tuple(table_keys), column))
    failed = sorted(name for name in keys if not judge.verdict(name).passed)
    _publish(engine, step, {name: table_keys for name, table_keys in keys.items() if name not in failed}, set(backlog))
    yield Logged(f"Published {len(backlog)} day(s) {backlog[0]} .. {backlog[-1]} that an earlier job committed but "
                 "did not publish" + (f"; not {', '.join(failed)}: its contract fails (materialise those days "
                                      "again)" if failed else ""))


def _publish(engine: SparkEngine, step: str, keys: dict[str, list[int]], days: set[dt.date]) -> dict[str, int]:
    """Publish ``keys`` of their tables, then record ``days`` of the step as published; the
    published versions."""
    versions = engine.publish_committed(keys)
    if keys:
        committed = engine.lakehouse.ledger_state().versions
        engine.lakehouse.record(PUBLISHED + STEP_OPERATIONS[step], [date_key(day) for day in sorted(days)],
                                {name: committed[name] for name in keys})
    return versions


def main() -> None:
    with _open() as pipes:
        run(pipes)


if __name__ == "__main__":
    main()
