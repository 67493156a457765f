"""Dimension tables as Arrow: customers, products, locations, dates, channels and times of day.

Pure functions of the world (or the config) and a range of daily partitions ``[first_day,
last_day]`` (day ordinals, 0 = first partition). A row is written in the partition of the day
it becomes effective: a customer on its acquisition day, a product on its launch day, a
location on its opening day, and everything that predates the range, as well as the static
channel and time dimensions, in the first partition (day 0). ``effective_date_key`` holds that
partition, so each daily partition can be replaced idempotently and the partitions of a range
hold every key exactly once. The output schema is the declared one without ``etl_timestamp``,
which the writer adds.

Columns are built with numpy and pyarrow kernels (no per-row Python); strings are vocabulary
lookups (``take``) joined element-wise. Extra random attributes (addresses, email domains)
come from the counter-based streams with day 0 and the entity index as ids, so a row is the
same whichever range produces it.
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Sequence

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets import tables
from retail_assets.config import SimulationConfig
from retail_assets.days import date32_of_ordinals, date_keys_of_ordinals
from retail_assets.sim import catalog as cat
from retail_assets.sim.calendar import calendar_columns
from retail_assets.sim.geography import STREET_NAMES, US_CITIES
from retail_assets.sim.rng import Streams
from retail_assets.sim.world import World

DATE_DIM_AHEAD_DAYS = 365  # partition D holds the date this many days after D
COUNTRY = "USA"
SELLING_SHARE_RANGE = (0.70, 0.80)  # selling floor share of a store's total area
STREET_NUMBER_RANGE = (100, 9_899)
# Location name suffix per kind: stores by format, then warehouse, then distribution center.
LOCATION_KINDS = ("Store", "Flagship", "Outlet", "Warehouse", "Distribution Center")


def _code(name: str, width: int) -> str:
    """Upper-case code of a name: initials of its words, led and padded by letters of its words.

    "Aurora & Vale" -> AV (width 2), "Northline" -> NO, "Jeans" -> JEA (width 3),
    "Casual Dresses" -> CAD, "T-Shirts" -> TSH, "Sky Blue" -> SKB.
    """
    words = re.findall(r"[A-Za-z]+", name)
    code = words[0][: max(width - (len(words) - 1), 1)] + "".join(word[0] for word in words[1:])
    code = code[:width]
    if len(code) < width:
        code += words[-1][1:][: width - len(code)]
    return code.upper()


BRAND_CODES = tuple(_code(brand, 2) for brand in cat.BRANDS)
CATEGORY_CODES = tuple(_code(leaf, 3) for leaf in cat.CATEGORY_LEVEL_3)
COLOR_CODES = tuple(_code(name, 3) for name, _ in cat.COLORS)
COLOR_NAMES = tuple(name for name, _ in cat.COLORS)
COLOR_FAMILIES = tuple(family for _, family in cat.COLORS)


# --------------------------------------------------------------------------- helpers
def _assemble(table: tables.Table, columns: dict[str, object], n_rows: int) -> pa.Table:
    """Arrow table of the declared schema (minus etl_timestamp) from named columns."""
    schema = table.generated_schema
    columns = {**columns, "source_system": pa.repeat(pa.scalar(cat.SOURCE_SYSTEM, pa.string()), n_rows)}
    if set(columns) != set(schema.names):
        raise ValueError(
            f"{table.name}: missing columns {sorted(set(schema.names) - set(columns))}, "
            f"unexpected {sorted(set(columns) - set(schema.names))}"
        )
    arrays = []
    for field in schema:
        values = columns[field.name]
        array = values if isinstance(values, pa.Array) else pa.array(values)
        if array.type != field.type:
            array = array.cast(field.type)
        if len(array) != n_rows:
            raise ValueError(f"{table.name}.{field.name}: {len(array)} values for {n_rows} rows")
        arrays.append(array)
    return pa.Table.from_arrays(arrays, schema=schema)


def _take(vocabulary: Sequence[str], codes: np.ndarray) -> pa.Array:
    """Strings of a vocabulary at the given codes."""
    return pa.array(list(vocabulary), pa.string()).take(pa.array(np.asarray(codes, dtype=np.int64)))


def _text(values: np.ndarray) -> pa.Array:
    """Integers as decimal strings."""
    return pc.cast(pa.array(np.asarray(values, dtype=np.int64)), pa.string())


def _effective_rows(days: np.ndarray, first_day: int, last_day: int) -> tuple[np.ndarray, np.ndarray]:
    """Indexes of the entities effective in [first_day, last_day], and their partition day.

    An entity is effective on its day, or on day 0 (the first partition) if that is earlier.
    """
    effective = np.maximum(np.asarray(days, dtype=np.int64), 0)
    rows = np.flatnonzero((effective >= first_day) & (effective <= last_day))
    return rows, effective[rows]


def _years(config: SimulationConfig, days: np.ndarray) -> np.ndarray:
    """Calendar years of day ordinals."""
    dates = np.datetime64(config.start_date, "D") + np.asarray(days, dtype=np.int64)
    return dates.astype("datetime64[Y]").astype(np.int64) + 1970


# --------------------------------------------------------------------------- customers
def customer_dim(world: World, first_day: int, last_day: int) -> pa.Table:
    """Customers effective in the partitions [first_day, last_day] (acquired then, or before day 0)."""
    config, customers, streams = world.config, world.customers, Streams(world.config.seed)
    rows, effective = _effective_rows(customers.acquisition_day, first_day, last_day)
    key = customers.key[rows]
    key_text = _text(key)
    first_name = _take(cat.FIRST_NAMES, customers.first_name[rows])
    last_name = _take(cat.LAST_NAMES, customers.last_name[rows])
    domain = _take(
        cat.EMAIL_DOMAINS, streams.integers("dims/customer/email_domain", 0, rows, 0, len(cat.EMAIL_DOMAINS) - 1)
    )
    local_part = pc.binary_join_element_wise(first_name, last_name, key_text, ".")
    email = pc.utf8_lower(pc.binary_join_element_wise(local_part, domain, "@"))
    city = customers.city[rows]
    acquisition_date = date32_of_ordinals(customers.acquisition_day[rows], config.start_date)
    columns = {
        "customer_key": key,
        "customer_id": pc.binary_join_element_wise("CUST", pc.utf8_lpad(key_text, 8, "0"), "_"),
        "email": email,
        "first_name": first_name,
        "last_name": last_name,
        "segment": _take(cat.SEGMENTS, customers.segment[rows]),
        "lifetime_value": customers.lifetime_value[rows].astype(np.float64),
        "acquisition_date": acquisition_date,
        "acquisition_channel": _take(cat.ACQUISITION_CHANNELS, customers.acquisition_channel[rows]),
        "preferred_channel": _take([channel.code for channel in cat.CHANNELS], customers.preferred_channel[rows]),
        "preferred_category": _take(cat.PREFERENCE_CATEGORIES, customers.preferred_group[rows]),
        "size_profile_tops": _take(cat.SIZES_TOPS, customers.size_tops[rows]),
        "size_profile_bottoms": _take(cat.SIZES_BOTTOMS, customers.size_bottoms[rows]),
        "geo_region": _take(US_CITIES.region, city),
        "geo_city": _take(US_CITIES.city, city),
        "geo_state": _take(US_CITIES.state_code, city),
        "nearest_store_id": world.locations.key[customers.nearest_store[rows]],
        "loyalty_tier": _take(cat.LOYALTY_TIERS, customers.loyalty_tier[rows]),
        "email_subscribe_flag": customers.email_opt_in[rows],
        "sms_subscribe_flag": customers.sms_opt_in[rows],
        "effective_date": acquisition_date,
        "expiration_date": pa.nulls(len(rows), pa.date32()),
        "is_current": np.ones(len(rows), dtype=bool),
        "effective_date_key": date_keys_of_ordinals(effective, config.start_date),
    }
    members = _assemble(tables.GOLD_CUSTOMER_DIM, columns, len(rows))
    return pa.concat_tables([_unknown_member(config), members]) if first_day <= 0 <= last_day else members


def _unknown_member(config: SimulationConfig) -> pa.Table:
    """The row of the orders no member identified (key 0, "unknown" labels: the Kimball
    convention, so every fact's customer_key joins), in the first partition."""
    unknown = [cat.UNKNOWN]
    start = date32_of_ordinals(np.zeros(1, dtype=np.int64), config.start_date)
    columns = {
        "customer_key": [cat.UNKNOWN_CUSTOMER_KEY], "customer_id": ["CUST_00000000"],
        "email": pa.nulls(1, pa.string()), "first_name": ["Unknown"], "last_name": ["Customer"],
        "segment": unknown, "lifetime_value": [0.0], "acquisition_date": start, "acquisition_channel": unknown,
        "preferred_channel": unknown, "preferred_category": unknown, "size_profile_tops": unknown,
        "size_profile_bottoms": unknown, "geo_region": unknown, "geo_city": unknown, "geo_state": pa.nulls(1, pa.string()),
        "nearest_store_id": pa.nulls(1, pa.int32()), "loyalty_tier": unknown, "email_subscribe_flag": [False],
        "sms_subscribe_flag": [False], "effective_date": start, "expiration_date": pa.nulls(1, pa.date32()),
        "is_current": [True], "effective_date_key": date_keys_of_ordinals(np.zeros(1, dtype=np.int64), config.start_date),
    }
    return _assemble(tables.GOLD_CUSTOMER_DIM, columns, 1)


# --------------------------------------------------------------------------- products
def _name_rank(products) -> np.ndarray:
    """Per product: how many products with a lower key share its brand, colour, material and
    item (over the whole world, so a partition's names never depend on the range)."""
    attributes = np.stack([products.brand, products.color, products.material, products.category]).astype(np.int64)
    _, group = np.unique(attributes, axis=1, return_inverse=True)
    order = np.argsort(group, kind="stable")  # products are in key order
    counts = np.bincount(group)
    rank = np.empty(len(group), dtype=np.int64)
    rank[order] = np.arange(len(group)) - np.repeat(np.cumsum(counts) - counts, counts)
    return rank


def _name_suffix(rank: np.ndarray) -> pa.Array:
    """"" for the first product of a name, " No. 2", " No. 3" ... for the next: names are unique."""
    return pc.if_else(pa.array(rank > 0), pc.binary_join_element_wise(" No. ", _text(rank + 1), ""), "")


def product_dim(world: World, first_day: int, last_day: int) -> pa.Table:
    """Products effective in the partitions [first_day, last_day] (launched then, or before day 0)."""
    config, products = world.config, world.products
    rows, effective = _effective_rows(products.launch_day, first_day, last_day)
    key = products.key[rows]
    category, brand_code = products.category[rows], products.brand[rows]
    color, material = products.color[rows], products.material[rows]
    brand = _take(cat.BRANDS, brand_code)
    color_name = _take(COLOR_NAMES, color)
    material_name = _take(cat.MATERIALS, material)
    launch_day = products.launch_day[rows]
    base_price = products.base_price[rows].astype(np.float64)
    unit_cost = products.unit_cost[rows].astype(np.float64)
    last_horizon_day = config.horizon - 1  # not the range's last day: a row must not depend on the range
    columns = {
        "product_key": key,
        "product_id": pc.binary_join_element_wise("PRD", pc.utf8_lpad(_text(key), 7, "0"), ""),
        "sku": pc.binary_join_element_wise(
            _take(BRAND_CODES, brand_code),
            _take(CATEGORY_CODES, category),
            pc.utf8_lpad(_text(key), 6, "0"),
            _take(COLOR_CODES, color),
            "-",
        ),
        "product_name": pc.binary_join_element_wise(
            pc.binary_join_element_wise(brand, color_name, material_name, _take(cat.CATEGORY_ITEM_NAME, category), " "),
            _name_suffix(_name_rank(products)[rows]), ""
        ),
        "brand": brand,
        "category_level_1": _take(cat.CATEGORY_LEVEL_1, category),
        "category_level_2": _take(cat.CATEGORY_LEVEL_2, category),
        "category_level_3": _take(cat.CATEGORY_LEVEL_3, category),
        "color_family": _take(COLOR_FAMILIES, color),
        "color_name": color_name,
        "size_range": _take(cat.CATEGORY_SIZE_RANGE, category),
        "material_primary": material_name,
        "material_composition": _take(cat.MATERIAL_COMPOSITION, material),
        "season_code": _take(cat.SEASONS, products.season[rows]),
        "collection_name": pc.binary_join_element_wise(
            _take(cat.SEASONS, products.season[rows]),
            _text(_years(config, launch_day)),
            _take(cat.COLLECTIONS, products.collection[rows]),
            " ",
        ),
        "launch_date": date32_of_ordinals(launch_day, config.start_date),
        "end_of_life_date": date32_of_ordinals(products.end_of_life_day[rows], config.start_date),
        "base_price": base_price,
        "unit_cost": unit_cost,
        "margin_percent": np.round((base_price - unit_cost) / base_price * 100.0, 2),
        "price_tier": _take(cat.PRICE_TIERS, products.price_tier[rows]),
        "sustainability_flag": cat.SUSTAINABLE_MATERIALS[material],
        "is_active": products.end_of_life_day[rows] > last_horizon_day,
        "effective_date_key": date_keys_of_ordinals(effective, config.start_date),
    }
    return _assemble(tables.GOLD_PRODUCT_DIM, columns, len(rows))


# --------------------------------------------------------------------------- locations
def location_names(world: World) -> list[str]:
    """Unique names of all locations: "<city> <kind>", then " 2", " 3"... for repeats."""
    locations = world.locations
    kind = np.where(
        locations.location_type == cat.LOC_STORE,
        locations.store_format,
        np.where(locations.location_type == cat.LOC_WAREHOUSE, 3, 4),
    )
    seen: Counter[str] = Counter()
    names = []
    for city, kind_code in zip(US_CITIES.city[locations.city], kind):  # at most 500 locations
        base = f"{city} {LOCATION_KINDS[kind_code]}"
        seen[base] += 1
        names.append(base if seen[base] == 1 else f"{base} {seen[base]}")
    return names


def location_dim(world: World, first_day: int, last_day: int) -> pa.Table:
    """Locations effective in the partitions [first_day, last_day] (opened then, or before day 0)."""
    config, locations, streams = world.config, world.locations, Streams(world.config.seed)
    rows, effective = _effective_rows(locations.opened_day, first_day, last_day)
    city = locations.city[rows]
    is_store = locations.location_type[rows] == cat.LOC_STORE
    total_sqft = locations.square_footage[rows].astype(np.int64)
    low, high = SELLING_SHARE_RANGE
    selling_share = low + (high - low) * streams.uniform("dims/location/selling_share", 0, rows)
    selling_sqft = np.where(is_store, np.round(total_sqft * selling_share / 100.0) * 100, 0).astype(np.int32)
    street_number = streams.integers("dims/location/street_number", 0, rows, *STREET_NUMBER_RANGE)
    street = streams.integers("dims/location/street", 0, rows, 0, len(STREET_NAMES) - 1)
    columns = {
        "location_key": locations.key[rows],
        "location_id": pc.binary_join_element_wise("LOC", pc.utf8_lpad(_text(locations.key[rows]), 3, "0"), ""),
        "location_name": pa.array(location_names(world), pa.string()).take(pa.array(rows)),
        "location_type": _take(cat.LOCATION_TYPES, locations.location_type[rows]),
        "store_format": _take(cat.STORE_FORMATS, locations.store_format[rows]),
        "address": pc.binary_join_element_wise(_text(street_number), _take(STREET_NAMES, street), " "),
        "city": _take(US_CITIES.city, city),
        "state": _take(US_CITIES.state_code, city),
        "region": _take(US_CITIES.region, city),
        "postal_code": _take(US_CITIES.postal_code, city),
        "country": pa.repeat(pa.scalar(COUNTRY, pa.string()), len(rows)),
        "latitude": US_CITIES.latitude[city],
        "longitude": US_CITIES.longitude[city],
        "timezone": _take(US_CITIES.timezone, city),
        "selling_square_footage": selling_sqft,
        "total_square_footage": total_sqft.astype(np.int32),
        "is_flagship": locations.store_format[rows] == cat.FORMAT_FLAGSHIP,
        "opened_date": date32_of_ordinals(locations.opened_day[rows], config.start_date),
        "is_active": np.ones(len(rows), dtype=bool),
        "effective_date_key": date_keys_of_ordinals(effective, config.start_date),
    }
    return _assemble(tables.GOLD_LOCATION_DIM, columns, len(rows))


# --------------------------------------------------------------------------- dates
def date_dim(config: SimulationConfig, first_day: int, last_day: int) -> pa.Table:
    """The dates of the partitions [first_day, last_day]. Partition D holds the date
    DATE_DIM_AHEAD_DAYS after D, so every date a fact of day D points ahead to (a restock, a
    retry, a recovery) already exists; the first partition also holds everything from the
    calendar year before the start (warm-up orders, their pickups) up to that date."""
    history = (config.start_date - dt.date(config.start_date.year - 1, 1, 1)).days
    low = -history if first_day == 0 else first_day + DATE_DIM_AHEAD_DAYS
    high = last_day + DATE_DIM_AHEAD_DAYS if last_day >= first_day else low - 1
    ordinals = np.arange(low, high + 1, dtype=np.int64)
    calendar = calendar_columns(config.start_date + dt.timedelta(days=low), len(ordinals))
    calendar.pop("demand_multiplier")
    effective_key = date_keys_of_ordinals(np.maximum(ordinals - DATE_DIM_AHEAD_DAYS, 0), config.start_date)
    epoch_days = calendar["calendar_date"].astype("datetime64[D]").astype(np.int64).astype(np.int32)
    columns = {
        **calendar,
        "calendar_date": pa.array(epoch_days).cast(pa.date32()),
        "month_name": pa.array(calendar["month_name"], pa.string()),
        "day_name": pa.array(calendar["day_name"], pa.string()),
        "holiday_name": pa.array(calendar["holiday_name"], pa.string()),
        "season": pa.array(calendar["season"], pa.string()),
        "sale_event_name": pa.array(calendar["sale_event_name"], pa.string()),
        "effective_date_key": effective_key,
    }
    return _assemble(tables.GOLD_DATE_DIM, columns, len(ordinals))


# --------------------------------------------------------------------------- static dimensions
def _static_rows(n: int, first_day: int, last_day: int) -> np.ndarray:
    """All n rows if the range holds the first partition (day 0), else none."""
    rows, _ = _effective_rows(np.zeros(n, dtype=np.int64), first_day, last_day)
    return rows


def channel_dim(config: SimulationConfig, first_day: int, last_day: int) -> pa.Table:
    """The 8 sales channels (catalog.CHANNELS order, keys 1..8), in the first partition only."""
    rows = _static_rows(len(cat.CHANNELS), first_day, last_day)
    channels = [cat.CHANNELS[i] for i in rows]

    def attribute(name: str, arrow_type: pa.DataType) -> pa.Array:
        return pa.array([getattr(channel, name) for channel in channels], arrow_type)

    columns = {
        "channel_key": (rows + 1).astype(np.int32),
        "channel_code": attribute("code", pa.string()),
        "channel_name": attribute("name", pa.string()),
        "channel_type": attribute("channel_type", pa.string()),
        "channel_category": attribute("channel_category", pa.string()),
        "device_category": attribute("device_category", pa.string()),
        "is_digital": attribute("is_digital", pa.bool_()),
        "is_owned": attribute("is_owned", pa.bool_()),
        "commission_rate": attribute("commission_rate", pa.float64()),
        "effective_date_key": date_keys_of_ordinals(np.zeros(len(rows), dtype=np.int64), config.start_date),
    }
    return _assemble(tables.GOLD_CHANNEL_DIM, columns, len(rows))


def time_dim(config: SimulationConfig, first_day: int, last_day: int) -> pa.Table:
    """Times of day at 15-minute grain (96 rows, time_key hhmm), in the first partition only."""
    slot = _static_rows(96, first_day, last_day)
    hour, minute = slot // 4, slot % 4 * 15
    period = np.select(
        [hour < 6, hour < 12, hour < 17, hour < 22], ["night", "morning", "afternoon", "evening"], "night"
    )
    columns = {
        "time_key": (hour * 100 + minute).astype(np.int32),
        "hour": hour.astype(np.int32),
        "minute": minute.astype(np.int32),
        "am_pm": pa.array(np.where(hour < 12, "AM", "PM").astype(object), pa.string()),
        "hour_12": ((hour + 11) % 12 + 1).astype(np.int32),
        "period_of_day": pa.array(period.astype(object), pa.string()),
        "is_business_hours": (hour >= 10) & (hour <= 20),
        "is_peak_hours": ((hour >= 12) & (hour <= 13)) | ((hour >= 17) & (hour <= 19)),
        "effective_date_key": date_keys_of_ordinals(np.zeros(len(slot), dtype=np.int64), config.start_date),
    }
    return _assemble(tables.GOLD_TIME_DIM, columns, len(slot))


# Table name -> builder(world, first_day, last_day): the rows effective on those days.
BUILDERS = {  # the date dimension first: every other row's effective_date_key refers to it
    tables.GOLD_DATE_DIM.name: lambda world, first, last: date_dim(world.config, first, last),
    tables.GOLD_CUSTOMER_DIM.name: customer_dim,
    tables.GOLD_PRODUCT_DIM.name: product_dim,
    tables.GOLD_LOCATION_DIM.name: location_dim,
    tables.GOLD_CHANNEL_DIM.name: lambda world, first, last: channel_dim(world.config, first, last),
    tables.GOLD_TIME_DIM.name: lambda world, first, last: time_dim(world.config, first, last),
}
