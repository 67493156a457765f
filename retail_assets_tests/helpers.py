"""Small helpers shared by the test modules."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa

from retail_assets import tables
from retail_assets.storage.delta import Lakehouse


def canonical(lakehouse: Lakehouse, name: str) -> pa.Table:
    """The table without etl_timestamp, in a row order that does not depend on how it was written."""
    return sorted_rows(lakehouse.read(name))


def assert_same_tables(actual_root: Path, expected_root: Path) -> None:
    """The two lakehouses hold the same committed tables with the same rows (but etl_timestamp)."""
    actual, expected = Lakehouse(actual_root), Lakehouse(expected_root)
    assert actual.tables() == expected.tables()
    for name in expected.tables():
        assert canonical(actual, name).equals(canonical(expected, name)), f"{name} differs from the uninterrupted run"


def sorted_rows(data: pa.Table) -> pa.Table:
    """``data`` without etl_timestamp, sorted by every sortable column."""
    data = data.drop_columns([c for c in (tables.ETL_TIMESTAMP,) if c in data.column_names])
    sortable = [c for c in data.column_names if not pa.types.is_list(data.schema.field(c).type)]
    return data.sort_by([(column, "ascending") for column in sortable])
