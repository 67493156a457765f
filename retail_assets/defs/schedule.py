"""The nightly schedule: keep the lakehouse current, catching up every day it misses.

Day D needs the checkpoint of D-1, so a schedule asking for "yesterday" alone fails as soon as one
night is skipped (or on an empty lakehouse). Each tick instead finds the first day of the
partition set that is missing (from the lakehouse or from Dagster's record of any asset) and
requests that day .. yesterday as one run, the single-run backfill path; a tick with nothing
missing, or while a run of the job is still going, is skipped with the reason.
"""

from __future__ import annotations

import datetime as dt

import dagster as dg

from retail_assets.analytics.customer_insights import INSIGHTS_OPERATION
from retail_assets.analytics.rollups import ROLLUPS_OPERATION
from retail_assets.config import SimulationConfig
from retail_assets.days import day_of_partition, days_between, partition_key
from retail_assets.defs.assets import daily_partitions, range_tags
from retail_assets.engine.local import (
    CHAIN_OPERATION,
    DIMENSIONS_OPERATION,
    first_missing_day,
)
from retail_assets.storage.delta import Lakehouse

EVERY_OPERATION = (DIMENSIONS_OPERATION, CHAIN_OPERATION, ROLLUPS_OPERATION, INSIGHTS_OPERATION)
ACTIVE = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
          dg.DagsterRunStatus.STARTED]


def first_missing_partition(instance: dg.DagsterInstance, asset_keys, lakehouse: Lakehouse | None,
                            start: dt.date, last: dt.date) -> dt.date | None:
    """The first day of start..last that the lakehouse (its commit ledger) or Dagster (any asset's
    materialisations) does not have; None when every day is there. A lakehouse that lost a
    committed table fails the tick, naming it. ``lakehouse`` None: one this process cannot read
    (on Databricks, a volume only the cluster sees), Dagster's record alone."""
    missing = None
    if lakehouse is not None:
        lakehouse.verify()
        missing = first_missing_day(lakehouse, start, last, EVERY_OPERATION)
    days = days_between(start, last)
    for key in asset_keys:
        materialised = instance.get_materialized_partitions(key)
        unrecorded = next((day for day in days if partition_key(day) not in materialised), None)
        if unrecorded is not None and (missing is None or unrecorded < missing):
            missing = unrecorded
    return missing


def build_catch_up_schedule(job: dg.UnresolvedAssetJobDefinition, config: SimulationConfig,
                            asset_keys: list[dg.AssetKey], engine: str = "local") -> dg.ScheduleDefinition:
    partitions = daily_partitions(config)
    lakehouse = None if engine == "databricks" else Lakehouse(config.lakehouse_path)

    @dg.schedule(
        name=f"{job.name}_schedule",
        job=job,
        cron_schedule="30 0 * * *",
        execution_timezone="UTC",
        default_status=dg.DefaultScheduleStatus.STOPPED,
        description=f"Every night at 00:30 UTC: materialises, as one run, every day of the partition set "
        f"({config.start_date} .. {config.end_date}) up to yesterday that is not in the lakehouse yet, from "
        "the first missing day on (an empty lakehouse catches up from the start date).",
        metadata={"partitions": f"{config.start_date} .. {config.end_date} (daily)",
                  "lakehouse": str(config.lakehouse_path)},
    )
    def catch_up(context: dg.ScheduleEvaluationContext):
        ended = partitions.get_partition_keys(current_time=context.scheduled_execution_time)
        if not ended:
            return dg.SkipReason(f"no day of the partition set has ended yet (it starts on {config.start_date})")
        last = day_of_partition(ended[-1])
        first = first_missing_partition(context.instance, asset_keys, lakehouse, config.start_date, last)
        if first is None:
            return dg.SkipReason(f"nothing to do: every day up to {last} is materialised")
        active = context.instance.get_run_records(dg.RunsFilter(job_name=job.name, statuses=ACTIVE), limit=1)
        if active:
            return dg.SkipReason(f"run {active[0].dagster_run.run_id} of {job.name} is still going; "
                                 f"{first} .. {last} waits for the next tick")
        return dg.RunRequest(
            run_key=f"{first}..{last}",
            tags=range_tags(first, last),
        )

    return catch_up
