"""Dagster assets downstream of the facts: rollups and customer insights.

Two multi-assets on the same daily partitions as the chain, downstream of the day's facts and the
dimensions (identity partition mapping), each with a single-run backfill:

- ``rollups``: a range D1..Dn is one run that replaces the daily aggs of D1..Dn and recomputes
  every week and month they touch from the daily agg tables (``retail_assets.analytics.rollups``).
- ``customer_insights``: a range D1..Dn replaces the customer x product affinity of D1..Dn (each
  day over its trailing 90 days of facts) and the size-fit bridge of D1..Dn plus the earlier sale
  days whose lines were returned on D1..Dn (``retail_assets.analytics.customer_insights``); those
  earlier days are recorded as materialisations of their partitions too.
"""

from contextlib import closing

import dagster as dg

from retail_assets import registry
from retail_assets.analytics.customer_insights import (
    size_fit_bridge_days,
    write_customer_insights,
)
from retail_assets.analytics.rollups import write_rollups
from retail_assets.config import SimulationConfig
from retail_assets.days import day_of_key, partition_key
from retail_assets.defs.assets import (
    daily_partitions,
    partition_range,
    record_rows_by_day,
    step_multi_asset,
    step_results,
    tag_run_process,
)
from retail_assets.defs.resources import SimulationResource
from retail_assets.registry import INSIGHTS_STEP, ROLLUPS_STEP
from retail_assets.rollup_tables import GOLD_SIZE_FIT_BRIDGE


def build_rollup_assets(config: SimulationConfig, engine: str = "local") -> list[dg.AssetsDefinition]:
    """Every downstream multi-asset: the rollups and the customer insights."""

    @step_multi_asset(ROLLUPS_STEP, config, engine)
    def rollups(context: dg.AssetExecutionContext, simulation: SimulationResource):
        """Daily sales and inventory aggs of the partition range, and the weekly / monthly sales
        aggs of every week and month it touches (recomputed from all their days in the lakehouse)."""
        first, last = partition_range(context)
        tag_run_process(context)
        ledger, lakehouse = simulation.checked_lakehouse()
        engine = simulation.engine(lakehouse)  # on the spark engine, Spark computes and writes them
        context.log.info(f"Rolling up {first} .. {last} in {lakehouse.root}")
        with lakehouse.writing():
            write_rollups(lakehouse, first, last, engine.queries)
            record_rows_by_day(context, engine, registry.step_assets(ROLLUPS_STEP))
        yield from step_results(ROLLUPS_STEP, context, ledger, engine, config)

    return [rollups, *build_customer_insight_assets(config, engine)]


def build_customer_insight_assets(config: SimulationConfig, engine: str = "local") -> list[dg.AssetsDefinition]:
    partitions = daily_partitions(config)

    @step_multi_asset(INSIGHTS_STEP, config, engine)
    def customer_insights(context: dg.AssetExecutionContext, simulation: SimulationResource):
        """Customer x product affinity of the partition range (trailing 90 days) and the size-fit
        bridge of its sale lines, plus the earlier sale days whose lines were returned in the range."""
        first, last = partition_range(context)
        tag_run_process(context)
        ledger, lakehouse = simulation.checked_lakehouse()
        engine = simulation.engine(lakehouse)  # on the spark engine, Spark computes and writes them
        context.log.info(f"Customer insights {first} .. {last} in {lakehouse.root}")
        with lakehouse.writing():
            with closing(engine.queries()) as queries:  # the days write_customer_insights rewrites
                bridge_days = size_fit_bridge_days(queries, first, last)
            write_customer_insights(lakehouse, first, last, engine.queries)
        refreshed = [partition_key(day_of_key(key)) for key in bridge_days if day_of_key(key) < first]
        refreshed = [key for key in refreshed if partitions.has_partition_key(key)]
        if refreshed:
            context.log.info(f"{GOLD_SIZE_FIT_BRIDGE.name}: refreshed {len(refreshed)} earlier sale day(s) "
                             f"{refreshed[0]} .. {refreshed[-1]} for returns dated {first} .. {last}")
        for partition in refreshed:  # rewritten by this run: record them, so their lineage shows it
            context.log_event(
                dg.AssetMaterialization(
                    asset_key=GOLD_SIZE_FIT_BRIDGE.name,
                    partition=partition,
                    metadata={"refreshed_for_returns_dated": f"{first} .. {last}"},
                )
            )
        record_rows_by_day(context, engine, registry.step_assets(INSIGHTS_STEP))
        yield from step_results(INSIGHTS_STEP, context, ledger, engine, config)

    return [customer_insights]
