"""The code location's builder: assets, job, schedule and resources for one configuration.

Kept apart from ``retail_assets.definitions`` (which builds ``defs`` from the environment when
imported), so the CLI and the tests build their own without reading any ``RETAIL_*`` variable.
"""

from __future__ import annotations

import dagster as dg

from retail_assets.config import SimulationConfig
from retail_assets.defs.assets import build_assets, build_rollup_assets
from retail_assets.defs.databricks import DatabricksResource
from retail_assets.defs.profile import build_profile_assets
from retail_assets.defs.resources import SimulationResource
from retail_assets.defs.schedule import build_catch_up_schedule

DAILY_JOB = "daily_lakehouse"


def resources(
    config: SimulationConfig, engine: str = "local", databricks: DatabricksResource | None = None
) -> dict[str, dg.ConfigurableResource]:
    """The assets' resources. ``engine="databricks"`` runs every step as a Databricks job,
    with host and token read from DATABRICKS_HOST / DATABRICKS_TOKEN at run time unless
    ``databricks`` is given."""
    if databricks is None:
        databricks = (DatabricksResource(host=dg.EnvVar("DATABRICKS_HOST"), token=dg.EnvVar("DATABRICKS_TOKEN"))
                      if engine == "databricks" else DatabricksResource())
    return {"simulation": SimulationResource.for_config(config, engine), "databricks": databricks}


def build_definitions(
    config: SimulationConfig, engine: str = "local", databricks: DatabricksResource | None = None
) -> dg.Definitions:
    """The code location (see ``resources`` for the engine). Steps run in the run's own process
    (the in-process executor): the writer steps run one after another anyway, and a process per
    step cost more than a day's work."""
    assets = [*build_assets(config, engine), *build_rollup_assets(config, engine)]
    job = dg.define_asset_job(
        DAILY_JOB,
        selection=dg.AssetSelection.assets(*assets),
        description="Every table of one day (or a range, as one run).",
    )
    asset_keys = [key for asset in assets for key in asset.keys]
    return dg.Definitions(
        assets=[*assets, *build_profile_assets(engine)],  # the profile: unpartitioned, not in the daily job
        jobs=[job],
        schedules=[build_catch_up_schedule(job, config, asset_keys, engine)],
        resources=resources(config, engine, databricks),
        executor=dg.in_process_executor,
    )
