"""Block decomposition: customer blocks and location blocks make the whole world's rows.

This is the property the Spark engine stands on, checked in-process (no Spark): a world is
stepped as one block and as several (stores and their DC apart), from the same state, with
the messages delivered between days, and every table and the carried state agree row for row.
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


BLOCKS = 4


@pytest.fixture(scope="module")
def world():
    return build_world(SimulationConfig.build(preset="tiny"))


def _checkpoint_rows(tables: dict) -> dict:
    return {part: sorted_rows(table) for part, table in tables.items()}


def test_location_blocks_partition_the_locations_and_separate_stores_from_their_dc(world):
    blocks_ = blocks.location_blocks(len(world.locations), BLOCKS)
    assert len(blocks_) == BLOCKS
    assert sorted(np.concatenate(blocks_).tolist()) == list(range(len(world.locations)))
    owner = blocks.block_of_location(blocks_, len(world.locations))
    stores = world.locations.source_dc >= 0
    assert (owner[world.locations.source_dc[stores]] != owner[stores]).any()  # messages must cross blocks


def _step_in_blocks(world, sims, states, day):
    """One day of every block from customer blocks' requests, then the messages delivered."""
    owner = blocks.block_of_location([sim.block for sim in sims], len(world.locations))
    requests = Requests.concat([
        generate_requests(world, sims[0].streams, sims[0].calendar, day, world.config.cart_abandonment_base_rate,
                          customers)
        for customers in blocks.customer_blocks(len(world.customers), per_block=400)
    ])
    routed = blocks.route(requests, owner, len(sims))
    tables = [sim.step(state, day, new_requests=r) for sim, state, r in zip(sims, states, routed)]
    blocks.deliver(states, [sim.block for sim in sims], len(world.locations))
    return blocks.merge_day_tables(tables)


def _merged_checkpoint(sims, states, date_key):
    return _checkpoint_rows(blocks.merge_checkpoints([
        (sim.block, checkpoint.state_to_tables(state, date_key, sim.position_key)) for sim, state in zip(sims, states)
    ]))


def test_warm_up_in_blocks_equals_the_whole_worlds_warm_up(world):
    whole = Simulator(world)
    state = whole.initial_state()
    sims = [Simulator(world, block) for block in blocks.location_blocks(len(world.locations), BLOCKS)]
    states = [sim.initial_state() for sim in sims]
    assert _merged_checkpoint(sims, states, 0) == _checkpoint_rows(checkpoint.state_to_tables(state, 0))
    for day in range(-world.config.warmup_days, 0):
        whole.step(state, day, emit=False)
        _step_in_blocks(world, sims, states, day)
    merged = _merged_checkpoint(sims, states, 0)
    for part, rows in _checkpoint_rows(checkpoint.state_to_tables(state, 0)).items():
        assert merged[part].equals(rows), part
    assert merged[checkpoint.ORDERS].num_rows > 0 and merged[checkpoint.NOTICES].num_rows > 0


def test_days_stepped_by_customer_blocks_and_location_blocks_equal_the_whole_worlds(world):
    whole = Simulator(world)
    state = whole.state_at_start()
    n_locations = len(world.locations)
    start = checkpoint.state_to_tables(state, 0)
    sims = [Simulator(world, block) for block in blocks.location_blocks(n_locations, BLOCKS)]
    states = [checkpoint.state_from_tables(blocks.split_checkpoint(start, sim.block, n_locations), -1, sim.n_positions)
              for sim in sims]
    for day in range(DAYS):
        expected = whole.step(state, day)
        got = _step_in_blocks(world, sims, states, day)
        for name in FACTS:
            assert getattr(expected, name).num_rows > 0 or name == "stockout_events", name
            assert sorted_rows(getattr(got, name)).equals(sorted_rows(getattr(expected, name))), (day, name)
    merged = _merged_checkpoint(sims, states, 9)
    for part, rows in _checkpoint_rows(checkpoint.state_to_tables(state, 9)).items():
        assert merged[part].equals(rows), part
