"""Cost model of the Spark engine: what a day of each preset weighs, and what it should take on
an N-worker cluster.

For each preset it simulates a few days the way the Spark engine cuts them, in this process
(``sim.blocks.BlockStepper``): customer blocks, then one location block per location
(messages delivered between days), after a short warm-up. It measures per day: rows per
table, the exchange (requests and the blocks' lz4 state payloads), what reaches the driver
(each block's figures and row counts: the executors write the tables), the customer side's
seconds, each location's seconds, and the seconds to write the day's tables (delta-rs here,
as a stand-in for the executors' Delta writes, which run one task per block). The expected
wall time per day on N workers (4 cores each, one location block per core) is then

    overhead + customer_seconds / min(cores, customer blocks)
             + max over location blocks (sum of their locations' seconds)
             + write_seconds / min(cores, location blocks)

with ``overhead`` Spark's fixed cost per simulated day measured on local[2] (``make bench
ENGINE=both``: the day's job, its Delta append of block rows, and its share of a batch's
table writes).
Printed as a Markdown table for the README: ``python -m retail_assets.cost_model``
(``make cost-model``).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from retail_assets.config import PRESETS, SimulationConfig
from retail_assets.engine.figures import day_figures
from retail_assets.engine.local import CHAIN_FACTS
from retail_assets.engine.spark_tasks import FACTS, SUMMARY, block_rows, encode
from retail_assets.sim import blocks, checkpoint
from retail_assets.sim.context import DayContext
from retail_assets.sim.day import initial_state, step
from retail_assets.sim.demand import Requests
from retail_assets.sim.inventory import InventoryState
from retail_assets.sim.world import build_world
from retail_assets.storage.delta import Lakehouse
from retail_assets.table_model import etl_now

WARMUP_DAYS = 7  # enough for the state's queues to fill; the full 56 would take hours at ecommerce scale
MEASURED_DAYS = 3
SPARK_OVERHEAD_SECONDS = 1.3  # per simulated day on local[2], measured by the benchmark (see README); --spark-overhead
CORES_PER_WORKER = 4  # i3.xlarge


@dataclass
class DayWeight:
    preset: str
    customer_blocks: int
    rows: dict[str, float]
    request_bytes: float
    state_bytes: float
    driver_bytes: float  # the blocks' figures and row counts
    customer_seconds: float
    location_seconds: np.ndarray  # each location's position side, alone in its block
    write_seconds: float  # the day's tables written in one process (split over the blocks' tasks on Spark)

    def seconds_on(self, workers: int, overhead: float = SPARK_OVERHEAD_SECONDS) -> float:
        cores = workers * CORES_PER_WORKER
        location_blocks = blocks.location_blocks(len(self.location_seconds), cores)
        position_side = max(self.location_seconds[block].sum() for block in location_blocks)
        return (overhead + self.customer_seconds / min(cores, self.customer_blocks)
                + position_side + self.write_seconds / len(location_blocks))


def _write_seconds(config: SimulationConfig, tables: list) -> float:
    """Seconds to write one day's tables to a scratch lakehouse in one process."""
    with tempfile.TemporaryDirectory() as folder:
        lakehouse = Lakehouse(folder)
        stamp = etl_now()
        started = time.perf_counter()
        for fact in CHAIN_FACTS:
            declared = fact.declaration
            data = declared.conform(pa.concat_tables([getattr(part, fact.day_tables_field) for part in tables]), stamp)
            lakehouse.write_days(fact.name, data, [tables[0].date_key], key_column=declared.partition_column)
        return time.perf_counter() - started


def measure(preset: str) -> DayWeight:
    config = SimulationConfig.build(preset=preset, warmup_days=WARMUP_DAYS)
    world = build_world(config)
    n_locations = len(world.locations)
    stepper = blocks.BlockStepper(world, n_locations)
    # The whole world's initial state, split: the same states, without each block scanning every customer.
    states = stepper.split(checkpoint.state_to_tables(initial_state(stepper.world_context), 0), -WARMUP_DAYS - 1)
    rows = {name: 0.0 for name in FACTS}
    totals = {"request_bytes": 0.0, "state_bytes": 0.0, "driver_bytes": 0.0,
              "customer_seconds": 0.0, "write_seconds": 0.0}
    location_seconds = np.zeros(n_locations)

    def timed_step(ctx: DayContext, state: InventoryState, day: int, emit: bool, requests: Requests):
        """A block's day step, its seconds added to its locations' (measured days only)."""
        started = time.perf_counter()
        tables = step(ctx, state, day, emit, requests)
        location_seconds[ctx.positions.block] += (time.perf_counter() - started) * emit
        return tables

    for day in range(-WARMUP_DAYS, MEASURED_DAYS):
        emit = day >= 0
        started = time.perf_counter()
        requests = stepper.requests(day)
        customer_seconds = time.perf_counter() - started
        day_tables = stepper.step_blocks(states, day, emit, requests, step_block=timed_step)
        if not emit:
            continue
        totals["customer_seconds"] += customer_seconds
        totals["request_bytes"] += requests.to_table(np.full(len(requests), day, dtype=np.int32)).nbytes
        for ctx, state, tables in zip(stepper.contexts, states, day_tables):
            for name in FACTS:
                rows[name] += getattr(tables, name).num_rows
            totals["state_bytes"] += sum(len(encode(t)) for t in checkpoint.state_to_tables(
                state, 0, ctx.positions.key).values())
            summary = block_rows(day, 0, SUMMARY, {SUMMARY: pa.Table.from_pylist([day_figures(tables)])})
            totals["driver_bytes"] += summary.column("payload")[0].as_buffer().size + 32 * (1 + len(FACTS))
        totals["write_seconds"] += _write_seconds(config, day_tables)
    return DayWeight(preset=preset, customer_blocks=len(stepper.customer_blocks),
                     rows={name: count / MEASURED_DAYS for name, count in rows.items()},
                     location_seconds=location_seconds / MEASURED_DAYS,
                     **{key: value / MEASURED_DAYS for key, value in totals.items()})


def markdown(weights: list[DayWeight], workers: tuple[int, ...], overhead: float = SPARK_OVERHEAD_SECONDS) -> str:
    mib = 1 / 2**20
    rows_header = " | ".join(FACTS)
    lines = [f"| preset | {rows_header} | exchange per day | to the driver per day | "
             "seconds per day: customers, locations (sum), writes | "
             + " | ".join(f"{n} workers: s/day, 365 days" for n in workers) + " |",
             "|" + "---|" * (5 + len(FACTS) + len(workers))]
    for w in weights:
        rows = " | ".join(f"{w.rows[name]:,.0f}" for name in FACTS)
        shuffle = f"{(w.request_bytes + w.state_bytes) * mib:,.1f} MiB"
        collected = f"{w.driver_bytes / 1024:,.1f} KiB"
        timing = " | ".join(f"{w.seconds_on(n, overhead):.1f} s, {w.seconds_on(n, overhead) * 365 / 3600:.1f} h"
                            for n in workers)
        lines.append(f"| {w.preset} | {rows} | {shuffle} | {collected} | "
                     f"{w.customer_seconds:.2f}, {w.location_seconds.sum():.2f}, {w.write_seconds:.2f} | {timing} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m retail_assets.cost_model", description=__doc__)
    parser.add_argument("--presets", default="small,mid_market,enterprise,ecommerce")
    parser.add_argument("--workers", default="2,8")
    parser.add_argument("--spark-overhead", type=float, default=SPARK_OVERHEAD_SECONDS,
                        help="Spark's fixed seconds per day (make bench ENGINE=both prints it)")
    args = parser.parse_args(argv)
    workers = tuple(int(n) for n in args.workers.split(","))
    weights = []
    for preset in args.presets.split(","):
        if preset not in PRESETS:
            raise SystemExit(f"--presets: unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
        started = time.perf_counter()
        weights.append(measure(preset))
        print(f"measured {preset} in {time.perf_counter() - started:.0f} s", flush=True)
    print(markdown(weights, workers, args.spark_overhead))


if __name__ == "__main__":
    main()
