"""The retailer's world: customers, products and locations as numeric arrays.

Derived only from the config and the seed, so any process (a day run, a backfill, a Spark
task) rebuilds the same world cheaply and never reads dimension tables back. Day numbers are
ordinals relative to ``start_date`` (0 = first partition, negative = history).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from retail_assets.config import SimulationConfig
from retail_assets.sim import catalog as cat
from retail_assets.sim.geography import US_CITIES, haversine_km, nearest
from retail_assets.sim.rng import Streams

HISTORY_DAYS = 2_500  # how far back the oldest customers were acquired
LAUNCHED_IN_RANGE_SHARE = 0.12  # products launched during the horizon (config.horizon days from day 0)
ACQUIRED_IN_RANGE_SHARE = 0.15  # customers acquired during the horizon
LOCAL_CUSTOMER_SHARE = 0.75  # members living in a store's trade area
TRADE_AREA_KM = 60.0  # a city this close to a store is in its trade area
CLEARANCE_DAYS = 45  # last days of a product's life: marked down, no more reorders
DC_HUB_CITIES = ("Memphis", "Columbus", "Louisville", "Indianapolis", "Dallas", "Atlanta", "Reno", "Harrisburg")


def _cumulative(probabilities: np.ndarray) -> np.ndarray:
    return np.cumsum(probabilities, axis=-1)


def _draw_rows(streams: Streams, stream: str, ids: np.ndarray, row_probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """For each id, a category index drawn from the probability row selected by ``rows``."""
    u = streams.uniform(stream, 0, ids)
    cumulative = _cumulative(row_probs / row_probs.sum(axis=-1, keepdims=True))[rows]
    return np.minimum((u[:, None] >= cumulative).sum(axis=1), row_probs.shape[-1] - 1)


def _draw(streams: Streams, stream: str, ids: np.ndarray, probs: np.ndarray) -> np.ndarray:
    return streams.choice(stream, 0, ids, _cumulative(np.asarray(probs, dtype=np.float64)))


@dataclass(frozen=True)
class Locations:
    key: np.ndarray  # int32, 1..n
    location_type: np.ndarray  # codes into catalog.LOCATION_TYPES
    store_format: np.ndarray  # codes into catalog.STORE_FORMATS (DCs: fulfillment)
    city: np.ndarray  # index into US_CITIES
    square_footage: np.ndarray
    opened_day: np.ndarray
    lead_days: np.ndarray  # supplier lead time of the position's replenishment orders
    cover_days: np.ndarray  # demand days one replenishment order covers
    min_order: np.ndarray
    source_dc: np.ndarray  # nearest distribution center replenishing a store or warehouse (-1 for DCs)

    def __len__(self) -> int:
        return len(self.key)

    @property
    def latitude(self) -> np.ndarray:
        return US_CITIES.latitude[self.city]

    @property
    def longitude(self) -> np.ndarray:
        return US_CITIES.longitude[self.city]

    @cached_property
    def stores(self) -> np.ndarray:
        return np.flatnonzero(self.location_type == cat.LOC_STORE)

    @cached_property
    def fulfilment_nodes(self) -> np.ndarray:
        return np.flatnonzero(self.location_type != cat.LOC_STORE)


@dataclass(frozen=True)
class Customers:
    key: np.ndarray  # int32, 1..n
    segment: np.ndarray
    acquisition_day: np.ndarray
    acquisition_channel: np.ndarray
    city: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    nearest_store: np.ndarray  # location index
    second_store: np.ndarray  # location index of the next nearest store (itself when there is one store)
    store_km: np.ndarray  # distance to the nearest store: store visits fall with it
    nearest_fulfilment: np.ndarray  # location index (warehouse or DC shipping online orders)
    preferred_channel: np.ndarray
    preferred_group: np.ndarray  # index into catalog.PREFERENCE_CATEGORIES
    size_tops: np.ndarray
    size_bottoms: np.ndarray
    size_shoes: np.ndarray
    loyalty_tier: np.ndarray
    lifetime_value: np.ndarray
    email_opt_in: np.ndarray
    sms_opt_in: np.ndarray
    first_name: np.ndarray
    last_name: np.ndarray
    activity: np.ndarray  # multiplies the segment's order rate: heavy and light shoppers

    def __len__(self) -> int:
        return len(self.key)


@dataclass(frozen=True)
class Products:
    key: np.ndarray  # int32, 1..n
    category: np.ndarray  # leaf index into catalog.CATEGORY_TREE
    brand: np.ndarray
    color: np.ndarray
    material: np.ndarray
    season: np.ndarray  # index into catalog.SEASONS
    collection: np.ndarray
    launch_day: np.ndarray
    end_of_life_day: np.ndarray
    base_price: np.ndarray
    unit_cost: np.ndarray
    price_tier: np.ndarray
    popularity: np.ndarray  # heavy-tailed demand weight
    substitutes: np.ndarray  # [products, SUBSTITUTES]: same leaf category, nearest prices first; -1 = none
    sizing: np.ndarray  # -1 runs small, 0 true to size, +1 runs large

    def __len__(self) -> int:
        return len(self.key)

    @property
    def clearance_from_day(self) -> np.ndarray:
        return self.end_of_life_day - CLEARANCE_DAYS

    @cached_property
    def group(self) -> np.ndarray:
        return cat.CATEGORY_GROUP[self.category]


@dataclass(frozen=True)
class World:
    config: SimulationConfig
    locations: Locations
    customers: Customers
    products: Products

    @property
    def n_positions(self) -> int:
        return len(self.products) * len(self.locations)


def build_world(config: SimulationConfig) -> World:
    """The world of ``config``: arrivals and launches spread over ``config.horizon``, not the
    range's ``days``, so extending a range keeps every row already written."""
    streams = Streams(config.seed)
    scale = config.scale
    locations = _build_locations(streams, scale.locations)
    products = _build_products(streams, scale.products, config.horizon)
    typical_price = float(products.base_price.mean())
    return World(
        config=config,
        locations=locations,
        customers=_build_customers(streams, scale.customers, config.horizon, locations, typical_price),
        products=products,
    )


def _location_mix(n: int) -> tuple[int, int, int, int, int]:
    """(distribution centers, warehouses, stores, flagships, outlets) for n locations.

    13 locations give the reference chain: 10 stores (2 flagships, 2 outlets), 2 warehouses, 1 DC.
    """
    n_dc = max(1, round(n / 25))
    n_warehouse = max(1, round(n * 0.12))
    n_store = n - n_dc - n_warehouse
    n_flagship = max(1, round(n_store * 0.15 + 1e-9))
    n_outlet = max(0, min(n_store - n_flagship, round(n_store * 0.2 + 1e-9)))
    return n_dc, n_warehouse, n_store, n_flagship, n_outlet


def _build_locations(streams: Streams, n: int) -> Locations:
    n_dc, n_warehouse, n_store, n_flagship, n_outlet = _location_mix(n)
    n_cities = len(US_CITIES)
    names = list(US_CITIES.city)
    dc_cities = [names.index(name) for name in DC_HUB_CITIES if name in names]
    dc_cities = (dc_cities * (n_dc // max(len(dc_cities), 1) + 1))[:n_dc] if dc_cities else list(range(n_dc))

    # Warehouses spread over the map: greedy farthest-point among the 60 largest metros.
    candidates = np.arange(min(60, n_cities))
    lat, lon = US_CITIES.latitude, US_CITIES.longitude
    warehouse_cities: list[int] = []
    chosen = list(dc_cities)
    for _ in range(n_warehouse):
        distance = _min_distance(lat[candidates], lon[candidates], lat[chosen], lon[chosen])
        distance[np.isin(candidates, warehouse_cities)] = -1.0
        pick = int(candidates[np.argmax(distance * np.sqrt(US_CITIES.population[candidates]))])
        warehouse_cities.append(pick)
        chosen.append(pick)

    # Stores: metros drawn by population without replacement (Gumbel top-k); big metros
    # get the flagships; a chain larger than the city list opens second stores.
    gumbel = -np.log(-np.log(np.clip(streams.uniform("world/store_city", 0, np.arange(n_cities)), 1e-12, 1 - 1e-12)))
    ranked = np.argsort(-(np.log(US_CITIES.population.astype(np.float64)) + gumbel), kind="stable")
    store_cities = np.resize(ranked, n_store)
    first_round = store_cities[: min(n_store, n_cities)]
    by_population = first_round[np.argsort(-US_CITIES.population[first_round], kind="stable")]
    flagship_cities = set(by_population[:n_flagship].tolist())
    store_format = np.full(n_store, cat.FORMAT_STANDARD)
    store_format[np.isin(store_cities, list(flagship_cities)) & (np.arange(n_store) < n_cities)] = cat.FORMAT_FLAGSHIP
    standard = np.flatnonzero(store_format == cat.FORMAT_STANDARD)
    outlet_order = standard[np.argsort(streams.uniform("world/outlet", 0, standard), kind="stable")]
    store_format[outlet_order[:n_outlet]] = cat.FORMAT_OUTLET

    city = np.concatenate([store_cities, warehouse_cities, dc_cities]).astype(np.int64)
    location_type = np.concatenate(
        [np.full(n_store, cat.LOC_STORE), np.full(n_warehouse, cat.LOC_WAREHOUSE), np.full(n_dc, cat.LOC_DC)]
    ).astype(np.int8)
    store_format = np.concatenate([store_format, np.full(n_warehouse + n_dc, cat.FORMAT_FULFILLMENT)]).astype(np.int8)
    ids = np.arange(n)
    sqft_range = cat.FORMAT_SQFT[store_format]
    sqft_range[location_type == cat.LOC_DC] = cat.DC_SQFT
    square_footage = streams.integers("world/sqft", 0, ids, sqft_range[:, 0], sqft_range[:, 1]) // 500 * 500
    is_dc = location_type == cat.LOC_DC
    return Locations(
        key=(ids + 1).astype(np.int32),
        location_type=location_type,
        store_format=store_format,
        city=city,
        square_footage=square_footage.astype(np.int32),
        opened_day=-streams.integers("world/opened", 0, ids, 400, 9_000).astype(np.int32),
        lead_days=np.where(is_dc, cat.DC_LEAD_DAYS, cat.FORMAT_LEAD_DAYS[store_format]).astype(np.int32),
        cover_days=np.where(is_dc, cat.DC_COVER_DAYS, cat.FORMAT_COVER_DAYS[store_format]).astype(np.int32),
        min_order=np.where(is_dc, cat.DC_MIN_ORDER, cat.FORMAT_MIN_ORDER[store_format]).astype(np.int32),
        source_dc=_source_dcs(city, is_dc),
    )


def _source_dcs(city: np.ndarray, is_dc: np.ndarray) -> np.ndarray:
    """Each store and warehouse is replenished from its nearest distribution center."""
    dcs = np.flatnonzero(is_dc)
    lat, lon = US_CITIES.latitude[city], US_CITIES.longitude[city]
    source = dcs[nearest(lat, lon, lat[dcs], lon[dcs])]
    return np.where(is_dc, -1, source).astype(np.int64)


def _min_distance(lat_a, lon_a, lat_b, lon_b) -> np.ndarray:
    return haversine_km(lat_a[:, None], lon_a[:, None], lat_b[None, :], lon_b[None, :]).min(axis=1)


def _lifetime_value(streams: Streams, ids: np.ndarray, segment: np.ndarray, activity: np.ndarray,
                    typical_price: float) -> np.ndarray:
    """A member's expected spend over CUSTOMER_LIFETIME_YEARS of identified orders (their order
    rate x activity x the share of orders their channels identify x an order's expected value),
    with the estimate's noise: consistent with what the member is then seen to buy."""
    identified_share = cat.SEGMENT_CHANNEL_PROBS @ cat.IDENTIFIED_SHARE
    low, high = cat.SEGMENT_BASKET_RANGE.T
    units_per_line = np.arange(1, len(cat.REQUESTED_QUANTITY_PROBS) + 1) @ cat.REQUESTED_QUANTITY_PROBS
    order_value = (low + high) / 2 * units_per_line * typical_price * (1 - cat.SEGMENT_LOYALTY_DISCOUNT)
    yearly = 365 * cat.SEGMENT_ORDER_RATE * identified_share * order_value
    noise = np.exp(0.35 * streams.normal("world/ltv", 0, ids) - 0.35**2 / 2)
    return np.round(yearly[segment] * activity * cat.CUSTOMER_LIFETIME_YEARS * noise, 2)


def _build_customers(streams: Streams, n: int, horizon_days: int, locations: Locations,
                     typical_price: float) -> Customers:
    ids = np.arange(n)
    segment = _draw(streams, "world/segment", ids, cat.SEGMENT_SHARE).astype(np.int8)

    # Most customers predate day 0; "new" ones were acquired recently; a share arrives during
    # the horizon (they appear in the customer dimension on their acquisition day).
    in_range = streams.uniform("world/acq_in_range", 0, ids) < ACQUIRED_IN_RANGE_SHARE
    history = np.where(segment == 4, 180, HISTORY_DAYS)
    acquisition_day = np.where(
        in_range,
        streams.integers("world/acq_day_range", 0, ids, 0, max(horizon_days - 1, 0)),
        -streams.integers("world/acq_day_hist", 0, ids, 1, history),
    ).astype(np.int32)

    # Most members live in a store's trade area (where a chain recruits them); the rest anywhere
    # in the country, shopping online.
    stores, nodes = locations.stores, locations.fulfilment_nodes
    population = US_CITIES.population.astype(np.float64)
    city_store_km = _min_distance(US_CITIES.latitude, US_CITIES.longitude,
                                  locations.latitude[stores], locations.longitude[stores])
    local = streams.uniform("world/local", 0, ids) < LOCAL_CUSTOMER_SHARE
    city = np.where(local, _draw(streams, "world/local_city", ids, np.where(city_store_km <= TRADE_AREA_KM, population, 0)),
                    _draw(streams, "world/city", ids, population))
    latitude = US_CITIES.latitude[city] + 0.12 * streams.normal("world/lat", 0, ids)
    longitude = US_CITIES.longitude[city] + 0.15 * streams.normal("world/lon", 0, ids)
    store_lat, store_lon = locations.latitude[stores], locations.longitude[stores]
    home = nearest(latitude, longitude, store_lat, store_lon)
    nearest_store, second_store = stores[home], stores[nearest(latitude, longitude, store_lat, store_lon, skip=home)]
    nearest_node = nodes[nearest(latitude, longitude, locations.latitude[nodes], locations.longitude[nodes])]

    activity = np.exp(0.5 * streams.normal("world/activity", 0, ids) - 0.125)
    return Customers(
        key=(ids + 1).astype(np.int32),
        segment=segment,
        acquisition_day=acquisition_day,
        acquisition_channel=_draw(streams, "world/acq_channel", ids, cat.ACQUISITION_CHANNEL_PROBS).astype(np.int8),
        city=city,
        latitude=latitude,
        longitude=longitude,
        nearest_store=nearest_store,
        second_store=second_store,
        store_km=haversine_km(latitude, longitude, locations.latitude[nearest_store], locations.longitude[nearest_store]),
        nearest_fulfilment=nearest_node,
        preferred_channel=_draw_rows(streams, "world/pref_channel", ids, cat.SEGMENT_CHANNEL_PROBS, segment).astype(
            np.int8
        ),
        preferred_group=_draw_rows(streams, "world/pref_group", ids, cat.SEGMENT_CATEGORY_PROBS, segment).astype(
            np.int8
        ),
        size_tops=_draw(streams, "world/size_tops", ids, cat.SIZES_TOPS_PROBS).astype(np.int8),
        size_bottoms=_draw(streams, "world/size_bottoms", ids, cat.SIZES_BOTTOMS_PROBS).astype(np.int8),
        size_shoes=_draw(streams, "world/size_shoes", ids, cat.SIZES_SHOES_PROBS).astype(np.int8),
        loyalty_tier=_draw_rows(streams, "world/tier", ids, cat.SEGMENT_TIER_PROBS, segment).astype(np.int8),
        lifetime_value=_lifetime_value(streams, ids, segment, activity, typical_price),
        email_opt_in=streams.uniform("world/email", 0, ids) < cat.SEGMENT_EMAIL_OPT_IN[segment],
        sms_opt_in=streams.uniform("world/sms", 0, ids) < cat.SEGMENT_SMS_OPT_IN[segment],
        first_name=streams.integers("world/first_name", 0, ids, 0, len(cat.FIRST_NAMES) - 1).astype(np.int16),
        last_name=streams.integers("world/last_name", 0, ids, 0, len(cat.LAST_NAMES) - 1).astype(np.int16),
        activity=activity,
    )


SUBSTITUTES = 4  # candidates kept per product
SUBSTITUTE_PRICE_BAND = 0.30  # a substitute's price is within +-30% of the product's


def _substitutes(category: np.ndarray, price: np.ndarray) -> np.ndarray:
    """For each product, the closest-priced products of its leaf category within the price band.

    Products sorted by (category, price): the neighbours at offsets -1, +1, -2, +2 are the nearest
    prices on each side; offsets leaving the category or the band are dropped (-1).
    """
    order = np.lexsort((price, category))
    n = len(order)
    rank = np.empty(n, dtype=np.int64)
    rank[order] = np.arange(n)
    result = np.full((n, SUBSTITUTES), -1, dtype=np.int64)
    for column, offset in enumerate((-1, 1, -2, 2)[:SUBSTITUTES]):
        neighbour_rank = rank + offset
        inside = (neighbour_rank >= 0) & (neighbour_rank < n)
        neighbour = order[np.clip(neighbour_rank, 0, n - 1)]
        close = np.abs(price[neighbour] / price - 1.0) <= SUBSTITUTE_PRICE_BAND
        result[:, column] = np.where(inside & (category[neighbour] == category) & close, neighbour, -1)
    return result


def _build_products(streams: Streams, n: int, horizon_days: int) -> Products:
    ids = np.arange(n)
    leaf_weights = cat.GROUP_ASSORTMENT_WEIGHT[cat.CATEGORY_GROUP]
    category = _draw(streams, "world/category", ids, leaf_weights)
    group = cat.CATEGORY_GROUP[category]
    brand = streams.integers("world/brand", 0, ids, 0, len(cat.BRANDS) - 1)
    material = _draw_rows(streams, "world/material", ids, cat.GROUP_MATERIAL_WEIGHTS, group)
    season = _draw_rows(streams, "world/season", ids, cat.CATEGORY_SEASON_WEIGHTS, category)

    low, high = cat.CATEGORY_PRICE_RANGE[category].T
    raw_price = (low + (high - low) * streams.uniform("world/price", 0, ids) ** 1.5) * cat.BRAND_PRICE_FACTOR[brand]
    base_price = np.clip(np.floor(raw_price) + 0.99, 29.99, 299.99)
    price_tier = np.searchsorted(cat.PRICE_TIER_BOUNDS, base_price)
    margin_low, margin_high = cat.PRICE_TIER_MARGIN[price_tier].T
    margin = margin_low + (margin_high - margin_low) * streams.uniform("world/margin", 0, ids)
    unit_cost = np.round(base_price * (1.0 - margin), 2)

    # Lifecycle: most products launched before day 0, some during the horizon; a life of 1-2.5
    # years, so some reach clearance and end of life inside a long range.
    launched_in_range = streams.uniform("world/launch_in_range", 0, ids) < LAUNCHED_IN_RANGE_SHARE
    launch_day = np.where(
        launched_in_range,
        streams.integers("world/launch_range", 0, ids, 1, max(horizon_days - 1, 1)),
        -streams.integers("world/launch_hist", 0, ids, 30, 400),
    ).astype(np.int32)
    life = np.where(
        launched_in_range,
        streams.integers("world/life_new", 0, ids, 300, 900),
        streams.integers("world/life_old", 0, ids, 420, 1_000),
    )
    popularity = np.exp(1.1 * streams.normal("world/popularity", 0, ids))
    return Products(
        substitutes=_substitutes(category, base_price),
        sizing=(_draw(streams, "world/sizing", ids, cat.PRODUCT_SIZING_PROBS) - 1).astype(np.int8),
        key=(ids + 1).astype(np.int32),
        category=category.astype(np.int16),
        brand=brand.astype(np.int8),
        color=streams.integers("world/color", 0, ids, 0, len(cat.COLORS) - 1).astype(np.int8),
        material=material.astype(np.int8),
        season=season.astype(np.int8),
        collection=streams.integers("world/collection", 0, ids, 0, len(cat.COLLECTIONS) - 1).astype(np.int8),
        launch_day=launch_day,
        end_of_life_day=(launch_day + life).astype(np.int32),
        base_price=base_price,
        unit_cost=unit_cost,
        price_tier=price_tier.astype(np.int8),
        popularity=popularity,
    )
