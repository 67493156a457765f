"""The simulation's calendar, indexed by day ordinal (0 = start_date, negative = warm-up).

Computed once per run from the pure calendar rules and cached as arrays, so per-day lookups
in the hot loop are array indexing.
"""

from __future__ import annotations

import datetime as dt

import numpy as np

from retail_assets.days import day_of_ordinal
from retail_assets.sim import calendar
from retail_assets.sim.catalog import SEASONS

# Promotion codes of sale events: event abbreviation + two-digit year (e.g. BFW25).
SALE_EVENT_ABBREVIATIONS = ("BFW", "AFTERXMAS", "HOLIDAY", "MEMORIAL", "LABORDAY", "PRESIDENTS", "BTS", "SUMMER")
WELCOME_COUPON, EMAIL_COUPON, RECOVERY_COUPON = "WELCOME15", "EMAIL15", "COMEBACK10"


class DayCalendar:
    """Calendar attributes for every day ordinal in [first_day, last_day]."""

    def __init__(self, start_date: dt.date, first_day: int, last_day: int):
        self.start_date = start_date
        self.first_day = first_day
        self.columns = calendar.calendar_columns(start_date + dt.timedelta(days=first_day), last_day - first_day + 1)
        self._season = np.array([SEASONS.index(name) for name in self.columns["season"]], dtype=np.int8)
        years = sorted({int(y) % 100 for y in self.columns["year"]} | {(int(self.columns["year"][0]) - 1) % 100})
        self.promotion_codes = tuple(f"{abbr}{yy:02d}" for yy in years for abbr in SALE_EVENT_ABBREVIATIONS) + (
            WELCOME_COUPON,
            EMAIL_COUPON,
            RECOVERY_COUPON,
        )
        self.welcome_coupon_index = self.promotion_codes.index(WELCOME_COUPON)
        self.email_coupon_index = self.promotion_codes.index(EMAIL_COUPON)
        self.recovery_coupon_index = self.promotion_codes.index(RECOVERY_COUPON)
        event_index = {name: i for i, name in enumerate(calendar.SALE_EVENTS)}
        year_index = {yy: i for i, yy in enumerate(years)}
        names = self.columns["sale_event_name"]
        # A sale spanning new year (After-Christmas) keeps the code of the year it started in.
        event_year = self.columns["year"].astype(np.int64) - (self.columns["month"] == 1)
        self._promotion = np.array(
            [
                -1 if name is None else year_index[int(year) % 100] * len(SALE_EVENT_ABBREVIATIONS) + event_index[name]
                for name, year in zip(names, event_year)
            ],
            dtype=np.int16,
        )

    def _at(self, day: int) -> int:
        index = day - self.first_day
        if not 0 <= index < len(self._promotion):
            raise IndexError(f"day {day} is outside the simulated calendar")
        return index

    def date(self, day: int) -> dt.date:
        return day_of_ordinal(day, self.start_date)

    def date_key(self, day: int) -> int:
        return int(self.columns["date_key"][self._at(day)])

    def date_keys(self, days: np.ndarray) -> np.ndarray:
        """Vectorised date_key of day ordinals."""
        return self.columns["date_key"][np.asarray(days) - self.first_day]

    def demand_multiplier(self, day: int) -> float:
        return float(self.columns["demand_multiplier"][self._at(day)])

    def season_index(self, day: int) -> int:
        """Index into catalog.SEASONS (Spring, Summer, Fall, Winter)."""
        return int(self._season[self._at(day)])

    def season_indexes(self, days: np.ndarray) -> np.ndarray:
        """Vectorised season_index of day ordinals."""
        return self._season[np.asarray(days) - self.first_day]

    def stores_open(self, day: int) -> bool:
        """Whether the stores trade on ``day`` (closed on Thanksgiving and Christmas Day)."""
        return self.columns["holiday_name"][self._at(day)] not in calendar.STORES_CLOSED

    def promotion_index(self, day: int) -> int:
        """Index of the day's sale-event promotion code, -1 outside sale events."""
        return int(self._promotion[self._at(day)])
