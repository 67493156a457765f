"""Customer side of a day: who shops, on which channel, where, for which products.

Produces purchase *requests* (what customers want), before any inventory is consulted.
Every draw is keyed by the customer, order or line id, so any subset of customers (a
block, a Spark task) yields exactly its share of the rows the whole population yields.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.sim import catalog as cat
from retail_assets.sim.timeline import DayCalendar
from retail_assets.sim.rng import Streams
from retail_assets.sim.world import World

MAX_ORDERS_PER_DAY = 15  # per customer; order ids reserve 4 bits for the order number
MAX_LINES = 16  # per order; line ids reserve 4 bits for the line number
OTHER_STORE_SHARE = 0.12  # in-store orders placed at the customer's second nearest store
STORE_REACH_KM = 40.0  # distance to the nearest store at which store visits halve
PICKUP_REACH_KM = 60.0  # beyond it an online order is shipped, never picked up in store
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


ORIGIN_NEW, ORIGIN_RECOVERED_CART, ORIGIN_DELAYED, ORIGIN_SUBSTITUTE = range(len(cat.ORIGINS))


@dataclass(frozen=True)
class Requests:
    """One row per order line a customer wants to buy (struct of arrays)."""

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
    promotion: np.ndarray  # code index into promotion_codes, -1 when none
    payment: np.ndarray
    is_cart: np.ndarray  # line of an online cart (may be abandoned before checkout)
    order_day: np.ndarray  # day ordinal the order was placed (earlier for retries and recovered carts)
    origin: np.ndarray  # ORIGIN_* code
    size: np.ndarray  # index into catalog.SIZE_VOCABULARY
    fit: np.ndarray  # how the ordered size fits: -1 too small, 0 perfect, +1 too large (revealed on wear)

    def __len__(self) -> int:
        return len(self.line_id)

    def take(self, rows: np.ndarray) -> "Requests":
        return Requests(**{f.name: getattr(self, f.name)[rows] for f in fields(self)})

    def replace(self, **columns) -> "Requests":
        return Requests(**{f.name: columns.get(f.name, getattr(self, f.name)) for f in fields(self)})

    @staticmethod
    def concat(parts: list["Requests"]) -> "Requests":
        return Requests(**{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Requests)})

    def to_table(self, due_day: np.ndarray) -> pa.Table:
        """Requests waiting for a later day (the checkpoint stores them)."""
        columns = {f.name: getattr(self, f.name) for f in fields(self)}
        return pa.Table.from_pydict({**columns, "due_day": due_day.astype(np.int32)}, schema=SCHEDULED_REQUESTS_SCHEMA)

    @staticmethod
    def from_table(table: pa.Table) -> "Requests":
        return Requests(**{f.name: table.column(f.name).to_numpy(zero_copy_only=False).astype(SCHEDULED_REQUESTS_SCHEMA.field(f.name).type.to_pandas_dtype())
                           for f in fields(Requests)})


def shelf_price(world: World, product: np.ndarray, day: int) -> np.ndarray:
    """Selling price of products on ``day``: list price, marked down in the clearance window."""
    products = world.products
    markdown = np.where(day >= products.clearance_from_day[product], 1 - CLEARANCE_MARKDOWN, 1.0)
    return np.round(products.base_price[product] * markdown, 2)


def product_weights(world: World, day: int, calendar: DayCalendar) -> tuple[np.ndarray, np.ndarray]:
    """Demand weight of every product on ``day`` (0 outside launch..end of life) and clearance flags."""
    products = world.products
    season = calendar.season_index(day)
    active = (products.launch_day <= day) & (day <= products.end_of_life_day)
    clearance = active & (day >= products.clearance_from_day)
    weights = products.popularity * cat.SEASON_AFFINITY[products.season, season]
    weights = np.where(clearance, weights * CLEARANCE_DEMAND_BOOST, weights)
    return np.where(active, weights, 0.0), clearance


ONLINE_CHANNELS = np.array([not c.channel_category == "physical" for c in cat.CHANNELS])


def generate_requests(
    world: World,
    streams: Streams,
    calendar: DayCalendar,
    day: int,
    cart_abandonment_rate: float,
    customer_slice: slice = slice(None),
) -> Requests:
    """Purchase requests of the customers in ``customer_slice`` on ``day``.

    Customers visit stores and fill online carts as two Poisson processes. Online carts are
    created at ``1 / (1 - cart_abandonment_rate)`` times the rate of online purchases, since
    that share of them will be abandoned: the volume of sales stays that of the segment's
    order rate whatever the abandonment parameters.
    """
    customers = world.customers
    idx = np.arange(len(customers))[customer_slice]
    keys = customers.key[idx].astype(np.int64)
    segment = customers.segment[idx]

    # Visits and carts: the segment's rate x the day's calendar x the customer's activity;
    # customers not yet acquired do not shop.
    rate = cat.SEGMENT_ORDER_RATE[segment] * customers.activity[idx] * calendar.demand_multiplier(day)
    rate = np.where(customers.acquisition_day[idx] <= day, rate, 0.0)
    online = online_share(customers.preferred_channel[idx], segment, customers.store_km[idx])
    store_rate = rate * (1 - online) if calendar.stores_open(day) else np.zeros(len(idx))
    n_visits = streams.poisson("visits", day, keys, store_rate)
    n_carts = streams.poisson("carts", day, keys, rate * online * carts_per_order(cart_abandonment_rate))
    n_visits = np.minimum(n_visits, MAX_ORDERS_PER_DAY)
    n_carts = np.minimum(n_carts, MAX_ORDERS_PER_DAY - n_visits)
    n_orders = n_visits + n_carts
    order_customer = np.repeat(idx, n_orders)
    order_index = _ranks_within_runs(n_orders)
    order_number = customers.key[order_customer].astype(np.int64) * 16 + order_index
    order_segment = customers.segment[order_customer]
    online = order_index >= np.repeat(n_visits, n_orders)

    channel = _order_channel(world, streams, day, order_number, order_customer, order_segment, online)
    fulfillment, location = _order_fulfillment(world, streams, calendar, day, order_number, order_customer, channel)
    promotion, discount_rate = _order_promotion(streams, calendar, day, order_number, order_segment)
    in_store = fulfillment == cat.FULFILL_IN_STORE
    order_slot = np.where(
        in_store,
        streams.choice("slot", day, order_number, SLOT_CUMULATIVE[True]),
        streams.choice("slot", day, order_number, SLOT_CUMULATIVE[False]),
    )

    low, high = cat.SEGMENT_BASKET_RANGE[order_segment].T
    n_lines = np.minimum(streams.integers("basket", day, order_number, low, high), MAX_LINES - 1)
    line_order = np.repeat(np.arange(len(order_number)), n_lines)
    line_number = _ranks_within_runs(n_lines) + 1
    line_id = order_number[line_order] * 16 + line_number

    weights, clearance = product_weights(world, day, calendar)
    product = _line_products(world, streams, day, line_id, customers.preferred_group[order_customer[line_order]], weights)
    quantity = 1 + streams.choice("quantity", day, line_id, np.cumsum(cat.REQUESTED_QUANTITY_PROBS))
    is_clearance = clearance[product]
    unit_price = shelf_price(world, product, day)
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
        time_slot=order_slot[line_order].astype(np.int16),
        unit_price=unit_price,
        discount_rate=discount_rate[line_order],
        is_clearance=is_clearance,
        promotion=promotion[line_order],
        payment=payment[line_order].astype(np.int8),
        is_cart=online[line_order],
        order_day=np.full(len(line_id), day, dtype=np.int32),
        origin=np.full(len(line_id), ORIGIN_NEW, dtype=np.int8),
        **_sizes(world, streams, day, line_id, order_customer[line_order], product),
    )


def _sizes(world, streams, day, line_id, customer, product) -> dict[str, np.ndarray]:
    """Size the customer orders (their profile size, at times one off) and how it fits, given
    the product's sizing (runs small / true / large)."""
    customers = world.customers
    system = cat.CATEGORY_SIZE_SYSTEM[world.products.category[product]]
    own = np.select(
        [system == 0, system == 1, system == 2],
        [customers.size_tops[customer], customers.size_bottoms[customer], customers.size_shoes[customer]],
        0,
    ).astype(np.int64)
    shift = streams.choice("size_shift", day, line_id, np.cumsum(cat.ORDERED_SIZE_SHIFT_PROBS)) - 1
    ordered = np.clip(own + shift, 0, cat.SIZE_SYSTEM_LENGTH[system] - 1)
    one_size = system == len(cat.SIZE_SYSTEMS) - 1
    fit = np.where(one_size, 0, np.clip(ordered - own + world.products.sizing[product], -1, 1))
    return {"size": (cat.SIZE_SYSTEM_OFFSET[system] + ordered).astype(np.int16), "fit": fit.astype(np.int8)}


def carts_per_order(cart_abandonment_rate: float) -> float:
    """Online carts filled per online order placed: the abandoned ones come on top."""
    return 1 / max(1 - cart_abandonment_rate, 0.05)


@dataclass(frozen=True)
class OnlineDemand:
    """The customers' expected online orders on an average day, by the day they were acquired:
    what web traffic is derived from, in any block (it reads the world, not the day's draws)."""

    acquired_by: np.ndarray  # acquisition days, sorted
    cumulative_orders: np.ndarray  # expected online orders of the customers acquired by each of them

    @classmethod
    def of(cls, world: World) -> "OnlineDemand":
        customers = world.customers
        orders = (cat.SEGMENT_ORDER_RATE[customers.segment] * customers.activity
                  * online_share(customers.preferred_channel, customers.segment, customers.store_km))
        order = np.argsort(customers.acquisition_day, kind="stable")
        return cls(customers.acquisition_day[order], np.cumsum(orders[order]))

    def expected(self, calendar: DayCalendar, day: int) -> float:
        """Expected online orders on ``day``: the acquired customers' rates x the day's calendar."""
        acquired = int(np.searchsorted(self.acquired_by, day, side="right"))
        return float(self.cumulative_orders[acquired - 1]) * calendar.demand_multiplier(day) if acquired else 0.0


def _ranks_within_runs(counts: np.ndarray) -> np.ndarray:
    """0, 1, ..., c-1 for each count c, concatenated (the index of a row inside its parent)."""
    total = int(counts.sum())
    starts = np.repeat(np.cumsum(counts) - counts, counts)
    return np.arange(total, dtype=np.int64) - starts


ORDER_DAY_SPAN = 1 << 13  # order ids fold the order's day in modulo this many days


def order_identified(streams: Streams, channel: np.ndarray, order_day: np.ndarray,
                     order_number: np.ndarray) -> np.ndarray:
    """Whether each order carries its member's identity (``catalog.IDENTIFIED_SHARE`` of its
    channel) rather than the unknown member's. A pure function of the order, so its lines, its
    retries, its recovered cart, its pickup and its returns all agree."""
    ids = np.asarray(order_number, dtype=np.int64) * ORDER_DAY_SPAN + np.mod(order_day, ORDER_DAY_SPAN)
    return streams.uniform("identified", 0, ids) < cat.IDENTIFIED_SHARE[channel]


def customer_keys(world: World, streams: Streams, requests: "Requests") -> np.ndarray:
    """The customer_key each request's rows carry: its member's, or the unknown member's."""
    identified = order_identified(streams, requests.channel, requests.order_day, requests.order_number)
    return np.where(identified, world.customers.key[requests.customer], cat.UNKNOWN_CUSTOMER_KEY).astype(np.int32)


def online_share(preferred_channel: np.ndarray, segment: np.ndarray, store_km: np.ndarray) -> np.ndarray:
    """Probability that a customer's order is placed online: preferred channel or segment mix,
    and the store visits among the rest falling with the distance to the nearest store (halved
    at STORE_REACH_KM): a customer far from every store shops online."""
    segment_online = (cat.SEGMENT_CHANNEL_PROBS * ONLINE_CHANNELS).sum(axis=1)[segment]
    loyal = cat.PREFERRED_CHANNEL_LOYALTY
    online = loyal * ONLINE_CHANNELS[preferred_channel] + (1 - loyal) * segment_online
    return 1 - (1 - online) * store_pull(store_km)


def store_pull(store_km: np.ndarray) -> np.ndarray:
    """Share of a next-door customer's store visits a customer this far from a store still makes."""
    return 1 / (1 + (np.asarray(store_km) / STORE_REACH_KM) ** 2)


def _order_channel(world, streams, day, order_number, order_customer, order_segment, online) -> np.ndarray:
    """The preferred channel when it is of the order's kind (store or online) and the customer
    sticks to it, else a draw from the segment's mix restricted to that kind."""
    preferred = world.customers.preferred_channel[order_customer]
    loyal = streams.uniform("channel_loyal", day, order_number) < cat.PREFERRED_CHANNEL_LOYALTY
    keep = loyal & (ONLINE_CHANNELS[preferred] == online)
    kind_mask = np.where(online[:, None], ONLINE_CHANNELS[None, :], ~ONLINE_CHANNELS[None, :])
    weights = cat.SEGMENT_CHANNEL_PROBS[order_segment] * kind_mask
    cumulative = np.cumsum(weights, axis=1)
    u = streams.uniform("channel", day, order_number) * cumulative[:, -1]
    drawn = np.minimum((u[:, None] >= cumulative).sum(axis=1), len(cat.CHANNELS) - 1)
    return np.where(keep, preferred, drawn)


def _order_fulfillment(world, streams, calendar: DayCalendar, day, order_number, order_customer, channel):
    """Store orders are served in a store (a share at the second nearest); digital ones ship
    from a node, or go to the nearest store when it is within reach and open (today for a
    same-day order, tomorrow for a pickup)."""
    customers = world.customers
    at_store = channel == cat.CHANNEL_STORE_POS
    digital_mode = streams.choice("fulfillment", day, order_number, np.cumsum(cat.DIGITAL_FULFILLMENT_PROBS))
    closed = ((digital_mode == cat.FULFILL_SAME_DAY) & (not calendar.stores_open(day))
              | (digital_mode == cat.FULFILL_PICKUP) & (not calendar.stores_open(day + 1)))
    far = customers.store_km[order_customer] > PICKUP_REACH_KM
    digital_mode = np.where((channel == cat.CHANNEL_KIOSK) | far | closed, cat.FULFILL_SHIP, digital_mode)
    fulfillment = np.where(at_store, cat.FULFILL_IN_STORE, digital_mode)
    away = streams.uniform("away", day, order_number) < OTHER_STORE_SHARE
    store = np.where(at_store & away, customers.second_store[order_customer], customers.nearest_store[order_customer])
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


SCHEDULED_REQUESTS_SCHEMA = pa.schema(
    [
        ("customer", pa.int64()), ("order_number", pa.int64()), ("line_number", pa.int16()), ("line_id", pa.int64()),
        ("channel", pa.int8()), ("fulfillment", pa.int8()), ("location", pa.int64()), ("product", pa.int64()),
        ("quantity", pa.int32()), ("time_slot", pa.int16()), ("unit_price", pa.float64()),
        ("discount_rate", pa.float64()), ("is_clearance", pa.bool_()),
        ("promotion", pa.int16()), ("payment", pa.int8()), ("is_cart", pa.bool_()), ("order_day", pa.int32()),
        ("origin", pa.int8()), ("size", pa.int16()), ("fit", pa.int8()), ("due_day", pa.int32()),
    ]
)


def split_due_requests(scheduled: pa.Table, day: int) -> tuple[Requests, pa.Table]:
    """(requests coming back on ``day``, those still waiting)."""
    due_day = scheduled.column("due_day")
    due = scheduled.filter(pc.equal(due_day, day)).sort_by("line_id")
    return Requests.from_table(due), scheduled.filter(pc.greater(due_day, day))
