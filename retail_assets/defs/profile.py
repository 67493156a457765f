"""The realism profile as an asset: the whole lakehouse measured against published retail anchors
(``analytics.realism``), its table and charts shown as the materialisation's metadata.

Unpartitioned and downstream of the rollups and insights, so it sits at the end of the graph and
profiles every day the lakehouse holds, whatever range was materialised. It reads the Delta
tables on this machine with DuckDB (at the commit ledger's versions), so the local and spark
engines have it; on Databricks the tables live in the workspace's catalog, not here.
"""

import base64
from contextlib import closing

import dagster as dg

from retail_assets import registry
from retail_assets.analytics import realism
from retail_assets.defs.resources import SimulationResource
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.queries import DuckDbQueries

PROFILE_ASSET = "realism_profile"
PROFILE_GROUP = "realism"
UPSTREAM = (*registry.step_assets(registry.ROLLUPS_STEP), *registry.step_assets(registry.INSIGHTS_STEP))


def metadata(result: realism.Profile) -> dict[str, dg.MetadataValue]:
    """The table (markdown), each measured figure as a float, and each chart as markdown holding
    the PNG as a data URI (Dagster has no image metadata; the UI's markdown shows it)."""
    charts = {f"chart_{name}": dg.MetadataValue.md(f"![{name}](data:image/png;base64,{base64.b64encode(png).decode()})")
              for name, png in realism.charts(result).items()}
    figures = {m.key: dg.MetadataValue.float(m.value) for m in result.figures if m.value is not None}
    return {
        "realism": dg.MetadataValue.md(realism.markdown(result)),
        "profiled_range": dg.MetadataValue.text(f"{result.first} .. {result.last}"),
        "out_of_band": dg.MetadataValue.int(len(result.out_of_band)),
        **figures,
        **charts,
    }


def build_profile_assets(engine: str = "local") -> list[dg.AssetsDefinition]:
    """The realism profile, where the lakehouse's tables are on this machine (not on Databricks)."""
    if engine == "databricks":
        return []

    # single_run: `dagster asset materialize --select '*' --partition-range` takes a range only when
    # every selected asset has this policy (the profile runs once, after the range's run).
    @dg.asset(name=PROFILE_ASSET, group_name=PROFILE_GROUP, kinds={"duckdb", "matplotlib"},
              deps=list(UPSTREAM), tags={"retail_assets/layer": PROFILE_GROUP},
              backfill_policy=dg.BackfillPolicy.single_run())
    def realism_profile(context: dg.AssetExecutionContext, simulation: SimulationResource) -> dg.MaterializeResult:
        """Every day the lakehouse holds measured against published retail anchors (stockouts,
        conversion, abandonment, returns, frequency, seasonality, turnover, forecasts, distance):
        each figure with its band, source and verdict, and charts."""
        config = simulation.simulation_config
        with closing(DuckDbQueries(Lakehouse(config.lakehouse_path))) as queries:
            result = realism.profile(queries, config)
        gaps = ", ".join(m.key for m in result.out_of_band)
        context.log.info(f"profiled {result.first} .. {result.last}: {len(result.out_of_band)} figure(s) out of band"
                         + (f" ({gaps})" if gaps else ""))
        return dg.MaterializeResult(metadata=metadata(result))

    return [realism_profile]
