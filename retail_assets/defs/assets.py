"""Dagster assets: one daily-partitioned multi-asset per step (dimensions, daily chain, rollups,
customer insights), each run by ``engine.steps.run_step`` on the configured engine.

Each is a multi-asset with single-run backfills: a UI backfill of 365 days is one run that loops
over the days (seconds), not 365 runs queued by the daemon (hours). Every spec of the chain,
``inventory_checkpoint`` included, depends on the dimensions of its day and on nothing else, so a
backfill launched from the asset graph targets the same days for all of them (a non-subsettable
multi-asset requires it) and runs dimensions, chain and downstream as one run. That day D needs the
checkpoint of D-1 is deliberately not declared to Dagster: its asset backfills run a
self-dependent asset in a run of its own, after its parents, and wait on missing earlier
partitions. The engine enforces it instead, before anything is written, naming the first missing
day; the schedule always starts from that day.

Metadata is per day: each partition's materialisation carries that day's own rows and figures
(``context.add_asset_metadata`` per partition key), and the range's summary goes on the run as
tags. A range that fails records the days it committed, so it resumes from the failed day. One
adapter (``StepRecorder``) records all of it, whichever engine ran the step.
"""


import datetime as dt
import os
import re
import socket
from collections.abc import Iterator
from contextlib import contextmanager

import dagster as dg

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.days import partition_key
from retail_assets.defs.checks import check_result, step_check_specs
from retail_assets.defs.databricks import DatabricksResource
from retail_assets.defs.resources import SimulationResource
from retail_assets.engine.figures import DaySummary
from retail_assets.engine.steps import (
    CHAIN_ASSETS,
    Committed,
    DaysWritten,
    Logged,
    Published,
    Refreshed,
    StepEvent,
    day_metadata,
    run_step,
)
from retail_assets.registry import CHAIN_STEP, DIMENSIONS_STEP, Role
from retail_assets.table_model import Column, Table

WRITER_POOL = "retail_lakehouse_writer"  # dagster.yaml limits it to one op at a time
# The UI's asset groups, by step.
GROUPS = {DIMENSIONS_STEP: "dimensions", CHAIN_STEP: "daily_chain", registry.ROLLUPS_STEP: "rollups",
          registry.INSIGHTS_STEP: "customer_insights"}
# What an asset's writer computes with on the local engine, by step (shown as kinds in the UI).
LOCAL_KINDS = {DIMENSIONS_STEP: ("delta", "numpy"), CHAIN_STEP: ("delta", "numpy"),
               registry.ROLLUPS_STEP: ("delta", "duckdb"), registry.INSIGHTS_STEP: ("delta", "duckdb")}


def step_kinds(step: str, engine: str) -> tuple[str, ...]:
    """The kinds of a step's assets: what computes and stores them on ``engine``."""
    if engine == "spark":
        return ("delta", "spark")
    if engine == "databricks":
        return ("databricks", "spark", "delta")
    return LOCAL_KINDS[step]


RUN_TAG_PREFIX = "retail_assets/"
PID_TAG, HOST_TAG = RUN_TAG_PREFIX + "pid", RUN_TAG_PREFIX + "host"  # the process writing: see cli.fail_dead_runs
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


def tag_run_process(context: dg.AssetExecutionContext) -> None:
    """Name the process that writes on the run, so a run whose process was killed can be told
    from one still going, and failed (with its pool slot freed) instead of blocking the pool."""
    context.instance.add_run_tags(context.run.run_id, {PID_TAG: str(os.getpid()), HOST_TAG: socket.gethostname()})


def partition_range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()



class StepRecorder:
    """The one adapter from a step's events (``engine.steps``) to Dagster, whichever engine ran
    it: called with each event as it happens (in the asset's process, or as a Databricks task's
    Pipes messages arrive), then ``results`` ends the step."""

    def __init__(self, step: str, context: dg.AssetExecutionContext):
        self.step, self.context = step, context
        self.partitions = context.assets_def.partitions_def
        self.committed: list[DaySummary] = []
        self.published: dict[str, dict[str, object]] = {}
        self.checks: list[dg.AssetCheckResult] = []

    def __call__(self, event: StepEvent) -> None:
        context = self.context
        if isinstance(event, Committed):
            self.committed.extend(event.days)
            context.log.info(f"Committed {event.days[0].day} .. {event.days[-1].day}")
            context.instance.add_run_tags(context.run.run_id, {RUN_TAG_PREFIX + "committed_through":
                                                               str(event.days[-1].day)})
        elif isinstance(event, DaysWritten):
            for day, metadata in event.by_day.items():  # each day's own metadata, on its partition
                context.add_asset_metadata(metadata, asset_key=event.table, partition_key=partition_key(day))
        elif isinstance(event, Refreshed):
            self._refreshed(event)
        elif isinstance(event, Logged):
            context.log.info(event.message)
        elif isinstance(event, Published):
            self.published[event.table] = event.metadata
        else:
            self.checks.append(check_result(event.report))

    def _refreshed(self, event: Refreshed) -> None:
        """Earlier partitions this run rewrote: recorded, so that their lineage shows it."""
        keys = [key for key in map(partition_key, event.days) if self.partitions.has_partition_key(key)]
        if keys:
            self.context.log.info(f"{event.table}: rewrote {len(keys)} earlier day(s) {keys[0]} .. {keys[-1]} "
                                  f"({event.metadata})")
        for key in keys:
            self.context.log_event(dg.AssetMaterialization(asset_key=event.table, partition=key,
                                                           metadata=event.metadata))

    @contextmanager
    def keeping_committed_days(self) -> Iterator[None]:
        """On failure, each day committed so far is recorded as a materialisation of its partition
        (so the range resumes from the failed day), then the error goes on."""
        try:
            yield
        except Exception:
            for summary in self.committed:
                for name in CHAIN_ASSETS:
                    self.context.log_event(dg.AssetMaterialization(
                        asset_key=name, partition=partition_key(summary.day), metadata=day_metadata(summary, name)))
            raise

    def results(self) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
        """One result per asset of the step (its days' metadata were added as they came), then
        its checks; a range's chain totals as run tags."""
        if self.committed:
            self.context.instance.add_run_tags(self.context.run.run_id, _run_summary(self.committed))
        for name in registry.step_assets(self.step):
            yield dg.MaterializeResult(asset_key=name, metadata={"dagster/column_schema": column_schema(name),
                                                                 **self.published.get(name, {})})
        yield from self.checks


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


def run_in_dagster(step: str, context: dg.AssetExecutionContext, simulation: SimulationResource,
                   databricks: DatabricksResource) -> Iterator[dg.MaterializeResult | dg.AssetCheckResult]:
    """A step's run on the configured engine, recorded by one ``StepRecorder``: in this process
    (local, spark), or as a Databricks job whose task runs the same ``run_step`` on the cluster
    and sends its events back through Pipes (the host touches no table: only the workspace API)."""
    first, last = partition_range(context)
    context.log.info(f"{step}: {first} .. {last} ({(last - first).days + 1} days) on {simulation.engine_name}")
    recorder = StepRecorder(step, context)
    with recorder.keeping_committed_days():
        if simulation.engine_name == "databricks":
            databricks.run_step(context, step, simulation.config_json, (first, last), recorder)
        else:
            tag_run_process(context)
            ledger, lakehouse = simulation.checked_lakehouse()
            for event in run_step(step, simulation.engine(lakehouse), ledger, first, last):
                recorder(event)
    yield from recorder.results()


STEP_DESCRIPTIONS = {
    DIMENSIONS_STEP: "Rows that become effective on each day (customers acquired, products launched, the date row); "
                     "the first partition also holds everything effective before it.",
    CHAIN_STEP: "Customers meet the shelves day by day: sales, lost demand, end-of-day inventory and the checkpoint, "
                "committed every few days so a failed backfill resumes where it stopped. Every batch is validated "
                "against its contracts just before it is committed; the business rules run on the written range "
                "at the end.",
    registry.ROLLUPS_STEP: "Daily sales and inventory aggs of the partition range, and the weekly / monthly sales aggs "
                           "of every week and month it touches (recomputed from all their days in the lakehouse).",
    registry.INSIGHTS_STEP: "Customer x product affinity of the partition range (trailing 90 days) and the size-fit "
                            "bridge of its sale lines, plus the earlier sale days whose lines were returned in the "
                            "range (recorded as materialisations of their partitions too).",
}


def step_asset(step: str, config: SimulationConfig, engine: str = "local") -> dg.AssetsDefinition:
    """The multi-asset of ``step`` on ``engine``."""

    def materialize(context: dg.AssetExecutionContext, simulation: SimulationResource,
                    databricks: DatabricksResource):
        yield from run_in_dagster(step, context, simulation, databricks)

    materialize.__name__ = step
    materialize.__doc__ = STEP_DESCRIPTIONS[step]
    return step_multi_asset(step, config, engine)(materialize)


def build_assets(config: SimulationConfig, engine: str = "local") -> list[dg.AssetsDefinition]:
    """The dimensions and the daily chain."""
    return [step_asset(DIMENSIONS_STEP, config, engine), step_asset(CHAIN_STEP, config, engine)]


def build_rollup_assets(config: SimulationConfig, engine: str = "local") -> list[dg.AssetsDefinition]:
    """Every step downstream of the facts: the rollups and the customer insights."""
    return [step_asset(registry.ROLLUPS_STEP, config, engine), *build_customer_insight_assets(config, engine)]


def build_customer_insight_assets(config: SimulationConfig, engine: str = "local") -> list[dg.AssetsDefinition]:
    return [step_asset(registry.INSIGHTS_STEP, config, engine)]
