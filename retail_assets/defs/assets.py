"""Dagster assets: the world's dimensions and the daily inventory chain.

Both are daily-partitioned multi-assets with single-run backfills: a UI backfill of 365 days
is one run that loops over the days (seconds), not 365 runs queued by the daemon (hours).
Only ``inventory_checkpoint`` depends on its own previous partition; the facts of day D are
produced from it by the same op, so Dagster sees the true lineage without the sibling specs
disagreeing about the subset to backfill.
"""


import datetime as dt
import time
from collections.abc import Iterator

import dagster as dg

from retail_assets import tables
from retail_assets.config import SimulationConfig
from retail_assets.contracts.rules import Window, rules_for
from retail_assets.defs.checks import contract_check_specs, contract_results, rule_check_specs, rule_results
from retail_assets.defs.databricks import DatabricksResource
from retail_assets.defs.resources import SimulationResource
from retail_assets.engine.local import CHAIN_TABLES, DaySummary
from retail_assets.sim.dimensions import BUILDERS as DIMENSION_BUILDERS

WRITER_POOL = "retail_lakehouse_writer"  # dagster.yaml limits it to one op at a time
CHECKPOINT_KEY = dg.AssetKey("inventory_checkpoint")


def daily_partitions(config: SimulationConfig) -> dg.DailyPartitionsDefinition:
    return dg.DailyPartitionsDefinition(start_date=config.start_date.isoformat())


def column_schema(name: str) -> dg.TableSchema:
    """The declared columns and their contracts, as the UI shows them."""
    declared = tables.TABLES[name]
    return dg.TableSchema(
        columns=[
            dg.TableColumn(c.name, str(c.type), description=c.description,
                           constraints=dg.TableColumnConstraints(nullable=c.nullable, unique=c.unique,
                                                                 other=_column_rules(declared, c)))
            for c in declared.columns
        ],
        constraints=dg.TableConstraints(other=[
            *([f"unique ({', '.join(declared.key)})"] if declared.key else []),
            *(f"{rule.name}: {rule.sql}" for rule in declared.rules),
        ]),
    )


def _column_rules(declared: tables.Table, column: tables.Column) -> list[str]:
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


def table_spec(name: str, group: str, deps=(), kinds=("delta", "numpy")) -> dg.AssetSpec:
    declared = tables.TABLES[name]
    return dg.AssetSpec(
        key=name,
        description=declared.description,
        group_name=group,
        kinds=set(kinds),
        deps=list(deps),
        metadata={"dagster/column_schema": column_schema(name), "dagster/table_name": name},
        tags={"retail_assets/layer": group},
    )


def daily_multi_asset(name: str, specs: list[dg.AssetSpec], config: SimulationConfig, check_specs=()):
    """A multi-asset on the daily partitions whose backfills run as one run over the range,
    writing the lakehouse in the single-writer pool."""
    return dg.multi_asset(
        name=name,
        specs=specs,
        check_specs=list(check_specs),
        partitions_def=daily_partitions(config),
        backfill_policy=dg.BackfillPolicy.single_run(),
        can_subset=False,
        pool=WRITER_POOL,
    )


def table_results(rows: dict[str, int], first: dt.date, last: dt.date, **extra) -> Iterator[dg.MaterializeResult]:
    """One result per written table: rows, column schema, the range, and ``extra[name]`` if given."""
    for name, count in rows.items():
        metadata = {
            "dagster/row_count": count,
            "dagster/column_schema": column_schema(name),
            "first_day": str(first),
            "last_day": str(last),
            **extra.get(name, {}),
        }
        yield dg.MaterializeResult(asset_key=name, metadata=metadata)


def partition_range(context: dg.AssetExecutionContext) -> tuple[dt.date, dt.date]:
    window = context.partition_time_window
    return window.start.date(), (window.end - dt.timedelta(days=1)).date()


def build_assets(config: SimulationConfig) -> list[dg.AssetsDefinition]:
    dimension_specs = [table_spec(name, "dimensions") for name in DIMENSION_BUILDERS]
    dimension_keys = [spec.key for spec in dimension_specs]

    @daily_multi_asset("world_dimensions", dimension_specs, config,
                       contract_check_specs(DIMENSION_BUILDERS, blocking=True))
    def world_dimensions(context: dg.AssetExecutionContext, simulation: SimulationResource):
        """Rows that become effective on each day (customers acquired, products launched, the
        date row); the first partition also holds everything effective before it."""
        first, last = partition_range(context)
        ledger, lakehouse = simulation.checked_lakehouse()
        engine = simulation.engine(lakehouse)
        yield from table_results(engine.write_dimensions(first, last), first, last)
        yield from contract_results(ledger, DIMENSION_BUILDERS)

    chain_specs = [table_spec(name, "daily_chain", deps=dimension_keys) for name in CHAIN_TABLES]
    checkpoint_spec = dg.AssetSpec(
        key=CHECKPOINT_KEY,
        description="Full inventory state at the end of the day (positions, open orders, scheduled "
        "pickups and returns): what day D+1 starts from.",
        group_name="daily_chain",
        kinds={"delta", "numpy"},
        deps=[
            dg.AssetDep(
                CHECKPOINT_KEY,
                partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-1, end_offset=-1),
            )
        ],
    )

    chain_rules = rules_for(CHAIN_TABLES)
    chain_checks = [*contract_check_specs(CHAIN_TABLES, blocking=True), *rule_check_specs(chain_rules)]

    @daily_multi_asset("daily_chain", [*chain_specs, checkpoint_spec], config, chain_checks)
    def daily_chain(context: dg.AssetExecutionContext, simulation: SimulationResource, databricks: DatabricksResource):
        """Customers meet the shelves day by day: sales, lost demand, end-of-day inventory and
        the checkpoint, committed every few days so a failed backfill resumes where it stopped.
        Every batch is validated against its contracts just before it is committed; the business
        rules run on the written range at the end."""
        first, last = partition_range(context)
        context.log.info(f"Simulating {first} .. {last} ({(last - first).days + 1} days) on {simulation.engine_name}")
        if simulation.engine_name == "databricks":  # the remote task reports the same results and checks
            extras = {"config_json": simulation.config_json, "first_day": str(first), "last_day": str(last)}
            yield from databricks.run_chain(context, extras)
            return
        started = time.perf_counter()
        ledger, lakehouse = simulation.checked_lakehouse()
        totals: dict[str, int] = {}
        days: list[DaySummary] = []
        for committed in simulation.chain_engine(lakehouse).run(first, last):
            for summary in committed:
                _log_day(context, summary)
                for name, count in summary.rows.items():
                    totals[name] = totals.get(name, 0) + count
            days.extend(committed)
        for name in CHAIN_TABLES:
            metadata = {**_range_metadata(days, totals.get(name, 0)), "dagster/column_schema": column_schema(name)}
            yield dg.MaterializeResult(asset_key=name, metadata=metadata)
        yield dg.MaterializeResult(asset_key=CHECKPOINT_KEY, metadata={"last_day": str(last)})
        elapsed = time.perf_counter() - started
        validating = sum(ledger.verdict(name).seconds for name in CHAIN_TABLES)
        context.log.info(f"Contracts: {validating:.1f} s validating, {validating / elapsed:.1%} of the "
                         f"{elapsed:.1f} s the chain took")
        yield from contract_results(ledger, CHAIN_TABLES)
        yield from rule_results(lakehouse, chain_rules, Window(first, last))

    return [world_dimensions, daily_chain]


def _day_metadata(summary: DaySummary) -> dict[str, object]:
    return {
        "units_sold": summary.units_sold,
        "units_lost": summary.units_lost,
        "lost_revenue": round(summary.lost_revenue, 2),
        "net_sales": round(summary.net_sales, 2),
        "stockout_rate": round(summary.stockout_rate, 4),
        "constrained_lines": summary.constrained_lines,
    }


def _log_day(context: dg.AssetExecutionContext, summary: DaySummary) -> None:
    """Record a committed day, so that a range run that fails later resumes after it."""
    partition = summary.day.isoformat()
    for name in CHAIN_TABLES:
        context.log_event(
            dg.AssetMaterialization(
                asset_key=name,
                partition=partition,
                metadata={"dagster/row_count": summary.rows.get(name, 0), **_day_metadata(summary)},
            )
        )
    context.log_event(dg.AssetMaterialization(asset_key=CHECKPOINT_KEY, partition=partition))


def _range_metadata(days: list[DaySummary], rows: int) -> dict[str, object]:
    count = max(len(days), 1)
    return {
        "dagster/row_count": rows,
        "days": len(days),
        "units_sold": sum(d.units_sold for d in days),
        "units_lost": sum(d.units_lost for d in days),
        "lost_revenue": round(sum(d.lost_revenue for d in days), 2),
        "mean_stockout_rate": round(sum(d.stockout_rate for d in days) / count, 4),
        "last_day_stockout_rate": round(days[-1].stockout_rate, 4) if days else 0.0,
    }
