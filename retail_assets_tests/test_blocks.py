"""Block decomposition: customer blocks and location blocks make the whole world's rows.

This is the property the Spark engine stands on, checked in-process (no Spark) with the
``BlockStepper`` its tasks mirror: a world is stepped as one block and as several (stores and
their DC apart), from the same state, with the messages delivered between days, and every
table and the carried state agree row for row.
"""

from __future__ import annotations

import numpy as np
import pytest

from retail_assets.config import SimulationConfig
from retail_assets.sim import blocks, checkpoint
from retail_assets.sim.context import DayContext
from retail_assets.sim.day import DayTables, initial_state, state_at_start, step
from retail_assets.sim.world import build_world
from retail_assets_tests.helpers import sorted_rows

DAYS = 4
FACTS = [name for name in DayTables.__dataclass_fields__ if name not in ("day", "date_key")]
BLOCKS = 4
CUSTOMERS_PER_BLOCK = 400  # several customer blocks even in the tiny world


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


def test_warm_up_in_blocks_equals_the_whole_worlds_warm_up(world):
    whole = DayContext.build(world)
    state = initial_state(whole)
    stepper = blocks.BlockStepper(world, BLOCKS, CUSTOMERS_PER_BLOCK)
    states = stepper.initial_states()
    assert _checkpoint_rows(stepper.checkpoint(states, 0)) == _checkpoint_rows(checkpoint.state_to_tables(state, 0))
    for day in range(-world.config.warmup_days, 0):
        step(whole, state, day, emit=False)
        stepper.step(states, day, emit=False)
    merged = _checkpoint_rows(stepper.checkpoint(states, 0))
    for part, rows in _checkpoint_rows(checkpoint.state_to_tables(state, 0)).items():
        assert merged[part].equals(rows), part
    assert merged[checkpoint.ORDERS].num_rows > 0 and merged[checkpoint.NOTICES].num_rows > 0


def test_days_stepped_by_customer_blocks_and_location_blocks_equal_the_whole_worlds(world):
    whole = DayContext.build(world)
    state = state_at_start(whole)
    stepper = blocks.BlockStepper(world, BLOCKS, CUSTOMERS_PER_BLOCK)
    states = stepper.split(checkpoint.state_to_tables(state, 0), -1)
    for day in range(DAYS):
        expected = step(whole, state, day)
        got = stepper.step(states, day)
        for name in FACTS:
            assert getattr(expected, name).num_rows > 0 or name == "stockout_events", name
            assert sorted_rows(getattr(got, name)).equals(sorted_rows(getattr(expected, name))), (day, name)
    merged = _checkpoint_rows(stepper.checkpoint(states, 9))
    for part, rows in _checkpoint_rows(checkpoint.state_to_tables(state, 9)).items():
        assert merged[part].equals(rows), part
