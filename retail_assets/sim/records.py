"""Arrow rows of a day: sales (immediate, pickups), lost demand, inventory snapshot, movements,
stockout spells, forecasts and abandoned carts.

Row builders only: they turn what the day's stages decided into rows, and decide nothing
themselves (returns are decided in ``returns``). Vectorised column building: ids are
assembled with Arrow string kernels, categorical values by ``take`` on the small
vocabulary arrays.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets import tables
from retail_assets.days import date32_of_ordinals
from retail_assets.sim import catalog as cat
from retail_assets.sim import inventory as inv
from retail_assets.sim.catalog import (
    ABANDONMENT_STAGES,
    MOVEMENT_KINDS,
    ORIGINS,
    RESPONSES,
    RETURN_REASONS,
    SUSPECTED_REASONS,
)
from retail_assets.sim.clickstream import session_ids, session_number
from retail_assets.sim.columns import as_text, join_text, money, time_key_of, vocab
from retail_assets.sim.context import DayContext
from retail_assets.sim.demand import ORIGIN_RECOVERED_CART, SLOT_CUMULATIVE, Requests, customer_keys, shelf_price
from retail_assets.sim.inventory import InventoryState
from retail_assets.sim.replenishment import Transfers
from retail_assets.sim.returns import Returns
from retail_assets.sim.scheduled_sales import SCHEDULED_SCHEMA, empty_scheduled
from retail_assets.sim.trading import RECOVERY_DISCOUNT, Trading

MIN_SALES_RATE = 0.01  # below this many units a day, days of supply is undefined (NULL)
TERMINALS_PER_STORE, ASSOCIATES_PER_STORE = 6, 40


def _dates(days: np.ndarray, world) -> pa.Array:
    """Arrow dates of day ordinals; NULL for "never" (``inventory.NO_DAY``)."""
    return date32_of_ordinals(days, world.config.start_date, valid=days != inv.NO_DAY)


def sale_rows(
    ctx: DayContext, requests: Requests, granted: np.ndarray, available_before: np.ndarray, day: int
) -> tuple[pa.Table, pa.Table]:
    """Rows of today's granted lines: (sold now, pickups collected tomorrow).

    A line is identified by its order's day, order number and line number: a retry, a recovered
    cart or a substitute sells the line its customer first asked for, which had no sale yet.
    """
    world, calendar = ctx.world, ctx.calendar
    date_key = calendar.date_key(day)
    keep = np.flatnonzero(granted > 0)
    quantity = granted[keep]
    product, location = requests.product[keep], requests.location[keep]
    order_number, line_number = requests.order_number[keep], requests.line_number[keep]
    fulfillment = requests.fulfillment[keep]
    is_pickup = fulfillment == cat.FULFILL_PICKUP
    line_id = requests.line_id[keep]
    pickup_slot = ctx.streams.choice("pickup_slot", day, line_id, SLOT_CUMULATIVE[True])
    slot = np.where(is_pickup, pickup_slot, requests.time_slot[keep])
    collect_key = calendar.date_key(day + 1)
    transaction_day = np.where(is_pickup, collect_key, date_key)

    unit_price = requests.unit_price[keep]
    revenue = money(quantity * unit_price)
    discount = money(revenue * requests.discount_rate[keep])
    net = money(revenue - discount)
    unit_cost = world.products.unit_cost[product]
    in_store = fulfillment == cat.FULFILL_IN_STORE
    location_key = world.locations.key[location]
    promotion = requests.promotion[keep]
    terminal = ctx.streams.integers("terminal", day, line_id, 1, TERMINALS_PER_STORE)
    associate = ctx.streams.integers("associate", day, line_id, 1, ASSOCIATES_PER_STORE)
    location_code = pc.utf8_lpad(as_text(location_key), 3, "0")
    order_key = calendar.date_keys(requests.order_day[keep])
    order_id = join_text("O", order_key, "-", order_number)
    columns = {
        "sale_id": join_text("S", order_key, "-", order_number, "-", line_number),
        "transaction_id": join_text("T", transaction_day, "-", order_key, "-", order_number),
        "order_id": order_id,
        "line_item_id": as_text(line_number),
        "customer_key": customer_keys(world, ctx.streams, requests)[keep],
        "product_key": world.products.key[product],
        "location_key": location_key,
        "date_key": transaction_day.astype(np.int32),
        # a recovered cart is ordered on the day its customer comes back and checks out
        "order_date_key": np.where(requests.origin[keep] == ORIGIN_RECOVERED_CART, date_key, order_key).astype(np.int32),
        "time_key": time_key_of(slot),
        "channel_key": (requests.channel[keep] + 1).astype(np.int32),
        "quantity_sold": quantity.astype(np.int32),
        "quantity_requested": requests.quantity[keep],
        "unit_price": unit_price,
        "revenue": revenue,
        "discount_amount": discount,
        "net_sales_amount": net,
        "tax_amount": money(net * np.where(fulfillment == cat.FULFILL_SHIP,  # taxed where it is delivered
                                           ctx.city_tax_rate[world.customers.city[requests.customer[keep]]],
                                           ctx.tax_rate[location])),
        "unit_cost": unit_cost,
        "gross_margin": money(net - quantity * unit_cost),
        "is_return": np.zeros(len(keep), dtype=bool),
        "original_sale_id": pa.nulls(len(keep), pa.string()),
        "return_restocked_date_key": pa.nulls(len(keep), pa.int32()),
        "is_inventory_constrained": quantity < requests.quantity[keep],
        "inventory_at_purchase": available_before[keep],
        "is_exchange": np.zeros(len(keep), dtype=bool),
        "is_promotional": promotion >= 0,
        "is_clearance": requests.is_clearance[keep],
        "promotion_code": vocab(calendar.promotion_codes, promotion, promotion >= 0),
        "payment_method": vocab(cat.PAYMENT_METHODS, requests.payment[keep]),
        "fulfillment_type": vocab(cat.FULFILLMENT_TYPES, fulfillment),
        "request_origin": vocab(ORIGINS, requests.origin[keep]),
        "size": vocab(cat.SIZE_VOCABULARY, requests.size[keep]),
        "return_reason": pa.nulls(len(keep), pa.string()),
        "pos_terminal_id": pc.if_else(pa.array(in_store), join_text("POS-", location_code, "-", terminal), None),
        "sales_associate_id": pc.if_else(pa.array(in_store), join_text("SA-", location_code, "-", associate), None),
        "source_system": pa.repeat(cat.SOURCE_SYSTEM, len(keep)),
        "line_id": line_id,
        "customer": requests.customer[keep],
        "fit": requests.fit[keep],
        "due_day": np.where(is_pickup, day + 1, day).astype(np.int32),
        "restock_day": np.full(len(keep), -1, dtype=np.int32),
    }
    rows = pa.Table.from_pydict(columns, schema=SCHEDULED_SCHEMA)
    return rows.filter(pa.array(~is_pickup)), rows.filter(pa.array(is_pickup))


def return_rows(ctx: DayContext, sold: pa.Table, returns: Returns) -> pa.Table:
    """The rows of ``returns`` of the lines ``sold`` today, scheduled on their return day: the
    sale negated, dated and keyed by its return."""
    if len(returns.rows) == 0:
        return empty_scheduled()
    n, calendar = len(returns.rows), ctx.calendar
    return_key = calendar.date_keys(returns.return_day)
    original = sold.take(pa.array(returns.rows))
    columns = {name: original.column(name) for name in SCHEDULED_SCHEMA.names}
    for name in ("quantity_sold", "quantity_requested", "revenue", "discount_amount", "net_sales_amount",
                 "tax_amount", "gross_margin"):
        columns[name] = pc.negate(original.column(name))
    original_id = original.column("sale_id")
    sold_before_start = pc.less(original.column("date_key"), calendar.date_key(0))  # in the unwritten warm-up
    columns.update(
        sale_id=join_text("R", return_key, "-", original_id),
        transaction_id=join_text("RT", return_key, "-", original.column("order_id")),
        date_key=return_key,
        time_key=time_key_of(returns.time_slot),
        is_return=np.ones(n, dtype=bool),
        original_sale_id=pc.if_else(sold_before_start, pa.scalar(None, pa.string()), original_id),
        return_restocked_date_key=calendar.date_keys(returns.restock_day),
        is_inventory_constrained=np.zeros(n, dtype=bool),
        inventory_at_purchase=pa.nulls(n, pa.int32()),
        is_exchange=returns.is_exchange,
        return_reason=vocab(RETURN_REASONS, returns.reason),
        line_id=returns.line_id,
        due_day=returns.return_day.astype(np.int32),
        restock_day=returns.restock_day.astype(np.int32),
    )
    return pa.Table.from_pydict(columns, schema=SCHEDULED_SCHEMA)


def lost_sales(ctx: DayContext, trading: Trading, day: int) -> pa.Table:
    """Requests that got no unit, with what the customer did next."""
    world, calendar = ctx.world, ctx.calendar
    lost = np.flatnonzero(trading.failed)
    requests = trading.requests.take(lost)
    n = len(lost)
    date_key = calendar.date_key(day)
    substitute = trading.substitute_product[lost]
    retry = trading.retry_day[lost]
    columns = {
        "date_key": np.full(n, date_key, dtype=np.int32),
        "time_key": time_key_of(requests.time_slot),
        "order_id": join_text("O", calendar.date_keys(requests.order_day), "-", requests.order_number),
        "line_item_id": as_text(requests.line_number),
        "customer_key": customer_keys(world, ctx.streams, requests),
        "product_key": world.products.key[requests.product],
        "location_key": world.locations.key[requests.location],
        "channel_key": (requests.channel + 1).astype(np.int32),
        "fulfillment_type": vocab(cat.FULFILLMENT_TYPES, requests.fulfillment),
        "quantity_requested": requests.quantity,
        "unit_price": requests.unit_price,
        "lost_revenue": money(requests.quantity * requests.unit_price),
        "reason": pa.repeat("out_of_stock", n),
        "request_origin": vocab(ORIGINS, requests.origin),
        "stockout_response": vocab(RESPONSES, trading.response[lost]),
        "substitute_product_key": pa.array(world.products.key[np.maximum(substitute, 0)], mask=substitute < 0),
        "retry_date_key": pa.array(calendar.date_keys(np.where(retry >= 0, retry, day)), mask=retry < 0),
        "source_system": pa.repeat(cat.SOURCE_SYSTEM, n),
    }
    return pa.Table.from_pydict(columns, schema=tables.GOLD_LOST_SALES_FACT.generated_schema)


@dataclass(frozen=True)
class PositionFlows:
    """Units that moved at each position today (arrays over positions, signed as on-hand changes
    except ``transferred_out`` and ``sold``, which are positive outflows)."""

    received: np.ndarray
    transferred_in: np.ndarray
    transferred_out: np.ndarray
    sold: np.ndarray
    restocked: np.ndarray
    adjusted: np.ndarray


def inventory_snapshot(ctx: DayContext, state: InventoryState, day: int, is_stockout: np.ndarray,
                       flows: PositionFlows) -> pa.Table:
    """End-of-day rows of every position whose product has launched."""
    world = ctx.world
    products = world.products
    rows = np.flatnonzero(products.launch_day[ctx.positions.product] <= day)
    product, location = ctx.positions.product[rows], ctx.positions.location[rows]
    on_hand, reserved = state.on_hand[rows], state.reserved[rows]
    available = on_hand - reserved
    sales_rate = state.sales_rate[rows]
    selling = shelf_price(world, product, day)
    n = len(rows)
    days_of_supply = np.divide(available, sales_rate, out=np.zeros(n), where=sales_rate >= MIN_SALES_RATE)
    columns = {
        "product_key": products.key[product],
        "location_key": world.locations.key[location],
        "date_key": np.full(n, ctx.calendar.date_key(day), dtype=np.int32),
        "quantity_on_hand": on_hand,
        "quantity_reserved": reserved,
        "quantity_available": available,
        "quantity_in_transit": state.in_transit[rows],
        "units_received": flows.received[rows],
        "units_transferred_in": flows.transferred_in[rows],
        "units_transferred_out": flows.transferred_out[rows].astype(np.int32),
        "units_sold": flows.sold[rows].astype(np.int32),
        "units_restocked": flows.restocked[rows],
        "units_adjusted": flows.adjusted[rows].astype(np.int32),
        "total_value": money(on_hand * products.unit_cost[product]),
        "total_value_retail": money(on_hand * selling),
        "days_of_supply": pa.array(np.round(days_of_supply, 1), mask=sales_rate < MIN_SALES_RATE),
        "is_stockout": is_stockout[rows],
        "stockout_duration_days": state.stockout_days[rows],
        "is_overstock": available > state.order_up_to[rows],
        "reorder_point": state.reorder_point[rows],
        "max_stock_level": state.order_up_to[rows],
        "last_replenishment_date": _dates(state.last_receipt_day[rows], world),
        "next_replenishment_date": _dates(inv.next_arrival_day(state.inbound + state.transfers, day)[rows], world),
        "source_system": pa.repeat(cat.SOURCE_SYSTEM, n),
    }
    return pa.Table.from_pydict(columns, schema=tables.GOLD_INVENTORY_FACT.generated_schema)


def movements(ctx: DayContext, day: int, flows: PositionFlows, transfers: Transfers) -> pa.Table:
    """Movement rows: one per position and kind of flow with units, plus one per DC shipment."""
    locations = ctx.world.locations
    positions = ctx.positions
    parts = []
    signs = {"sold": -1}
    for kind, (movement_type, reason, reference) in MOVEMENT_KINDS.items():
        values = getattr(flows, kind)
        rows = np.flatnonzero(values)
        source = None
        if kind == "transferred_in":
            source = locations.source_dc[positions.location[rows]]
        parts.append(_movement_rows(ctx, day, rows, signs.get(kind, 1) * values[rows], movement_type, reason,
                                    reference, from_location=source, to_location=None if source is None else
                                    positions.location[rows]))
    shipped = transfers.quantity > 0
    parts.append(_movement_rows(
        ctx, day, transfers.source[shipped], -transfers.quantity[shipped], "transfer", "dc_replenishment",
        "transfer_order", from_location=positions.location[transfers.source[shipped]],
        to_location=transfers.destination_location[shipped],
    ))
    return pa.concat_tables(parts)


def _movement_rows(ctx: DayContext, day, rows, quantity, movement_type, reason, reference, from_location, to_location):
    world = ctx.world
    n = len(rows)
    date_key = ctx.calendar.date_key(day)
    product = ctx.positions.product[rows]
    product_key, location_key = world.products.key[product], world.locations.key[ctx.positions.location[rows]]
    unit_cost = world.products.unit_cost[product]

    def keys(locations):
        return pa.nulls(n, pa.int32()) if locations is None else world.locations.key[locations]

    movement_id = join_text("MV-", np.full(n, date_key), f"-{movement_type}-", product_key, "-", location_key)
    if to_location is not None and from_location is not None:
        movement_id = join_text(movement_id, "-", world.locations.key[to_location])
    columns = {
        "movement_id": movement_id,
        "date_key": np.full(n, date_key, dtype=np.int32),
        "product_key": product_key,
        "location_key": location_key,
        "from_location_key": keys(from_location),
        "to_location_key": keys(to_location),
        "movement_type": pa.repeat(movement_type, n),
        "movement_reason": pa.repeat(reason, n),
        "quantity": np.asarray(quantity, dtype=np.int32),
        "unit_cost": unit_cost,
        "total_cost": money(quantity * unit_cost),
        "reference_type": pa.repeat(reference, n),
        "source_system": pa.repeat(cat.SOURCE_SYSTEM, n),
    }
    return pa.Table.from_pydict(columns, schema=tables.GOLD_INVENTORY_MOVEMENT_FACT.generated_schema)


def stockout_spells(ctx: DayContext, day: int, rows: np.ndarray, start_day, last_day, restocked,
                    state: InventoryState) -> pa.Table:
    """Rows of the spells at positions ``rows``: closed ones (``last_day`` given) or open ones."""
    world, calendar = ctx.world, ctx.calendar
    n = len(rows)
    product, location = ctx.positions.product[rows], ctx.positions.location[rows]
    product_key, location_key = world.products.key[product], world.locations.key[location]
    start_day = np.asarray(start_day, dtype=np.int64)
    is_closed = last_day is not None
    end_day = np.full(n, last_day if is_closed else inv.NO_DAY, dtype=np.int64)
    restocked_day = np.where(restocked, day, inv.NO_DAY) if is_closed else np.full(n, inv.NO_DAY)
    columns = {
        "stockout_id": join_text("SO-", product_key, "-", location_key, "-", calendar.date_keys(start_day)),
        "product_key": product_key,
        "location_key": location_key,
        "date_key": np.full(n, calendar.date_key(day), dtype=np.int32),
        "stockout_start_date": _dates(start_day, world),
        "stockout_end_date": _dates(end_day, world),
        "stockout_duration_days": ((last_day if is_closed else day) - start_day + 1).astype(np.int32),
        "lost_sales_attempts": state.spell_attempts[rows],
        "lost_sales_quantity": state.spell_lost_units[rows],
        "lost_sales_revenue": money(state.spell_lost_revenue[rows]),
        "peak_season_flag": state.spell_peak[rows],
        "restocked_date": _dates(restocked_day, world),
        "is_closed": np.full(n, is_closed),
        "source_system": pa.repeat(cat.SOURCE_SYSTEM, n),
    }
    return pa.Table.from_pydict(columns, schema=tables.GOLD_STOCKOUT_EVENTS.generated_schema)


FORECAST_CONFIDENCE, FORECAST_Z = 0.9, 1.645  # two-sided 90% normal interval
FORECAST_MODEL = ("ses_seasonal_v1", "exponential_smoothing")


def _ratio(numerator: np.ndarray, denominator: np.ndarray) -> pa.Array:
    valid = denominator > 0
    values = np.divide(numerator, denominator, out=np.zeros(len(numerator)), where=valid)
    return pa.array(np.round(values, 4), mask=~valid)


def demand_forecasts(ctx: DayContext, day: int, rows: np.ndarray, forecast: np.ndarray, spread: np.ndarray,
                     sold: np.ndarray, demanded: np.ndarray) -> pa.Table:
    """Forecast rows of the positions ``rows`` (the sellable ones) with their actuals."""
    world, calendar = ctx.world, ctx.calendar
    products = world.products
    n = len(rows)
    product = ctx.positions.product[rows]
    product_key, location_key = products.key[product], world.locations.key[ctx.positions.location[rows]]
    price = shelf_price(world, product, day)
    predicted, deviation = forecast[rows], spread[rows]
    actual, demand = sold[rows].astype(np.float64), demanded[rows].astype(np.float64)
    date_key = calendar.date_key(day)
    error = np.abs(predicted - actual)
    mape = _ratio(error, actual)
    columns = {
        "forecast_id": join_text("FC-", np.full(n, date_key), "-", product_key, "-", location_key),
        "product_key": product_key,
        "location_key": location_key,
        "date_key": np.full(n, date_key, dtype=np.int32),
        "forecast_date_key": np.full(n, calendar.date_key(day - 1), dtype=np.int32),
        "forecast_quantity": np.round(predicted, 3),
        "forecast_revenue": money(predicted * price),
        "lower_confidence_bound": np.round(np.maximum(predicted - FORECAST_Z * deviation, 0.0), 3),
        "upper_confidence_bound": np.round(predicted + FORECAST_Z * deviation, 3),
        "confidence_level": np.full(n, FORECAST_CONFIDENCE),
        "actual_quantity": actual.astype(np.int32),
        "actual_demand": demand.astype(np.int32),
        "actual_revenue": money(actual * price),
        "forecast_accuracy": pc.max_element_wise(pc.subtract(pa.scalar(1.0), mape), pa.scalar(0.0)),
        "mape": mape,
        "bias": _ratio(predicted - actual, actual),
        "demand_bias": _ratio(predicted - demand, demand),
        "model_version": pa.repeat(FORECAST_MODEL[0], n),
        "model_type": pa.repeat(FORECAST_MODEL[1], n),
        "source_system": pa.repeat(cat.SOURCE_SYSTEM, n),
    }
    return pa.Table.from_pydict(columns, schema=tables.GOLD_DEMAND_FORECAST_FACT.generated_schema)


LOW_INVENTORY_SUSPECTED = 0.6  # a low-inventory cart is blamed on stock this often
# P(reason | stage) for carts not blamed on stock (columns as SUSPECTED_REASONS).
STAGE_REASON_PROBS = np.array(
    [
        [0.0, 0.0, 0.45, 0.40, 0.15, 0.0],
        [0.0, 0.85, 0.10, 0.0, 0.05, 0.0],
        [0.0, 0.0, 0.0, 0.0, 0.30, 0.70],
    ]
)
MINUTES_IN_CART_MEDIAN = 12.0


def abandoned_carts(ctx: DayContext, trading: Trading, day: int) -> pa.Table:
    """One row per cart abandoned today, built from its lines at the day's prices."""
    world, calendar, streams = ctx.world, ctx.calendar, ctx.streams
    abandoned = trading.carts
    requests = trading.requests.take(abandoned.lines)
    carts, first, cart_of = abandoned.order_number, abandoned.first_line, abandoned.cart_of
    n = len(carts)
    value = requests.quantity * requests.unit_price
    cart_value = np.bincount(cart_of, weights=value, minlength=n)
    top_line = np.lexsort((value, cart_of))[np.cumsum(np.bincount(cart_of, minlength=n)) - 1]
    recovery = abandoned.recovery
    low = trading.cart_low[abandoned.lines][first]
    stage = abandoned.stage
    blamed_on_stock = low & (streams.uniform("abandon_reason_stock", day, carts) < LOW_INVENTORY_SUSPECTED)
    u = streams.uniform("abandon_reason", day, carts)
    other = np.minimum((u[:, None] >= np.cumsum(STAGE_REASON_PROBS, axis=1)[stage]).sum(axis=1), 5)
    reason = np.where(blamed_on_stock, 0, other)
    date_key = calendar.date_key(day)
    recovered = recovery.is_recovered
    minutes = MINUTES_IN_CART_MEDIAN * np.exp(0.8 * streams.normal("minutes_in_cart", day, carts))
    columns = {
        "abandonment_id": np.int64(date_key) * 1_000_000_000 + carts,
        "cart_id": join_text("C", np.full(n, date_key), "-", carts),
        "session_id": session_ids(date_key, session_number(carts, np.full(n, day), day)),
        "customer_key": customer_keys(world, streams, requests.take(first)),
        "date_key": np.full(n, date_key, dtype=np.int32),
        "time_key": time_key_of(requests.time_slot[first]),
        "channel_key": (requests.channel[first] + 1).astype(np.int32),
        "product_key": world.products.key[requests.product[top_line]],
        "cart_value": money(cart_value),
        "items_count": np.bincount(cart_of, weights=requests.quantity, minlength=n).astype(np.int32),
        "line_count": np.bincount(cart_of, minlength=n).astype(np.int32),
        "minutes_in_cart": np.maximum(np.round(minutes), 1).astype(np.int32),
        "low_inventory_trigger": low,
        "inventory_constrained_items": np.bincount(cart_of, weights=trading.line_low[abandoned.lines],
                                                    minlength=n).astype(np.int32),
        "recovery_email_sent": recovery.email_sent,
        "recovery_email_opened": recovery.email_opened,
        "recovery_email_clicked": recovery.email_clicked,
        "is_recovered": recovered,
        "recovery_date_key": pa.array(calendar.date_keys(np.where(recovered, recovery.recovery_day, day)),
                                      mask=~recovered),
        "recovery_revenue": money(np.where(recovered, cart_value * (1 - RECOVERY_DISCOUNT), 0.0)),
        "abandonment_stage": vocab(ABANDONMENT_STAGES, stage),
        "suspected_reason": vocab(SUSPECTED_REASONS, reason),
        "source_system": pa.repeat(cat.SOURCE_SYSTEM, n),
    }
    return pa.Table.from_pydict(columns, schema=tables.GOLD_CART_ABANDONMENT_FACT.generated_schema)
