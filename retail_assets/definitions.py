"""The code location: ``dagster dev -w workspace.yaml`` loads ``defs`` from here.

Configuration comes from ``RETAIL_*`` environment variables (see README), validated before
any asset is defined: a bad value fails the code location load with a message naming it.
"""

from __future__ import annotations

import dagster as dg

from retail_assets.config import SimulationConfig
from retail_assets.defs.assets import build_assets
from retail_assets.defs.resources import SimulationResource
from retail_assets.defs.rollups import build_rollup_assets

DAILY_JOB = "daily_lakehouse"


def build_definitions(config: SimulationConfig) -> dg.Definitions:
    assets = [*build_assets(config), *build_rollup_assets(config)]
    job = dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.assets(*assets),
        description="Every table of one day (or a range, as one run).",
    )
    schedule = dg.build_schedule_from_partitioned_job(
        job,
        description="Materialises yesterday's partition every night at 00:30 UTC.",
        minute_of_hour=30,
        default_status=dg.DefaultScheduleStatus.STOPPED,
    )
    return dg.Definitions(
        assets=assets,
        jobs=[job],
        schedules=[schedule],
        resources={"simulation": SimulationResource.for_config(config)},
    )


defs = build_definitions(SimulationConfig.from_env())
