import dataclasses
import datetime as dt
import re

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.days import date_keys_of_dates
from retail_assets.sim import catalog as cat
from retail_assets.sim import dimensions as dims
from retail_assets.sim.geography import US_CITIES, haversine_km
from retail_assets.sim.world import build_world

DIMENSIONS = dims.BUILDERS
KEYS = {
    "gold_customer_dim": "customer_key",
    "gold_product_dim": "product_key",
    "gold_location_dim": "location_key",
    "gold_date_dim": "date_key",
    "gold_channel_dim": "channel_key",
    "gold_time_dim": "time_key",
}


@pytest.fixture(scope="module")
def world():
    return build_world(SimulationConfig.build(preset="tiny"))


@pytest.fixture(scope="module")
def days(world):
    return world.config.scale.days


def _partition_key(world, day: int) -> int:
    return int(date_keys_of_dates(np.array([np.datetime64(world.config.start_date + dt.timedelta(days=day), "D")]))[0])


def _expected_schema(name: str) -> pa.Schema:
    declared = registry.TABLES[name].arrow_schema
    return pa.schema([field for field in declared if field.name != "etl_timestamp"])


# --------------------------------------------------------------------------- declarations
def test_dimension_declarations():
    for name in DIMENSIONS:
        table = registry.TABLES[name]
        assert table.name == name and table.description
        assert table.column_names[-2:] == ["source_system", "etl_timestamp"]
        assert "effective_date_key" in table.column_names
        assert len(set(table.column_names)) == len(table.column_names)
        assert all(column.description for column in table.columns)
        key = next(c for c in table.columns if c.name == KEYS[name])
        assert key.type == pa.int32() and not key.nullable
    nullable = {
        (name, c.name) for name in DIMENSIONS for c in registry.TABLES[name].columns if c.nullable
    }
    assert nullable == {
        ("gold_customer_dim", "expiration_date"),
        # the unknown member has no email, home state or nearest store
        ("gold_customer_dim", "email"), ("gold_customer_dim", "geo_state"), ("gold_customer_dim", "nearest_store_id"),
        ("gold_date_dim", "holiday_name"),
        ("gold_date_dim", "sale_event_name"),
    }


def test_reference_columns_are_declared():
    customer = registry.TABLES["gold_customer_dim"].column_names
    for column in (
        "customer_key customer_id email first_name last_name segment lifetime_value acquisition_date "
        "acquisition_channel preferred_channel preferred_category size_profile_tops size_profile_bottoms "
        "geo_region geo_city nearest_store_id loyalty_tier email_subscribe_flag sms_subscribe_flag "
        "effective_date expiration_date is_current"
    ).split():
        assert column in customer
    location = registry.TABLES["gold_location_dim"].column_names
    for column in ("store_format", "region", "selling_square_footage", "total_square_footage", "country"):
        assert column in location
    assert "demand_multiplier" not in registry.TABLES["gold_date_dim"].column_names


# --------------------------------------------------------------------------- schemas and partitions
@pytest.mark.parametrize("name", list(DIMENSIONS))
@pytest.mark.parametrize("first, last", [(0, 0), (1, 1), (0, 20), (5, 12)])
def test_schema_is_declared_schema_without_etl_timestamp(world, name, first, last):
    table = DIMENSIONS[name](world, first, last)
    assert table.schema.equals(_expected_schema(name))
    for field in table.schema:
        if not field.nullable:
            assert table.column(field.name).null_count == 0, field.name
    assert pc.all(pc.equal(table.column("source_system"), cat.SOURCE_SYSTEM)).as_py() in (True, None)


@pytest.mark.parametrize("name", list(DIMENSIONS))
def test_partitions_split_the_keys_exactly(world, days, name):
    parts = [DIMENSIONS[name](world, day, day) for day in range(days)]
    for day, part in enumerate(parts):
        assert set(part.column("effective_date_key").to_pylist()) <= {_partition_key(world, day)}
    union = pa.concat_tables(parts)
    keys = union.column(KEYS[name]).to_numpy()
    assert len(np.unique(keys)) == len(keys)
    whole = DIMENSIONS[name](world, 0, days - 1)
    assert sorted(keys.tolist()) == sorted(whole.column(KEYS[name]).to_pylist())
    # A row does not depend on the range that produces it.
    order = pc.sort_indices(union, [(KEYS[name], "ascending")])
    whole_order = pc.sort_indices(whole, [(KEYS[name], "ascending")])
    assert union.take(order).equals(whole.take(whole_order))


@pytest.mark.parametrize("n", [21, 15])
def test_a_longer_range_keeps_the_world_and_the_rows_of_its_first_days(n):
    """Extending a lakehouse's range (RETAIL_DAYS) keeps its world: arrivals and launches are
    spread over the preset's horizon, so every dimension row of the first n days stays as written."""
    short, long = (build_world(SimulationConfig.build(preset="tiny", days=days)) for days in (n, n + 10))
    for part in ("customers", "products", "locations"):
        for field in dataclasses.fields(getattr(short, part)):
            short_values, long_values = (getattr(getattr(w, part), field.name) for w in (short, long))
            np.testing.assert_array_equal(short_values, long_values, err_msg=f"{part}.{field.name}")
    for name, builder in DIMENSIONS.items():
        assert builder(short, 0, n - 1).equals(builder(long, 0, n - 1)), name


def test_row_counts_over_the_range(world, days):
    customers = pa.concat_tables(dims.customer_dim(world, d, d) for d in range(days))
    assert customers.num_rows == int((world.customers.acquisition_day <= days - 1).sum()) + 1  # + the unknown member
    first = dims.customer_dim(world, 0, 0)
    assert first.num_rows == int((world.customers.acquisition_day <= 0).sum()) + 1
    products = pa.concat_tables(dims.product_dim(world, d, d) for d in range(days))
    assert products.num_rows == int((world.products.launch_day <= days - 1).sum())
    assert dims.location_dim(world, 0, 0).num_rows == len(world.locations)
    for later in (1, days - 1):
        assert dims.location_dim(world, later, later).num_rows == 0
        assert dims.channel_dim(world.config, later, later).num_rows == 0
        assert dims.time_dim(world.config, later, later).num_rows == 0
        assert dims.date_dim(world.config, later, later).num_rows == 1
    dates = pa.concat_tables(dims.date_dim(world.config, d, d) for d in range(days))
    assert dates.num_rows == 366 + days + dims.DATE_DIM_AHEAD_DAYS  # 2024 (leap year), the range, a year ahead


def test_effective_date_key_is_the_partition_day(world, days):
    for day in (0, 3, days - 1):
        customers = dims.customer_dim(world, day, day)
        expected = _partition_key(world, day)
        assert set(customers.column("effective_date_key").to_pylist()) <= {expected}
    customers = dims.customer_dim(world, 0, days - 1)
    acquired = np.array(customers.column("acquisition_date").cast(pa.int32()).to_pylist())
    start = (world.config.start_date - dt.date(1970, 1, 1)).days
    partition_day = np.maximum(acquired - start, 0)
    expected = date_keys_of_dates(np.datetime64(world.config.start_date, "D") + partition_day)
    assert customers.column("effective_date_key").to_numpy().tolist() == expected.tolist()


# --------------------------------------------------------------------------- customers
def _members(customers: pa.Table) -> pa.Table:
    return customers.filter(pc.not_equal(customers.column("customer_key"), cat.UNKNOWN_CUSTOMER_KEY))


def test_the_unknown_member_is_in_the_first_partition_only_labelled_unknown(world, days):
    unknown = [row for row in dims.customer_dim(world, 0, days - 1).to_pylist() if row["customer_key"] == 0]
    assert len(unknown) == 1 and all(dims.customer_dim(world, d, d).column("customer_key").to_pylist().count(0) == 0
                                     for d in (1, days - 1))
    row = unknown[0]
    assert row["customer_id"] == "CUST_00000000" and row["lifetime_value"] == 0
    assert row["segment"] == row["loyalty_tier"] == row["preferred_channel"] == cat.UNKNOWN
    assert row["email"] is None and row["nearest_store_id"] is None and row["is_current"]


def test_customer_columns(world, days):
    customers = _members(dims.customer_dim(world, 0, days - 1)).to_pylist()
    for row in customers[:200]:
        key = row["customer_key"]
        assert row["customer_id"] == f"CUST_{key:08d}"
        local, domain = row["email"].split("@")
        assert local == f"{row['first_name']}.{row['last_name']}.{key}".lower()
        assert domain in cat.EMAIL_DOMAINS
        assert row["email"] == row["email"].lower()
        assert row["effective_date"] == row["acquisition_date"]
        assert row["expiration_date"] is None and row["is_current"] is True
        assert row["segment"] in cat.SEGMENTS
        assert row["preferred_channel"] in {channel.code for channel in cat.CHANNELS}
        assert row["preferred_category"] in cat.PREFERENCE_CATEGORIES
        assert row["size_profile_tops"] in cat.SIZES_TOPS
        assert row["size_profile_bottoms"] in cat.SIZES_BOTTOMS
        assert row["loyalty_tier"] in cat.LOYALTY_TIERS
    index = np.array([row["customer_key"] for row in customers]) - 1
    city = world.customers.city[index]
    assert [row["geo_city"] for row in customers] == US_CITIES.city[city].tolist()
    assert [row["geo_region"] for row in customers] == US_CITIES.region[city].tolist()


def test_nearest_store_is_the_nearest_store(world, days):
    customers = _members(dims.customer_dim(world, 0, days - 1))
    locations = dims.location_dim(world, 0, 0)
    location_type = dict(
        zip(locations.column("location_key").to_pylist(), locations.column("location_type").to_pylist())
    )
    nearest = customers.column("nearest_store_id").to_numpy()
    assert {location_type[key] for key in nearest.tolist()} == {"store"}

    stores = np.flatnonzero(np.array(locations.column("location_type").to_pylist()) == "store")
    store_keys = locations.column("location_key").to_numpy()[stores]
    store_lat = locations.column("latitude").to_numpy()[stores]
    store_lon = locations.column("longitude").to_numpy()[stores]
    index = customers.column("customer_key").to_numpy() - 1
    lat, lon = world.customers.latitude[index], world.customers.longitude[index]
    distance = haversine_km(lat[:, None], lon[:, None], store_lat[None, :], store_lon[None, :])
    chosen = distance[np.arange(len(index)), np.searchsorted(store_keys, nearest)]
    assert np.all(np.isin(nearest, store_keys))
    np.testing.assert_array_less(chosen, distance.min(axis=1) + 1e-6)


# --------------------------------------------------------------------------- products
def test_product_names_are_unique_numbering_a_repeated_name():
    products = dims.product_dim(build_world(SimulationConfig.build(preset="mid_market")), 0, 10_000)
    names = products.column("product_name").to_pylist()
    assert len(set(names)) == len(names) and any(name.endswith(" No. 2") for name in names)


def test_product_columns(world, days):
    products = dims.product_dim(world, 0, days - 1)
    rows = products.to_pylist()
    assert len({row["sku"] for row in rows}) == len(rows)
    assert len(set(dims.CATEGORY_CODES)) == len(cat.CATEGORY_LEVEL_3)
    assert len(set(dims.COLOR_CODES)) == len(cat.COLORS)
    assert len(set(dims.BRAND_CODES)) == len(cat.BRANDS)
    last_horizon_day = world.config.start_date + dt.timedelta(days=world.config.horizon - 1)
    for row in rows:
        key = row["product_key"]
        assert row["product_id"] == f"PRD{key:07d}"
        assert re.fullmatch(rf"[A-Z]{{2}}-[A-Z]{{3}}-{key:06d}-[A-Z]{{3}}", row["sku"])
        assert row["brand"] in row["product_name"] and row["product_name"].startswith(row["brand"] + " ")
        assert row["color_name"] in row["product_name"] and row["material_primary"] in row["product_name"]
        assert 0 < row["unit_cost"] < row["base_price"]
        assert 29.99 <= row["base_price"] <= 299.99
        expected_margin = round((row["base_price"] - row["unit_cost"]) / row["base_price"] * 100, 2)
        assert row["margin_percent"] == pytest.approx(expected_margin, abs=0.006)
        assert row["collection_name"].startswith(f"{row['season_code']} {row['launch_date'].year} ")
        assert row["collection_name"].split(" ")[-1] in cat.COLLECTIONS
        leaf = cat.CATEGORY_LEVEL_3.index(row["category_level_3"])
        assert row["category_level_2"] == cat.CATEGORY_LEVEL_2[leaf]
        assert row["size_range"] == cat.CATEGORY_SIZE_RANGE[leaf]
        assert row["product_name"].endswith(cat.CATEGORY_ITEM_NAME[leaf])
        material = cat.MATERIALS.index(row["material_primary"])
        assert row["sustainability_flag"] == bool(cat.SUSTAINABLE_MATERIALS[material])
        assert row["material_composition"] == cat.MATERIAL_COMPOSITION[material]
        assert row["launch_date"] < row["end_of_life_date"]
        assert row["is_active"] == (row["end_of_life_date"] > last_horizon_day)


# --------------------------------------------------------------------------- locations
def test_reference_chain_of_13_locations(world):
    locations = dims.location_dim(world, 0, 0).to_pylist()
    assert len(locations) == 13
    by_type = {kind: [row for row in locations if row["location_type"] == kind] for kind in cat.LOCATION_TYPES}
    assert {kind: len(rows) for kind, rows in by_type.items()} == {
        "store": 10, "warehouse": 2, "distribution_center": 1,
    }
    formats = [row["store_format"] for row in by_type["store"]]
    assert formats.count("flagship") == 2 and formats.count("outlet") == 2
    assert sum(row["is_flagship"] for row in locations) == 2
    for row in locations:
        assert row["location_id"] == f"LOC{row['location_key']:03d}"
        assert row["country"] == "USA" and row["is_active"] is True
        (city,) = np.flatnonzero((US_CITIES.city == row["city"]) & (US_CITIES.state_code == row["state"]))
        assert row["latitude"] == US_CITIES.latitude[city] and row["longitude"] == US_CITIES.longitude[city]
        assert row["timezone"] == US_CITIES.timezone[city] and row["region"] == US_CITIES.region[city]
        assert row["postal_code"] == US_CITIES.postal_code[city]
        assert row["location_name"].startswith(row["city"] + " ")
        assert re.fullmatch(r"\d+ .+", row["address"])
        assert row["opened_date"] <= world.config.start_date
        if row["location_type"] == "store":
            share = row["selling_square_footage"] / row["total_square_footage"]
            assert 0.65 <= share <= 0.85
        else:
            assert row["selling_square_footage"] == 0 and row["store_format"] == "fulfillment"
    kinds = {
        "flagship": "Flagship", "outlet": "Outlet", "standard": "Store",
    }
    for row in by_type["store"]:
        assert f" {kinds[row['store_format']]}" in row["location_name"]
    assert all("Warehouse" in row["location_name"] for row in by_type["warehouse"])
    assert all("Distribution Center" in row["location_name"] for row in by_type["distribution_center"])
    assert len({row["location_name"] for row in locations}) == len(locations)


@pytest.mark.parametrize("count", [25, 100, 500])
def test_location_count_is_honoured(count):
    world = build_world(SimulationConfig.build(preset="tiny", locations=count, customers=50))
    locations = dims.location_dim(world, 0, 0)
    assert locations.num_rows == count
    assert locations.column("location_key").to_pylist() == list(range(1, count + 1))
    names = locations.column("location_name").to_pylist()
    assert len(set(names)) == count
    types = set(locations.column("location_type").to_pylist())
    assert types == set(cat.LOCATION_TYPES)


# --------------------------------------------------------------------------- dates, channels, times
def test_date_dim_marks_thanksgiving_and_black_friday(world):
    config = world.config
    table = dims.date_dim(config, 0, 0)  # the first partition holds the year after the start
    rows = {row["date_key"]: row for row in table.to_pylist() if 20251124 <= row["date_key"] <= 20251201}
    assert len(rows) == 8
    assert rows[20251127]["is_holiday"] and rows[20251127]["holiday_name"] == "Thanksgiving"
    assert rows[20251128]["is_holiday"] and rows[20251128]["holiday_name"] == "Black Friday"
    assert rows[20251128]["is_sale_period"] and rows[20251128]["sale_event_name"] == "Black Friday Weekend"
    assert rows[20251201]["holiday_name"] == "Cyber Monday"
    assert rows[20251126]["is_holiday"] is False and rows[20251126]["holiday_name"] is None
    assert rows[20251127]["calendar_date"] == dt.date(2025, 11, 27) and rows[20251127]["day_name"] == "Thursday"


def test_date_partitions_hold_the_year_before_and_a_year_ahead(world):
    start_key = 20250101
    first = dims.date_dim(world.config, 0, 0)
    keys = first.column("date_key").to_pylist()
    assert keys[0] == 20240101 and keys[-1] == 20260101 and keys == sorted(keys)
    assert len(keys) == 366 + 1 + dims.DATE_DIM_AHEAD_DAYS
    assert set(first.column("effective_date_key").to_pylist()) == {start_key}
    later = dims.date_dim(world.config, 3, 4)
    assert later.column("date_key").to_pylist() == [20260104, 20260105]
    assert later.column("effective_date_key").to_pylist() == [20250104, 20250105]
    assert dims.date_dim(world.config, 3, 2).num_rows == 0


def test_channel_dim(world):
    rows = dims.channel_dim(world.config, 0, 0).to_pylist()
    assert len(rows) == 8
    assert [row["channel_key"] for row in rows] == list(range(1, 9))
    assert [row["channel_code"] for row in rows] == [channel.code for channel in cat.CHANNELS]
    amazon = rows[-1]
    assert amazon["channel_code"] == "MARKETPLACE_AMAZON" and not amazon["is_owned"] and amazon["commission_rate"] > 0
    assert not rows[cat.CHANNEL_STORE_POS]["is_digital"]


def test_time_dim(world):
    rows = dims.time_dim(world.config, 0, 0).to_pylist()
    assert len(rows) == 96
    keys = [row["time_key"] for row in rows]
    assert keys[:5] == [0, 15, 30, 45, 100] and keys[-1] == 2345 and len(set(keys)) == 96
    by_key = {row["time_key"]: row for row in rows}
    assert by_key[0]["hour_12"] == 12 and by_key[0]["am_pm"] == "AM" and by_key[0]["period_of_day"] == "night"
    assert by_key[1215]["hour_12"] == 12 and by_key[1215]["am_pm"] == "PM"
    assert by_key[1345]["hour_12"] == 1 and by_key[1345]["minute"] == 45
    assert by_key[600]["period_of_day"] == "morning" and by_key[545]["period_of_day"] == "night"
    assert by_key[1200]["period_of_day"] == "afternoon" and by_key[1700]["period_of_day"] == "evening"
    assert by_key[2200]["period_of_day"] == "night" and by_key[2145]["period_of_day"] == "evening"
    business = {key for key, row in by_key.items() if row["is_business_hours"]}
    assert min(business) == 1000 and max(business) == 2045 and len(business) == 44
    peak = {key for key, row in by_key.items() if row["is_peak_hours"]}
    assert peak == {h * 100 + m for h in (12, 13, 17, 18, 19) for m in (0, 15, 30, 45)}
