import datetime as dt

import numpy as np
import pytest

from retail_assets.days import date_keys_of_dates, dates_of_date_keys
from retail_assets.sim.calendar import SALE_EVENTS, calendar_columns, holidays_for_year

EXPECTED_DTYPES = {
    "date_key": np.int32,
    "calendar_date": np.dtype("datetime64[D]"),
    "year": np.int16,
    "quarter": np.int8,
    "month": np.int8,
    "month_name": object,
    "week_of_year": np.int8,
    "day_of_month": np.int8,
    "day_of_week": np.int8,
    "day_name": object,
    "is_weekend": bool,
    "is_holiday": bool,
    "holiday_name": object,
    "season": object,
    "fiscal_year": np.int16,
    "fiscal_quarter": np.int8,
    "fiscal_month": np.int8,
    "is_last_day_of_month": bool,
    "is_peak_season": bool,
    "is_sale_period": bool,
    "sale_event_name": object,
    "demand_multiplier": np.float64,
}


def _day(columns, day: dt.date) -> dict:
    (i,) = np.flatnonzero(columns["calendar_date"] == np.datetime64(day, "D"))
    return {name: values[i] for name, values in columns.items()}


@pytest.fixture(scope="module")
def three_years():
    return calendar_columns(dt.date(2024, 1, 1), 366 + 365 + 365)


def test_keys_dtypes_and_lengths():
    columns = calendar_columns(dt.date(2024, 3, 5), 1000)
    assert list(columns) == list(EXPECTED_DTYPES)
    for name, dtype in EXPECTED_DTYPES.items():
        assert columns[name].dtype == np.dtype(dtype), name
        assert len(columns[name]) == 1000
    assert columns["calendar_date"][0] == np.datetime64("2024-03-05")
    assert np.all(np.diff(columns["calendar_date"]).astype(int) == 1)


def test_empty_range():
    columns = calendar_columns(dt.date(2024, 3, 5), 0)
    assert all(len(values) == 0 for values in columns.values())


def test_iso_fields_match_python(three_years):
    expected = [dt.date(2024, 1, 1) + dt.timedelta(days=i) for i in range(len(three_years["date_key"]))]
    iso = [d.isocalendar() for d in expected]
    assert three_years["day_of_week"].tolist() == [c.weekday for c in iso]
    assert three_years["week_of_year"].tolist() == [c.week for c in iso]
    assert three_years["year"].tolist() == [d.year for d in expected]
    assert three_years["month"].tolist() == [d.month for d in expected]
    assert three_years["day_of_month"].tolist() == [d.day for d in expected]
    assert three_years["quarter"].tolist() == [(d.month - 1) // 3 + 1 for d in expected]
    assert three_years["month_name"].tolist() == [d.strftime("%B") for d in expected]
    assert three_years["day_name"].tolist() == [d.strftime("%A") for d in expected]
    assert three_years["is_weekend"].tolist() == [d.isoweekday() >= 6 for d in expected]
    assert three_years["date_key"].tolist() == [int(d.strftime("%Y%m%d")) for d in expected]
    last_day = [(d + dt.timedelta(days=1)).day == 1 for d in expected]
    assert three_years["is_last_day_of_month"].tolist() == last_day


def test_date_key_round_trip(three_years):
    keys = three_years["date_key"]
    dates = dates_of_date_keys(keys)
    assert dates.dtype == np.dtype("datetime64[D]")
    np.testing.assert_array_equal(dates, three_years["calendar_date"])
    converted = date_keys_of_dates(dates)
    assert converted.dtype == np.int32
    np.testing.assert_array_equal(converted, keys)
    dates = np.array(["1999-12-31", "2000-02-29"], dtype="datetime64[D]")
    assert date_keys_of_dates(dates).tolist() == [19991231, 20000229]


@pytest.mark.parametrize("bad_key", [20250230, 20251301, 20250100])
def test_invalid_date_key_rejected(bad_key):
    with pytest.raises(ValueError):
        dates_of_date_keys(np.array([20250101, bad_key]))


@pytest.mark.parametrize(
    "year, easter",
    [(2024, dt.date(2024, 3, 31)), (2025, dt.date(2025, 4, 20)), (2026, dt.date(2026, 4, 5)),
     (2027, dt.date(2027, 3, 28)), (2000, dt.date(2000, 4, 23)), (2038, dt.date(2038, 4, 25))],
)
def test_easter(year, easter):
    assert holidays_for_year(year)[easter] == "Easter Sunday"


@pytest.mark.parametrize(
    "thanksgiving", [dt.date(2024, 11, 28), dt.date(2025, 11, 27), dt.date(2026, 11, 26)]
)
def test_thanksgiving_black_friday_cyber_monday(thanksgiving):
    holidays = holidays_for_year(thanksgiving.year)
    assert holidays[thanksgiving] == "Thanksgiving"
    assert holidays[thanksgiving + dt.timedelta(days=1)] == "Black Friday"
    assert holidays[thanksgiving + dt.timedelta(days=4)] == "Cyber Monday"


def test_moveable_and_fixed_holidays_2025():
    holidays = holidays_for_year(2025)
    assert holidays[dt.date(2025, 1, 20)] == "Martin Luther King Jr. Day"
    assert holidays[dt.date(2025, 2, 17)] == "Presidents' Day"
    assert holidays[dt.date(2025, 5, 11)] == "Mother's Day"
    assert holidays[dt.date(2025, 5, 26)] == "Memorial Day"
    assert holidays[dt.date(2025, 6, 15)] == "Father's Day"
    assert holidays[dt.date(2025, 9, 1)] == "Labor Day"
    for day, name in [((1, 1), "New Year's Day"), ((2, 14), "Valentine's Day"), ((6, 19), "Juneteenth"),
                      ((7, 4), "Independence Day"), ((10, 31), "Halloween"), ((11, 11), "Veterans Day"),
                      ((12, 24), "Christmas Eve"), ((12, 25), "Christmas Day"), ((12, 31), "New Year's Eve")]:
        assert holidays[dt.date(2025, *day)] == name
    assert len(holidays) == 19
    assert list(holidays) == sorted(holidays)


def test_holidays_sharing_a_date_are_joined():
    assert holidays_for_year(2022)[dt.date(2022, 6, 19)] == "Father's Day / Juneteenth"


def test_holiday_columns(three_years):
    days = three_years["calendar_date"].astype(object)
    expected = {**holidays_for_year(2024), **holidays_for_year(2025), **holidays_for_year(2026)}
    assert three_years["holiday_name"].tolist() == [expected.get(d) for d in days]
    assert three_years["is_holiday"].tolist() == [d in expected for d in days]


def test_fiscal_calendar_around_year_start():
    columns = calendar_columns(dt.date(2025, 1, 30), 4)
    assert columns["fiscal_year"].tolist() == [2024, 2024, 2025, 2025]
    assert columns["fiscal_month"].tolist() == [12, 12, 1, 1]
    assert columns["fiscal_quarter"].tolist() == [4, 4, 1, 1]
    may = _day(calendar_columns(dt.date(2025, 5, 1), 1), dt.date(2025, 5, 1))
    assert (may["fiscal_year"], may["fiscal_month"], may["fiscal_quarter"]) == (2025, 4, 2)


def test_seasons_and_peak(three_years):
    expected_season = {12: "Winter", 1: "Winter", 2: "Winter", 3: "Spring", 4: "Spring", 5: "Spring",
                       6: "Summer", 7: "Summer", 8: "Summer", 9: "Fall", 10: "Fall", 11: "Fall"}
    assert three_years["season"].tolist() == [expected_season[m] for m in three_years["month"].tolist()]
    checks = {dt.date(2025, 11, 14): False, dt.date(2025, 11, 15): True, dt.date(2025, 12, 31): True,
              dt.date(2025, 1, 1): False, dt.date(2025, 7, 31): False, dt.date(2025, 8, 1): True,
              dt.date(2025, 9, 10): True, dt.date(2025, 9, 11): False}
    for day, peak in checks.items():
        assert _day(three_years, day)["is_peak_season"] == peak, day


@pytest.mark.parametrize(
    "day, event",
    [
        (dt.date(2025, 11, 27), None),  # Thanksgiving
        (dt.date(2025, 11, 28), "Black Friday Weekend"),
        (dt.date(2025, 12, 1), "Black Friday Weekend"),  # Cyber Monday beats Holiday Sale
        (dt.date(2025, 12, 2), "Holiday Sale"),
        (dt.date(2025, 12, 23), "Holiday Sale"),
        (dt.date(2025, 12, 24), None),
        (dt.date(2025, 12, 26), "After-Christmas Sale"),
        (dt.date(2026, 1, 7), "After-Christmas Sale"),  # spans the year boundary
        (dt.date(2026, 1, 8), None),
        (dt.date(2025, 2, 15), "Presidents' Day Sale"),  # Saturday before 17 Feb
        (dt.date(2025, 2, 14), None),
        (dt.date(2025, 5, 23), "Memorial Day Sale"),  # Friday before 26 May
        (dt.date(2025, 5, 26), "Memorial Day Sale"),
        (dt.date(2025, 7, 9), None),
        (dt.date(2025, 7, 10), "Summer Clearance"),
        (dt.date(2025, 8, 1), "Back to School"),
        (dt.date(2025, 8, 20), "Back to School"),
        (dt.date(2025, 8, 29), "Labor Day Sale"),  # Friday before 1 Sep
        (dt.date(2025, 9, 1), "Labor Day Sale"),
        (dt.date(2025, 9, 2), None),
    ],
)
def test_sale_events(three_years, day, event):
    row = _day(three_years, day)
    assert row["sale_event_name"] == event
    assert row["is_sale_period"] == (event is not None)


def test_after_christmas_sale_from_previous_year_reaches_range_start():
    columns = calendar_columns(dt.date(2024, 1, 1), 10)
    assert columns["sale_event_name"].tolist() == ["After-Christmas Sale"] * 7 + [None] * 3
    assert set(SALE_EVENTS) >= set(filter(None, columns["sale_event_name"]))


def test_values_do_not_depend_on_requested_range(three_years):
    part = calendar_columns(dt.date(2025, 6, 3), 200)
    offset = (dt.date(2025, 6, 3) - dt.date(2024, 1, 1)).days
    for name, values in part.items():
        np.testing.assert_array_equal(values, three_years[name][offset:offset + 200], err_msg=name)


def test_demand_multiplier(three_years):
    demand = three_years["demand_multiplier"]
    assert np.all(demand > 0)
    for year in (2024, 2025, 2026):
        assert demand[three_years["year"] == year].mean() == pytest.approx(1.0, abs=0.05)
        year_days = np.flatnonzero(three_years["year"] == year)
        peak = year_days[np.argmax(demand[year_days])]
        assert three_years["holiday_name"][peak] == "Black Friday"

    def on(day: dt.date) -> float:
        return _day(three_years, day)["demand_multiplier"]

    assert on(dt.date(2025, 12, 25)) < on(dt.date(2025, 12, 18))
    assert on(dt.date(2025, 11, 29)) > on(dt.date(2025, 11, 22))  # sale Saturday vs plain Saturday
    assert on(dt.date(2025, 1, 14)) < on(dt.date(2025, 12, 9))  # January Tuesday vs December Tuesday
