"""One simulated day: ``state(D-1) + world + day D -> tables for day D + state(D)``.

Order of events within a day:
1. Morning: the DCs' answers to yesterday's wave are booked at the stores; replenishment and
   return restocks due today go on the shelf; pickups ordered yesterday are collected (their
   sale rows are dated today); returns due today come back (restocked 1-3 days later); each
   DC's wave ships what it can of its stores' orders of last evening (random priority), the
   rest goes to the vendor.
2. Trading: customers' requests are served at each position in order of arrival (random
   times, random tie-break): min(requested, what is left). Requests that get nothing are lost.
3. Evening: demand and sales rates are updated, the (s, S) policy orders what is needed
   (stores from their DC, DCs and launches from vendors), and the end-of-day snapshot is taken.

A store and its DC only talk through those orders and answers, one night apart: that is what
lets any grouping of locations step on its own (a Spark task) with messages crossing the
day's one exchange.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.sim import catalog as cat
from retail_assets.sim import inventory as inv
from retail_assets.sim import records
from retail_assets.sim.demand import (
    CLEARANCE_DEMAND_BOOST,
    ORIGIN_DELAYED,
    ORIGIN_NEW,
    ORIGIN_RECOVERED_CART,
    SLOT_CUMULATIVE,
    SCHEDULED_REQUESTS_SCHEMA,
    Requests,
    generate_requests,
    split_due_requests,
)
from retail_assets.sim.clickstream import sessions_and_events
from retail_assets.sim.trading import Trading, derived_line_id, recovered_carts, trade
from retail_assets.sim.rng import Streams
from retail_assets.sim.timeline import DayCalendar
from retail_assets.sim.world import World

DEMAND_SCAN_DAYS = 14  # days of unconstrained demand used to seed the planning rates
VENDOR_DIRECT_EXTRA_DAYS = 4  # a store order the DC cannot cover ships from the vendor, slower
WAVE_DAYS = 1  # a store's order waits for its DC's next-morning wave: one more day of lead time
# Days past the configured range the calendar covers: scheduled runs keep going after it.
CALENDAR_HORIZON_DAYS = 3 * 366


@dataclass(frozen=True)
class Transfers:
    """DC-to-location shipments leaving today: DC positions (of this block), destination
    location indexes and units."""

    source: np.ndarray
    destination_location: np.ndarray
    quantity: np.ndarray


@dataclass(frozen=True)
class DayTables:
    day: int
    date_key: int
    sales: pa.Table
    lost_sales: pa.Table
    inventory: pa.Table
    stockout_events: pa.Table
    movements: pa.Table
    demand_forecasts: pa.Table
    cart_abandonments: pa.Table
    customer_events: pa.Table


class Simulator:
    """The world, its calendar and its random streams: everything a day step needs besides state."""

    def __init__(self, world: World, block: np.ndarray | None = None):
        """``block``: the location indexes this simulator owns (all by default; any grouping works).

        Positions are numbered inside the block; every random draw is keyed by the global position
        id, so a block's rows are the very rows the whole world produces at those locations.
        """
        config = world.config
        self.world = world
        self.config = config
        self.streams = Streams(config.seed)
        first_day = -config.warmup_days - DEMAND_SCAN_DAYS
        self.calendar = DayCalendar(config.start_date, first_day, config.scale.days + CALENDAR_HORIZON_DAYS)
        self.n_locations = len(world.locations)  # location-scope state stays world-sized (it is small)
        self.block = np.arange(self.n_locations) if block is None else np.unique(block)
        self.in_block = np.zeros(self.n_locations, dtype=bool)
        self.in_block[self.block] = True
        self.block_index = np.cumsum(self.in_block) - 1  # location -> its rank in the block
        self.position_location = np.tile(self.block, len(world.products))
        self.position_product = np.repeat(np.arange(len(world.products)), len(self.block))
        self.position_key = self.position_product.astype(np.int64) * self.n_locations + self.position_location
        self.n_positions = len(self.position_key)
        # Browse-only web traffic belongs to no location: the block holding location 0 makes it.
        self.makes_browsing = bool(self.in_block[0])
        locations = world.locations
        # Planning lead: a store's order also waits for the DC's wave.
        self.planning_lead_days = locations.lead_days + np.where(locations.location_type == cat.LOC_DC, 0, WAVE_DAYS)
        self._calendar_index = self._expected_calendar_index()
        self._index_sums = self._seasonal_index_sums()
        self.tax_rate = np.array(
            [cat.STATE_SALES_TAX.get(code, cat.DEFAULT_SALES_TAX) for code in records.location_state_codes(world)]
        )

    # ------------------------------------------------------------------ start of the world
    def initial_state(self) -> inv.InventoryState:
        """State at the end of the day before the warm-up: every position somewhere in its
        replenishment cycle, as in steady state.

        Planning rates come from a scan of unconstrained demand just before the warm-up; a
        distribution center's also count the demand of the stores and warehouses it replenishes
        (their orders are its demand; they may be in other blocks, so the scan is world-wide).
        Under an (s, S) policy positions are spread over their cycle, so each starts with a
        stock drawn from s+1..S, not all at S (a full, synchronised start is out of stock too
        rarely, then all at once). The warm-up then runs the full simulation.
        """
        n_pos = self.n_positions
        first_warmup = -self.config.warmup_days
        n_products, n_locations = len(self.world.products), self.n_locations
        base_demand = np.zeros(n_products * n_locations)
        abandonment = self.config.cart_abandonment_base_rate
        for day in range(first_warmup - DEMAND_SCAN_DAYS, first_warmup):
            requests = generate_requests(self.world, self.streams, self.calendar, day, abandonment)
            checkout_share = np.where(requests.is_cart, 1 - abandonment, 1.0)
            key = requests.product.astype(np.int64) * n_locations + requests.location
            demanded = np.bincount(key, weights=requests.quantity * checkout_share, minlength=n_products * n_locations)
            base_demand += demanded / np.repeat(self._product_index(day), n_locations)
        source_dc = self.world.locations.source_dc
        supplied = np.zeros((n_locations, n_locations))  # location -> the DC replenishing it
        supplied[np.flatnonzero(source_dc >= 0), source_dc[source_dc >= 0]] = 1.0
        echelon = (base_demand.reshape(n_products, n_locations) @ (np.eye(n_locations) + supplied)).reshape(-1)
        state_rate = echelon[self.position_key] / DEMAND_SCAN_DAYS
        own_rate = base_demand[self.position_key] / DEMAND_SCAN_DAYS  # what the position itself sells
        target = self.config.target_stockout_rate
        controlled = self._controlled_target(
            state_rate, first_warmup - 1, np.ones(self.n_locations), np.full(self.n_locations, target))
        reorder_point, order_up_to = self._policy(state_rate, first_warmup, controlled)
        stock = self.streams.integers("initial_stock", first_warmup, self.position_key, reorder_point + 1, order_up_to)
        launched = self.world.products.launch_day[self.position_product] < first_warmup
        state = inv.InventoryState(
            day=first_warmup - 1,
            on_hand=np.where(launched, stock, 0).astype(np.int32),
            reserved=np.zeros(n_pos, dtype=np.int32),
            inbound=np.zeros((inv.RING, n_pos), dtype=np.int32),
            transfers=np.zeros((inv.RING, n_pos), dtype=np.int32),
            restock=np.zeros((inv.RING, n_pos), dtype=np.int32),
            reorder_point=reorder_point,
            order_up_to=order_up_to,
            demand_rate=state_rate,
            sales_rate=own_rate * self._forecast_index(first_warmup),
            forecast_base=own_rate,
            forecast_error_var=np.maximum(own_rate, inv.MIN_DEMAND_RATE),
            stockout_days=np.zeros(n_pos, dtype=np.int32),
            spell_attempts=np.zeros(n_pos, dtype=np.int32),
            spell_lost_units=np.zeros(n_pos, dtype=np.int32),
            spell_lost_revenue=np.zeros(n_pos),
            spell_peak=np.zeros(n_pos, dtype=bool),
            last_receipt_day=np.full(n_pos, inv.NO_DAY, dtype=np.int32),
            on_order=np.zeros(n_pos, dtype=np.int32),
            service_adjustment=np.ones(self.n_locations),
            controlled_target=controlled,
            review_stockout_days=np.zeros(self.n_locations, dtype=np.int64),
            review_sellable_days=np.zeros(self.n_locations, dtype=np.int64),
            review_clearance_stockout_days=np.zeros(self.n_locations, dtype=np.int64),
            review_clearance_sellable_days=np.zeros(self.n_locations, dtype=np.int64),
            scheduled_sales=records.empty_scheduled(),
            scheduled_requests=SCHEDULED_REQUESTS_SCHEMA.empty_table(),
            transfer_orders=inv.TRANSFER_ORDERS_SCHEMA.empty_table(),
            transfer_notices=inv.TRANSFER_NOTICES_SCHEMA.empty_table(),
        )
        return state

    def state_at_start(self) -> inv.InventoryState:
        """State at the end of day -1: the initial state run through the warm-up."""
        state = self.initial_state()
        for day in range(-self.config.warmup_days, 0):
            self.step(state, day, emit=False)
        return state

    # ------------------------------------------------------------------ one day
    def block_requests(self, day: int) -> Requests:
        """New requests of all customers on ``day`` for this block's locations."""
        rate = self.config.cart_abandonment_base_rate
        requests = generate_requests(self.world, self.streams, self.calendar, day, rate)
        if len(self.block) == self.n_locations:
            return requests
        return requests.take(np.flatnonzero(self.in_block[requests.location]))

    def step(
        self, state: inv.InventoryState, day: int, emit: bool = True, new_requests: Requests | None = None
    ) -> DayTables | None:
        """Advance ``state`` (in place) through ``day``; return the day's tables when ``emit``.

        ``new_requests``: the day's new requests at this block's locations, when the customer
        side ran elsewhere (Spark customer blocks); generated here otherwise.
        """
        if state.day != day - 1:
            raise ValueError(f"state is at day {state.day}, cannot simulate day {day}")
        world, n_pos = self.world, self.n_positions
        date_key = self.calendar.date_key(day)
        slot = day % inv.RING

        # 1. Morning: the DCs' answers booked, receipts, restocks, pickups collected, returns arriving,
        # then the DCs' wave.
        self._book_notices(state)
        received = state.inbound[slot].copy()
        transferred_in = state.transfers[slot].copy()
        restocked = state.restock[slot].copy()
        state.inbound[slot] = 0
        state.transfers[slot] = 0
        state.restock[slot] = 0
        state.on_hand += received + transferred_in + restocked
        state.last_receipt_day[(received + transferred_in) > 0] = day
        due, state.scheduled_sales = records.split_due(state.scheduled_sales, day)
        due_positions = self._row_positions(due)
        due_quantity = due.column("quantity_sold").to_numpy()
        due_is_return = due.column("is_return").to_numpy(zero_copy_only=False)
        collected = inv.position_sums(due_positions[~due_is_return], due_quantity[~due_is_return], n_pos)
        state.on_hand -= collected.astype(np.int32)
        state.reserved -= collected.astype(np.int32)
        restock_day = due.column("restock_day").to_numpy()[due_is_return]
        np.add.at(state.restock, (restock_day % inv.RING, due_positions[due_is_return]), -due_quantity[due_is_return])
        transfers = self._wave(state, day)
        transferred_out = inv.position_sums(transfers.source, transfers.quantity, n_pos)

        seasonal_index = self._forecast_index(day)
        forecast = state.forecast_base * seasonal_index  # made with what was known at the end of D-1
        forecast_spread = np.sqrt(state.forecast_error_var)

        # 2. Trading, slot by slot: carts, checkout in random order, responses to empty shelves.
        returning, state.scheduled_requests = split_due_requests(state.scheduled_requests, day)
        new = self.block_requests(day) if new_requests is None else new_requests
        trading = trade(self, state, Requests.concat([new, returning]), day)
        requests, positions, granted = trading.requests, trading.positions, trading.granted
        pickup = requests.fulfillment == cat.FULFILL_PICKUP
        sold_now = inv.position_sums(positions, np.where(pickup, 0, granted), n_pos)
        state.scheduled_requests = pa.concat_tables(
            [state.scheduled_requests, *self._schedule_requests(trading, day)]
        )

        # 3. Evening: rates, stockout spells, replenishment, snapshot.
        # True demand: what reached checkout the first time (retries and substitutes are echoes of it).
        genuine = ~trading.abandoned & np.isin(requests.origin, (ORIGIN_NEW, ORIGIN_RECOVERED_CART))
        demanded = inv.position_sums(positions[genuine], requests.quantity[genuine], n_pos)
        units_sold = sold_now + collected
        alpha = inv.DEMAND_SMOOTHING
        products = world.products
        product_of = self.position_product
        sellable = (products.launch_day[product_of] <= day) & (day <= products.end_of_life_day[product_of])
        deseasonalised = (1 - alpha) * state.demand_rate + alpha * demanded / seasonal_index
        state.demand_rate = np.where(sellable, deseasonalised, state.demand_rate)
        state.sales_rate = (1 - alpha) * state.sales_rate + alpha * units_sold
        state.forecast_base = np.where(
            sellable, (1 - alpha) * state.forecast_base + alpha * units_sold / seasonal_index, state.forecast_base
        )
        error = np.where(sellable, (units_sold - forecast) ** 2, state.forecast_error_var)
        state.forecast_error_var = (1 - alpha) * state.forecast_error_var + alpha * error
        shrunk = self._shrink(state, day)
        is_stockout = sellable & (state.available == 0)
        spells = self._track_spells(state, day, is_stockout, sellable, trading)
        self._count_service(state, day, is_stockout, sellable)
        self._replenish(state, day)
        state.day = day
        if not emit:
            self._schedule_sales(state, trading, due, day, keep_rows=False)
            return None

        sales = self._schedule_sales(state, trading, due, day, keep_rows=True)
        lost = records.lost_sales(self, trading, day)
        carts = records.abandoned_carts(self, trading, day)
        flows = records.PositionFlows(
            received=received, transferred_in=transferred_in, transferred_out=transferred_out,
            sold=units_sold, restocked=restocked, adjusted=-shrunk,
        )
        snapshot = records.inventory_snapshot(self, state, day, is_stockout, flows)
        movements = records.movements(self, day, flows, transfers)
        forecasts = records.demand_forecasts(
            self, day, np.flatnonzero(sellable), forecast, forecast_spread, units_sold, demanded
        )
        return DayTables(
            day=day, date_key=date_key, sales=sales, lost_sales=lost, inventory=snapshot, stockout_events=spells,
            movements=movements, demand_forecasts=forecasts, cart_abandonments=carts,
            customer_events=sessions_and_events(self, trading, day),
        )

    # ------------------------------------------------------------------ helpers
    def _shrink(self, state: inv.InventoryState, day: int) -> np.ndarray:
        """Shrinkage (theft, damage, miscounts): a position loses a unit with probability
        proportional to its available stock. Returns units lost per position."""
        u = self.streams.uniform("shrink", day, self.position_key)
        lost = (u < state.available * self.config.shrinkage_rate).astype(np.int32)
        state.on_hand -= lost
        return lost

    def _schedule_requests(self, trading: Trading, day: int) -> list[pa.Table]:
        """Customers who come back later: delayed retries and recovered carts."""
        requests = trading.requests
        retry = np.flatnonzero(trading.retry_day >= 0)
        base = requests.take(retry)
        in_store = base.fulfillment == cat.FULFILL_IN_STORE
        slot = np.where(
            in_store,
            self.streams.choice("retry_slot", day, base.line_id, SLOT_CUMULATIVE[True]),
            self.streams.choice("retry_slot", day, base.line_id, SLOT_CUMULATIVE[False]),
        )
        retries = base.replace(
            time_slot=slot.astype(np.int16),
            is_cart=np.zeros(len(retry), dtype=bool),
            origin=np.full(len(retry), ORIGIN_DELAYED, dtype=np.int8),
            line_id=derived_line_id(base.line_id, ORIGIN_DELAYED, base.order_day),
        )
        recovered, recovery_day = recovered_carts(self, trading, day)
        return [retries.to_table(trading.retry_day[retry]), recovered.to_table(recovery_day)]

    def _track_spells(self, state, day, is_stockout, sellable, trading: Trading) -> pa.Table:
        """Advance every position's stockout spell; rows for spells opening or closing today.

        A spell is a run of days closing with nothing available. Its lost-sales counters are the
        requests that got no unit during it (these can only happen on a day that closes empty:
        stock only arrives in the morning). The first day also reports spells carried over from
        the warm-up, so spells open at the start of the range are visible too.
        """
        n_pos = len(is_stockout)
        failed, requests = trading.failed, trading.requests
        where = trading.positions[failed]
        attempts = np.bincount(where, minlength=n_pos)
        units = np.bincount(where, weights=requests.quantity[failed], minlength=n_pos)
        revenue = np.bincount(where, weights=requests.quantity[failed] * requests.unit_price[failed], minlength=n_pos)
        was_open = state.stockout_days > 0
        closing = np.flatnonzero(was_open & ~is_stockout)
        closed = records.stockout_spells(
            self, day, closing, start_day=day - state.stockout_days[closing], last_day=day - 1,
            restocked=sellable[closing], state=state,
        )
        carried = np.where(was_open, 1, 0)
        state.stockout_days = np.where(is_stockout, state.stockout_days + 1, 0).astype(np.int32)
        state.spell_attempts = np.where(is_stockout, state.spell_attempts * carried + attempts, 0).astype(np.int32)
        state.spell_lost_units = np.where(is_stockout, state.spell_lost_units * carried + units, 0).astype(np.int32)
        state.spell_lost_revenue = np.where(is_stockout, state.spell_lost_revenue * carried + revenue, 0.0)
        peak_today = bool(self.calendar.columns["is_peak_season"][day - self.calendar.first_day])
        state.spell_peak = is_stockout & ((state.spell_peak & was_open) | peak_today)
        opening = np.flatnonzero(is_stockout & (~was_open | (day == 0)))
        opened = records.stockout_spells(
            self, day, opening, start_day=day - state.stockout_days[opening] + 1, last_day=None,
            restocked=None, state=state,
        )
        return pa.concat_tables([closed, opened])

    def position_at(self, product: np.ndarray, location: np.ndarray) -> np.ndarray:
        """Block position of (product index, location index) pairs; the location must be in the block."""
        return np.asarray(product, dtype=np.int64) * len(self.block) + self.block_index[location]

    def local_position(self, position_key: np.ndarray) -> np.ndarray:
        """Block position of global position ids."""
        return self.position_at(position_key // self.n_locations, position_key % self.n_locations)

    def positions_of(self, requests: Requests) -> np.ndarray:
        return self.position_at(requests.product, requests.location)

    def _row_positions(self, rows: pa.Table) -> np.ndarray:
        product = rows.column("product_key").to_numpy().astype(np.int64) - 1
        return self.position_at(product, rows.column("location_key").to_numpy() - 1)

    def _plan_rates(
        self, base_rate: np.ndarray, day: int, positions: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Planning rates of ``positions`` (all by default): while an order is awaited, while it
        sells, and the least share of days each can be out of stock, its lot size's."""
        locations = self.world.locations
        positions = np.arange(len(base_rate)) if positions is None else positions
        loc = self.position_location[positions]
        lead_rate, cover_rate = self._planning_rates(base_rate, day, positions)
        order_qty = inv.order_quantity(cover_rate, locations.cover_days[loc], locations.min_order[loc])
        return lead_rate, cover_rate, inv.share_at_zero(self.planning_lead_days[loc], order_qty, cover_rate)

    def _policy(
        self, base_rate: np.ndarray, day: int, controlled_target: np.ndarray, positions: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """(s, S) of ``positions`` (all by default) planned on ``day`` from their deseasonalised
        rates: the long tail for the configured target (its lot size keeps it under), the others
        for their location's ``controlled_target``."""
        locations = self.world.locations
        positions = np.arange(len(base_rate)) if positions is None else positions
        loc = self.position_location[positions]
        lead_rate, cover_rate, floor = self._plan_rates(base_rate, day, positions)
        base = self.config.target_stockout_rate
        return inv.policy_levels(
            lead_rate, self.planning_lead_days[loc], locations.cover_days[loc], locations.min_order[loc],
            np.where(floor <= base, base, controlled_target[loc]),
            self.streams.uniform("policy_mix", day, self.position_key[positions]), cover_rate=cover_rate,
        )

    def _expected_calendar_index(self) -> np.ndarray:
        """Per calendar day: the demand one unit of season affinity can expect - the calendar's
        demand index over the weight of the assortment live that day.

        Customers share a day's purchases among the products on sale by popularity x season
        affinity (x the clearance boost): when the season turns or launches widen the range,
        every product's share moves. The planner knows its assortment plan (launch, clearance
        and end-of-life days), so this belongs to the seasonal profile it forecasts with.
        """
        products, calendar = self.world.products, self.calendar
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

    def _product_index(self, day: int) -> np.ndarray:
        """Per product: the seasonal index the forecast model applies on ``day`` - season affinity x
        the calendar's demand index over the live assortment's weight (``_expected_calendar_index``)."""
        affinity = cat.SEASON_AFFINITY[self.world.products.season, self.calendar.season_index(day)]
        return np.maximum(affinity * self._calendar_index[day - self.calendar.first_day], 1e-6)

    def _forecast_index(self, day: int) -> np.ndarray:
        """Per position: the seasonal index the forecast model applies on ``day``."""
        return self._product_index(day)[self.position_product]

    def _seasonal_index_sums(self) -> np.ndarray:
        """Running sums of the expected calendar index per calendar season: row k, column i is the
        sum over the calendar's first i days of those in season k. A window's mean forecast index
        then costs two lookups per location, whatever the window's length."""
        index = self._calendar_index
        season = self.calendar.season_indexes(self.calendar.first_day + np.arange(len(index)))
        per_season = np.where(season[None, :] == np.arange(cat.SEASON_AFFINITY.shape[1])[:, None], index, 0.0)
        return np.concatenate([np.zeros((len(per_season), 1)), np.cumsum(per_season, axis=1)], axis=1)

    def _window_index(self, first: np.ndarray, last: np.ndarray, positions: np.ndarray) -> np.ndarray:
        """Per position: the mean forecast index over the days ``first``..``last`` (per location)."""
        stop = np.minimum(last - self.calendar.first_day + 1, self._index_sums.shape[1] - 1)
        start = np.minimum(first - self.calendar.first_day, stop - 1)
        by_season = (self._index_sums[:, stop] - self._index_sums[:, start]) / (stop - start)  # (season, location)
        by_product_season = cat.SEASON_AFFINITY @ by_season  # (product season, location)
        return by_product_season[self.world.products.season[self.position_product[positions]],
                                 self.position_location[positions]]

    def _planning_rates(self, base_rate: np.ndarray, day: int, positions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Demand expected per day while an order is awaited and while it sells, planned on ``day``.

        The deseasonalised rate times the mean forecast index of two windows: the lead times of
        the orders placed until the next review (the reorder point covers them), and the cover
        period after an order arrives (the order quantity). Planning from the season ahead, not
        from the trailing rate, keeps the stock in step with the calendar: stock bought for
        December's peak is not bought again for January.
        """
        locations = self.world.locations
        lead = self.planning_lead_days
        lead_index = self._window_index(
            np.full(self.n_locations, day + 1), day + inv.POLICY_REVIEW_DAYS - 1 + lead, positions)
        cover_index = self._window_index(day + lead + 1, day + lead + locations.cover_days, positions)
        return base_rate * lead_index, base_rate * cover_index

    def _count_service(self, state: inv.InventoryState, day: int, is_stockout: np.ndarray, sellable: np.ndarray) -> None:
        """Add the day's sellable and out-of-stock position-days to the review's counts, per
        location; those of products in clearance also on their own."""
        location_of, n = self.position_location, self.n_locations
        clearance = sellable & (day >= self.world.products.clearance_from_day[self.position_product])
        for out, total, where in ((state.review_stockout_days, state.review_sellable_days, sellable),
                                  (state.review_clearance_stockout_days, state.review_clearance_sellable_days, clearance)):
            out += np.bincount(location_of, weights=is_stockout & where, minlength=n).astype(np.int64)
            total += np.bincount(location_of, weights=where, minlength=n).astype(np.int64)

    def _controlled_target(
        self, base_rate: np.ndarray, day: int, adjustment: np.ndarray, clearance_share: np.ndarray,
        stock: np.ndarray | None = None,
    ) -> np.ndarray:
        """Per location: the planning target of its safety-stock positions for the coming week
        (``inv.controlled_target``), given the positions whose week is already settled.

        The long tail is expected out as often as its lot size makes it. With the positions'
        inventory ``stock`` known (not at the start of the world), a position holding more than
        an order on top of what its lead time needs is not expected out this week, and one
        holding less than its lead time needs is expected out from when it runs dry until an
        order placed now arrives.
        """
        products, location_of, n = self.world.products, self.position_location, self.n_locations
        product_of = self.position_product
        lead_rate, cover_rate, floor = self._plan_rates(base_rate, day)
        sellable = (products.launch_day[product_of] <= day) & (day <= products.end_of_life_day[product_of])
        clearance = sellable & (day >= products.clearance_from_day[product_of])
        tail = sellable & ~clearance & (floor <= self.config.target_stockout_rate)
        settled, settled_out = tail, np.where(tail, floor, 0.0)
        if stock is not None:
            lead = self.planning_lead_days[location_of]
            order_qty = inv.order_quantity(cover_rate, self.world.locations.cover_days[location_of],
                                           self.world.locations.min_order[location_of])
            in_play = sellable & ~clearance & ~tail
            over = in_play & (stock > order_qty + lead_rate * lead)
            short_days = lead - stock / np.maximum(lead_rate, 1e-9)
            under = in_play & ~over & (short_days > 0)
            settled = tail | over | under
            settled_out = settled_out + np.where(
                under, np.minimum(short_days, inv.POLICY_REVIEW_DAYS) / inv.POLICY_REVIEW_DAYS, 0.0)
        return inv.controlled_target(
            self.config.target_stockout_rate,
            sellable=np.bincount(location_of, weights=sellable, minlength=n),
            settled=np.bincount(location_of, weights=settled, minlength=n),
            settled_out=np.bincount(location_of, weights=settled_out, minlength=n),
            clearance=np.bincount(location_of, weights=clearance, minlength=n),
            clearance_share=clearance_share,
            adjustment=adjustment,
        )

    def _replenish(self, state: inv.InventoryState, day: int) -> None:
        """Weekly policy review, launch orders, then (s, S) orders for positions at or below s.

        Stores and warehouses order from their distribution center: the order waits for the DC's
        wave tomorrow morning (``_wave``) and counts in their inventory position meanwhile.
        Distribution centers order from vendors, as do launches (timed to arrive on launch day).
        """
        products, locations = self.world.products, self.world.locations
        product_of, location_of = self.position_product, self.position_location
        if day % inv.POLICY_REVIEW_DAYS == 0:
            target = self.config.target_stockout_rate
            clearance_share = inv.clearance_share(state, target)
            if day - inv.POLICY_REVIEW_DAYS >= -self.config.warmup_days - 1:  # a whole week observed
                inv.adjust_service(state, target)
            state.controlled_target = self._controlled_target(
                state.demand_rate, day, state.service_adjustment, clearance_share, state.inventory_position)
            state.reorder_point, state.order_up_to = self._policy(state.demand_rate, day, state.controlled_target)
        base_lead = locations.lead_days[location_of]
        launching = products.launch_day[product_of] - base_lead == day
        if launching.any():
            self._seed_launch_rates(state, day, launching)
        launched = products.launch_day[product_of] <= day
        orderable = launched & (day < products.clearance_from_day[product_of])
        is_dc = locations.location_type[location_of] == cat.LOC_DC

        def order_quantity(candidates: np.ndarray) -> np.ndarray:
            position = state.inventory_position
            reorder = candidates & orderable & (position <= state.reorder_point)
            return np.where(reorder, np.maximum(state.order_up_to - position, 0), 0)

        wanted = order_quantity(~is_dc)
        ordering = np.flatnonzero(wanted > 0)
        state.on_order[ordering] += wanted[ordering].astype(np.int32)
        dc_position = product_of[ordering].astype(np.int64) * self.n_locations + locations.source_dc[location_of[ordering]]
        state.transfer_orders = pa.Table.from_pydict({
            "store_position": self.position_key[ordering], "dc_position": dc_position,
            "quantity": wanted[ordering].astype(np.int32), "order_day": np.full(len(ordering), day, dtype=np.int32),
        }, schema=inv.TRANSFER_ORDERS_SCHEMA)

        vendor = np.where(launching, state.order_up_to, order_quantity(is_dc))
        buying = np.flatnonzero(vendor > 0)
        lead = np.where(
            launching[buying],
            base_lead[buying],
            inv.lead_times(base_lead[buying], self.streams.uniform("lead_time", day, self.position_key[buying])),
        )
        np.add.at(state.inbound, ((day + lead) % inv.RING, buying), vendor[buying].astype(np.int32))

    def _wave(self, state: inv.InventoryState, day: int) -> Transfers:
        """The DCs of this block serve last evening's store orders from what they have: competing
        orders in random order; what a DC cannot cover the vendor ships to the store directly
        (slower). The answers reach the stores tomorrow morning (``_book_notices``)."""
        orders = state.transfer_orders
        state.transfer_orders = inv.TRANSFER_ORDERS_SCHEMA.empty_table()
        store = orders.column("store_position").to_numpy()
        quantity = orders.column("quantity").to_numpy()
        source = self.local_position(orders.column("dc_position").to_numpy())
        shipped, _ = inv.allocate(source, quantity, self.streams.bits("transfer_priority", day, store), state.available)
        state.on_hand -= inv.position_sums(source, shipped, self.n_positions).astype(np.int32)
        requested = inv.position_sums(source, quantity, self.n_positions)
        state.demand_rate += inv.DEMAND_SMOOTHING * requested / self._forecast_index(day)
        destination = store % self.n_locations
        base_lead = self.world.locations.lead_days[destination]
        transfer_lead = inv.lead_times(base_lead, self.streams.uniform("transfer_lead", day, store))
        direct_lead = inv.lead_times(base_lead + VENDOR_DIRECT_EXTRA_DAYS, self.streams.uniform("direct_lead", day, store))
        state.transfer_notices = pa.Table.from_pydict({
            "store_position": store, "ordered": quantity, "shipped": shipped, "transfer_day": day + transfer_lead,
            "vendor": quantity - shipped, "vendor_day": day + direct_lead,
        }, schema=inv.TRANSFER_NOTICES_SCHEMA)
        moving = shipped > 0
        return Transfers(source=source[moving], destination_location=destination[moving], quantity=shipped[moving])

    def _book_notices(self, state: inv.InventoryState) -> None:
        """Stores book their DC's answers: shipments and vendor-direct orders join the rings."""
        notices = state.transfer_notices
        state.transfer_notices = inv.TRANSFER_NOTICES_SCHEMA.empty_table()
        position = self.local_position(notices.column("store_position").to_numpy())
        columns = {name: notices.column(name).to_numpy() for name in notices.column_names if name != "store_position"}
        state.on_order -= inv.position_sums(position, columns["ordered"], self.n_positions).astype(np.int32)
        for ring, units, arrival in ((state.transfers, "shipped", "transfer_day"), (state.inbound, "vendor", "vendor_day")):
            some = columns[units] > 0
            np.add.at(ring, (columns[arrival][some] % inv.RING, position[some]), columns[units][some])

    def _seed_launch_rates(self, state: inv.InventoryState, day: int, launching: np.ndarray) -> None:
        """A new product's base rate: its popularity x the location's base demand per unit popularity."""
        products = self.world.products
        current = state.demand_rate.reshape(-1, len(self.block))
        live = (products.launch_day <= day) & (day <= products.end_of_life_day)
        per_popularity = current[live].sum(axis=0) / max(products.popularity[live].sum(), 1e-9)
        prior = (products.popularity[:, None] * per_popularity[None, :]).reshape(-1)
        state.demand_rate = np.where(launching, prior, state.demand_rate)
        state.sales_rate = np.where(launching, prior * self._forecast_index(day), state.sales_rate)
        positions = np.flatnonzero(launching)
        s, big_s = self._policy(state.demand_rate[positions], day, state.controlled_target, positions)
        state.reorder_point[positions] = s
        state.order_up_to[positions] = big_s

    def _schedule_sales(self, state, trading: Trading, due, day, keep_rows):
        """Today's sale rows (immediate sales + collected pickups + returns due); new pickups and
        future returns go into the schedule. Returns today's rows when ``keep_rows``."""
        immediate, pickups = records.sale_rows(self, trading.requests, trading.granted, trading.available_before, day)
        collected = records.collected_pickups(due)
        sold_today = pa.concat_tables([immediate, collected])
        returns = records.decide_returns(self, sold_today, day)
        state.scheduled_sales = pa.concat_tables([state.scheduled_sales, pickups, returns])
        if not keep_rows:
            return None
        due_returns = due.filter(pc.field("is_return"))
        return records.finish_sales(pa.concat_tables([sold_today, due_returns]))
