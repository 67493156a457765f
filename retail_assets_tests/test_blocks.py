"""Block decomposition: customer blocks and location regions make the whole world's rows.

This is the property the Spark engine stands on, checked in-process (no Spark): a world with
two regions is stepped as one block and as two, from the same state, and every table and
the carried state agree row for row.
"""

from __future__ import annotations

import numpy as np
import pytest

from retail_assets.config import SimulationConfig
from retail_assets.sim import blocks, checkpoint
from retail_assets.sim.day import DayTables, Simulator
from retail_assets.sim.demand import Requests, generate_requests
from retail_assets.sim.world import build_world
from retail_assets_tests.helpers import sorted_rows

DAYS = 4
FACTS = [name for name in DayTables.__dataclass_fields__ if name not in ("day", "date_key")]


@pytest.fixture(scope="module")
def world():
    return build_world(SimulationConfig.build(preset="tiny", locations=60))


def _checkpoint_rows(tables: dict) -> dict:
    return {part: sorted_rows(table) for part, table in tables.items()}


def test_regions_partition_the_locations_and_hold_their_distribution_centers(world):
    regions = blocks.regions(world)
    assert len(regions) >= 2
    assert sorted(np.concatenate(regions).tolist()) == list(range(len(world.locations)))
    owner = blocks.region_of_location(regions, len(world.locations))
    stores = world.locations.source_dc >= 0
    assert (owner[world.locations.source_dc[stores]] == owner[stores]).all()


def test_warm_up_per_region_equals_the_whole_worlds_warm_up(world):
    whole = Simulator(world)
    whole_tables = checkpoint.state_to_tables(whole.state_at_start(), 0)
    parts = []
    for region in blocks.regions(world):
        sim = Simulator(world, region)
        parts.append((region, checkpoint.state_to_tables(sim.state_at_start(), 0, sim.position_key)))
    merged = _checkpoint_rows(blocks.merge_checkpoints(parts))
    for part, rows in _checkpoint_rows(whole_tables).items():
        assert merged[part].equals(rows), part


def test_days_stepped_by_customer_blocks_and_regions_equal_the_whole_worlds(world):
    whole = Simulator(world)
    state = whole.state_at_start()
    regions = blocks.regions(world)
    n_locations = len(world.locations)
    start = checkpoint.state_to_tables(state, 0)
    sims = [Simulator(world, region) for region in regions]
    states = [checkpoint.state_from_tables(blocks.split_checkpoint(start, region, n_locations), -1, sim.n_positions)
              for region, sim in zip(regions, sims)]
    owner = blocks.region_of_location(regions, n_locations)
    abandonment = world.config.cart_abandonment_base_rate
    for day in range(DAYS):
        expected = whole.step(state, day)
        requests = Requests.concat([
            generate_requests(world, whole.streams, whole.calendar, day, abandonment, customers)
            for customers in blocks.customer_blocks(len(world.customers), per_block=400)
        ])
        routed = blocks.route(requests, owner, len(regions))
        got = blocks.merge_day_tables([sim.step(s, day, new_requests=r) for sim, s, r in zip(sims, states, routed)])
        for name in FACTS:
            assert getattr(expected, name).num_rows > 0 or name == "stockout_events", name
            assert sorted_rows(getattr(got, name)).equals(sorted_rows(getattr(expected, name))), (day, name)
    merged = blocks.merge_checkpoints([
        (region, checkpoint.state_to_tables(s, 9, sim.position_key)) for region, sim, s in zip(regions, sims, states)
    ])
    for part, rows in _checkpoint_rows(checkpoint.state_to_tables(state, 9)).items():
        assert _checkpoint_rows(merged)[part].equals(rows), part
