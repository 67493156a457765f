"""Tests of the Delta storage layer (retail_assets.storage.delta)."""

from __future__ import annotations

import datetime as dt
import errno
import json
import subprocess
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from deltalake import DeltaTable

from retail_assets.storage.delta import Lakehouse, day_predicate

D1, D2, D3, D4, D5 = 20250130, 20250131, 20250201, 20250202, 20250203  # crosses a month


def make(days: list[int], per_day: int = 4, value: float = 1.0) -> pa.Table:
    dk: list[int] = []
    for d in days:
        dk += [d] * per_day
    n = len(dk)
    return pa.table(
        {
            "date_key": pa.array(dk, pa.int32()),
            "store_id": pa.array([i % 7 for i in range(n)], pa.int32()),
            "qty": pa.array(range(n), pa.int64()),
            "amount": pa.array([value] * n, pa.float64()),
            "promo": pa.array([i % 2 == 0 for i in range(n)], pa.bool_()),
            "category": pa.array(
                (["food", "toys", "food", "home"] * (n // 4 + 1))[:n], pa.string()
            ).dictionary_encode(),
            "sku": pa.array([f"SKU-{i:05d}" for i in range(n)], pa.string()),
            "day": pa.array([dt.date(d // 10000, d // 100 % 100, d % 100) for d in dk], pa.date32()),
            "ts": pa.array([dt.datetime(2025, 1, 1, 12)] * n, pa.timestamp("us", tz="UTC")),
        }
    )


def rows_by_day(t: pa.Table) -> dict[int, int]:
    out: dict[int, int] = {}
    for k in t.column("date_key").to_pylist():
        out[k] = out.get(k, 0) + 1
    return out


def active_files(lh: Lakehouse, name: str) -> set[str]:
    return {Path(p).name for p in DeltaTable(lh.table_path(name)).file_uris()}


def log_actions(lh: Lakehouse, name: str, version: int) -> dict[str, list[str]]:
    log = Path(lh.table_path(name)) / "_delta_log" / f"{version:020d}.json"
    out: dict[str, list[str]] = {"add": [], "remove": []}
    for line in log.read_text().splitlines():
        action = json.loads(line)
        for kind in ("add", "remove"):
            if kind in action:
                out[kind].append(Path(action[kind]["path"]).name)
    return out


@pytest.fixture()
def lh(tmp_path: Path) -> Lakehouse:
    return Lakehouse(tmp_path / "lakehouse")


def test_first_write_creates_table(lh: Lakehouse) -> None:
    assert not lh.exists("sales")
    assert lh.write_days("sales", make([D1, D2]), [D1, D2]) == 8
    assert lh.exists("sales")
    assert lh.table_path("sales") == str(lh.root / "sales")
    t = lh.read("sales")
    assert t.num_rows == 8
    assert rows_by_day(t) == {D1: 4, D2: 4}
    assert t.schema.field("date_key").type == pa.int32()
    assert lh.version("sales") == 0
    assert lh.tables() == ["sales"]


def test_rewrite_day_replaces_it_and_leaves_other_days(lh: Lakehouse) -> None:
    lh.write_days("sales", make([D1], value=1.0), [D1])
    lh.write_days("sales", make([D2], value=1.0), [D2])
    before_d1 = lh.read("sales", date_keys=[D1])
    lh.write_days("sales", make([D2], value=2.0), [D2])
    lh.write_days("sales", make([D2], value=3.0), [D2])  # idempotent re-run
    t = lh.read("sales")
    assert t.num_rows == 8
    assert rows_by_day(t) == {D1: 4, D2: 4}
    assert set(lh.read("sales", date_keys=[D2])["amount"].to_pylist()) == {3.0}
    assert lh.read("sales", date_keys=[D1]).equals(before_d1)


def test_write_days_in_the_middle_of_existing_data(lh: Lakehouse) -> None:
    # one multi-day write -> (typically) one file holding D1..D5
    lh.write_days("sales", make([D1, D2, D3, D4, D5], value=1.0), [D1, D2, D3, D4, D5])
    untouched = lh.read("sales", date_keys=[D1, D4, D5])
    n = lh.write_days("sales", make([D2, D3], per_day=6, value=9.0), [D2, D3])
    assert n == 12
    t = lh.read("sales")
    assert rows_by_day(t) == {D1: 4, D2: 6, D3: 6, D4: 4, D5: 4}
    assert set(lh.read("sales", date_keys=[D2, D3])["amount"].to_pylist()) == {9.0}
    assert lh.read("sales", date_keys=[D1, D4, D5]).sort_by("qty").equals(untouched.sort_by("qty"))


def test_days_without_rows_end_up_empty(lh: Lakehouse) -> None:
    lh.write_days("sales", make([D1, D2, D3]), [D1, D2, D3])
    # D2 is in date_keys but data only has D1 and D3
    lh.write_days("sales", make([D1, D3], value=5.0), [D1, D2, D3])
    assert lh.date_keys("sales") == {D1, D3}


def test_empty_write_clears_days(lh: Lakehouse) -> None:
    lh.write_days("sales", make([D1, D2, D3]), [D1, D2, D3])
    empty = make([])
    assert empty.num_rows == 0
    assert lh.write_days("sales", empty, [D2, D3]) == 0
    assert rows_by_day(lh.read("sales")) == {D1: 4}


def test_empty_first_write_creates_table_with_schema(lh: Lakehouse) -> None:
    empty = make([])
    assert lh.write_days("sales", empty, [D1]) == 0
    assert lh.exists("sales")
    t = lh.read("sales")
    assert t.num_rows == 0
    assert t.schema.names == empty.schema.names
    assert t.schema.field("date_key").type == pa.int32()
    assert t.schema.field("amount").type == pa.float64()
    assert lh.date_keys("sales") == set()
    # the schema is usable for later writes
    lh.write_days("sales", make([D1]), [D1])
    assert lh.read("sales").num_rows == 4


def test_row_outside_date_keys_raises_and_writes_nothing(lh: Lakehouse) -> None:
    lh.write_days("sales", make([D1, D2]), [D1, D2])
    version = lh.version("sales")
    files = active_files(lh, "sales")
    with pytest.raises(ValueError, match=str(D3)):
        lh.write_days("sales", make([D2, D3], value=7.0), [D1, D2])
    assert lh.version("sales") == version
    assert active_files(lh, "sales") == files
    assert rows_by_day(lh.read("sales")) == {D1: 4, D2: 4}
    # nothing written on a missing table either
    with pytest.raises(ValueError, match=str(D3)):
        lh.write_days("other", make([D3]), [D1])
    assert not lh.exists("other")


def test_null_date_key_and_bad_arguments_raise(lh: Lakehouse) -> None:
    t = make([D1])
    t = t.set_column(0, "date_key", pa.array([D1, None, D1, D1], pa.int32()))
    with pytest.raises(ValueError, match="null"):
        lh.write_days("sales", t, [D1])
    with pytest.raises(ValueError):
        lh.write_days("sales", make([D1]), [])
    with pytest.raises(ValueError):
        lh.write_days("sales", make([D1]).drop_columns(["date_key"]), [D1])
    with pytest.raises(ValueError):
        lh.table_path("../escape")
    assert not lh.exists("sales")


def test_int64_date_key_is_stored_as_int32(lh: Lakehouse) -> None:
    t = make([D1])
    t = t.set_column(0, "date_key", t.column("date_key").cast(pa.int64()))
    lh.write_days("sales", t, [D1])
    assert lh.read("sales").schema.field("date_key").type == pa.int32()


def test_unsorted_input_is_written_sorted(lh: Lakehouse) -> None:
    t = make([D3, D1, D2])
    lh.write_days("sales", t, [D1, D2, D3])
    keys = lh.read("sales")["date_key"].to_pylist()
    assert keys == sorted(keys)


def test_read_with_date_keys_and_columns(lh: Lakehouse) -> None:
    for d in (D1, D2, D3):
        lh.write_days("sales", make([d]), [d])
    t = lh.read("sales", date_keys=[D1, D3], columns=["date_key", "amount"])
    assert t.column_names == ["date_key", "amount"]
    assert rows_by_day(t) == {D1: 4, D3: 4}
    # columns without date_key still filter on it
    t = lh.read("sales", date_keys=[D2], columns=["qty"])
    assert t.column_names == ["qty"] and t.num_rows == 4
    assert lh.read("sales", date_keys=[20240101]).num_rows == 0
    assert lh.read("sales", date_keys=[], columns=["qty"]).schema.names == ["qty"]
    # only the files that can hold the requested days are scanned
    assert len(lh.dataset("sales", [D2]).files) == 1
    assert len(lh.dataset("sales").files) == 3


def test_read_missing_table_raises_lookup_error(lh: Lakehouse) -> None:
    with pytest.raises(LookupError, match="nope"):
        lh.read("nope")
    with pytest.raises(LookupError):
        lh.date_keys("nope")
    assert not lh.exists("nope")


def test_date_keys(lh: Lakehouse) -> None:
    lh.write_days("sales", make([D1, D2]), [D1, D2])
    lh.write_days("sales", make([D5]), [D5])
    assert lh.date_keys("sales") == {D1, D2, D5}
    assert all(type(k) is int for k in lh.date_keys("sales"))


def test_replace_all(lh: Lakehouse) -> None:
    dim = pa.table({"store_id": pa.array([1, 2, 3], pa.int32()), "name": ["a", "b", "c"]})
    assert lh.replace_all("dim_store", dim) == 3
    assert lh.replace_all("dim_store", dim.slice(0, 2)) == 2
    assert lh.read("dim_store").sort_by("store_id").equals(dim.slice(0, 2))
    # schema may change on a full replace
    dim2 = dim.append_column("region", pa.array(["n", "s", "e"]))
    lh.replace_all("dim_store", dim2)
    assert lh.read("dim_store").column_names == ["store_id", "name", "region"]


def test_predicate_overwrite_keeps_files_of_untouched_days(lh: Lakehouse) -> None:
    lh.write_days("sales", make([D1]), [D1])  # v0
    day1_files = active_files(lh, "sales")
    assert len(day1_files) == 1
    lh.write_days("sales", make([D2]), [D2])  # v1
    day2_files = active_files(lh, "sales") - day1_files
    lh.write_days("sales", make([D3]), [D3])  # v2
    day3_files = active_files(lh, "sales") - day1_files - day2_files
    before = active_files(lh, "sales")

    lh.write_days("sales", make([D2], value=2.0), [D2])  # v3
    actions = log_actions(lh, "sales", 3)
    assert set(actions["remove"]) == day2_files  # only the day-2 file is removed
    assert len(actions["add"]) == 1
    after = active_files(lh, "sales")
    assert before - after == day2_files
    assert day1_files | day3_files <= after

    # a multi-day overwrite (D2..D3) also leaves the day-1 file alone
    lh.write_days("sales", make([D2, D3], value=4.0), [D2, D3])  # v4
    assert day1_files.isdisjoint(log_actions(lh, "sales", 4)["remove"])
    assert day1_files <= active_files(lh, "sales")
    assert rows_by_day(lh.read("sales")) == {D1: 4, D2: 4, D3: 4}


def test_wide_table_still_prunes_on_date_key(lh: Lakehouse) -> None:
    # date_key placed after column 32: default delta-rs stats would skip it
    cols = {f"c{i}": pa.array([i] * 4, pa.int32()) for i in range(40)}
    wide = lambda d: pa.table({**cols, "date_key": pa.array([d] * 4, pa.int32())})  # noqa: E731
    lh.write_days("wide", wide(D1), [D1])
    lh.write_days("wide", wide(D2), [D2])
    lh.write_days("wide", wide(D2), [D2])
    assert log_actions(lh, "wide", 2)["remove"] and len(log_actions(lh, "wide", 2)["remove"]) == 1
    assert rows_by_day(lh.read("wide")) == {D1: 4, D2: 4}


def test_compact_keeps_content_and_reduces_files(lh: Lakehouse) -> None:
    days = [D1, D2, D3, D4, D5]
    for i, d in enumerate(days):
        lh.write_days("sales", make([d], value=float(i)), [d])
    lh.write_days("sales", make([D3], value=9.0), [D3])  # leaves a removed file behind
    before = lh.read("sales").sort_by([("date_key", "ascending"), ("qty", "ascending")])
    n_files = len(active_files(lh, "sales"))
    assert n_files == 5
    parquet_on_disk = len(list(Path(lh.table_path("sales")).glob("*.parquet")))
    assert parquet_on_disk == 6

    metrics = lh.compact("sales")
    after = lh.read("sales").sort_by([("date_key", "ascending"), ("qty", "ascending")])
    assert after.equals(before)
    assert len(active_files(lh, "sales")) == 1 < n_files
    # vacuum removed every unreferenced data file
    on_disk = {p.name for p in Path(lh.table_path("sales")).glob("*.parquet")}
    assert on_disk == active_files(lh, "sales")
    assert metrics["vacuumed_files"] == 6
    # still writable with day semantics after compaction
    lh.write_days("sales", make([D2], value=8.0), [D2])
    assert rows_by_day(lh.read("sales")) == {d: 4 for d in days}
    assert set(lh.read("sales", [D2])["amount"].to_pylist()) == {8.0}


def test_duckdb_connection(lh: Lakehouse) -> None:
    lh.write_days("gold_sales_fact", make([D1, D2, D3]), [D1, D2, D3])
    lh.replace_all("dim_store", pa.table({"store_id": pa.array(range(7), pa.int32())}))
    lh.write_days("empty_fact", make([]), [D1])
    con = lh.duckdb_connection()
    assert con.execute("SELECT count(*) FROM gold_sales_fact").fetchone() == (12,)
    assert con.execute(
        f"SELECT count(*) FROM gold_sales_fact WHERE date_key = {D2}"
    ).fetchone() == (4,)
    assert con.execute(
        "SELECT count(DISTINCT f.store_id) FROM gold_sales_fact f JOIN dim_store s USING (store_id)"
    ).fetchone() == (7,)
    assert con.execute("SELECT count(*) FROM empty_fact").fetchone() == (0,)
    con.close()


def test_duckdb_connection_on_missing_root(tmp_path: Path) -> None:
    con = Lakehouse(tmp_path / "does_not_exist").duckdb_connection()
    assert con.execute("SELECT 1").fetchone() == (1,)


def test_day_predicate() -> None:
    assert day_predicate([D1]) == f"date_key = {D1}"
    # consecutive calendar days across a month end -> range
    assert day_predicate([D3, D1, D2]) == f"date_key >= {D1} AND date_key <= {D3}"
    assert day_predicate([D1, D2, D3], contiguous=False) == f"date_key IN ({D1}, {D2}, {D3})"
    # gap: never widened to a range even if the caller says contiguous
    assert day_predicate([D1, D3]) == f"date_key IN ({D1}, {D3})"
    assert day_predicate([20241231, 20250101]) == "date_key >= 20241231 AND date_key <= 20250101"
    assert day_predicate([20240228, 20240301]) == "date_key IN (20240228, 20240301)"  # leap year
    assert day_predicate([20250228, 20250301]).startswith("date_key >=")
    assert day_predicate([20250130, 20250199]) == "date_key IN (20250130, 20250199)"  # not a day: listed


def test_non_contiguous_write(lh: Lakehouse) -> None:
    lh.write_days("sales", make([D1, D2, D3]), [D1, D2, D3])
    lh.write_days("sales", make([D1, D3], value=6.0), [D1, D3], contiguous=False)
    t = lh.read("sales")
    assert rows_by_day(t) == {D1: 4, D2: 4, D3: 4}
    amounts = pc.unique(lh.read("sales", [D2])["amount"]).to_pylist()
    assert amounts == [1.0]


def test_root_with_space_and_str_root(tmp_path: Path) -> None:
    lh = Lakehouse(str(tmp_path / "my lake house"))
    lh.write_days("sales", make([D1, D2]), [D1, D2])
    assert lh.read("sales", [D2]).num_rows == 4
    assert lh.date_keys("sales") == {D1, D2}
    assert lh.duckdb_connection().execute("SELECT count(*) FROM sales").fetchone() == (8,)


def test_compact_empty_and_single_file_tables(lh: Lakehouse) -> None:
    lh.write_days("empty_fact", make([]), [D1])
    lh.compact("empty_fact")
    assert lh.read("empty_fact").num_rows == 0
    lh.write_days("sales", make([D1]), [D1])
    lh.compact("sales")
    lh.compact("sales")  # idempotent
    assert rows_by_day(lh.read("sales")) == {D1: 4}


def test_key_column_other_than_date_key(lh: Lakehouse) -> None:
    def dim(days: list[int], label: str) -> pa.Table:
        return pa.table(
            {
                "store_id": pa.array(range(len(days)), pa.int32()),
                "label": pa.array([label] * len(days), pa.string()),
                "effective_date_key": pa.array(days, pa.int64()),  # cast to int32
            }
        )

    kc = "effective_date_key"
    lh.write_days("dim_store", dim([D1, D2, D3], "v1"), [D1, D2, D3], key_column=kc)
    lh.write_days("dim_store", dim([D2, D2], "v2"), [D2], key_column=kc)
    assert lh.date_keys("dim_store", key_column=kc) == {D1, D2, D3}
    t = lh.read("dim_store", [D2], key_column=kc)
    assert t.num_rows == 2 and set(t["label"].to_pylist()) == {"v2"}
    assert t.schema.field(kc).type == pa.int32()
    assert lh.read("dim_store").num_rows == 4
    with pytest.raises(ValueError, match=str(D4)):
        lh.write_days("dim_store", dim([D4], "x"), [D2], key_column=kc)
    assert lh.version("dim_store") == 1


def test_schema_change_names_the_table_and_the_fix(tmp_path):
    lakehouse = Lakehouse(tmp_path / "lh")
    lakehouse.write_days("facts", pa.table({"date_key": pa.array([20250101], pa.int32()), "old": [1]}), [20250101])
    renamed = pa.table({"date_key": pa.array([20250102], pa.int32()), "new": [1]})
    with pytest.raises(ValueError, match="'facts'.*make clean"):
        lakehouse.write_days("facts", renamed, [20250102])


@pytest.fixture
def tiny_disk(tmp_path):
    """A 1 MiB tmpfs (needs the privilege to mount, as root in the CI container has)."""
    mount_point = tmp_path / "tiny_disk"
    mount_point.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount_point)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    yield mount_point
    subprocess.run(["umount", str(mount_point)], check=True)


def test_a_full_disk_is_named_and_commits_nothing(tiny_disk):
    """delta-rs reported ENOSPC as "Failed to parse parquet"; the table stays at its committed day."""
    rng = np.random.default_rng(1)

    def rows(day: int, count: int) -> pa.Table:  # random floats: incompressible
        return pa.table({"date_key": pa.array([day] * count, pa.int32()), "amount": rng.random(count)})

    lh = Lakehouse(tiny_disk / "lake")
    lh.write_days("t", rows(D1, 10), [D1])
    with pytest.raises(OSError, match="disk full writing table 't'") as error:
        lh.write_days("t", rows(D2, 400_000), [D2])
    assert error.value.errno == errno.ENOSPC
    assert lh.date_keys("t") == {D1} and lh.version("t") == 0


def test_a_column_type_change_is_refused(tmp_path):
    """delta-rs accepted float64 rows into an int32 column; a type change is another schema."""
    lh = Lakehouse(tmp_path)
    lh.write_days("t", make([D1]), [D1])
    changed = make([D2])
    changed = changed.set_column(changed.schema.get_field_index("store_id"), "store_id",
                                 changed.column("store_id").cast(pa.float64()))
    with pytest.raises(ValueError, match="store_id: table int32, written double"):
        lh.write_days("t", changed, [D2])
    assert lh.date_keys("t") == {D1}


def test_a_transaction_cut_short_is_invisible_then_rolled_back(tmp_path):
    lh = Lakehouse(tmp_path)
    lh.write_days("a", make([D1]), [D1])
    with pytest.raises(RuntimeError, match="crash"):
        with lh.transaction("batch", [D2]):
            lh.write_days("a", make([D2]), [D2])
            lh.write_days("b", make([D2]), [D2])  # a table this batch creates
            assert lh.date_keys("a") == {D1, D2}  # the writer sees its own batch
            raise RuntimeError("crash")
    reader = Lakehouse(tmp_path)
    assert reader.date_keys("a") == {D1} and not reader.exists("b") and reader.tables() == ["a"]
    assert DeltaTable(lh.table_path("a")).version() == 1  # on disk the batch is there
    with Lakehouse(tmp_path).writing():  # the next writer brings the lakehouse back to its ledger
        pass
    assert not Path(lh.table_path("b")).exists()
    assert set(DeltaTable(lh.table_path("a")).to_pyarrow_table().column("date_key").to_pylist()) == {D1}
    commits = reader.duckdb_connection().execute(
        "SELECT operation, list(table_name ORDER BY table_name) FROM _lakehouse_commits GROUP BY commit_id, operation "
        "ORDER BY commit_id").fetchall()
    assert commits == [("write_days", ["a"]), ("recover", ["a"])]


def test_a_writer_keeps_what_others_committed_since_it_last_looked(tmp_path):
    """A handle's cached ledger is re-read when it takes the lock: another handle's commit is not
    mistaken for a batch cut short (and rolled back)."""
    first, second = Lakehouse(tmp_path), Lakehouse(tmp_path)
    first.write_days("t", make([D1]), [D1])
    second.write_days("t", make([D2]), [D2])
    first.write_days("t", make([D3]), [D3])
    assert Lakehouse(tmp_path).date_keys("t") == {D1, D2, D3}
