"""Dagster asset: daily / weekly / monthly rollups of the written facts.

One multi-asset on the same daily partitions as the chain, downstream of the day's facts and the
dimensions (identity partition mapping), with a single-run backfill: a range D1..Dn is one run
that replaces the daily aggs of D1..Dn and recomputes every week and month they touch from the
daily agg tables (see ``retail_assets.analytics.rollups``).
"""

import dagster as dg

from retail_assets.analytics.rollups import write_rollups
from retail_assets.config import SimulationConfig
from retail_assets.defs.assets import WRITER_POOL, table_spec, column_schema, daily_partitions, partition_range
from retail_assets.defs.resources import SimulationResource
from retail_assets.rollup_tables import ROLLUP_TABLES
from retail_assets.storage.delta import Lakehouse

ROLLUP_GROUP = "rollups"
# The day's tables the rollups read (same daily partition: default identity mapping).
UPSTREAM = (
    "gold_sales_fact",
    "gold_lost_sales_fact",
    "gold_inventory_fact",
    "gold_product_dim",
    "gold_location_dim",
    "gold_channel_dim",
    "gold_date_dim",
)


def build_rollup_assets(config: SimulationConfig) -> list[dg.AssetsDefinition]:
    specs = [table_spec(name, ROLLUP_GROUP, deps=UPSTREAM, kinds=("delta", "duckdb")) for name in ROLLUP_TABLES]

    @dg.multi_asset(
        name="rollups",
        specs=specs,
        partitions_def=daily_partitions(config),
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=False,
        pool=WRITER_POOL,
    )
    def rollups(context: dg.AssetExecutionContext, simulation: SimulationResource):
        """Daily sales and inventory aggs of the partition range, and the weekly / monthly sales
        aggs of every week and month it touches (recomputed from all their days in the lakehouse)."""
        first, last = partition_range(context)
        lakehouse = Lakehouse(simulation.simulation_config.lakehouse_path)
        context.log.info(f"Rolling up {first} .. {last} in {lakehouse.root}")
        rows = write_rollups(lakehouse, first, last)
        for name, count in rows.items():
            yield dg.MaterializeResult(
                asset_key=name,
                metadata={
                    "dagster/row_count": count,
                    "dagster/column_schema": column_schema(name),
                    "first_day": str(first),
                    "last_day": str(last),
                },
            )

    return [rollups]
