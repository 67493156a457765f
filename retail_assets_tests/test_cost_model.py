"""The cost model measures days the way the Spark engine cuts them."""

from __future__ import annotations

from retail_assets.config import SimulationConfig
from retail_assets.cost_model import markdown, measure
from retail_assets.sim.world import build_world


def test_a_measured_day_weighs_what_the_world_holds_and_more_workers_never_take_longer():
    weight = measure("tiny")
    world = build_world(SimulationConfig.build(preset="tiny"))
    assert weight.customer_blocks == 1 and len(weight.location_seconds) == len(world.locations)
    # One snapshot row per launched position and day: at most every product at every location.
    assert 0 < weight.rows["inventory"] <= len(world.products) * len(world.locations)
    assert weight.rows["sales"] > 0 and weight.state_bytes > 0 and weight.write_seconds > 0
    # Figures and counts, not rows: about a kilobyte per block (here one per location) a day.
    assert 0 < weight.driver_bytes < 2 * 1024 * len(weight.location_seconds)
    assert weight.seconds_on(8) <= weight.seconds_on(2) <= weight.seconds_on(1)
    table = markdown([weight], (2, 8))
    assert table.count("\n") == 2 and "| tiny |" in table
