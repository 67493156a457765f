"""Small helpers shared by the test modules."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pyarrow as pa

from retail_assets import tables
from retail_assets.storage.delta import Lakehouse

REPOSITORY = Path(__file__).resolve().parent.parent
KILL_TIMEOUT_SECONDS = 300


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


def log_entry(lakehouse: Path, table: str, version: int) -> Path:
    return lakehouse / table / "_delta_log" / f"{version:020d}.json"


def run_and_kill(command: list[str], when: Path, log: Path, env: dict[str, str] | None = None,
                 whole_group: bool = True) -> None:
    """Start ``command`` in its own process group; SIGKILL the whole group (or only the process)
    the moment ``when`` exists."""
    with log.open("w") as output:
        process = subprocess.Popen(command, cwd=REPOSITORY, stdout=output, stderr=subprocess.STDOUT,
                                   start_new_session=True, env=env)
        deadline = time.monotonic() + KILL_TIMEOUT_SECONDS
        try:
            while not when.exists():
                assert process.poll() is None, f"the run ended before {when} appeared:\n{log.read_text()[-3000:]}"
                assert time.monotonic() < deadline, f"{when} never appeared"
                time.sleep(0.002)
        finally:
            if process.poll() is None:
                (os.killpg if whole_group else os.kill)(process.pid, signal.SIGKILL)
            process.wait()
