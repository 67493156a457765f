"""Date dimension for the simulation: calendar attributes, US retail holidays, sale events and a
daily demand index.

Everything is a pure function of the dates. Holidays and sale windows are derived per year by
rule (nth weekday, Easter computus), so any year works without a lookup table. Per-day columns
are computed with numpy datetime64 arithmetic; only years and holidays are looped over.

Fiscal calendar: the retail fiscal year starts on 1 February and, following the NRF convention,
is named for the calendar year in which it begins (1 Feb 2024 - 31 Jan 2025 is fiscal 2024).
Fiscal months are calendar months (February is fiscal month 1), not 4-5-4 weeks.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from retail_assets.days import year_month_day

MONTH_NAMES = (
    "January", "February", "March", "April", "May", "June",
    "July", "August", "September", "October", "November", "December",
)
DAY_NAMES = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
SEASON_BY_MONTH = (
    "Winter", "Winter", "Spring", "Spring", "Spring", "Summer",
    "Summer", "Summer", "Fall", "Fall", "Fall", "Winter",
)
FISCAL_YEAR_START_MONTH = 2

# Inclusive (month, day) windows of the holiday and back-to-school peaks.
PEAK_SEASON_WINDOWS = (((11, 15), (12, 31)), ((8, 1), (9, 10)))

# Sale events in priority order: where windows overlap, the earlier event names the day.
SALE_EVENTS = (
    "Black Friday Weekend",
    "After-Christmas Sale",
    "Holiday Sale",
    "Memorial Day Sale",
    "Labor Day Sale",
    "Presidents' Day Sale",
    "Back to School",
    "Summer Clearance",
)

# Demand index = month factor x weekday factor x event factor, then scaled so that every
# calendar year averages exactly 1.0 (events shift demand between days, not the annual volume).
# November and December carry about 20% of a year's demand (NRF: the holiday season is about 19%
# of annual retail sales), Black Friday about three average November days.
MONTH_DEMAND_FACTORS = (0.85, 0.85, 0.95, 1.0, 1.0, 0.95, 0.9, 1.05, 0.95, 1.0, 1.0, 1.15)
WEEKDAY_DEMAND_FACTORS = (0.85, 0.85, 0.9, 0.95, 1.1, 1.3, 1.05)  # Monday .. Sunday
HOLIDAY_DEMAND_FACTORS = {
    "Black Friday": 3.2,
    "Cyber Monday": 2.0,
    "Thanksgiving": 0.6,
    "Christmas Day": 0.3,
    "Christmas Eve": 1.2,
    "New Year's Day": 0.6,
    "Easter Sunday": 0.7,
}
STORES_CLOSED = ("Thanksgiving", "Christmas Day")  # the online shop trades, the stores do not
SALE_DEMAND_FACTOR = 1.25
PRE_CHRISTMAS_DEMAND_FACTOR = 1.3
PRE_CHRISTMAS_WINDOW = ((12, 15), (12, 23))

_MONTH_INDEX = np.array(MONTH_DEMAND_FACTORS) / np.mean(MONTH_DEMAND_FACTORS)
_WEEKDAY_INDEX = np.array(WEEKDAY_DEMAND_FACTORS) / np.mean(WEEKDAY_DEMAND_FACTORS)
_EPOCH_WEEKDAY = 3  # 1970-01-01 was a Thursday (Monday = 0)


def easter_sunday(year: int) -> dt.date:
    """Gregorian Easter by the anonymous (Meeus/Jones/Butcher) computus."""
    a = year % 19
    b, c = divmod(year, 100)
    d, e = divmod(b, 4)
    f = (b + 8) // 25
    g = (b - f + 1) // 3
    h = (19 * a + b - d - g + 15) % 30
    i, k = divmod(c, 4)
    l = (32 + 2 * e + 2 * i - h - k) % 7  # noqa: E741 - the algorithm's conventional name
    m = (a + 11 * h + 22 * l) // 451
    month, day = divmod(h + l - 7 * m + 114, 31)
    return dt.date(year, month, day + 1)


def _nth_weekday(year: int, month: int, weekday: int, n: int) -> dt.date:
    """n-th given weekday (Monday = 0) of a month."""
    first = dt.date(year, month, 1)
    return first + dt.timedelta(days=(weekday - first.weekday()) % 7 + 7 * (n - 1))


def _last_weekday(year: int, month: int, weekday: int) -> dt.date:
    """Last given weekday (Monday = 0) of a month."""
    next_month = dt.date(year + month // 12, month % 12 + 1, 1)
    last = next_month - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - weekday) % 7)


def holidays_for_year(year: int) -> dict[dt.date, str]:
    """US retail holidays of one year in date order; names sharing a date are joined by " / "."""
    monday, thursday, sunday = 0, 3, 6
    thanksgiving = _nth_weekday(year, 11, thursday, 4)
    rules = (
        (dt.date(year, 1, 1), "New Year's Day"),
        (_nth_weekday(year, 1, monday, 3), "Martin Luther King Jr. Day"),
        (dt.date(year, 2, 14), "Valentine's Day"),
        (_nth_weekday(year, 2, monday, 3), "Presidents' Day"),
        (easter_sunday(year), "Easter Sunday"),
        (_nth_weekday(year, 5, sunday, 2), "Mother's Day"),
        (_last_weekday(year, 5, monday), "Memorial Day"),
        (_nth_weekday(year, 6, sunday, 3), "Father's Day"),
        (dt.date(year, 6, 19), "Juneteenth"),
        (dt.date(year, 7, 4), "Independence Day"),
        (_nth_weekday(year, 9, monday, 1), "Labor Day"),
        (dt.date(year, 10, 31), "Halloween"),
        (dt.date(year, 11, 11), "Veterans Day"),
        (thanksgiving, "Thanksgiving"),
        (thanksgiving + dt.timedelta(days=1), "Black Friday"),
        (thanksgiving + dt.timedelta(days=4), "Cyber Monday"),
        (dt.date(year, 12, 24), "Christmas Eve"),
        (dt.date(year, 12, 25), "Christmas Day"),
        (dt.date(year, 12, 31), "New Year's Eve"),
    )
    holidays: dict[dt.date, str] = {}
    for day, name in sorted(rules, key=lambda rule: rule[0]):
        holidays[day] = f"{holidays[day]} / {name}" if day in holidays else name
    return holidays


def _sale_windows(year: int) -> tuple[tuple[dt.date, dt.date], ...]:
    """Inclusive (first, last) day of each SALE_EVENTS entry that starts in the given year."""
    friday_before = dt.timedelta(days=3)
    thanksgiving = _nth_weekday(year, 11, 3, 4)
    presidents_day = _nth_weekday(year, 2, 0, 3)
    memorial_day = _last_weekday(year, 5, 0)
    labor_day = _nth_weekday(year, 9, 0, 1)
    return (
        (thanksgiving + dt.timedelta(days=1), thanksgiving + dt.timedelta(days=4)),
        (dt.date(year, 12, 26), dt.date(year + 1, 1, 7)),
        (dt.date(year, 12, 1), dt.date(year, 12, 23)),
        (memorial_day - friday_before, memorial_day),
        (labor_day - friday_before, labor_day),
        (presidents_day - dt.timedelta(days=2), presidents_day),
        (dt.date(year, 8, 1), dt.date(year, 8, 20)),
        (dt.date(year, 7, 10), dt.date(year, 7, 31)),
    )


def _in_windows(month: np.ndarray, day: np.ndarray, windows) -> np.ndarray:
    """Whether each (month, day) falls in any inclusive ((m, d), (m, d)) window within a year."""
    month_day = month * 100 + day
    hit = np.zeros(month_day.shape, dtype=bool)
    for (m0, d0), (m1, d1) in windows:
        hit |= (month_day >= m0 * 100 + d0) & (month_day <= m1 * 100 + d1)
    return hit


def calendar_columns(start: dt.date, n_days: int) -> dict[str, np.ndarray]:
    """Date-dimension columns for n_days consecutive days from start.

    Columns are computed over the whole calendar years touched and then sliced, so a day's
    values (notably the per-year normalised demand_multiplier) do not depend on the range asked.
    ISO conventions: day_of_week Monday = 1 .. Sunday = 7, week_of_year is the ISO week.
    """
    if n_days < 0:
        raise ValueError("n_days must be >= 0")
    first_year = start.year
    last_year = (start + dt.timedelta(days=max(n_days, 1) - 1)).year
    span_start = dt.date(first_year, 1, 1)
    span_days = (dt.date(last_year + 1, 1, 1) - span_start).days
    columns = _full_year_columns(span_start, span_days, range(first_year, last_year + 1))
    offset = (start - span_start).days
    return {name: values[offset:offset + n_days] for name, values in columns.items()}


def _full_year_columns(span_start: dt.date, span_days: int, years: range) -> dict[str, np.ndarray]:
    """All columns for span_days days from span_start, which must cover whole calendar years."""
    dates = np.datetime64(span_start, "D") + np.arange(span_days)
    epoch_days = dates.astype(np.int64)
    year, month, day = year_month_day(dates)
    weekday = (epoch_days + _EPOCH_WEEKDAY) % 7  # Monday = 0

    # ISO week: the week belongs to the year of its Thursday and is numbered from that year's first.
    thursday = dates + (3 - weekday)
    iso_year_start = thursday.astype("datetime64[Y]").astype("datetime64[D]")
    week_of_year = (thursday - iso_year_start).astype(np.int64) // 7 + 1

    fiscal_month = (month - FISCAL_YEAR_START_MONTH) % 12 + 1
    fiscal_year = np.where(month < FISCAL_YEAR_START_MONTH, year - 1, year)
    _, next_month, _ = year_month_day(dates + 1)

    is_holiday = np.zeros(span_days, dtype=bool)
    holiday_name = np.full(span_days, None, dtype=object)
    event_factor = np.ones(span_days)
    sale_code = np.zeros(span_days, dtype=np.int64)  # 0 = no sale, else 1 + index in SALE_EVENTS
    # Windows of the previous year reach into January (After-Christmas Sale).
    windows = {y: _sale_windows(y) for y in range(years.start - 1, years.stop)}
    for code in range(len(SALE_EVENTS)):
        for year_windows in windows.values():
            first, last = year_windows[code]
            lo = max((first - span_start).days, 0)
            hi = min((last - span_start).days + 1, span_days)
            if lo < hi:
                window = sale_code[lo:hi]
                window[window == 0] = code + 1
    is_sale_period = sale_code > 0
    event_factor[is_sale_period] = SALE_DEMAND_FACTOR
    event_factor[_in_windows(month, day, (PRE_CHRISTMAS_WINDOW,))] = PRE_CHRISTMAS_DEMAND_FACTOR
    for y in years:
        for holiday, name in holidays_for_year(y).items():
            i = (holiday - span_start).days
            is_holiday[i] = True
            holiday_name[i] = name
            event_factor[i] = HOLIDAY_DEMAND_FACTORS.get(name, event_factor[i])

    raw_demand = _MONTH_INDEX[month - 1] * _WEEKDAY_INDEX[weekday] * event_factor
    year_index = year - years.start
    year_mean = np.bincount(year_index, weights=raw_demand) / np.bincount(year_index)

    return {
        "date_key": (year * 10000 + month * 100 + day).astype(np.int32),
        "calendar_date": dates,
        "year": year.astype(np.int16),
        "quarter": ((month - 1) // 3 + 1).astype(np.int8),
        "month": month.astype(np.int8),
        "month_name": np.array(MONTH_NAMES, dtype=object)[month - 1],
        "week_of_year": week_of_year.astype(np.int8),
        "day_of_month": day.astype(np.int8),
        "day_of_week": (weekday + 1).astype(np.int8),
        "day_name": np.array(DAY_NAMES, dtype=object)[weekday],
        "is_weekend": weekday >= 5,
        "is_holiday": is_holiday,
        "holiday_name": holiday_name,
        "season": np.array(SEASON_BY_MONTH, dtype=object)[month - 1],
        "fiscal_year": fiscal_year.astype(np.int16),
        "fiscal_quarter": ((fiscal_month - 1) // 3 + 1).astype(np.int8),
        "fiscal_month": fiscal_month.astype(np.int8),
        "is_last_day_of_month": next_month != month,
        "is_peak_season": _in_windows(month, day, PEAK_SEASON_WINDOWS),
        "is_sale_period": is_sale_period,
        "sale_event_name": np.array((None, *SALE_EVENTS), dtype=object)[sale_code],
        "demand_multiplier": raw_demand / year_mean[year_index],
    }
