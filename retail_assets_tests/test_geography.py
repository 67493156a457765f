import zoneinfo

import numpy as np
import pytest

from retail_assets.sim.geography import STREET_NAMES, US_CITIES, CityTable, haversine_km, nearest

REGIONS = {"Northeast", "Southeast", "Midwest", "Southwest", "West"}


def _city(name: str, state: str) -> int:
    (index,) = np.flatnonzero((US_CITIES.city == name) & (US_CITIES.state_code == state))
    return int(index)


def test_table_shape_and_types():
    assert isinstance(US_CITIES, CityTable)
    assert 100 <= len(US_CITIES) <= 160
    for name in ("city", "state_code", "state_name", "region", "timezone", "postal_code"):
        column = getattr(US_CITIES, name)
        assert column.dtype == object and len(column) == len(US_CITIES)
        assert all(isinstance(value, str) and value for value in column)
    assert US_CITIES.latitude.dtype == np.float64 and US_CITIES.longitude.dtype == np.float64
    assert US_CITIES.population.dtype == np.int64


def test_rows_are_unique_sorted_and_plausible():
    pairs = set(zip(US_CITIES.city, US_CITIES.state_code))
    assert len(pairs) == len(US_CITIES)
    assert np.all(np.diff(US_CITIES.population) <= 0)
    assert US_CITIES.population.min() > 0
    assert np.all((US_CITIES.latitude > 18) & (US_CITIES.latitude < 72))
    assert np.all((US_CITIES.longitude > -170) & (US_CITIES.longitude < -66))
    assert all(len(code) == 5 and code.isdigit() for code in US_CITIES.postal_code)
    assert all(len(code) == 2 and code.isupper() for code in US_CITIES.state_code)


def test_big_metros_present_and_first():
    for name, state in [("New York", "NY"), ("Los Angeles", "CA"), ("Chicago", "IL"), ("Houston", "TX"),
                        ("Phoenix", "AZ"), ("Philadelphia", "PA"), ("San Antonio", "TX"),
                        ("San Diego", "CA"), ("Dallas", "TX"), ("Austin", "TX"), ("Jacksonville", "FL"),
                        ("San Jose", "CA"), ("Fort Worth", "TX"), ("Columbus", "OH"), ("Charlotte", "NC"),
                        ("Indianapolis", "IN"), ("San Francisco", "CA"), ("Seattle", "WA"),
                        ("Denver", "CO"), ("Washington", "DC"), ("Boston", "MA"), ("Nashville", "TN")]:
        _city(name, state)
    assert US_CITIES.city[0] == "New York"


@pytest.mark.parametrize(
    "name, state, lat, lon",
    [("Chicago", "IL", 41.88, -87.63), ("New York", "NY", 40.71, -74.01),
     ("Los Angeles", "CA", 34.05, -118.24), ("Denver", "CO", 39.74, -104.99),
     ("Miami", "FL", 25.76, -80.19), ("Seattle", "WA", 47.61, -122.33)],
)
def test_known_coordinates(name, state, lat, lon):
    i = _city(name, state)
    assert US_CITIES.latitude[i] == pytest.approx(lat, abs=0.02)
    assert US_CITIES.longitude[i] == pytest.approx(lon, abs=0.02)


@pytest.mark.parametrize(
    "name, state, tz",
    [("Chicago", "IL", "America/Chicago"), ("New York", "NY", "America/New_York"),
     ("Phoenix", "AZ", "America/Phoenix"), ("Tucson", "AZ", "America/Phoenix"),
     ("Indianapolis", "IN", "America/Indiana/Indianapolis"), ("Detroit", "MI", "America/Detroit"),
     ("Boise", "ID", "America/Boise"), ("Honolulu", "HI", "Pacific/Honolulu"),
     ("Anchorage", "AK", "America/Anchorage"), ("El Paso", "TX", "America/Denver"),
     ("Houston", "TX", "America/Chicago"), ("Louisville", "KY", "America/Kentucky/Louisville"),
     ("Los Angeles", "CA", "America/Los_Angeles"), ("Denver", "CO", "America/Denver")],
)
def test_known_timezones(name, state, tz):
    assert US_CITIES.timezone[_city(name, state)] == tz


def test_timezones_are_valid_iana_names():
    for tz in set(US_CITIES.timezone):
        zoneinfo.ZoneInfo(tz)


def test_regions_and_state_names():
    assert set(US_CITIES.region) == REGIONS
    for region in REGIONS:
        assert (US_CITIES.region == region).sum() >= 10
    assert US_CITIES.state_name[_city("Chicago", "IL")] == "Illinois"
    assert US_CITIES.region[_city("Chicago", "IL")] == "Midwest"
    assert US_CITIES.region[_city("Phoenix", "AZ")] == "Southwest"
    assert US_CITIES.region[_city("Atlanta", "GA")] == "Southeast"
    assert US_CITIES.region[_city("Boston", "MA")] == "Northeast"
    assert US_CITIES.region[_city("Seattle", "WA")] == "West"


def test_table_is_read_only():
    with pytest.raises(ValueError):
        US_CITIES.population[0] = 1


def test_street_names():
    assert 30 <= len(STREET_NAMES) <= 60
    assert len(set(STREET_NAMES)) == len(STREET_NAMES)
    assert "Main St" in STREET_NAMES


def test_haversine_known_distance_and_broadcasting():
    ny, la = _city("New York", "NY"), _city("Los Angeles", "CA")
    lat, lon = US_CITIES.latitude, US_CITIES.longitude
    d = haversine_km(lat[ny], lon[ny], lat[la], lon[la])
    assert d == pytest.approx(3936, abs=20)
    assert haversine_km(10.0, 20.0, 10.0, 20.0) == pytest.approx(0.0)
    assert haversine_km(0.0, 0.0, 0.0, 180.0) == pytest.approx(np.pi * 6371.0088)
    matrix = haversine_km(US_CITIES.latitude[:, None], US_CITIES.longitude[:, None],
                          US_CITIES.latitude[None, :], US_CITIES.longitude[None, :])
    assert matrix.shape == (len(US_CITIES), len(US_CITIES))
    np.testing.assert_allclose(matrix, matrix.T)
    np.testing.assert_allclose(np.diag(matrix), 0.0, atol=1e-9)


def _brute_force_nearest(from_lat, from_lon, to_lat, to_lon):
    distances = haversine_km(from_lat[:, None], from_lon[:, None], to_lat[None, :], to_lon[None, :])
    return np.argmin(distances, axis=1)


@pytest.mark.parametrize("chunk_rows", [1, 7, 1000, 65_536])
def test_nearest_matches_brute_force(chunk_rows):
    rng = np.random.default_rng(42)
    from_lat, from_lon = rng.uniform(25, 49, 3000), rng.uniform(-124, -67, 3000)
    to_lat, to_lon = US_CITIES.latitude, US_CITIES.longitude
    got = nearest(from_lat, from_lon, to_lat, to_lon, chunk_rows=chunk_rows)
    assert got.dtype == np.int64
    np.testing.assert_array_equal(got, _brute_force_nearest(from_lat, from_lon, to_lat, to_lon))


def test_nearest_city_of_itself_and_ties():
    got = nearest(US_CITIES.latitude, US_CITIES.longitude, US_CITIES.latitude, US_CITIES.longitude)
    np.testing.assert_array_equal(got, np.arange(len(US_CITIES)))
    to_lat, to_lon = np.array([40.0, 41.0, 40.0]), np.array([-100.0, -100.0, -100.0])
    assert nearest([40.0], [-100.0], to_lat, to_lon).tolist() == [0]


def test_nearest_resolves_metres():
    # Two stores about 9 m apart (0.0001 degrees of longitude at 41.88 N is about 8.3 m).
    to_lat, to_lon = np.array([41.8781, 41.8781]), np.array([-87.6298, -87.6297])
    assert nearest([41.8781, 41.8781], [-87.62979, -87.62971], to_lat, to_lon).tolist() == [0, 1]


def test_nearest_edge_cases():
    assert nearest([], [], [1.0], [1.0]).shape == (0,)
    with pytest.raises(ValueError):
        nearest([1.0], [1.0], [], [])


def test_a_second_nearest_search_skips_the_nearest():
    to_lat, to_lon = np.array([0.0, 0.0, 0.0]), np.array([0.0, 1.0, 3.0])
    from_lat, from_lon = np.array([0.0, 0.0]), np.array([0.9, 2.9])
    first = nearest(from_lat, from_lon, to_lat, to_lon)
    assert first.tolist() == [1, 2]
    assert nearest(from_lat, from_lon, to_lat, to_lon, skip=first).tolist() == [0, 1]
