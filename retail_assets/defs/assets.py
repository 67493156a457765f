"""Dagster assets: the world's dimensions and the daily inventory chain.

Both are daily-partitioned multi-assets with single-run backfills: a UI backfill of 365 days
is one run that loops over the days (seconds), not 365 runs queued by the daemon (hours).
Every spec of the chain, ``inventory_checkpoint`` included, depends on the dimensions of its day and
on nothing else, so a backfill launched from the asset graph targets the same days for all of them
(a non-subsettable multi-asset requires it) and runs dimensions, chain and downstream as one run.
That day D needs the checkpoint of D-1 is deliberately not declared to Dagster: its asset backfills
run a self-dependent asset in a run of its own, after its parents, and wait on missing earlier
partitions. The engine enforces it instead, before anything is written, naming the first missing
day; the schedule always starts from that day.

Metadata is per day: each partition's materialisation carries that day's own rows and figures
(``context.add_asset_metadata`` per partition key), and the range's summary goes on the run as
tags. A range that fails records the days it committed, so it resumes from the failed day.
"""


import datetime as dt
import os
import re
import socket
import time
from collections.abc import Iterable, Iterator
from contextlib import closing, contextmanager

import dagster as dg

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.contracts.ledger import ContractLedger
from retail_assets.contracts.rules import Window
from retail_assets.days import (
    date_key,
    days_between,
    month_starts,
    partition_key,
    week_starts,
)
from retail_assets.defs.checks import step_check_results, step_check_specs
from retail_assets.defs.databricks import DatabricksResource
from retail_assets.defs.resources import SimulationResource
from retail_assets.engine.figures import DaySummary
from retail_assets.engine.local import LocalEngine
from retail_assets.registry import CHAIN_STEP, DIMENSIONS_STEP, Role
from retail_assets.storage.queries import Queries
from retail_assets.table_model import Column, Table

WRITER_POOL = "retail_lakehouse_writer"  # dagster.yaml limits it to one op at a time
CHAIN_ASSETS = registry.step_assets(CHAIN_STEP)  # the chain's facts and its checkpoint
# The UI's asset groups, by step.
GROUPS = {DIMENSIONS_STEP: "dimensions", CHAIN_STEP: "daily_chain", registry.ROLLUPS_STEP: "rollups",
          registry.INSIGHTS_STEP: "customer_insights"}
# What an asset's writer computes with on the local engine, by step (shown as kinds in the UI).
LOCAL_KINDS = {DIMENSIONS_STEP: ("delta", "numpy"), CHAIN_STEP: ("delta", "numpy"),
               registry.ROLLUPS_STEP: ("delta", "duckdb"), registry.INSIGHTS_STEP: ("delta", "duckdb")}


def step_kinds(step: str, engine: str) -> tuple[str, ...]:
    """The kinds of a step's assets: what computes and stores them on ``engine`` (on databricks
    only the chain runs on the workspace)."""
    if engine == "spark":
        return ("delta", "spark")
    if engine == "databricks" and step == CHAIN_STEP:
        return ("databricks", "spark", "delta")
    return LOCAL_KINDS[step]


RUN_TAG_PREFIX = "retail_assets/"
PID_TAG, HOST_TAG = RUN_TAG_PREFIX + "pid", RUN_TAG_PREFIX + "host"  # the process writing: see cli.fail_dead_runs
# Partition columns that hold the start of a period (as the rollups define it): a day's partition
# is its period's rows.
PERIOD_START = {
    "week_start_date_key": lambda day: week_starts(day, day)[0],
    "month_key": lambda day: month_starts(day, day)[0],
}


def daily_partitions(config: SimulationConfig) -> dg.DailyPartitionsDefinition:
    """The configured range, start_date .. end_date (RETAIL_DAYS): the days the world is built
    for. Days still in the future appear as they pass (Dagster adds a day once it has ended)."""
    return dg.DailyPartitionsDefinition(
        start_date=partition_key(config.start_date),
        end_date=partition_key(config.end_date + dt.timedelta(days=1)),  # exclusive
    )


def range_tags(first: dt.date, last: dt.date) -> dict[str, str]:
    """The run tags of a single-run backfill of first..last (what the UI's backfill sets)."""
    return {"dagster/asset_partition_range_start": partition_key(first),
            "dagster/asset_partition_range_end": partition_key(last)}


def as_markdown(text: str) -> str:
    """Placeholders such as ``S-<order>-<line>`` as code, so the UI's markdown does not eat them."""
    return re.sub(r"<[^<>]+>", lambda match: f"`{match.group(0)}`", text)


def column_schema(name: str) -> dg.TableSchema:
    """The declared columns and their contracts, as the UI shows them."""
    declared = registry.TABLES[name]
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, str(c.type), description=as_markdown(c.description),
                           constraints=dg.TableColumnConstraints(nullable=c.nullable, unique=c.unique,
                                                                 other=_column_rules(declared, c)))
            for c in declared.columns
        ],
        constraints=dg.TableConstraints(other=[
            *([f"unique ({', '.join(declared.key)})"] if declared.key else []),
            *(f"{rule.name}: {rule.sql}" for rule in declared.rules),
        ]),
    )


def _column_rules(declared: Table, column: Column) -> list[str]:
    rules = []
    if column.minimum is not None:
        rules.append(f">= {column.minimum:g}")
    if column.maximum is not None:
        rules.append(f"<= {column.maximum:g}")
    if column.allowed:
        rules.append("in (" + ", ".join(column.allowed) + ")")
    if column.is_date_key:
        rules.append("a YYYYMMDD day")
    target = column.references(declared)
    if target:
        rules.append(f"references {target[0]}.{target[1]}")
    return rules


def step_specs(step: str, engine: str = "local") -> list[dg.AssetSpec]:
    """One spec per asset of ``step``, depending on the tables its tables read (every dependency
    on the same day's partition: see ``registry.Reads`` and the module docstring)."""
    deps = registry.step_upstream(step)
    return [_asset_spec(name, GROUPS[step], deps, step_kinds(step, engine)) for name in registry.step_assets(step)]


def _asset_spec(name: str, group: str, deps, kinds) -> dg.AssetSpec:
    declared = registry.TABLES[name]
    parts = [entry.name for entry in registry.entries(Role.CHECKPOINT_PART) if entry.asset == name]
    description = declared.description + (
        f" With its parts {', '.join(parts[1:])}: the whole state day D+1 starts from. A range starts on the "
        "start date or on the day after the last committed checkpoint; any other start fails before writing, "
        "naming the first missing day." if len(parts) > 1 else "")
    return dg.AssetSpec(
        key=name,
        description=as_markdown(description),
        group_name=group,
        kinds=set(kinds),
        deps=list(deps),
        metadata={"dagster/column_schema": column_schema(name), "dagster/table_name": name},
        tags={"retail_assets/layer": group},
    )


def step_multi_asset(step: str, config: SimulationConfig, engine: str = "local"):
    """The multi-asset of ``step`` (its tables and checks) on the daily partitions, whose backfills
    run as one run over the range, writing the lakehouse in the single-writer pool."""
    return dg.multi_asset(
        name=step,
        specs=step_specs(step, engine),
        check_specs=step_check_specs(step, config),
        partitions_def=daily_partitions(config),
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=False,
        pool=WRITER_POOL,
    )


def step_results(step: str, context: dg.AssetExecutionContext, ledger: ContractLedger, engine: LocalEngine,
                 config: SimulationConfig) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """The end of a step's run: one result per asset (its per-day metadata was added with
    ``record_days``), then its checks on the written range, on the store ``engine`` wrote."""
    for name in registry.step_assets(step):
        yield dg.MaterializeResult(asset_key=name, metadata={"dagster/column_schema": column_schema(name)})
    with closing(engine.queries()) as queries:
        yield from step_check_results(step, ledger, queries, config, Window(*partition_range(context)))


def record_days(context: dg.AssetExecutionContext, name: str, by_day: dict[dt.date, dict[str, object]]) -> None:
    """Each day's own metadata, on that partition's materialisation."""
    for day, metadata in by_day.items():
        context.add_asset_metadata(metadata, asset_key=name, partition_key=partition_key(day))


def rows_by_day(queries: Queries, names: Iterable[str], first: dt.date, last: dt.date
                ) -> dict[str, dict[dt.date, dict[str, object]]]:
    """Per table, per day of first..last: the rows its partition holds (for weekly and monthly
    tables, the rows of the day's period), counted by the store (one query for all the tables)."""
    days, counts, periods, keys = days_between(first, last), [], {}, {}
    for name in names:
        column = registry.TABLES[name].partition_column
        period = periods[name] = PERIOD_START.get(column)
        keys[name] = {day: date_key(period(day) if period else day) for day in days}
        counts.append(f"SELECT '{name}' AS table_name, {column} AS partition_key, count(*) AS row_count FROM {name}"
                      f" WHERE {column} BETWEEN {min(keys[name].values())} AND {max(keys[name].values())}"
                      f" GROUP BY {column}")
    found = {(row["table_name"], row["partition_key"]): row["row_count"]
             for row in queries.rows(" UNION ALL ".join(counts))} if counts else {}
    return {
        name: {day: {"dagster/row_count": found.get((name, key), 0),
                     **({"period_start": str(periods[name](day))} if periods[name] else {})}
               for day, key in by_day.items()}
        for name, by_day in keys.items()
    }


def record_rows_by_day(context: dg.AssetExecutionContext, engine: LocalEngine, names: Iterable[str]) -> None:
    """The written days' row counts, as each partition's metadata (counted where the engine wrote)."""
    first, last = partition_range(context)
    with closing(engine.queries()) as queries:
        for name, by_day in rows_by_day(queries, names, first, last).items():
            record_days(context, name, by_day)


def tag_run_process(context: dg.AssetExecutionContext) -> None:
    """Name the process that writes on the run, so a run whose process was killed can be told
    from one still going, and failed (with its pool slot freed) instead of blocking the pool."""
    context.instance.add_run_tags(context.run.run_id, {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})


def partition_range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def build_assets(config: SimulationConfig, engine: str = "local") -> list[dg.AssetsDefinition]:
    @step_multi_asset(DIMENSIONS_STEP, config, engine)
    def world_dimensions(context: dg.AssetExecutionContext, simulation: SimulationResource):
        """Rows that become effective on each day (customers acquired, products launched, the
        date row); the first partition also holds everything effective before it."""
        first, last = partition_range(context)
        tag_run_process(context)
        ledger, lakehouse = simulation.checked_lakehouse()
        with lakehouse.writing():  # one writer; another configuration is refused here, before any write
            engine = simulation.engine(lakehouse)
            engine.require_checkpoint_before(first)  # so is an out-of-order range
            engine.write_dimensions(first, last)
            record_rows_by_day(context, engine, registry.step_assets(DIMENSIONS_STEP))
        yield from step_results(DIMENSIONS_STEP, context, ledger, engine, config)

    @step_multi_asset(CHAIN_STEP, config, engine)
    def daily_chain(context: dg.AssetExecutionContext, simulation: SimulationResource, databricks: DatabricksResource):
        """Customers meet the shelves day by day: sales, lost demand, end-of-day inventory and
        the checkpoint, committed every few days so a failed backfill resumes where it stopped.
        Every batch is validated against its contracts just before it is committed; the business
        rules run on the written range at the end."""
        first, last = partition_range(context)
        context.log.info(f"Simulating {first} .. {last} ({(last - first).days + 1} days) on {simulation.engine_name}")
        days: list[DaySummary] = []

        def committed(batch: list[DaySummary]) -> None:
            days.extend(batch)
            context.log.info(f"Committed {batch[0].day} .. {batch[-1].day}")
            context.instance.add_run_tags(context.run.run_id, {RUN_TAG_PREFIX + "committed_through":
                                                           str(batch[-1].day)})

        if simulation.engine_name == "databricks":  # the remote task reports the same results and checks
            extras = {"config_json": simulation.config_json, "first_day": str(first), "last_day": str(last)}
            with _committed_days_kept(context, days):
                results = databricks.run_chain(context, extras, committed)
            _record_committed_days(context, days)
            yield from results
            return
        started = time.perf_counter()
        tag_run_process(context)
        ledger, lakehouse = simulation.checked_lakehouse()
        engine = simulation.engine(lakehouse)
        with _committed_days_kept(context, days), lakehouse.writing():
            for batch in engine.run(first, last):
                committed(batch)
        _record_committed_days(context, days)
        elapsed = time.perf_counter() - started
        validating = sum(ledger.verdict(entry.name).seconds for entry in registry.step_entries(CHAIN_STEP))
        context.log.info(f"Contracts: {validating:.1f} s validating, {validating / elapsed:.1%} of the "
                         f"{elapsed:.1f} s the chain took")
        yield from step_results(CHAIN_STEP, context, ledger, engine, config)

    return [world_dimensions, daily_chain]


@contextmanager
def _committed_days_kept(context: dg.AssetExecutionContext, days: list[DaySummary]) -> Iterator[None]:
    """On failure, each day committed so far is recorded as a materialisation of its partition
    (so the range resumes from the failed day), then the error goes on."""
    try:
        yield
    except Exception:
        for summary in days:
            for name in CHAIN_ASSETS:
                context.log_event(dg.AssetMaterialization(asset_key=name, partition=partition_key(summary.day),
                                                          metadata=_day_metadata(summary, name)))
        raise


def _record_committed_days(context: dg.AssetExecutionContext, days: list[DaySummary]) -> None:
    """Each committed day's own metadata on its partition's materialisation; the range's totals
    as run tags."""
    for name in CHAIN_ASSETS:
        record_days(context, name, {summary.day: _day_metadata(summary, name) for summary in days})
    context.instance.add_run_tags(context.run.run_id, _run_summary(days))


def _day_metadata(summary: DaySummary, name: str) -> dict[str, object]:
    """The day's own figures: the table's rows (facts) and the day's headline behaviour."""
    rows = {"dagster/row_count": summary.rows[name]} if name in summary.rows else {}
    return {
        **rows,
        "units_sold": summary.units_sold,
        "units_lost": summary.units_lost,
        "lost_revenue": round(summary.lost_revenue, 2),
        "net_sales": round(summary.net_sales, 2),
        "stockout_rate": round(summary.stockout_rate, 4),
        "constrained_lines": summary.constrained_lines,
        **({} if summary.driver_bytes is None else {"driver_bytes": summary.driver_bytes}),
    }


def _run_summary(days: list[DaySummary]) -> dict[str, str]:
    """The range's totals, as run tags (shown on the run, not on any one day)."""
    rows = sum(sum(day.rows.values()) for day in days)
    summary = {
        "range": f"{days[0].day} .. {days[-1].day}",
        "days": len(days),
        "fact_rows": rows,
        "units_sold": sum(d.units_sold for d in days),
        "lost_revenue": round(sum(d.lost_revenue for d in days), 2),
        "mean_stockout_rate": round(sum(d.stockout_rate for d in days) / len(days), 4),
        "last_day_stockout_rate": round(days[-1].stockout_rate, 4),
    }
    return {RUN_TAG_PREFIX + key: str(value) for key, value in summary.items()}
