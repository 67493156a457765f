"""A fingerprint of a lakehouse's rows: one digest per committed table, blind to row order and
to ``etl_timestamp`` (the one column two runs of the same configuration may differ in).

Two lakehouses with the same digests hold the same rows: the way to show that a refactoring,
another engine or a resumed run changed nothing, without keeping a copy of either.
"""

from __future__ import annotations

from retail_assets.storage.delta import Lakehouse
from retail_assets.table_model import ETL_TIMESTAMP


def table_digests(lakehouse: Lakehouse) -> dict[str, tuple[int, str]]:
    """Per committed table: its row count and the sum of its rows' hashes (order-free, and a
    duplicated row changes it), as hexadecimal."""
    connection = lakehouse.duckdb_connection()
    digests = {}
    for name in lakehouse.tables():
        columns = [c for c in connection.table(name).columns if c != ETL_TIMESTAMP]
        hashed = ", ".join(f'"{c}"' for c in columns)
        rows, total = connection.execute(
            f'SELECT count(*), coalesce(sum(hash({hashed})::HUGEINT), 0) FROM "{name}"').fetchone()
        digests[name] = (rows, f"{total:032x}")
    return digests
