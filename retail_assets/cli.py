"""Command line: materialise a range through Dagster, summarise a lakehouse, benchmark, profile it.

``run`` and ``bench`` go through ``dagster.materialize`` with the partition-range tags, the
same single-run path a UI backfill takes, so what they measure is what users run. ``run``
continues a lakehouse: it starts from the first day the lakehouse has not committed, and a run
killed half-way is resumed by running the same command again.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import shutil
import socket
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path

import dagster as dg

from retail_assets import registry
from retail_assets.analytics import realism
from retail_assets.config import ENV_PREFIX, ConfigError, SimulationConfig
from retail_assets.defs.assets import HOST_TAG, PID_TAG, range_tags
from retail_assets.defs.location import build_definitions
from retail_assets.defs.resources import ENGINES
from retail_assets.defs.schedule import EVERY_OPERATION
from retail_assets.engine.local import first_missing_day
from retail_assets.registry import CHAIN_STEP, Role
from retail_assets.storage.delta import (
    ConfigurationDriftError,
    Lakehouse,
    LakehouseStateError,
)
from retail_assets.storage.digest import table_digests
from retail_assets.storage.lock import LakehouseBusyError
from retail_assets.storage.queries import DuckDbQueries

UNFINISHED = (dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED)
SUMMARY_TABLES = (
    "gold_sales_fact", "gold_lost_sales_fact", "gold_inventory_fact", *registry.names(Role.DIMENSION),
    registry.CHECKPOINT_ASSET,
)


def materialize_range(
    config: SimulationConfig,
    first: dt.date,
    last: dt.date,
    instance: dg.DagsterInstance | None = None,
    raise_on_error: bool = True,
    defs: dg.Definitions | None = None,
) -> dg.ExecuteInProcessResult:
    """Materialise every asset for first..last in one run (the single-run backfill path), with
    the code location of ``config`` unless ``defs`` is given."""
    defs = defs or build_definitions(config)
    job = defs.resolve_job_def("daily_lakehouse")
    return job.execute_in_process(
        run_config={"loggers": {"console": {"config": {"log_level": "INFO"}}}},
        instance=instance or dg.DagsterInstance.ephemeral(),
        tags=range_tags(first, last),
        raise_on_error=raise_on_error,
    )


def fail_dead_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark failed the unfinished runs whose writing process on this host is gone (killed: a CLI
    run, `dagster asset materialize`), and free their pool slots: otherwise their steps hold the
    writer pool and the next run waits forever. Their history stays (a deleted run would lose the
    days it committed)."""
    host = socket.gethostname()
    stale = []
    for record in instance.get_run_records(dg.RunsFilter(statuses=list(UNFINISHED), tags={HOST_TAG: host})):
        run = record.dagster_run
        if not _alive(int(run.tags.get(PID_TAG, "0"))):
            instance.report_run_failed(run, f"its process {run.tags.get(PID_TAG)} on {host} is gone (killed)")
            instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
            stale.append(run.run_id)
    return stale


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return pid > 0


def check_line(result: dg.ExecuteInProcessResult) -> str:
    """How many asset checks the run ran, which could not be evaluated (too little data), and which failed."""
    checks = result.get_asset_check_evaluations()
    skipped = sorted(e.check_name for e in checks if "not_evaluated" in e.metadata)  # see rule_reports
    failed = sorted(f"{e.asset_key.to_user_string()}:{e.check_name}" for e in checks
                    if not e.passed and e.check_name not in skipped)
    line = f"asset checks   {len(checks)} run, {len(failed)} failed{': ' + ', '.join(failed) if failed else ''}"
    return line + (f", {len(skipped)} not evaluated ({', '.join(skipped)})" if skipped else "")


def step_seconds(result: dg.ExecuteInProcessResult) -> dict[str, float]:
    """Duration of each successful step of a run, in execution order."""
    return {event.step_key: event.event_specific_data.duration_ms / 1000
            for event in result.all_events if event.event_type == dg.DagsterEventType.STEP_SUCCESS}


def row_counts(lakehouse: Lakehouse, names) -> dict[str, int]:
    connection = lakehouse.duckdb_connection()
    return {name: connection.execute(f"SELECT count(*) FROM {name}").fetchone()[0]
            for name in names if lakehouse.exists(name)}


def summarise(lakehouse: Lakehouse) -> str:
    """Row counts, stockout rate and lost revenue, as SQL over the Delta tables."""
    lines = ["", "Lakehouse " + str(lakehouse.root), "  rows per table:"]
    lines += [f"    {name:<28} {count:>12,}" for name, count in row_counts(lakehouse, SUMMARY_TABLES).items()]
    return "\n".join(lines + quality_lines(lakehouse))


def quality_lines(lakehouse: Lakehouse) -> list[str]:
    """The headline behaviour figures: stockout rate, constrained sales, lost demand."""
    connection = lakehouse.duckdb_connection()
    stockout = connection.execute(
        """SELECT avg(CASE WHEN is_stockout THEN 1.0 ELSE 0.0 END),
                  (SELECT avg(CASE WHEN is_stockout THEN 1.0 ELSE 0.0 END) FROM gold_inventory_fact
                   WHERE date_key = (SELECT max(date_key) FROM gold_inventory_fact))
           FROM gold_inventory_fact"""
    ).fetchone()
    sales = connection.execute(
        """SELECT sum(net_sales_amount), sum(CASE WHEN is_inventory_constrained THEN 1 ELSE 0 END),
                  sum(quantity_requested - quantity_sold) FILTER (WHERE NOT is_return)
           FROM gold_sales_fact"""
    ).fetchone()
    lost = connection.execute("SELECT sum(quantity_requested), sum(lost_revenue) FROM gold_lost_sales_fact").fetchone()
    return [
        f"  stockout rate: {stockout[0]:.2%} over the range, {stockout[1]:.2%} on the last day",
        f"  net sales: ${sales[0]:,.2f}; inventory-constrained lines: {sales[1]:,}",
        f"  lost demand: {(lost[0] or 0) + (sales[2] or 0):,} units; lost revenue (requests served nothing): "
        f"${lost[1] or 0:,.2f}",
    ]


def _config(args: argparse.Namespace) -> SimulationConfig:
    """The code location's configuration (the ``RETAIL_*`` variables), the flags given winning."""
    values = {"preset": args.preset, "seed": args.seed, "lakehouse_path": args.lakehouse,
              "start_date": args.start, "days": args.days}
    return SimulationConfig.from_env(**{k: v for k, v in values.items() if v is not None})


def _run(args: argparse.Namespace) -> None:
    """Continue the lakehouse from the first day it has not committed to the configured last day
    (a new lakehouse: from the start date); a lakehouse made otherwise is refused."""
    config = _config(args)
    lakehouse = Lakehouse(config.lakehouse_path, fingerprint=config.world_fingerprint())
    with lakehouse.writing():  # refuses another configuration or writer; undoes a batch a crash cut short
        first = first_missing_day(lakehouse, config.start_date, config.end_date, EVERY_OPERATION)
    if first is None:
        print(f"{lakehouse.root} already holds every day of {config.start_date}..{config.end_date}: nothing to do "
              "(extend it with --days, or delete it to start again)")
        print(summarise(lakehouse))
        return
    instance = dg.DagsterInstance.get() if args.persist else None
    if instance is not None:
        for run_id in fail_dead_runs(instance):
            print(f"run {run_id} had been killed: marked failed, its pool slot freed")
    started = time.perf_counter()
    result = materialize_range(config, first, config.end_date, instance, defs=build_definitions(config, args.engine))
    elapsed = time.perf_counter() - started
    print(f"Materialised {config.preset} {first}..{config.end_date} in {elapsed:.1f} s "
          f"(run {result.run_id}, success={result.success})")
    print(check_line(result))
    print(summarise(Lakehouse(config.lakehouse_path)))


BENCH_ENGINES = {  # --engine of bench: what runs the daily chain, in the order they run
    "local": ("local",), "spark": ("spark",), "connect": ("connect",),
    "both": ("local", "spark"), "all": ("local", "spark", "connect"),
}


def _bench(args: argparse.Namespace) -> None:
    engines = BENCH_ENGINES[args.engine]
    if "spark" in engines:  # started here, so the chain's figures do not include it
        from retail_assets.engine.spark_session import local_session

        started = time.perf_counter()
        local_session()
        print(f"spark session  {time.perf_counter() - started:8.1f} s to start local[2]")
    chain = {engine: _bench_engine(args, engine) for engine in engines}
    if "local" in chain and len(chain) > 1:
        config = _config(args)
        days, simulated = config.scale.days, config.scale.days + config.warmup_days
        local_seconds, local_rows, local_digests = chain["local"]
        print(f"\ndaily chain, {days} days: local {local_seconds:.1f} s ({local_rows / local_seconds:,.0f} rows/s)")
        for engine, (seconds, rows, digests) in chain.items():
            if engine != "local":
                extra = seconds - local_seconds
                print(f"  {engine} (local[2]) {seconds:.1f} s ({rows / seconds:,.0f} rows/s): overhead {extra / days:+.2f} s "
                      f"per written day, {extra / simulated:+.2f} s per simulated day (the {config.warmup_days} "
                      "warm-up days are Spark days too; session start excluded)")
                differing = sorted(name for name in local_digests.keys() | digests.keys()
                                   if local_digests.get(name) != digests.get(name))
                verdict = f"DIFFER from local in {', '.join(differing)}" if differing else (
                    f"identical to local in all {len(digests)} tables (etl_timestamp aside)")
                print(f"    rows: {verdict}")


def _bench_engine(args: argparse.Namespace, engine: str) -> tuple[float, int, dict]:
    """``_bench_run`` on ``engine``; ``connect``: the spark engine over a local Spark Connect server
    (started first, stopped after)."""
    if engine != "connect":
        return _bench_run(args, engine)
    from pyspark.sql import SparkSession

    from retail_assets.engine.connect_server import local_connect_server
    from retail_assets.engine.spark_session import REMOTE_VARIABLE

    classic = SparkSession.getActiveSession()
    if classic is not None:  # a process holds one kind of session at a time
        classic.stop()
    folder = Path(tempfile.mkdtemp(prefix="retail_connect_"))
    started = time.perf_counter()
    with local_connect_server(folder / "server.log") as url:
        print(f"spark connect  {time.perf_counter() - started:8.1f} s to start the local server at {url}")
        os.environ[REMOTE_VARIABLE] = url
        try:
            return _bench_run(args, "spark", label="connect")
        finally:
            del os.environ[REMOTE_VARIABLE]
            shutil.rmtree(folder, ignore_errors=True)


def _bench_run(args: argparse.Namespace, engine: str, label: str | None = None) -> tuple[float, int, dict]:
    """Materialise the range on ``engine`` into a scratch lakehouse, print its figures; return
    the daily chain's seconds and rows, and every table's digest."""
    folder = Path(tempfile.mkdtemp(prefix="retail_bench_"))
    args.lakehouse = str(folder / "lakehouse")
    config = _config(args)
    try:
        started = time.perf_counter()
        result = materialize_range(config, config.start_date, config.end_date, defs=build_definitions(config, engine))
        elapsed = time.perf_counter() - started
        lakehouse = Lakehouse(config.lakehouse_path)
        counts = row_counts(lakehouse, lakehouse.tables())
        total = sum(counts.values())
        peak_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"engine={label or engine} preset={config.preset} days={config.scale.days} "
              f"customers={config.scale.customers:,} products={config.scale.products:,} "
              f"locations={config.scale.locations}")
        for name, count in sorted(counts.items()):
            print(f"  {name:<38} {count:>12,} rows")
        for step, seconds in step_seconds(result).items():
            print(f"  step {step:<33} {seconds:8.1f} s")
        print(check_line(result))
        validating = sum(e.metadata["validation_seconds"].value for e in result.get_asset_check_evaluations())
        print(f"validation     {validating:8.1f} s  ({validating / elapsed:.1%} of the wall time: contracts and "
              "business rules)")
        print(f"wall time      {elapsed:8.1f} s")
        print(f"rows written   {total:>12,}  ({total / elapsed:,.0f} rows/s overall)")
        print(f"peak RSS       {peak_mib:8.0f} MiB (the Dagster process)")
        per_day = [event.materialization.metadata["driver_bytes"].value
                   for event in result.get_asset_materialization_events()
                   if event.asset_key.to_user_string() == registry.CHECKPOINT_ASSET
                   and "driver_bytes" in event.materialization.metadata]
        if per_day:
            print(f"to the driver  {sum(per_day) / len(per_day) / 1024:8.1f} KiB a day on average, "
                  f"{max(per_day) / 1024:.1f} KiB at most (figures, row counts and table versions)")
        print("\n".join(quality_lines(lakehouse)))
        chain_rows = sum(counts.get(entry.name, 0) for entry in registry.step_entries(CHAIN_STEP))
        return step_seconds(result)[CHAIN_STEP], chain_rows, table_digests(lakehouse)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def recorded_config(lakehouse: Lakehouse) -> SimulationConfig:
    """The configuration a lakehouse was made with, as its commit ledger records it."""
    recorded = lakehouse.ledger_state().configuration
    if recorded is None:
        raise ConfigError(f"{lakehouse.root} holds no committed day: `make run` first, or give --lakehouse")
    return SimulationConfig.from_env({ENV_PREFIX + name.upper(): value for name, value in recorded.items()},
                                     lakehouse_path=lakehouse.root)


def _profile(args: argparse.Namespace) -> None:
    """Measure the lakehouse against the realism anchors (the controlled bands centred on the
    rates it was made with) over the days it holds, or --first .. --last: print the table, write
    it with the charts into --output. A report: figures out of band do not fail the command."""
    lakehouse = Lakehouse(args.lakehouse or SimulationConfig.from_env().lakehouse_path)
    config = recorded_config(lakehouse)
    first, last = (dt.date.fromisoformat(day) if day else None for day in (args.first, args.last))
    with closing(DuckDbQueries(lakehouse)) as queries:
        result = realism.profile(queries, config, first, last)
    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    text = realism.markdown(result)
    (output / "realism.md").write_text(text)
    for name, png in realism.charts(result).items():
        (output / f"{name}.png").write_bytes(png)
    print(text)
    print(f"written to {output}/: realism.md and the charts")


def _digest(args: argparse.Namespace) -> None:
    """Print each committed table's rows and digest: equal lines, equal rows (etl_timestamp aside)."""
    root = Path(args.lakehouse)
    if not root.is_dir():
        raise ConfigError(f"--lakehouse: {root} is not a folder; give the lakehouse folder to digest")
    for name, (rows, digest) in table_digests(Lakehouse(root)).items():
        print(f"{name:<42} {rows:>12,} {digest}")


def _deploy(args: argparse.Namespace) -> None:
    """Upload the wheel (``make wheel``) and the task file to the volume of a run config's
    ``databricks`` resource, as every Databricks run does before it submits."""
    from retail_assets.defs.databricks import from_run_config

    try:
        resource = from_run_config(Path(args.config))
        deployment = resource.deploy(resource.workspace_client())
    except ValueError as error:  # a setting, the wheel or the credentials: named in the message
        raise ConfigError(str(error)) from None
    print(f"wheel      {deployment.wheel}\ntask file  {deployment.task_file}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m retail_assets.cli", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    for name, handler in (("run", _run), ("bench", _bench)):
        command = sub.add_parser(name)
        command.set_defaults(handler=handler)
        command.add_argument("--preset", help="default: $RETAIL_PRESET, else small (every RETAIL_* variable "
                                               "of the code location applies; a flag wins)")
        command.add_argument("--days", type=int)
        command.add_argument("--start", help="first day, YYYY-MM-DD (default 2025-01-01)")
        command.add_argument("--seed", type=int)
        engines = list(BENCH_ENGINES) if name == "bench" else list(ENGINES[:2])
        command.add_argument("--engine", choices=engines, default="local",
                             help="what runs the daily chain (spark: local[2] PySpark with Delta, the `spark` "
                                  "extra; connect: the same over a local Spark Connect server; both: local and "
                                  "spark; all: the three)")
        if name == "run":
            command.add_argument("--lakehouse", help="default: $RETAIL_LAKEHOUSE_PATH, else lakehouse")
            command.add_argument("--persist", action="store_true", help="record the run in $DAGSTER_HOME")
    profile = sub.add_parser("profile", help="measure the lakehouse against published retail anchors")
    profile.set_defaults(handler=_profile)
    profile.add_argument("--lakehouse", help="default: $RETAIL_LAKEHOUSE_PATH, else lakehouse")
    profile.add_argument("--first", help="first day profiled, YYYY-MM-DD (default: the lakehouse's first)")
    profile.add_argument("--last", help="last day profiled, YYYY-MM-DD (default: the lakehouse's last)")
    profile.add_argument("--output", default="profile", help="folder of realism.md and the charts")
    deploy = sub.add_parser("deploy", help="upload the wheel and the task file to the Databricks volume")
    deploy.set_defaults(handler=_deploy)
    deploy.add_argument("-c", "--config", required=True, help="a run config setting resources.databricks.config "
                        "(see databricks.example.yaml)")
    digest = sub.add_parser("digest", help="one line per committed table: rows and a digest of them")
    digest.set_defaults(handler=_digest)
    digest.add_argument("--lakehouse", default="lakehouse")
    args = parser.parse_args(argv)
    try:
        args.handler(args)
    except (ConfigError, ConfigurationDriftError, LakehouseBusyError, LakehouseStateError) as error:
        print(error, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
