"""The trading hours of a day: carts, checkout, allocation and stockout responses, slot by slot.

Time moves in 15-minute slots. In each slot, in this order:
1. online carts look at the shelves: a cart is *low inventory* when any of its lines' position
   has at most ``low_inventory_threshold`` units available at that moment, and is abandoned with
   probability base (+ increase when low);
2. the slot's remaining requests compete for stock in random order (min(asked, left));
3. customers who found an empty shelf respond: buy a substitute (same category, nearest price,
   in stock here and now), come back on a later day, buy elsewhere, or give up.
Every slot sees the stock the previous slots left, so "at that moment" is literal.

After the last slot, the day's abandoned carts are settled once (where in the funnel each was
left, its recovery email funnel), and the customers who come back later - retries and
recovered carts - are scheduled (``trading_day``, the day's trading stage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from retail_assets.sim import catalog as cat
from retail_assets.sim import inventory as inv
from retail_assets.sim.context import DayContext
from retail_assets.sim.demand import (
    ORIGIN_DELAYED,
    ORIGIN_NEW,
    ORIGIN_RECOVERED_CART,
    ORIGIN_SUBSTITUTE,
    SLOT_CUMULATIVE,
    Requests,
    generate_requests,
    order_identified,
    shelf_price,
    split_due_requests,
)

LOST_TO_COMPETITOR, SUBSTITUTE, DELAY, NO_PURCHASE, NO_SUBSTITUTE, LOST_AFTER_RETRY = range(len(cat.RESPONSES))
NO_RESPONSE = -1
DELAY_DAYS = (1, 7)  # a customer who comes back does so 1-7 days later
# Line ids of derived requests carry their origin in high bits, so their random draws and sale
# ids never collide with the day's own lines.
ORIGIN_BITS = 52
ABANDONMENT_STAGE_PROBS = np.array([0.5, 0.3, 0.2])  # where in the funnel a cart is left (ABANDONMENT_STAGES)
RECOVERY_DISCOUNT = 0.10
RECOVERY_FUNNEL = (0.9, 0.45, 0.35, 0.55)  # sent (opted-in customers), opened, clicked, purchased
RECOVERY_DELAY_DAYS = (1, 3)


@dataclass(frozen=True)
class CartRecovery:
    """The recovery email funnel of abandoned carts (one entry per cart)."""

    email_sent: np.ndarray
    email_opened: np.ndarray
    email_clicked: np.ndarray
    is_recovered: np.ndarray
    recovery_day: np.ndarray  # day the customer comes back to buy, -1 if not


@dataclass(frozen=True)
class AbandonedCarts:
    """Today's abandoned carts, one entry per cart (by order number), and what became of them.

    Drawn once, here: the cart rows, the clickstream's funnels and the recovered carts coming
    back all read these.
    """

    lines: np.ndarray  # request rows of their lines
    order_number: np.ndarray  # per cart, sorted
    first_line: np.ndarray  # per cart: index into ``lines`` of its first line
    cart_of: np.ndarray  # per line of ``lines``: its cart
    stage: np.ndarray  # per cart: ABANDONMENT_STAGES code of where the customer left
    recovery: CartRecovery


@dataclass(frozen=True)
class Trading:
    """Everything that happened in the shop today, aligned on ``requests``."""

    requests: Requests  # today's requests followed by the substitutes they led to
    positions: np.ndarray
    granted: np.ndarray
    available_before: np.ndarray
    abandoned: np.ndarray  # cart line abandoned before checkout (not served, not lost)
    cart_low: np.ndarray  # the line's cart was low inventory when the customer looked
    line_low: np.ndarray  # the line's own position was low at that moment
    response: np.ndarray  # cat.RESPONSES code of a request that got nothing, else NO_RESPONSE
    substitute_product: np.ndarray  # product index bought instead, -1 if none
    retry_day: np.ndarray  # day the customer comes back, -1 if not
    carts: AbandonedCarts

    @property
    def failed(self) -> np.ndarray:
        return (self.granted == 0) & ~self.abandoned


def derived_line_id(line_id: np.ndarray, origin: int, order_day: np.ndarray) -> np.ndarray:
    """A line id for a request derived from another (retry, substitute, recovered cart)."""
    return (line_id & ((1 << 40) - 1)) | ((order_day.astype(np.int64) & 0xFFF) << 40) | (np.int64(origin) << ORIGIN_BITS)


def trade(ctx: DayContext, state: inv.InventoryState, requests: Requests, day: int) -> Trading:
    """Run the day's trading over ``state`` (in place: on-hand and reserved units move)."""
    config, streams = ctx.config, ctx.streams
    n = len(requests)
    positions = ctx.positions.position_at(requests.product, requests.location)
    tie_break = streams.bits("arrival", day, requests.line_id) >> np.uint64(1)
    granted = np.zeros(n, dtype=np.int32)
    before = np.zeros(n, dtype=np.int32)
    abandoned = np.zeros(n, dtype=bool)
    cart_low = np.zeros(n, dtype=bool)
    line_low = np.zeros(n, dtype=bool)
    response = np.full(n, NO_RESPONSE, dtype=np.int8)
    substitute_product = np.full(n, -1, dtype=np.int64)
    retry_day = np.full(n, -1, dtype=np.int32)
    substitutes: list[tuple[Requests, np.ndarray, np.ndarray, np.ndarray]] = []

    order = np.lexsort((tie_break, requests.time_slot))
    slots = requests.time_slot[order]
    bounds = np.flatnonzero(np.diff(slots)) + 1
    for idx in np.split(order, bounds):
        if len(idx) == 0:
            continue
        # 1. carts: abandon or check out, seeing the shelves as they are now
        carts = idx[requests.is_cart[idx] & (requests.origin[idx] == ORIGIN_NEW)]
        if len(carts):
            low = state.available[positions[carts]] <= config.low_inventory_threshold
            cart_ids, cart_of = np.unique(requests.order_number[carts], return_inverse=True)
            any_low = np.bincount(cart_of, weights=low, minlength=len(cart_ids)) > 0
            probability = config.cart_abandonment_base_rate + config.cart_abandonment_increase * any_low
            gives_up = streams.uniform("abandon", day, cart_ids) < probability
            abandoned[carts] = gives_up[cart_of]
            cart_low[carts] = any_low[cart_of]
            line_low[carts] = low
        # 2. checkout: competing requests served in random order
        serve = idx[~abandoned[idx]]
        granted[serve], before[serve] = _serve(state, positions[serve], requests.take(serve), tie_break[serve])
        # 3. empty shelves: the customer's response
        failed = serve[granted[serve] == 0]
        if len(failed):
            subs = _respond(ctx, state, requests, failed, positions, day, response, substitute_product, retry_day)
            if subs is not None:
                sub_requests, sub_positions = subs
                sub_ties = streams.bits("arrival", day, sub_requests.line_id) >> np.uint64(1)
                sub_granted, sub_before = _serve(state, sub_positions, sub_requests, sub_ties)
                substitutes.append((sub_requests, sub_positions, sub_granted, sub_before))

    if substitutes:
        sub_requests = Requests.concat([s[0] for s in substitutes])
        m = len(sub_requests)
        requests = Requests.concat([requests, sub_requests])
        positions = np.concatenate([positions, *[s[1] for s in substitutes]])
        granted = np.concatenate([granted, *[s[2] for s in substitutes]])
        before = np.concatenate([before, *[s[3] for s in substitutes]])
        abandoned = np.concatenate([abandoned, np.zeros(m, dtype=bool)])
        cart_low = np.concatenate([cart_low, np.zeros(m, dtype=bool)])
        line_low = np.concatenate([line_low, np.zeros(m, dtype=bool)])
        # A substitute that also finds the shelf empty is simply lost.
        response = np.concatenate([response, np.where(granted[n:] == 0, NO_PURCHASE, NO_RESPONSE).astype(np.int8)])
        substitute_product = np.concatenate([substitute_product, np.full(m, -1)])
        retry_day = np.concatenate([retry_day, np.full(m, -1, dtype=np.int32)])
    return Trading(requests, positions, granted, before, abandoned, cart_low, line_low, response,
                   substitute_product, retry_day, abandoned_carts(ctx, requests, abandoned, day))


def _serve(state: inv.InventoryState, positions, requests: Requests, priority) -> tuple[np.ndarray, np.ndarray]:
    """Allocate, then move the units: pickups are reserved, everything else leaves the shelf."""
    granted, before = inv.allocate(positions, requests.quantity, priority, state.available)
    pickup = requests.fulfillment == cat.FULFILL_PICKUP
    n_pos = len(state.on_hand)
    state.on_hand -= inv.position_sums(positions, np.where(pickup, 0, granted), n_pos).astype(np.int32)
    state.reserved += inv.position_sums(positions, np.where(pickup, granted, 0), n_pos).astype(np.int32)
    return granted, before


def _respond(ctx: DayContext, state, requests: Requests, failed, positions, day, response, substitute_product,
             retry_day):
    """Draw each failed request's response; return the substitute requests to serve now."""
    config, streams, world = ctx.config, ctx.streams, ctx.world
    ids = requests.line_id[failed]
    first_try = requests.origin[failed] != ORIGIN_DELAYED
    drawn = streams.choice("stockout_response", day, ids, np.cumsum(config.stockout_response_shares))
    drawn = np.where(first_try, drawn, LOST_AFTER_RETRY)
    drawn = np.where((requests.origin[failed] == ORIGIN_SUBSTITUTE) & (drawn != LOST_AFTER_RETRY), NO_PURCHASE, drawn)

    wants_delay = drawn == DELAY
    retry_day[failed[wants_delay]] = day + streams.integers("retry_day", day, ids[wants_delay], *DELAY_DAYS)

    wants_substitute = np.flatnonzero(drawn == SUBSTITUTE)
    result = None
    if len(wants_substitute):
        rows = failed[wants_substitute]
        candidates = world.products.substitutes[requests.product[rows]]  # [rows, K], -1 = none
        location = requests.location[rows]
        candidate_positions = ctx.positions.position_at(candidates, location[:, None])
        in_stock = (candidates >= 0) & (state.available[np.where(candidates >= 0, candidate_positions, 0)] > 0)
        has = in_stock.any(axis=1)
        choice = candidates[np.arange(len(rows)), in_stock.argmax(axis=1)]
        drawn[wants_substitute[~has]] = NO_SUBSTITUTE
        chosen_rows = rows[has]
        substitute_product[chosen_rows] = choice[has]
        if len(chosen_rows):
            products = choice[has]
            base = requests.take(chosen_rows)
            subs = base.replace(
                product=products,
                unit_price=shelf_price(world, products, day),
                is_clearance=day >= world.products.clearance_from_day[products],
                origin=np.full(len(products), ORIGIN_SUBSTITUTE, dtype=np.int8),
                line_id=derived_line_id(base.line_id, ORIGIN_SUBSTITUTE, base.order_day),
            )
            result = (subs, ctx.positions.position_at(products, base.location))
    response[failed] = drawn
    return result


def abandoned_carts(ctx: DayContext, requests: Requests, abandoned: np.ndarray, day: int) -> AbandonedCarts:
    """The carts of the ``abandoned`` lines: where in the funnel each was left and its recovery
    email funnel (drawn by cart id, so every line of a cart agrees)."""
    lines = np.flatnonzero(abandoned)
    carts, first, cart_of = np.unique(requests.order_number[lines], return_index=True, return_inverse=True)
    return AbandonedCarts(
        lines=lines, order_number=carts, first_line=first, cart_of=cart_of,
        stage=ctx.streams.choice("abandon_stage", day, carts, np.cumsum(ABANDONMENT_STAGE_PROBS)),
        recovery=cart_recovery(ctx, requests.take(lines[first]), day),
    )


def cart_recovery(ctx: DayContext, first_lines: Requests, day: int) -> CartRecovery:
    """The recovery email funnel of abandoned carts (given each cart's first line, keyed by cart
    id): an email goes only to an identified member who opted in."""
    streams, carts = ctx.streams, first_lines.order_number
    sent_p, open_p, click_p, buy_p = RECOVERY_FUNNEL
    reachable = ctx.world.customers.email_opt_in[first_lines.customer] & order_identified(
        streams, first_lines.channel, first_lines.order_day, first_lines.order_number)
    sent = reachable & (streams.uniform("recovery_sent", day, carts) < sent_p)
    opened = sent & (streams.uniform("recovery_open", day, carts) < open_p)
    clicked = opened & (streams.uniform("recovery_click", day, carts) < click_p)
    recovered = clicked & (streams.uniform("recovery_buy", day, carts) < buy_p)
    recovery_day = np.where(recovered, day + streams.integers("recovery_day", day, carts, *RECOVERY_DELAY_DAYS), -1)
    return CartRecovery(email_sent=sent, email_opened=opened, email_clicked=clicked, is_recovered=recovered,
                        recovery_day=recovery_day)


def recovered_carts(ctx: DayContext, trading: Trading, day: int) -> tuple[Requests, np.ndarray]:
    """Lines of abandoned carts whose recovery email brings the customer back, and their day."""
    carts = trading.carts
    back = carts.recovery.is_recovered[carts.cart_of]
    rows, back_day = carts.lines[back], carts.recovery.recovery_day[carts.cart_of][back]
    base = trading.requests.take(rows)
    slot = ctx.streams.choice("recovery_slot", day, base.line_id, SLOT_CUMULATIVE[False])  # back online
    return base.replace(
        time_slot=slot.astype(np.int16),
        is_cart=np.zeros(len(rows), dtype=bool),
        origin=np.full(len(rows), ORIGIN_RECOVERED_CART, dtype=np.int8),
        line_id=derived_line_id(base.line_id, ORIGIN_RECOVERED_CART, base.order_day),
        promotion=np.full(len(rows), ctx.calendar.recovery_coupon_index, dtype=np.int16),
        discount_rate=np.full(len(rows), RECOVERY_DISCOUNT),
    ), back_day


def delayed_retries(ctx: DayContext, trading: Trading, day: int) -> tuple[Requests, np.ndarray]:
    """Customers who found an empty shelf and come back on a later day, and their day."""
    requests = trading.requests
    retry = np.flatnonzero(trading.retry_day >= 0)
    base = requests.take(retry)
    in_store = base.fulfillment == cat.FULFILL_IN_STORE
    slot = np.where(
        in_store,
        ctx.streams.choice("retry_slot", day, base.line_id, SLOT_CUMULATIVE[True]),
        ctx.streams.choice("retry_slot", day, base.line_id, SLOT_CUMULATIVE[False]),
    )
    return base.replace(
        time_slot=slot.astype(np.int16),
        is_cart=np.zeros(len(retry), dtype=bool),
        origin=np.full(len(retry), ORIGIN_DELAYED, dtype=np.int8),
        line_id=derived_line_id(base.line_id, ORIGIN_DELAYED, base.order_day),
    ), trading.retry_day[retry]


def block_requests(ctx: DayContext, day: int) -> Requests:
    """New requests of all customers on ``day`` for the block's locations."""
    requests = generate_requests(ctx.world, ctx.streams, ctx.calendar, day, ctx.config.cart_abandonment_base_rate)
    if ctx.positions.is_whole_world:
        return requests
    return requests.take(np.flatnonzero(ctx.positions.in_block[requests.location]))


def trading_day(ctx: DayContext, state: inv.InventoryState, day: int, new_requests: Requests | None = None
                ) -> Trading:
    """The trading stage: today's new requests and the customers due back today are served;
    those who will come back later (retries, recovered carts) join the state's schedule.

    ``new_requests``: the day's new requests at the block's locations, when the customer side
    ran elsewhere (customer blocks); generated here otherwise.
    """
    returning, state.scheduled_requests = split_due_requests(state.scheduled_requests, day)
    new = block_requests(ctx, day) if new_requests is None else new_requests
    trading = trade(ctx, state, Requests.concat([new, returning]), day)
    comebacks = [requests.to_table(due_day) for requests, due_day in
                 (delayed_retries(ctx, trading, day), recovered_carts(ctx, trading, day))]
    state.scheduled_requests = pa.concat_tables([state.scheduled_requests, *comebacks])
    return trading
