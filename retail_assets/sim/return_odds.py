"""How likely a sold line is to come back: a factor per line (channel, fit, segment) and its mean
over the lines a world's customers order, so that returned units / sold units comes out at
``return_rate`` whatever the preset's geography, channel mix and assortment.

The mean is measured on the world itself (every ``SAMPLE_STEP``-th customer's requests over
two weeks, drawn by the counter-based streams), never on a block's own sales: every block and
engine divides by the same number.
"""

from __future__ import annotations

import numpy as np

from retail_assets.sim import catalog as cat
from retail_assets.sim.demand import generate_requests
from retail_assets.sim.rng import Streams
from retail_assets.sim.timeline import DayCalendar
from retail_assets.sim.world import World

RETURN_CHANNEL_FACTOR = {True: 1.45, False: 0.6}  # keyed by "was it fulfilled remotely"
RETURN_FIT_FACTOR = {True: 2.6, False: 0.5}  # keyed by "the size does not fit"
SAMPLE_CUSTOMERS, SAMPLE_DAYS = 20_000, 14


def line_factor(remote: np.ndarray, fit: np.ndarray, segment: np.ndarray) -> np.ndarray:
    """Relative return odds of lines: remote orders and sizes that do not fit come back more."""
    channel = np.where(remote, RETURN_CHANNEL_FACTOR[True], RETURN_CHANNEL_FACTOR[False])
    fit_factor = np.where(fit == 0, RETURN_FIT_FACTOR[False], RETURN_FIT_FACTOR[True])
    return channel * fit_factor * cat.SEGMENT_RETURN_FACTOR[segment]


def mean_return_factor(world: World, streams: Streams, calendar: DayCalendar, abandonment: float) -> float:
    """``line_factor`` averaged over the units a sample of the world's customers buy (a cart's
    lines count for the share of carts checked out)."""
    step = max(len(world.customers) // SAMPLE_CUSTOMERS, 1)
    factors, units = [], []
    for day in range(SAMPLE_DAYS):
        requests = generate_requests(world, streams, calendar, day, abandonment, slice(None, None, step))
        remote = requests.fulfillment != cat.FULFILL_IN_STORE
        factors.append(line_factor(remote, requests.fit, world.customers.segment[requests.customer]))
        units.append(requests.quantity * np.where(requests.is_cart, 1 - abandonment, 1.0))
    return float(np.average(np.concatenate(factors), weights=np.concatenate(units)))
