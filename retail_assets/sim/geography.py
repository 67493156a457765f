"""US city reference data and great-circle helpers for placing stores and customers.

The table holds real city-centre coordinates, IANA time zones and a representative postal
code, so generated addresses, distances and local times look plausible. Population is an
approximate metro population used only as a sampling weight; where one metro has several
cities in the table (New York/Newark/Jersey City, Dallas/Fort Worth/Arlington, ...) the metro
is shared among them so it is not counted twice.

Regions follow the common five-region split: Northeast runs from Maine to the Mid-Atlantic
(including DE, MD and DC), Southeast from Virginia and Kentucky to Florida, Arkansas and
Louisiana, Southwest is AZ, NM, OK and TX, and West the remaining western states.
"""

from __future__ import annotations

import datetime as dt
import functools
import zoneinfo
from dataclasses import dataclass, fields

import numpy as np

EARTH_RADIUS_KM = 6371.0088
NEAREST_CHUNK_ROWS = 65_536

_STATES = {
    # code: (name, region)
    "AK": ("Alaska", "West"),
    "AL": ("Alabama", "Southeast"),
    "AR": ("Arkansas", "Southeast"),
    "AZ": ("Arizona", "Southwest"),
    "CA": ("California", "West"),
    "CO": ("Colorado", "West"),
    "CT": ("Connecticut", "Northeast"),
    "DC": ("District of Columbia", "Northeast"),
    "DE": ("Delaware", "Northeast"),
    "FL": ("Florida", "Southeast"),
    "GA": ("Georgia", "Southeast"),
    "HI": ("Hawaii", "West"),
    "IA": ("Iowa", "Midwest"),
    "ID": ("Idaho", "West"),
    "IL": ("Illinois", "Midwest"),
    "IN": ("Indiana", "Midwest"),
    "KS": ("Kansas", "Midwest"),
    "KY": ("Kentucky", "Southeast"),
    "LA": ("Louisiana", "Southeast"),
    "MA": ("Massachusetts", "Northeast"),
    "MD": ("Maryland", "Northeast"),
    "ME": ("Maine", "Northeast"),
    "MI": ("Michigan", "Midwest"),
    "MN": ("Minnesota", "Midwest"),
    "MO": ("Missouri", "Midwest"),
    "MS": ("Mississippi", "Southeast"),
    "MT": ("Montana", "West"),
    "NC": ("North Carolina", "Southeast"),
    "ND": ("North Dakota", "Midwest"),
    "NE": ("Nebraska", "Midwest"),
    "NH": ("New Hampshire", "Northeast"),
    "NJ": ("New Jersey", "Northeast"),
    "NM": ("New Mexico", "Southwest"),
    "NV": ("Nevada", "West"),
    "NY": ("New York", "Northeast"),
    "OH": ("Ohio", "Midwest"),
    "OK": ("Oklahoma", "Southwest"),
    "OR": ("Oregon", "West"),
    "PA": ("Pennsylvania", "Northeast"),
    "RI": ("Rhode Island", "Northeast"),
    "SC": ("South Carolina", "Southeast"),
    "SD": ("South Dakota", "Midwest"),
    "TN": ("Tennessee", "Southeast"),
    "TX": ("Texas", "Southwest"),
    "UT": ("Utah", "West"),
    "VA": ("Virginia", "Southeast"),
    "VT": ("Vermont", "Northeast"),
    "WA": ("Washington", "West"),
    "WI": ("Wisconsin", "Midwest"),
    "WV": ("West Virginia", "Southeast"),
    "WY": ("Wyoming", "West"),
}

# city, state, latitude, longitude, IANA time zone, postal code, metro population (descending)
_CITY_ROWS = (
    ("New York",         "NY",  40.7128,  -74.0060, "America/New_York",             "10007", 17_700_000),
    ("Chicago",          "IL",  41.8781,  -87.6298, "America/Chicago",              "60602",  9_400_000),
    ("Los Angeles",      "CA",  34.0522, -118.2437, "America/Los_Angeles",          "90012",  9_300_000),
    ("Houston",          "TX",  29.7604,  -95.3698, "America/Chicago",              "77002",  7_300_000),
    ("Washington",       "DC",  38.9072,  -77.0369, "America/New_York",             "20001",  6_300_000),
    ("Atlanta",          "GA",  33.7490,  -84.3880, "America/New_York",             "30303",  6_200_000),
    ("Dallas",           "TX",  32.7767,  -96.7970, "America/Chicago",              "75201",  5_500_000),
    ("Philadelphia",     "PA",  39.9526,  -75.1652, "America/New_York",             "19107",  5_450_000),
    ("Boston",           "MA",  42.3601,  -71.0589, "America/New_York",             "02108",  4_900_000),
    ("Detroit",          "MI",  42.3314,  -83.0458, "America/Detroit",              "48226",  4_350_000),
    ("Phoenix",          "AZ",  33.4484, -112.0740, "America/Phoenix",              "85003",  4_000_000),
    ("Tampa",            "FL",  27.9506,  -82.4572, "America/New_York",             "33602",  3_300_000),
    ("San Diego",        "CA",  32.7157, -117.1611, "America/Los_Angeles",          "92101",  3_280_000),
    ("Anaheim",          "CA",  33.8366, -117.9143, "America/Los_Angeles",          "92805",  3_150_000),
    ("Seattle",          "WA",  47.6062, -122.3321, "America/Los_Angeles",          "98101",  3_100_000),
    ("Denver",           "CO",  39.7392, -104.9903, "America/Denver",               "80202",  2_980_000),
    ("Baltimore",        "MD",  39.2904,  -76.6122, "America/New_York",             "21202",  2_840_000),
    ("Orlando",          "FL",  28.5384,  -81.3789, "America/New_York",             "32801",  2_800_000),
    ("St. Louis",        "MO",  38.6270,  -90.1994, "America/Chicago",              "63101",  2_800_000),
    ("Charlotte",        "NC",  35.2271,  -80.8431, "America/New_York",             "28202",  2_750_000),
    ("Miami",            "FL",  25.7617,  -80.1918, "America/New_York",             "33130",  2_700_000),
    ("Minneapolis",      "MN",  44.9778,  -93.2650, "America/Chicago",              "55401",  2_700_000),
    ("San Antonio",      "TX",  29.4241,  -98.4936, "America/Chicago",              "78205",  2_650_000),
    ("Portland",         "OR",  45.5152, -122.6784, "America/Los_Angeles",          "97204",  2_510_000),
    ("San Francisco",    "CA",  37.7749, -122.4194, "America/Los_Angeles",          "94102",  2_500_000),
    ("Austin",           "TX",  30.2672,  -97.7431, "America/Chicago",              "78701",  2_470_000),
    ("Riverside",        "CA",  33.9533, -117.3962, "America/Los_Angeles",          "92501",  2_450_000),
    ("Pittsburgh",       "PA",  40.4406,  -79.9959, "America/New_York",             "15222",  2_430_000),
    ("Sacramento",       "CA",  38.5816, -121.4944, "America/Los_Angeles",          "95814",  2_420_000),
    ("Las Vegas",        "NV",  36.1699, -115.1398, "America/Los_Angeles",          "89101",  2_320_000),
    ("Cincinnati",       "OH",  39.1031,  -84.5120, "America/New_York",             "45202",  2_250_000),
    ("Kansas City",      "MO",  39.0997,  -94.5786, "America/Chicago",              "64106",  2_200_000),
    ("San Bernardino",   "CA",  34.1083, -117.2898, "America/Los_Angeles",          "92401",  2_200_000),
    ("Oakland",          "CA",  37.8044, -122.2712, "America/Los_Angeles",          "94612",  2_200_000),
    ("Columbus",         "OH",  39.9612,  -82.9988, "America/New_York",             "43215",  2_150_000),
    ("Indianapolis",     "IN",  39.7684,  -86.1581, "America/Indiana/Indianapolis", "46204",  2_100_000),
    ("Fort Worth",       "TX",  32.7555,  -97.3308, "America/Chicago",              "76102",  2_100_000),
    ("Cleveland",        "OH",  41.4993,  -81.6944, "America/New_York",             "44114",  2_080_000),
    ("Nashville",        "TN",  36.1627,  -86.7816, "America/Chicago",              "37201",  2_050_000),
    ("Fort Lauderdale",  "FL",  26.1224,  -80.1373, "America/New_York",             "33301",  1_950_000),
    ("San Jose",         "CA",  37.3382, -121.8863, "America/Los_Angeles",          "95113",  1_950_000),
    ("Jacksonville",     "FL",  30.3322,  -81.6557, "America/New_York",             "32202",  1_700_000),
    ("Providence",       "RI",  41.8240,  -71.4128, "America/New_York",             "02903",  1_670_000),
    ("Milwaukee",        "WI",  43.0389,  -87.9065, "America/Chicago",              "53202",  1_570_000),
    ("West Palm Beach",  "FL",  26.7153,  -80.0534, "America/New_York",             "33401",  1_500_000),
    ("Raleigh",          "NC",  35.7796,  -78.6382, "America/New_York",             "27601",  1_500_000),
    ("Oklahoma City",    "OK",  35.4676,  -97.5164, "America/Chicago",              "73102",  1_460_000),
    ("Richmond",         "VA",  37.5407,  -77.4360, "America/New_York",             "23219",  1_340_000),
    ("Memphis",          "TN",  35.1495,  -90.0490, "America/Chicago",              "38103",  1_330_000),
    ("Louisville",       "KY",  38.2527,  -85.7585, "America/Kentucky/Louisville",  "40202",  1_290_000),
    ("Salt Lake City",   "UT",  40.7608, -111.8910, "America/Denver",               "84111",  1_260_000),
    ("Hartford",         "CT",  41.7658,  -72.6734, "America/New_York",             "06103",  1_210_000),
    ("Buffalo",          "NY",  42.8864,  -78.8784, "America/New_York",             "14202",  1_160_000),
    ("Birmingham",       "AL",  33.5186,  -86.8104, "America/Chicago",              "35203",  1_110_000),
    ("Grand Rapids",     "MI",  42.9634,  -85.6681, "America/Detroit",              "49503",  1_090_000),
    ("Rochester",        "NY",  43.1566,  -77.6088, "America/New_York",             "14614",  1_060_000),
    ("Tucson",           "AZ",  32.2226, -110.9747, "America/Phoenix",              "85701",  1_060_000),
    ("Virginia Beach",   "VA",  36.8529,  -75.9780, "America/New_York",             "23451",  1_050_000),
    ("Tulsa",            "OK",  36.1540,  -95.9928, "America/Chicago",              "74103",  1_030_000),
    ("Fresno",           "CA",  36.7378, -119.7871, "America/Los_Angeles",          "93721",  1_010_000),
    ("Mesa",             "AZ",  33.4152, -111.8315, "America/Phoenix",              "85201",  1_005_000),
    ("Newark",           "NJ",  40.7357,  -74.1724, "America/New_York",             "07102",  1_000_000),
    ("New Orleans",      "LA",  29.9511,  -90.0715, "America/Chicago",              "70112",  1_000_000),
    ("Saint Paul",       "MN",  44.9537,  -93.0900, "America/Chicago",              "55102",  1_000_000),
    ("Honolulu",         "HI",  21.3069, -157.8583, "Pacific/Honolulu",             "96813",  1_000_000),
    ("Worcester",        "MA",  42.2626,  -71.8023, "America/New_York",             "01608",    980_000),
    ("Omaha",            "NE",  41.2565,  -95.9345, "America/Chicago",              "68102",    980_000),
    ("Greenville",       "SC",  34.8526,  -82.3940, "America/New_York",             "29601",    950_000),
    ("Albuquerque",      "NM",  35.0844, -106.6504, "America/Denver",               "87102",    920_000),
    ("Tacoma",           "WA",  47.2529, -122.4443, "America/Los_Angeles",          "98402",    920_000),
    ("Bakersfield",      "CA",  35.3733, -119.0187, "America/Los_Angeles",          "93301",    910_000),
    ("Albany",           "NY",  42.6526,  -73.7562, "America/New_York",             "12207",    900_000),
    ("Knoxville",        "TN",  35.9606,  -83.9207, "America/New_York",             "37902",    900_000),
    ("McAllen",          "TX",  26.2034,  -98.2300, "America/Chicago",              "78501",    890_000),
    ("Sarasota",         "FL",  27.3364,  -82.5307, "America/New_York",             "34236",    875_000),
    ("Allentown",        "PA",  40.6023,  -75.4714, "America/New_York",             "18101",    870_000),
    ("El Paso",          "TX",  31.7619, -106.4850, "America/Denver",               "79901",    870_000),
    ("Baton Rouge",      "LA",  30.4515,  -91.1871, "America/Chicago",              "70801",    865_000),
    ("New Haven",        "CT",  41.3083,  -72.9279, "America/New_York",             "06510",    860_000),
    ("Columbia",         "SC",  34.0007,  -81.0348, "America/New_York",             "29201",    850_000),
    ("Oxnard",           "CA",  34.1975, -119.1771, "America/Los_Angeles",          "93030",    840_000),
    ("Charleston",       "SC",  32.7765,  -79.9311, "America/New_York",             "29401",    830_000),
    ("Dayton",           "OH",  39.7589,  -84.1916, "America/New_York",             "45402",    815_000),
    ("Boise",            "ID",  43.6150, -116.2023, "America/Boise",                "83702",    800_000),
    ("Stockton",         "CA",  37.9577, -121.2908, "America/Los_Angeles",          "95202",    790_000),
    ("Greensboro",       "NC",  36.0726,  -79.7920, "America/New_York",             "27401",    780_000),
    ("Little Rock",      "AR",  34.7465,  -92.2896, "America/Chicago",              "72201",    760_000),
    ("Colorado Springs", "CO",  38.8339, -104.8214, "America/Denver",               "80903",    760_000),
    ("Norfolk",          "VA",  36.8508,  -76.2859, "America/New_York",             "23510",    750_000),
    ("Des Moines",       "IA",  41.5868,  -93.6250, "America/Chicago",              "50309",    730_000),
    ("Wilmington",       "DE",  39.7391,  -75.5398, "America/New_York",             "19801",    720_000),
    ("Jersey City",      "NJ",  40.7178,  -74.0431, "America/New_York",             "07302",    700_000),
    ("Akron",            "OH",  41.0814,  -81.5190, "America/New_York",             "44308",    700_000),
    ("Provo",            "UT",  40.2338, -111.6585, "America/Denver",               "84601",    700_000),
    ("Madison",          "WI",  43.0731,  -89.4012, "America/Chicago",              "53703",    690_000),
    ("Syracuse",         "NY",  43.0481,  -76.1474, "America/New_York",             "13202",    660_000),
    ("Wichita",          "KS",  37.6872,  -97.3301, "America/Chicago",              "67202",    650_000),
    ("Harrisburg",       "PA",  40.2732,  -76.8867, "America/New_York",             "17101",    600_000),
    ("Toledo",           "OH",  41.6528,  -83.5379, "America/New_York",             "43604",    600_000),
    ("Spokane",          "WA",  47.6588, -117.4260, "America/Los_Angeles",          "99201",    600_000),
    ("Jackson",          "MS",  32.2988,  -90.1848, "America/Chicago",              "39201",    590_000),
    ("Chattanooga",      "TN",  35.0456,  -85.3097, "America/New_York",             "37402",    570_000),
    ("Portland",         "ME",  43.6591,  -70.2568, "America/New_York",             "04101",    560_000),
    ("Fayetteville",     "AR",  36.0626,  -94.1574, "America/Chicago",              "72701",    560_000),
    ("Lansing",          "MI",  42.7325,  -84.5555, "America/Detroit",              "48933",    540_000),
    ("Lexington",        "KY",  38.0406,  -84.5037, "America/New_York",             "40507",    520_000),
    ("Huntsville",       "AL",  34.7304,  -86.5861, "America/Chicago",              "35801",    510_000),
    ("Pensacola",        "FL",  30.4213,  -87.2169, "America/Chicago",              "32502",    505_000),
    ("Reno",             "NV",  39.5296, -119.8138, "America/Los_Angeles",          "89501",    500_000),
    ("Springfield",      "MO",  37.2090,  -93.2923, "America/Chicago",              "65806",    480_000),
    ("Long Beach",       "CA",  33.7701, -118.1937, "America/Los_Angeles",          "90802",    470_000),
    ("Salem",            "OR",  44.9429, -123.0351, "America/Los_Angeles",          "97301",    440_000),
    ("Fort Wayne",       "IN",  41.0793,  -85.1394, "America/Indiana/Indianapolis", "46802",    430_000),
    ("Manchester",       "NH",  42.9956,  -71.4548, "America/New_York",             "03101",    420_000),
    ("Corpus Christi",   "TX",  27.8006,  -97.3964, "America/Chicago",              "78401",    420_000),
    ("Mobile",           "AL",  30.6954,  -88.0399, "America/Chicago",              "36602",    410_000),
    ("Peoria",           "IL",  40.6936,  -89.5890, "America/Chicago",              "61602",    400_000),
    ("Arlington",        "TX",  32.7357,  -97.1081, "America/Chicago",              "76010",    400_000),
    ("Anchorage",        "AK",  61.2181, -149.9003, "America/Anchorage",            "99501",    400_000),
    ("Lincoln",          "NE",  40.8136,  -96.7026, "America/Chicago",              "68508",    340_000),
    ("Green Bay",        "WI",  44.5133,  -88.0133, "America/Chicago",              "54301",    330_000),
    ("Lubbock",          "TX",  33.5779, -101.8552, "America/Chicago",              "79401",    330_000),
    ("Evansville",       "IN",  37.9716,  -87.5711, "America/Chicago",              "47708",    315_000),
    ("Sioux Falls",      "SD",  43.5446,  -96.7311, "America/Chicago",              "57104",    290_000),
    ("Amarillo",         "TX",  35.2220, -101.8313, "America/Chicago",              "79101",    270_000),
    ("Fargo",            "ND",  46.8772,  -96.7898, "America/Chicago",              "58102",    260_000),
    ("Charleston",       "WV",  38.3498,  -81.6326, "America/New_York",             "25301",    250_000),
    ("Burlington",       "VT",  44.4759,  -73.2121, "America/New_York",             "05401",    225_000),
    ("Las Cruces",       "NM",  32.3199, -106.7637, "America/Denver",               "88001",    225_000),
    ("Billings",         "MT",  45.7833, -108.5007, "America/Denver",               "59101",    185_000),
    ("Santa Fe",         "NM",  35.6870, -105.9378, "America/Denver",               "87501",    155_000),
    ("Flagstaff",        "AZ",  35.1983, -111.6513, "America/Phoenix",              "86001",    145_000),
    ("Cheyenne",         "WY",  41.1400, -104.8202, "America/Denver",               "82001",    100_000),
)

STREET_NAMES = (
    "Main St", "Market St", "Broadway", "Oak Ave", "Maple Ave", "Elm St", "Pine St",
    "Cedar St", "Walnut St", "Chestnut St", "Washington St", "Lincoln Ave", "Jefferson St",
    "Madison Ave", "Franklin St", "Park Ave", "Church St", "High St", "Center St", "Mill St",
    "Spring St", "Union St", "Water St", "Lake St", "Hill St", "River Rd", "Sunset Blvd",
    "Highland Ave", "Prospect Ave", "Grand Ave", "Front St", "State St", "Court St",
    "College Ave", "Willow St", "Cherry St", "Ridge Rd", "Valley Rd", "Jackson St",
    "Commerce St", "1st St", "2nd St", "3rd Ave", "5th Ave",
)


@dataclass(frozen=True, eq=False)
class CityTable:
    """Column-oriented city table; arrays are read-only because the table is a shared constant."""

    city: np.ndarray
    state_code: np.ndarray
    state_name: np.ndarray
    region: np.ndarray
    latitude: np.ndarray
    longitude: np.ndarray
    timezone: np.ndarray
    postal_code: np.ndarray
    population: np.ndarray

    def __post_init__(self):
        lengths = {len(getattr(self, f.name)) for f in fields(self)}
        if len(lengths) != 1:
            raise ValueError(f"CityTable columns differ in length: {sorted(lengths)}")
        for f in fields(self):
            getattr(self, f.name).flags.writeable = False

    def __len__(self) -> int:
        return len(self.city)


def _build_city_table(rows) -> CityTable:
    """Columns from row tuples; state name and region come from the state so they cannot disagree."""
    city, state, lat, lon, tz, postal, pop = zip(*rows)

    def text(values) -> np.ndarray:
        return np.array(values, dtype=object)

    return CityTable(
        city=text(city),
        state_code=text(state),
        state_name=text([_STATES[s][0] for s in state]),
        region=text([_STATES[s][1] for s in state]),
        latitude=np.array(lat, dtype=np.float64),
        longitude=np.array(lon, dtype=np.float64),
        timezone=text(tz),
        postal_code=text(postal),
        population=np.array(pop, dtype=np.int64),
    )


US_CITIES: CityTable = _build_city_table(_CITY_ROWS)


def haversine_km(lat1, lon1, lat2, lon2) -> np.ndarray:
    """Great-circle distance in km between points given in degrees; inputs broadcast."""
    phi1, lam1, phi2, lam2 = (np.radians(np.asarray(v, dtype=np.float64)) for v in (lat1, lon1, lat2, lon2))
    a = np.sin((phi2 - phi1) / 2.0) ** 2 + np.cos(phi1) * np.cos(phi2) * np.sin((lam2 - lam1) / 2.0) ** 2
    return 2.0 * EARTH_RADIUS_KM * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))


def _unit_vectors(lat: np.ndarray, lon: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Points on the unit sphere, as x, y, z arrays."""
    phi, lam = np.radians(lat), np.radians(lon)
    cos_phi = np.cos(phi)
    return cos_phi * np.cos(lam), cos_phi * np.sin(lam), np.sin(phi)


def nearest(from_lat, from_lon, to_lat, to_lon, chunk_rows: int = NEAREST_CHUNK_ROWS,
            skip: np.ndarray | None = None) -> np.ndarray:
    """Index of the nearest "to" point for every "from" point (lowest index on ties), passing over
    the "to" point ``skip`` names for each "from" point, if given (a second-nearest search).

    Ranks by squared chord length between unit vectors: it grows monotonically with great-circle
    distance, stays precise down to metres and needs no trigonometry per pair (several times
    faster than haversine). The from side is processed in chunks so memory stays at a few
    chunk_rows x len(to) buffers whatever the number of from points.
    """
    from_lat = np.asarray(from_lat, dtype=np.float64).ravel()
    from_lon = np.asarray(from_lon, dtype=np.float64).ravel()
    to_lat = np.asarray(to_lat, dtype=np.float64).ravel()
    to_lon = np.asarray(to_lon, dtype=np.float64).ravel()
    if len(from_lat) != len(from_lon) or len(to_lat) != len(to_lon):
        raise ValueError("latitude and longitude arrays must have equal lengths")
    if len(to_lat) == 0:
        raise ValueError("nearest() needs at least one 'to' point")
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be positive")
    tx, ty, tz = _unit_vectors(to_lat, to_lon)
    out = np.empty(len(from_lat), dtype=np.int64)
    for lo in range(0, len(from_lat), chunk_rows):
        fx, fy, fz = _unit_vectors(from_lat[lo:lo + chunk_rows], from_lon[lo:lo + chunk_rows])
        chord2 = (fx[:, None] - tx) ** 2
        chord2 += (fy[:, None] - ty) ** 2
        chord2 += (fz[:, None] - tz) ** 2
        if skip is not None:
            chord2[np.arange(len(chord2)), skip[lo:lo + chunk_rows]] = np.inf
        out[lo:lo + chunk_rows] = np.argmin(chord2, axis=1)
    return out


@functools.lru_cache(maxsize=64)
def utc_offsets(day: dt.date) -> np.ndarray:
    """Per US city (``US_CITIES`` order): its UTC offset in seconds at noon of ``day`` (daylight
    saving time included), from the time zone database the standard library ships."""
    noon = dt.datetime.combine(day, dt.time(12))
    by_zone = {zone: int(noon.replace(tzinfo=zoneinfo.ZoneInfo(zone)).utcoffset().total_seconds())
               for zone in np.unique(US_CITIES.timezone)}
    offsets = np.array([by_zone[zone] for zone in US_CITIES.timezone], dtype=np.int64)
    offsets.flags.writeable = False
    return offsets
