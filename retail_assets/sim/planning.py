"""The planner's seasonal profile: what it expects the calendar to do to demand, and when its
orders arrive. Built once per world and calendar; the forecast and the (s, S) policy read it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_assets.sim import catalog as cat
from retail_assets.sim.demand import CLEARANCE_DEMAND_BOOST
from retail_assets.sim.timeline import DayCalendar
from retail_assets.sim.world import World

WAVE_DAYS = 1  # a store's order waits for its DC's next-morning wave: one more day of lead time


@dataclass(frozen=True, eq=False)
class PlanningProfile:
    calendar: DayCalendar
    product_season: np.ndarray  # per product: its season (row of SEASON_AFFINITY)
    lead_days: np.ndarray  # per location: planning lead time (a store's order also waits for the wave)
    calendar_index: np.ndarray  # per calendar day: ``expected_calendar_index``
    index_sums: np.ndarray  # ``seasonal_index_sums`` of calendar_index

    @classmethod
    def build(cls, world: World, calendar: DayCalendar) -> "PlanningProfile":
        locations = world.locations
        calendar_index = expected_calendar_index(world, calendar)
        return cls(
            calendar=calendar,
            product_season=world.products.season,
            lead_days=locations.lead_days + np.where(locations.location_type == cat.LOC_DC, 0, WAVE_DAYS),
            calendar_index=calendar_index,
            index_sums=seasonal_index_sums(calendar, calendar_index),
        )

    def product_index(self, day: int) -> np.ndarray:
        """Per product: the seasonal index the forecast model applies on ``day`` - season affinity x
        the calendar's demand index over the live assortment's weight (``expected_calendar_index``)."""
        affinity = cat.SEASON_AFFINITY[self.product_season, self.calendar.season_index(day)]
        return np.maximum(affinity * self.calendar_index[day - self.calendar.first_day], 1e-6)

    def window_index(self, first: np.ndarray, last: np.ndarray, product: np.ndarray, location: np.ndarray
                     ) -> np.ndarray:
        """Per (product, location) pair: the mean forecast index over the days ``first``..``last``
        (arrays per location of the world)."""
        stop = np.minimum(last - self.calendar.first_day + 1, self.index_sums.shape[1] - 1)
        start = np.minimum(first - self.calendar.first_day, stop - 1)
        by_season = (self.index_sums[:, stop] - self.index_sums[:, start]) / (stop - start)  # (season, location)
        by_product_season = cat.SEASON_AFFINITY @ by_season  # (product season, location)
        return by_product_season[self.product_season[product], location]


def expected_calendar_index(world: World, calendar: DayCalendar) -> np.ndarray:
    """Per calendar day: the demand one unit of season affinity can expect - the calendar's
    demand index over the weight of the assortment live that day.

    Customers share a day's purchases among the products on sale by popularity x season
    affinity (x the clearance boost): when the season turns or launches widen the range,
    every product's share moves. The planner knows its assortment plan (launch, clearance
    and end-of-life days), so this belongs to the seasonal profile it forecasts with.
    """
    products = world.products
    n_days = len(calendar.columns["demand_multiplier"])
    n_seasons = cat.SEASON_AFFINITY.shape[0]

    def live_weight(first: np.ndarray, last: np.ndarray, weight: np.ndarray) -> np.ndarray:
        """(product season, day): the sum of ``weight`` over products live on the day (first..last)."""
        steps = np.zeros((n_seasons, n_days + 1))
        np.add.at(steps, (products.season, np.clip(first - calendar.first_day, 0, n_days)), weight)
        np.add.at(steps, (products.season, np.clip(last - calendar.first_day + 1, 0, n_days)), -weight)
        return np.cumsum(steps, axis=1)[:, :n_days]

    live = live_weight(products.launch_day, products.end_of_life_day, products.popularity)
    live += live_weight(products.clearance_from_day, products.end_of_life_day,
                        products.popularity * (CLEARANCE_DEMAND_BOOST - 1))
    season = calendar.season_indexes(calendar.first_day + np.arange(n_days))
    assortment = (cat.SEASON_AFFINITY[:, season] * live).sum(axis=0) / products.popularity.sum()
    return calendar.columns["demand_multiplier"] / np.maximum(assortment, 1e-9)


def seasonal_index_sums(calendar: DayCalendar, index: np.ndarray) -> np.ndarray:
    """Running sums of the expected calendar index per calendar season: row k, column i is the
    sum over the calendar's first i days of those in season k. A window's mean forecast index
    then costs two lookups per location, whatever the window's length."""
    season = calendar.season_indexes(calendar.first_day + np.arange(len(index)))
    per_season = np.where(season[None, :] == np.arange(cat.SEASON_AFFINITY.shape[1])[:, None], index, 0.0)
    return np.concatenate([np.zeros((len(per_season), 1)), np.cumsum(per_season, axis=1)], axis=1)
