"""Customer side of a day: who shops, on which channel, where, for which products.

Produces purchase *requests* (what customers want), before any inventory is consulted.
Every draw is keyed by the customer, order or line id, so any subset of customers (a
block, a Spark task) yields exactly its share of the rows the whole population yields.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from retail_assets.sim import catalog as cat
from retail_assets.sim.timeline import DayCalendar
from retail_assets.sim.rng import Streams
from retail_assets.sim.world import World

MAX_ORDERS_PER_DAY = 15  # per customer; order ids reserve 4 bits for the order number
MAX_LINES = 16  # per order; line ids reserve 4 bits for the line number
REQUESTED_QUANTITY_PROBS = np.array([0.80, 0.15, 0.05])  # 1, 2 or 3 units of a line
OTHER_STORE_SHARE = 0.12  # in-store orders placed away from the customer's nearest store
CLEARANCE_MARKDOWN = 0.40
CLEARANCE_DEMAND_BOOST = 1.5
SALE_PROMO_SHARE, SALE_PROMO_DISCOUNT = 0.55, 0.20  # orders using the sale event's code
COUPON_SHARE, COUPON_DISCOUNT = 0.06, 0.15  # email coupons outside sale events
# Hourly shape of traffic (index = hour of day); stores trade 10:00-21:00.
STORE_HOURLY = np.array([0] * 10 + [4, 6, 9, 10, 9, 8, 8, 9, 10, 9, 6, 0, 0, 0], dtype=np.float64)
ONLINE_HOURLY = np.array(
    [2, 1, 1, 0.5, 0.5, 1, 2, 3, 4, 5, 6, 7, 8, 7, 6, 6, 6, 7, 8, 9, 10, 9, 6, 4], dtype=np.float64
)
SLOT_CUMULATIVE = {
    False: np.cumsum(np.repeat(ONLINE_HOURLY, 4)),
    True: np.cumsum(np.repeat(STORE_HOURLY, 4)),
}


@dataclass(frozen=True)
class Requests:
    """One row per order line a customer wants to buy today (struct of arrays)."""

    customer: np.ndarray  # customer index
    order_number: np.ndarray  # int64 unique within the day: customer_key * 16 + order index
    line_number: np.ndarray  # 1-based within the order
    line_id: np.ndarray  # int64 unique within the day, keys the line's random draws
    channel: np.ndarray
    fulfillment: np.ndarray
    location: np.ndarray  # location index
    product: np.ndarray  # product index
    quantity: np.ndarray  # units requested
    time_slot: np.ndarray  # 15-minute slot of the day, 0..95
    unit_price: np.ndarray
    discount_rate: np.ndarray
    is_clearance: np.ndarray
    is_promotional: np.ndarray
    promotion: np.ndarray  # code index into promotion_codes, -1 when none
    payment: np.ndarray

    def __len__(self) -> int:
        return len(self.line_id)


def product_weights(world: World, day: int, calendar: DayCalendar) -> tuple[np.ndarray, np.ndarray]:
    """Demand weight of every product on ``day`` (0 outside launch..end of life) and clearance flags."""
    products = world.products
    season = calendar.season_index(day)
    active = (products.launch_day <= day) & (day <= products.end_of_life_day)
    clearance = active & (day >= products.clearance_from_day)
    weights = products.popularity * cat.SEASON_AFFINITY[products.season, season]
    weights = np.where(clearance, weights * CLEARANCE_DEMAND_BOOST, weights)
    return np.where(active, weights, 0.0), clearance


def generate_requests(
    world: World, streams: Streams, calendar: DayCalendar, day: int, customer_slice: slice = slice(None)
) -> Requests:
    """Purchase requests of the customers in ``customer_slice`` on ``day``."""
    customers = world.customers
    idx = np.arange(len(customers))[customer_slice]
    keys = customers.key[idx].astype(np.int64)
    segment = customers.segment[idx]

    # Orders: Poisson visits at the segment's rate, scaled by the day's calendar and the
    # customer's own activity; customers not yet acquired do not shop.
    rate = cat.SEGMENT_ORDER_RATE[segment] * customers.activity[idx] * calendar.demand_multiplier(day)
    rate = np.where(customers.acquisition_day[idx] <= day, rate, 0.0)
    n_orders = np.minimum(streams.poisson("orders", day, keys, rate), MAX_ORDERS_PER_DAY)
    order_customer = np.repeat(idx, n_orders)
    order_index = _ranks_within_runs(n_orders)
    order_number = customers.key[order_customer].astype(np.int64) * 16 + order_index
    order_segment = customers.segment[order_customer]

    channel = _order_channel(world, streams, day, order_number, order_customer, order_segment)
    fulfillment, location = _order_fulfillment(world, streams, day, order_number, order_customer, channel)
    promotion, discount_rate = _order_promotion(streams, calendar, day, order_number, order_segment)

    low, high = cat.SEGMENT_BASKET_RANGE[order_segment].T
    n_lines = np.minimum(streams.integers("basket", day, order_number, low, high), MAX_LINES - 1)
    line_order = np.repeat(np.arange(len(order_number)), n_lines)
    line_number = _ranks_within_runs(n_lines) + 1
    line_id = order_number[line_order] * 16 + line_number

    weights, clearance = product_weights(world, day, calendar)
    product = _line_products(world, streams, day, line_id, customers.preferred_group[order_customer[line_order]], weights)
    quantity = 1 + streams.choice("quantity", day, line_id, np.cumsum(REQUESTED_QUANTITY_PROBS))
    in_store = fulfillment[line_order] == cat.FULFILL_IN_STORE
    time_slot = np.where(
        in_store,
        streams.choice("slot", day, line_id, SLOT_CUMULATIVE[True]),
        streams.choice("slot", day, line_id, SLOT_CUMULATIVE[False]),
    )
    is_clearance = clearance[product]
    unit_price = np.where(is_clearance, np.round(world.products.base_price[product] * (1 - CLEARANCE_MARKDOWN), 2),
                          world.products.base_price[product])
    is_digital = np.array([c.is_digital for c in cat.CHANNELS])[channel]
    payment = np.where(
        is_digital,
        streams.choice("payment", day, order_number, np.cumsum(cat.DIGITAL_PAYMENT_PROBS)),
        streams.choice("payment", day, order_number, np.cumsum(cat.STORE_PAYMENT_PROBS)),
    )
    return Requests(
        customer=order_customer[line_order],
        order_number=order_number[line_order],
        line_number=line_number.astype(np.int16),
        line_id=line_id,
        channel=channel[line_order].astype(np.int8),
        fulfillment=fulfillment[line_order].astype(np.int8),
        location=location[line_order],
        product=product,
        quantity=quantity.astype(np.int32),
        time_slot=time_slot.astype(np.int16),
        unit_price=unit_price,
        discount_rate=discount_rate[line_order],
        is_clearance=is_clearance,
        is_promotional=promotion[line_order] >= 0,
        promotion=promotion[line_order],
        payment=payment[line_order].astype(np.int8),
    )


def _ranks_within_runs(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each count c, concatenated (the index of a row inside its parent)."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


def _order_channel(world, streams, day, order_number, order_customer, order_segment) -> np.ndarray:
    loyal = streams.uniform("channel_loyal", day, order_number) < cat.PREFERRED_CHANNEL_LOYALTY
    cumulative = np.cumsum(cat.SEGMENT_CHANNEL_PROBS, axis=1)[order_segment]
    u = streams.uniform("channel", day, order_number)
    drawn = np.minimum((u[:, None] >= cumulative).sum(axis=1), len(cat.CHANNELS) - 1)
    return np.where(loyal, world.customers.preferred_channel[order_customer], drawn)


def _order_fulfillment(world, streams, day, order_number, order_customer, channel):
    """Store orders are served in a store; digital ones ship from a node or go to a store."""
    customers, stores = world.customers, world.locations.stores
    at_store = channel == cat.CHANNEL_STORE_POS
    digital_mode = streams.choice("fulfillment", day, order_number, np.cumsum(cat.DIGITAL_FULFILLMENT_PROBS))
    digital_mode = np.where(channel == cat.CHANNEL_KIOSK, cat.FULFILL_SHIP, digital_mode)
    fulfillment = np.where(at_store, cat.FULFILL_IN_STORE, digital_mode)
    home_store = customers.nearest_store[order_customer]
    away = streams.uniform("away", day, order_number) < OTHER_STORE_SHARE
    other_store = stores[streams.integers("other_store", day, order_number, 0, len(stores) - 1)]
    store = np.where(at_store & away, other_store, home_store)
    location = np.where(fulfillment == cat.FULFILL_SHIP, customers.nearest_fulfilment[order_customer], store)
    return fulfillment, location


def _order_promotion(streams, calendar: DayCalendar, day, order_number, order_segment):
    """Promotion code index per order (-1 none) and the order's total discount rate."""
    sale_code = calendar.promotion_index(day)
    u = streams.uniform("promotion", day, order_number)
    if sale_code >= 0:
        uses = u < SALE_PROMO_SHARE
        code, rate = np.where(uses, sale_code, -1), np.where(uses, SALE_PROMO_DISCOUNT, 0.0)
    else:
        uses = u < COUPON_SHARE
        coupon = np.where(order_segment == 4, calendar.welcome_coupon_index, calendar.email_coupon_index)
        code, rate = np.where(uses, coupon, -1), np.where(uses, COUPON_DISCOUNT, 0.0)
    return code.astype(np.int16), rate + cat.SEGMENT_LOYALTY_DISCOUNT[order_segment]


def _line_products(world, streams, day, line_id, preferred_group, weights) -> np.ndarray:
    """Popularity x season x lifecycle weighted draw; a share of lines stays in the customer's
    preferred category group (sampled within that group's slice of the cumulative weights)."""
    order = world.products.group.argsort(kind="stable")
    sorted_weights = weights[order]
    cumulative = np.cumsum(sorted_weights)
    group_sorted = world.products.group[order]
    n_groups = len(cat.PREFERENCE_CATEGORIES)
    bounds = np.searchsorted(group_sorted, np.arange(n_groups + 1))
    before = np.concatenate([[0.0], cumulative])[bounds]  # cumulative weight before each group
    group_low, group_high = before[:-1], before[1:]

    u = streams.uniform("product", day, line_id)
    in_group = streams.uniform("product_affinity", day, line_id) < cat.PREFERRED_CATEGORY_AFFINITY
    low = np.where(in_group, group_low[preferred_group], 0.0)
    high = np.where(in_group, group_high[preferred_group], cumulative[-1])
    empty_group = high <= low
    low, high = np.where(empty_group, 0.0, low), np.where(empty_group, cumulative[-1], high)
    pick = np.searchsorted(cumulative, low + u * (high - low), side="right")
    return order[np.minimum(pick, len(order) - 1)]
