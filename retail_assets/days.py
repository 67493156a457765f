"""Days: one type and every conversion between its spellings.

A day is a ``datetime.date`` wherever code reasons about days. It is spelled three other ways
at the edges, and only this module converts between them:

- ``date_key``: int YYYYMMDD, the lakehouse's partition and foreign-key value;
- the partition key: ISO ``YYYY-MM-DD``, Dagster's name of a daily partition;
- the ordinal: days since the configured start date, the simulation core's index (negative in
  the warm-up), converted in bulk with numpy.

SQL gets the same conversions as macros (``portable_sql.MACROS``: ``day_of_key``, ``key_of_day``).
The ground floor: this module imports nothing from the project.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pyarrow as pa

_EPOCH = dt.date(1970, 1, 1)

def date_key(day: dt.date) -> int:
    return day.year * 10000 + day.month * 100 + day.day


def day_of_key(key: int) -> dt.date:
    """The day of a YYYYMMDD key; ValueError naming the key if it is no day."""
    try:
        return dt.date(key // 10000, key // 100 % 100, key % 100)
    except ValueError:
        raise ValueError(f"date_key {key} is not a YYYYMMDD day") from None


def is_date_key(key: int) -> bool:
    try:
        day_of_key(key)
    except ValueError:
        return False
    return True


def partition_key(day: dt.date) -> str:
    return day.isoformat()


def day_of_partition(key: str) -> dt.date:
    return dt.date.fromisoformat(key)


def ordinal(day: dt.date, start: dt.date) -> int:
    """Days since ``start`` (0 on the start date, negative before it)."""
    return (day - start).days


def day_of_ordinal(day: int, start: dt.date) -> dt.date:
    return start + dt.timedelta(days=int(day))


def days_between(first: dt.date, last: dt.date) -> list[dt.date]:
    """Every day of first..last, in order."""
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


def day_chunks(first: dt.date, last: dt.date, size: int) -> list[tuple[dt.date, dt.date]]:
    """first..last cut into consecutive (first, last) spans of at most ``size`` days: long ranges
    are computed a span at a time, so memory does not grow with the range."""
    starts = days_between(first, last)[::size]
    return [(start, min(start + dt.timedelta(days=size - 1), last)) for start in starts]


def week_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """Mondays of the ISO weeks touched by first..last."""
    monday = first - dt.timedelta(days=first.weekday())
    return [monday + dt.timedelta(days=7 * i) for i in range((last - monday).days // 7 + 1)]


def month_starts(first: dt.date, last: dt.date) -> list[dt.date]:
    """First days of the calendar months touched by first..last."""
    months, month = [], first.replace(day=1)
    while month <= last:
        months.append(month)
        month = (month + dt.timedelta(days=32)).replace(day=1)
    return months


def year_month_day(dates: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Year, month (1-12) and day of month (1-31) of datetime64[D] dates, as int64 arrays."""
    months = dates.astype("datetime64[M]")
    year = dates.astype("datetime64[Y]").astype(np.int64) + 1970
    month = months.astype(np.int64) % 12 + 1
    day = (dates - months.astype("datetime64[D]")).astype(np.int64) + 1
    return year, month, day


def date_keys_of_dates(dates: np.ndarray) -> np.ndarray:
    """int32 YYYYMMDD keys of datetime64[D] dates."""
    year, month, day = year_month_day(np.asarray(dates, dtype="datetime64[D]"))
    return (year * 10000 + month * 100 + day).astype(np.int32)


def dates_of_date_keys(keys: np.ndarray) -> np.ndarray:
    """datetime64[D] dates of YYYYMMDD keys; ValueError naming the keys that are no day."""
    keys = np.asarray(keys, dtype=np.int64)
    year, month, day = keys // 10000, keys // 100 % 100, keys % 100
    months = ((year - 1970) * 12 + month - 1).astype("datetime64[M]")
    dates = months.astype("datetime64[D]") + (day - 1)
    bad = (month < 1) | (month > 12) | (day < 1) | (date_keys_of_dates(dates) != keys)
    if bad.any():
        raise ValueError(f"invalid date keys: {keys[bad][:5].tolist()}")
    return dates


def date_keys_of_ordinals(days: np.ndarray, start: dt.date) -> np.ndarray:
    """int32 YYYYMMDD keys of day ordinals counted from ``start``."""
    return date_keys_of_dates(np.datetime64(start, "D") + np.asarray(days, dtype=np.int64))


def date32_of_ordinals(days: np.ndarray, start: dt.date, valid: np.ndarray | None = None) -> pa.Array:
    """Arrow dates of day ordinals counted from ``start``; NULL where ``valid`` is False."""
    epoch_days = np.asarray(days, dtype=np.int64) + (start - _EPOCH).days
    if valid is None:
        return pa.array(epoch_days.astype(np.int32)).cast(pa.date32())
    valid = np.asarray(valid, dtype=bool)
    return pa.array(np.where(valid, epoch_days, 0).astype(np.int32), mask=~valid).cast(pa.date32())
