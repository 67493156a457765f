"""Web and app sessions behind the day's online carts, plus browsing that buys nothing.

Every online cart (checked out or abandoned) and every recovered cart has a session whose
funnel ends where the cart did; browse-only sessions add the traffic that never reaches a
cart: as many as make the day's expected online orders ``web_conversion_rate`` of all sessions.
Events of a session are laid out by funnel step counts and expanded with ``np.repeat``: no
per-event Python.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets import tables
from retail_assets.sim import catalog as cat
from retail_assets.sim.catalog import (
    BROWSERS,
    DEVICE_TYPES,
    EVENT_ACTIONS,
    EVENT_CATEGORY,
    EVENT_TYPES,
    OPERATING_SYSTEMS,
)
from retail_assets.sim.columns import as_text, join_text, money, time_key_of, vocab
from retail_assets.sim.context import DayContext
from retail_assets.sim.demand import (
    ONLINE_CHANNELS,
    ORIGIN_NEW,
    ORIGIN_RECOVERED_CART,
    SLOT_CUMULATIVE,
    carts_per_order,
    customer_keys,
    product_weights,
)
from retail_assets.sim.geography import utc_offsets
from retail_assets.sim.trading import Trading
from retail_assets.sim.world import World

(PAGE_VIEW, SEARCH, FILTER, PRODUCT_VIEW, SIZE_GUIDE, ADD_TO_CART, REMOVE, CHECKOUT_START,
 CHECKOUT_COMPLETE) = range(len(EVENT_TYPES))
BROWSE_NOISE = 0.05  # day-to-day spread of the browse-only traffic around its expectation
BOUNCE_SHARE = 0.40  # browse-only sessions that leave after the landing page
TIME_ON_PAGE_MEDIAN = 40.0  # seconds
# Device, browser and operating system by channel (index into the tuples below).
# Traffic sources: (referrer, utm_source, utm_medium, utm_campaign or None), with shares.
TRAFFIC_SOURCES = (
    ("https://www.google.com/", "google", "organic", None),
    ("https://www.google.com/", "google", "cpc", "brand_search"),
    ("https://www.instagram.com/", "instagram", "social", "new_season"),
    ("https://www.facebook.com/", "facebook", "social", "retargeting"),
    ("https://mail.example.com/", "newsletter", "email", "weekly_edit"),
    (None, None, None, None),
)
TRAFFIC_SHARES = np.array([0.30, 0.15, 0.12, 0.10, 0.10, 0.23])
RECOVERY_SOURCE = ("https://mail.example.com/", "crm", "email", "cart_recovery")


def session_number(order_number: np.ndarray, order_day: np.ndarray, day: int) -> np.ndarray:
    """Session of a cart: its order number, tagged with how many days ago the cart was filled."""
    return order_number * 8192 + (day - order_day) % 8192


def session_ids(date_key: int, number: np.ndarray) -> pa.Array:
    return join_text("SES-", np.full(len(number), date_key), "-", number)


def _device(channel: np.ndarray, u: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Device, browser and OS codes of sessions on ``channel`` (app channels: the app itself)."""
    code = np.array([c.code for c in cat.CHANNELS])[channel]
    ios = code == "APP_IOS"
    android = (code == "APP_ANDROID") | (code == "SOCIAL_FB") & (u < 0.45)
    mobile_web = (code == "WEB_MOBILE") | (code == "SOCIAL_FB") & (u >= 0.45) | (code == "MARKETPLACE_AMAZON") & (u < 0.6)
    device = np.where(ios | (code == "APP_ANDROID"), 3, np.where(mobile_web, 1, 0))
    device = np.where(mobile_web & (u > 0.9), 2, device)
    os_ = np.where(ios, 2, np.where(android, 3, np.where(mobile_web, np.where(u < 0.55, 2, 3),
                                                         np.where(u < 0.7, 0, np.where(u < 0.95, 1, 4)))))
    browser = np.where(device == 3, 5, np.where(os_ == 2, 1, np.where(os_ == 1, np.where(u < 0.4, 1, 0),
                                                                       np.where(u < 0.75, 0, np.where(u < 0.9, 2, 3)))))
    return device, browser, os_


@dataclass(frozen=True)
class Sessions:
    """The day's sessions: the carts' first (``n_cart`` of them, in session id order), then the
    browse-only ones. Arrays per session unless said otherwise."""

    n_cart: int
    ids: np.ndarray
    customer: np.ndarray  # the shopper's profile (home, hence time zone), identified or not
    customer_key: np.ndarray  # the member's, when the cart's order or the visitor is identified; else 0
    channel: np.ndarray  # online channel of the session (a store order's cart is browsed on the web)
    slot: np.ndarray  # the 15-minute slot the session ends in
    from_recovery_email: np.ndarray
    converted: np.ndarray  # the cart was checked out
    reached_checkout: np.ndarray  # of the cart sessions
    cart_lines: np.ndarray  # lines in the session's cart (0 when browsing)
    first_line: np.ndarray  # of the cart sessions: request row of the cart's first line
    lines: np.ndarray  # request rows of the cart sessions' lines
    line_session: np.ndarray  # per line of ``lines``: its session

    @property
    def n(self) -> int:
        return len(self.ids)


@dataclass(frozen=True)
class Events:
    """The sessions' events, laid out session by session in funnel order (arrays per event)."""

    session: np.ndarray
    event_type: np.ndarray
    step_index: np.ndarray  # rank within its funnel step
    position: np.ndarray  # rank within the session
    ids: np.ndarray  # keys the event's draws
    session_first_event: np.ndarray  # per session
    bounce: np.ndarray  # per session: one event only

    @property
    def n(self) -> int:
        return len(self.event_type)


def customer_events(ctx: DayContext, trading: Trading, day: int) -> pa.Table:
    """The day's clickstream events (schema of gold_customer_event_fact): its sessions, their
    funnel steps laid out as events, then each event's product, value and time."""
    sessions = day_sessions(ctx, trading, day)
    events = funnel_events(ctx, sessions, day)
    return event_rows(ctx, trading, sessions, events, day)


def day_sessions(ctx: DayContext, trading: Trading, day: int) -> Sessions:
    """A session behind every online cart of the day (checked out or abandoned) and every
    recovered cart, then the browse-only sessions (made once, by the block holding location 0:
    acquired customers looking around)."""
    world, streams, requests = ctx.world, ctx.streams, trading.requests
    cart_lines = np.flatnonzero(requests.is_cart & (requests.origin == ORIGIN_NEW))
    recovered_lines = np.flatnonzero(requests.origin == ORIGIN_RECOVERED_CART)
    lines = np.concatenate([cart_lines, recovered_lines])
    session_key = session_number(requests.order_number[lines], requests.order_day[lines], day)
    sessions, first, line_session = np.unique(session_key, return_index=True, return_inverse=True)
    first_line = lines[first]
    n_cart = len(sessions)
    line_count = np.bincount(line_session, minlength=n_cart)
    converted = np.bincount(line_session, weights=~trading.abandoned[lines], minlength=n_cart) > 0
    # A cart not checked out was abandoned: its session reached the checkout past the first stage.
    carts = trading.carts
    left_at = np.zeros(n_cart, dtype=np.int64)
    abandoned_order = requests.order_number[first_line[~converted]]
    left_at[~converted] = carts.stage[np.searchsorted(carts.order_number, abandoned_order)]

    # Browse-only web traffic belongs to no location: the block holding location 0 makes it.
    n_browse = browse_sessions(ctx, day) if ctx.positions.in_block[0] else 0
    browse_ids = np.arange(n_browse, dtype=np.int64)
    browse_customer = streams.integers("browse_customer", day, browse_ids, 0, len(world.customers) - 1)
    browse_customer = browse_customer[world.customers.acquisition_day[browse_customer] <= day]
    n_browse = len(browse_customer)
    browse_ids = browse_ids[:n_browse]

    channel = np.concatenate([requests.channel[first_line],
                              world.customers.preferred_channel[browse_customer]]).astype(np.int64)
    channel = np.where(ONLINE_CHANNELS[channel], channel, 1)
    browsing = np.zeros(n_browse, dtype=bool)
    browser_known = streams.uniform("browse_identified", day, browse_ids) < cat.IDENTIFIED_SHARE[channel[n_cart:]]
    return Sessions(
        n_cart=n_cart,
        ids=np.concatenate([sessions, (1 << 50) + browse_ids]),
        customer=np.concatenate([requests.customer[first_line], browse_customer]),
        customer_key=np.concatenate([
            customer_keys(world, streams, requests.take(first_line)),
            np.where(browser_known, world.customers.key[browse_customer], cat.UNKNOWN_CUSTOMER_KEY).astype(np.int32)]),
        channel=channel,
        slot=np.concatenate([requests.time_slot[first_line],
                             streams.choice("browse_slot", day, browse_ids, SLOT_CUMULATIVE[False])]),
        from_recovery_email=np.concatenate([requests.origin[first_line] == ORIGIN_RECOVERED_CART, browsing]),
        converted=np.concatenate([converted, browsing]),
        reached_checkout=converted | (left_at > 0),
        cart_lines=np.concatenate([line_count, np.zeros(n_browse, dtype=np.int64)]),
        first_line=first_line,
        lines=lines,
        line_session=line_session,
    )


def browse_sessions(ctx: DayContext, day: int) -> int:
    """Browse-only sessions of ``day``: the sessions that the expected online orders make at the
    configured conversion rate, less the carts' own sessions (so conversion cannot exceed the
    carts' own, 1 - the abandonment rate)."""
    config = ctx.config
    orders = ctx.online_demand.expected(ctx.calendar, day)
    sessions = orders / config.web_conversion_rate - orders * carts_per_order(config.cart_abandonment_base_rate)
    noise = 1 + BROWSE_NOISE * ctx.streams.normal("browse_sessions", day, np.zeros(1, dtype=np.int64))[0]
    return max(int(round(sessions * noise)), 0)


def funnel_events(ctx: DayContext, sessions: Sessions, day: int) -> Events:
    """Funnel step counts per session (columns in EVENT_TYPES order), expanded into events."""
    streams, ids, n, n_cart = ctx.streams, sessions.ids, sessions.n, sessions.n_cart
    counts = np.zeros((n, len(EVENT_TYPES)), dtype=np.int64)
    leaves = np.zeros(n, dtype=bool)
    leaves[n_cart:] = streams.uniform("bounce", day, ids[n_cart:]) < BOUNCE_SHARE
    counts[:, PAGE_VIEW] = np.where(leaves, 1, 1 + streams.integers("pages", day, ids, 0, 3))
    engaged = ~leaves
    counts[:, SEARCH] = engaged & (streams.uniform("search", day, ids) < 0.45)
    counts[:, FILTER] = engaged & (streams.uniform("filter", day, ids) < 0.3)
    cart_lines = sessions.cart_lines
    counts[:, PRODUCT_VIEW] = np.where(engaged, cart_lines + streams.integers("extra_views", day, ids, 0, 3), 0)
    counts[:, SIZE_GUIDE] = engaged & (streams.uniform("size_guide", day, ids) < 0.25)
    counts[:, ADD_TO_CART] = cart_lines
    counts[:, REMOVE] = (cart_lines > 1) & (streams.uniform("remove", day, ids) < 0.1)
    counts[:n_cart, CHECKOUT_START] = sessions.reached_checkout
    counts[:n_cart, CHECKOUT_COMPLETE] = sessions.converted[:n_cart]

    per_session = counts.sum(axis=1)
    flat = counts.ravel()
    event_session = np.repeat(np.arange(n), per_session)
    event_type = np.repeat(np.tile(np.arange(len(EVENT_TYPES)), n), flat)
    n_events = len(event_type)
    session_first_event = np.cumsum(per_session) - per_session
    position = np.arange(n_events) - session_first_event[event_session]
    return Events(
        session=event_session,
        event_type=event_type,
        step_index=np.arange(n_events) - np.repeat(np.cumsum(flat) - flat, flat),
        position=position,
        ids=ids[event_session] * 64 + position,
        session_first_event=session_first_event,
        bounce=per_session == 1,  # a single-page visit, whether it left at once or did nothing else
    )


def _event_products(ctx: DayContext, trading: Trading, sessions: Sessions, events: Events, day: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(product, is a cart line's event, request row of that line) of each event: cart lines
    for their views and add-to-carts, the day's popular products otherwise."""
    requests, event_session, step_index = trading.requests, events.session, events.step_index
    weights, _ = product_weights(ctx.world, day, ctx.calendar)
    random_product = ctx.streams.choice("viewed_product", day, events.ids, np.cumsum(weights))
    lines_by_session = sessions.lines[np.argsort(sessions.line_session, kind="stable")]
    line_count = sessions.cart_lines[:sessions.n_cart]
    line_start = np.concatenate([np.cumsum(line_count) - line_count,
                                 np.zeros(sessions.n - sessions.n_cart, dtype=np.int64)])
    is_line_event = (np.isin(events.event_type, (PRODUCT_VIEW, ADD_TO_CART, REMOVE))
                     & (step_index < sessions.cart_lines[event_session]))
    line_row = np.zeros(events.n, dtype=np.int64)
    line_row[is_line_event] = lines_by_session[line_start[event_session[is_line_event]] + step_index[is_line_event]]
    return np.where(is_line_event, requests.product[line_row], random_product), is_line_event, line_row


def _event_seconds(ctx: DayContext, sessions: Sessions, events: Events, day: int) -> tuple[np.ndarray, np.ndarray]:
    """(seconds on the page, second of the day) of each event: a session ends in its cart's slot
    (the checkout); pages take lognormal seconds."""
    streams, event_session = ctx.streams, events.session
    seconds_on_page = np.maximum(
        np.round(TIME_ON_PAGE_MEDIAN * np.exp(0.7 * streams.normal("time_on_page", day, events.ids))), 2
    ).astype(np.int64)
    before = np.cumsum(seconds_on_page) - seconds_on_page
    elapsed = before - before[events.session_first_event][event_session]
    session_seconds = np.bincount(event_session, weights=seconds_on_page, minlength=sessions.n).astype(np.int64)
    end = sessions.slot.astype(np.int64) * 900 + streams.integers("slot_offset", day, sessions.ids, 0, 899)
    start = np.maximum(end - session_seconds, 0)
    return seconds_on_page, np.minimum(start[event_session] + elapsed, 86_399)


def event_rows(ctx: DayContext, trading: Trading, sessions: Sessions, events: Events, day: int) -> pa.Table:
    """The events as rows of gold_customer_event_fact."""
    world, streams, calendar, requests = ctx.world, ctx.streams, ctx.calendar, trading.requests
    n_cart, event_session, event_type, n_events = sessions.n_cart, events.session, events.event_type, events.n
    product, is_line_event, line_row = _event_products(ctx, trading, sessions, events, day)
    has_product = np.isin(event_type, (PRODUCT_VIEW, SIZE_GUIDE, ADD_TO_CART, REMOVE))
    line_value = requests.quantity[line_row] * requests.unit_price[line_row]
    adds = is_line_event & (event_type == ADD_TO_CART)
    low_stock = adds & trading.line_low[line_row]
    order_value = np.concatenate([
        np.bincount(sessions.line_session, weights=(requests.quantity * requests.unit_price)[sessions.lines],
                    minlength=n_cart),
        np.zeros(sessions.n - n_cart),
    ])
    completes = event_type == CHECKOUT_COMPLETE
    event_value = np.where(completes, order_value[event_session], line_value)
    seconds_on_page, at = _event_seconds(ctx, sessions, events, day)

    sources = TRAFFIC_SOURCES + (RECOVERY_SOURCE,)
    source = streams.choice("traffic", day, sessions.ids, np.cumsum(TRAFFIC_SHARES))
    source = np.where(sessions.from_recovery_email, len(TRAFFIC_SOURCES), source)
    device, browser, os_ = _device(sessions.channel, streams.uniform("device", day, sessions.ids))
    date_key = calendar.date_key(day)
    # The shopper's local midnight as a UTC instant (their home's time zone that day).
    midnight_us = (int(dt.datetime.combine(calendar.date(day), dt.time(), tzinfo=dt.timezone.utc).timestamp())
                   - utc_offsets(calendar.date(day))[world.customers.city[sessions.customer]]) * 10**6
    session_id = session_ids(date_key, sessions.ids).take(pa.array(event_session))
    product_key = world.products.key[product]
    search_term = vocab(cat.CATEGORY_LEVEL_3, world.products.category[product], event_type == SEARCH)
    first_line = sessions.first_line
    order_id = join_text("O", calendar.date_keys(requests.order_day[first_line]), "-", requests.order_number[first_line])
    label = pc.if_else(
        pa.array(has_product), as_text(product_key), pc.if_else(pa.array(event_type == SEARCH), search_term, None)
    )
    label = pc.if_else(pa.array(low_stock), "low_stock", label)
    if n_cart:
        completed_order = order_id.take(pa.array(np.minimum(event_session, n_cart - 1)))
        label = pc.if_else(pa.array(completes), completed_order, label)

    def source_field(column: int) -> pa.Array:
        return pa.array([s[column] for s in sources], pa.string()).take(pa.array(source[event_session]))

    columns = {
        "event_id": join_text(session_id, "-", events.position),
        "session_id": session_id,
        "customer_key": sessions.customer_key[event_session],
        "date_key": np.full(n_events, date_key, dtype=np.int32),
        "time_key": time_key_of(at // 900),
        "event_timestamp": pa.array(midnight_us[event_session] + at * 10**6, pa.int64()).cast(tables.TIMESTAMP),
        "channel_key": (sessions.channel[event_session] + 1).astype(np.int32),
        "event_type": vocab(EVENT_TYPES, event_type),
        "event_category": vocab(EVENT_CATEGORY, event_type),
        "event_action": vocab(EVENT_ACTIONS, event_type),
        "event_label": label,
        "event_value": pa.array(money(np.where(completes | adds, event_value, 0.0)), mask=~(completes | adds)),
        "product_key": pa.array(product_key, mask=~has_product),
        "time_on_page_seconds": seconds_on_page.astype(np.int32),
        "bounce_flag": events.bounce[event_session],
        "page_url": _page_urls(event_type, product, world),
        "referrer_url": source_field(0),
        "search_term": search_term,
        "device_type": vocab(DEVICE_TYPES, device[event_session]),
        "browser": vocab(BROWSERS, browser[event_session]),
        "operating_system": vocab(OPERATING_SYSTEMS, os_[event_session]),
        "utm_source": source_field(1),
        "utm_medium": source_field(2),
        "utm_campaign": source_field(3),
        "conversion_flag": sessions.converted[event_session],
        "source_system": pa.repeat(cat.SOURCE_SYSTEM, n_events),
    }
    return pa.Table.from_pydict(columns, schema=tables.GOLD_CUSTOMER_EVENT_FACT.generated_schema)


STEP_PAGES = ("/", "/search", "/c/", "/p/", "/p/", "/cart", "/cart", "/checkout", "/checkout/complete")


def _page_urls(event_type: np.ndarray, product: np.ndarray, world: World) -> pa.Array:
    """Page of each event: product pages carry the product, listings their category. Every
    distinct URL is built once (steps, then one page per product, then one per category) and
    the events take theirs: one string materialisation per event."""
    product_pages = join_text(STEP_PAGES[PRODUCT_VIEW], world.products.key)
    slugs = [name.lower().replace(" ", "-") for name in cat.CATEGORY_LEVEL_3]
    pages = pa.concat_arrays([
        pa.array(STEP_PAGES, pa.string()), product_pages, pa.array([STEP_PAGES[FILTER] + slug for slug in slugs]),
    ])
    first_product, first_listing = len(STEP_PAGES), len(STEP_PAGES) + len(product_pages)
    page = np.where(np.isin(event_type, (PRODUCT_VIEW, SIZE_GUIDE)), first_product + product, event_type)
    category = world.products.category[product].astype(np.int64)  # int16 codes: the offset can exceed int16
    page = np.where(event_type == FILTER, first_listing + category, page)
    return pages.take(pa.array(page))
