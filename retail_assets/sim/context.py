"""What a day step reads besides the state: the world, its calendar, the random streams, the
block's position index and the planner's profile. Frozen: built once per location block, shared
by every stage of every day.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from retail_assets.config import SimulationConfig
from retail_assets.sim import catalog as cat
from retail_assets.sim.demand import OnlineDemand
from retail_assets.sim.geography import US_CITIES
from retail_assets.sim.planning import PlanningProfile
from retail_assets.sim.positions import PositionIndex
from retail_assets.sim.return_odds import mean_return_factor
from retail_assets.sim.rng import Streams
from retail_assets.sim.timeline import DayCalendar
from retail_assets.sim.world import World

DEMAND_SCAN_DAYS = 14  # days of unconstrained demand used to seed the planning rates
# Days past the configured range the calendar covers: scheduled runs keep going after it.
CALENDAR_HORIZON_DAYS = 3 * 366


@dataclass(frozen=True, eq=False)
class DayContext:
    world: World
    calendar: DayCalendar
    streams: Streams
    positions: PositionIndex
    planning: PlanningProfile
    tax_rate: np.ndarray  # per location: its state's sales tax
    city_tax_rate: np.ndarray  # per US city: its state's sales tax (a shipped order's destination)
    online_demand: OnlineDemand  # what the day's web traffic is derived from
    mean_return_factor: float  # what the returns' odds are divided by (return_odds)

    @classmethod
    def build(cls, world: World, block: np.ndarray | None = None) -> "DayContext":
        """The context of the locations ``block`` (all by default; any grouping works)."""
        config = world.config
        first_day = -config.warmup_days - DEMAND_SCAN_DAYS
        calendar = DayCalendar(config.start_date, first_day, config.scale.days + CALENDAR_HORIZON_DAYS)
        city_tax_rate = np.array([cat.STATE_SALES_TAX.get(code, cat.DEFAULT_SALES_TAX) for code in US_CITIES.state_code])
        streams = Streams(config.seed)
        return cls(
            world=world,
            calendar=calendar,
            streams=streams,
            positions=PositionIndex.build(len(world.products), len(world.locations), block),
            planning=PlanningProfile.build(world, calendar),
            tax_rate=city_tax_rate[world.locations.city],
            city_tax_rate=city_tax_rate,
            online_demand=OnlineDemand.of(world),
            mean_return_factor=mean_return_factor(world, streams, calendar, config.cart_abandonment_base_rate),
        )

    def for_block(self, block: np.ndarray) -> "DayContext":
        """The same world, calendar and streams for the locations ``block``: location blocks share
        everything but their position index."""
        return replace(self, positions=PositionIndex.build(len(self.world.products), len(self.world.locations), block))

    @property
    def config(self) -> SimulationConfig:
        return self.world.config

    def forecast_index(self, day: int) -> np.ndarray:
        """Per position: the seasonal index the forecast model applies on ``day``."""
        return self.planning.product_index(day)[self.positions.product]

    def sellable(self, day: int) -> np.ndarray:
        """Per position: its product is on sale on ``day`` (launched, not past its end of life)."""
        products, product_of = self.world.products, self.positions.product
        return (products.launch_day[product_of] <= day) & (day <= products.end_of_life_day[product_of])
