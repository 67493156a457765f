"""Cost model of the Spark engine: what a day of each preset weighs, and what it should take on
an N-worker cluster.

For each preset it simulates a few days the way the Spark engine cuts them (customer blocks,
then one region step per distribution center, in this process) after a short warm-up, and
measures per day: rows per table, the shuffle (the requests and the regions' lz4 state
payloads crossing it), the customer side's and the largest region's seconds. The expected wall
time per day on N workers is then

    overhead + customer_seconds / min(cores, customer blocks) + ceil(regions / cores) x region_seconds
             + commit_seconds

with ``overhead`` Spark's measured per-day overhead on local[2] (``make bench ENGINE=both``),
one region task per core, and ``commit_seconds`` the driver's delta-rs commit of the day's
tables, measured here. Printed as a Markdown table for the README:
``python -m retail_assets.cost_model`` (``make cost-model``).
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from retail_assets.config import PRESETS, SimulationConfig
from retail_assets.engine.local import CHAIN_TABLES
from retail_assets.engine.spark_tasks import FACTS, encode
from retail_assets.sim import blocks, checkpoint
from retail_assets.sim.day import Simulator
from retail_assets.sim.demand import Requests, generate_requests
from retail_assets.sim.world import build_world
from retail_assets.storage.delta import Lakehouse
from retail_assets.table_model import etl_now
from retail_assets.tables import TABLES

WARMUP_DAYS = 7  # enough for the state's queues to fill; the full 56 would take hours at ecommerce scale
MEASURED_DAYS = 3
SPARK_OVERHEAD_SECONDS = 1.0  # per day on local[2], measured by the benchmark (see README)
CORES_PER_WORKER = 4  # i3.xlarge


@dataclass
class DayWeight:
    preset: str
    regions: int
    customer_blocks: int
    rows: dict[str, float]
    request_bytes: float
    state_bytes: float
    fact_bytes: float
    customer_seconds: float
    region_seconds: float  # the largest region's step
    commit_seconds: float  # the driver writes the day's tables (delta-rs)

    def seconds_on(self, workers: int) -> float:
        cores = workers * CORES_PER_WORKER
        return (SPARK_OVERHEAD_SECONDS + self.customer_seconds / min(cores, self.customer_blocks)
                + math.ceil(self.regions / cores) * self.region_seconds + self.commit_seconds)


def _commit_seconds(config: SimulationConfig, tables: list) -> float:
    """Seconds to write one day's tables to a scratch lakehouse, as the engine's commit does."""
    with tempfile.TemporaryDirectory() as folder:
        lakehouse = Lakehouse(folder)
        stamp = etl_now()
        started = time.perf_counter()
        for name, attribute in CHAIN_TABLES.items():
            declared = TABLES[name]
            data = declared.conform(pa.concat_tables([getattr(part, attribute) for part in tables]), stamp)
            lakehouse.write_days(name, data, [tables[0].date_key], key_column=declared.partition_column)
        return time.perf_counter() - started


def measure(preset: str) -> DayWeight:
    config = SimulationConfig.build(preset=preset, warmup_days=WARMUP_DAYS)
    world = build_world(config)
    regions = blocks.regions(world)
    owner = blocks.region_of_location(regions, len(world.locations))
    sims = [Simulator(world, region) for region in regions]
    states = [sim.state_at_start() for sim in sims]
    customer_blocks = blocks.customer_blocks(len(world.customers))
    totals = {"rows": {name: 0.0 for name in FACTS}, "request_bytes": 0.0, "state_bytes": 0.0, "fact_bytes": 0.0,
              "customer_seconds": 0.0, "region_seconds": 0.0, "commit_seconds": 0.0}
    rate = config.cart_abandonment_base_rate
    for day in range(MEASURED_DAYS):
        started = time.perf_counter()
        requests = Requests.concat([generate_requests(world, sims[0].streams, sims[0].calendar, day, rate, block)
                                    for block in customer_blocks])
        totals["customer_seconds"] += time.perf_counter() - started
        totals["request_bytes"] += requests.to_table(np.full(len(requests), day, dtype=np.int32)).nbytes
        slowest = 0.0
        day_tables = []
        for sim, state, routed in zip(sims, states, blocks.route(requests, owner, len(regions))):
            started = time.perf_counter()
            tables = sim.step(state, day, new_requests=routed)
            slowest = max(slowest, time.perf_counter() - started)
            day_tables.append(tables)
            for name in FACTS:
                totals["rows"][name] += getattr(tables, name).num_rows
                totals["fact_bytes"] += len(encode(getattr(tables, name)))
            totals["state_bytes"] += sum(len(encode(t)) for t in checkpoint.state_to_tables(
                state, 0, sim.position_key).values())
        totals["region_seconds"] += slowest
        totals["commit_seconds"] += _commit_seconds(config, day_tables)
    per_day = {key: value / MEASURED_DAYS for key, value in totals.items() if key != "rows"}
    return DayWeight(preset=preset, regions=len(regions), customer_blocks=len(customer_blocks),
                     rows={name: count / MEASURED_DAYS for name, count in totals["rows"].items()}, **per_day)


def markdown(weights: list[DayWeight], workers: tuple[int, ...]) -> str:
    mib = 1 / 2**20
    rows_header = " | ".join(FACTS)
    lines = [f"| preset | regions | {rows_header} | shuffle per day | to the driver per day | "
             "seconds per day: customers, largest region, commit | "
             + " | ".join(f"{n} workers: s/day, 365 days" for n in workers) + " |",
             "|" + "---|" * (6 + len(FACTS) + len(workers))]
    for w in weights:
        rows = " | ".join(f"{w.rows[name]:,.0f}" for name in FACTS)
        shuffle = f"{(w.request_bytes + w.state_bytes) * mib:,.1f} MiB"
        collected = f"{(w.fact_bytes + w.state_bytes) * mib:,.1f} MiB"
        timing = " | ".join(f"{w.seconds_on(n):.1f} s, {w.seconds_on(n) * 365 / 3600:.1f} h" for n in workers)
        lines.append(f"| {w.preset} | {w.regions} | {rows} | {shuffle} | {collected} | "
                     f"{w.customer_seconds:.2f}, {w.region_seconds:.2f}, {w.commit_seconds:.2f} | {timing} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m retail_assets.cost_model", description=__doc__)
    parser.add_argument("--presets", default="small,mid_market,enterprise,ecommerce")
    parser.add_argument("--workers", default="2,8")
    args = parser.parse_args(argv)
    workers = tuple(int(n) for n in args.workers.split(","))
    weights = []
    for preset in args.presets.split(","):
        if preset not in PRESETS:
            raise SystemExit(f"--presets: unknown preset {preset!r}; allowed: {', '.join(PRESETS)}")
        started = time.perf_counter()
        weights.append(measure(preset))
        print(f"measured {preset} in {time.perf_counter() - started:.0f} s", flush=True)
    print(markdown(weights, workers))


if __name__ == "__main__":
    main()
