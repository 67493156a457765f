"""The ways users reach the lakehouse from the Dagster UI, against a real webserver and daemon
(``dg dev``, as ``make dev`` starts it): a backfill launched through the GraphQL call the UI
makes (and one whose run worker is killed, then launched again), and a real browser (Debian's
Chromium driven by Playwright) materialising one partition and then a three-day backfill from
the asset graph.

``RETAIL_UPDATE_DOCS=1`` also writes the browser's screenshots into ``docs/`` for the README.
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest
from playwright.sync_api import Page, sync_playwright

from retail_assets.cli import main
from retail_assets.defs.assets import PID_TAG
from retail_assets.defs.profile import PROFILE_ASSET
from retail_assets.storage.delta import Lakehouse
from retail_assets_tests.dagster_server import REPOSITORY, DagsterServer
from retail_assets_tests.helpers import assert_same_tables

CHROMIUM = "/usr/bin/chromium"
RUN_SECONDS = 420
DONE = {"SUCCESS", "FAILURE", "CANCELED"}

LAUNCH_BACKFILL = """mutation($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message } } }"""
BACKFILL = """query($id: String!) { partitionBackfillOrError(backfillId: $id) { ... on PartitionBackfill {
    status runs(limit: 20) { runId status } } } }"""
MATERIALISATIONS = """query($path: [String!]!) { assetOrError(assetKey: {path: $path}) { ... on Asset {
    assetMaterializations { partition runId metadataEntries { label
        ... on IntMetadataEntry { intValue } ... on FloatMetadataEntry { floatValue } } } } } }"""
RUNS = "{ runsOrError { ... on Runs { results { runId status tags { key value } } } } }"


@pytest.fixture
def server(tmp_path):
    running = DagsterServer(tmp_path / "home", {"RETAIL_PRESET": "tiny", "RETAIL_DAYS": "10",
                                                "RETAIL_LAKEHOUSE_PATH": str(tmp_path / "lakehouse")})
    yield running
    running.stop()


def _wait(condition, what: str):
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(2)
    raise TimeoutError(f"{what} did not happen in {RUN_SECONDS} s")


def _finished_backfill(server: DagsterServer, backfill_id: str) -> dict:
    def finished():
        backfill = server.graphql(BACKFILL, {"id": backfill_id})["partitionBackfillOrError"]
        return backfill if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None
    return _wait(finished, f"backfill {backfill_id}")


def _runs(server: DagsterServer) -> list[dict]:
    return server.graphql(RUNS)["runsOrError"]["results"]


def _assert_the_range_in_one_run_then_the_profile(server: DagsterServer, backfill: dict) -> None:
    """A backfill of the whole graph: the days in one run, then the unpartitioned realism profile
    in a run of its own (the only run without a partition range)."""
    assert backfill["status"] == "COMPLETED_SUCCESS" and len(backfill["runs"]) == 2, backfill
    ranges = {run["runId"] for run in _runs(server)
              if any(tag["key"] == "dagster/asset_partition_range_start" for tag in run["tags"])}
    assert len(ranges & {run["runId"] for run in backfill["runs"]}) == 1, backfill
    assert _materialisations(server, PROFILE_ASSET), "the profile was not materialised"


def _materialisations(server: DagsterServer, name: str) -> list[dict]:
    events = server.graphql(MATERIALISATIONS, {"path": [name]})["assetOrError"]["assetMaterializations"]
    for event in events:
        event["metadata"] = {entry["label"]: entry.get("intValue", entry.get("floatValue"))
                             for entry in event.pop("metadataEntries")}
    return events


def _rows_per_day(lakehouse: Path, name: str) -> dict[str, int]:
    sql = Lakehouse(lakehouse).duckdb_connection()
    rows = sql.execute(f"SELECT strftime(strptime(date_key::VARCHAR, '%Y%m%d'), '%Y-%m-%d'), count(*) "
                       f"FROM {name} GROUP BY 1").fetchall()
    return dict(rows)


def _assert_each_day_once_with_its_rows(server: DagsterServer, lakehouse: Path, days: list[str]) -> None:
    for name in ("gold_sales_fact", "gold_inventory_fact", "gold_customer_event_fact"):
        events = _materialisations(server, name)
        assert sorted(event["partition"] for event in events) == days, name  # once per day, no range event
        rows = _rows_per_day(lakehouse, name)
        assert {event["partition"]: event["metadata"]["dagster/row_count"] for event in events} == rows, name


def _launch_backfill(server: DagsterServer, days: list[str]) -> str:
    keys = [node["assetKey"] for node in server.graphql("{ assetNodes { assetKey { path } } }")["assetNodes"]]
    launched = server.graphql(LAUNCH_BACKFILL, {"params": {"assetSelection": keys, "partitionNames": days,
                                                           "fromFailure": False}})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    return launched["backfillId"]


def test_a_backfill_launched_like_the_asset_graph_runs_as_one_run(server, tmp_path):
    """The UI's launchPartitionBackfill on the whole asset selection, three days: one run of the
    range (then the profile's), every partition materialised once with that day's own rows, the
    range's summary on the run."""
    days = ["2025-01-01", "2025-01-02", "2025-01-03"]
    backfill = _finished_backfill(server, _launch_backfill(server, days))
    _assert_the_range_in_one_run_then_the_profile(server, backfill)
    _assert_each_day_once_with_its_rows(server, tmp_path / "lakehouse", days)
    (run,) = [run for run in _runs(server) if any(tag["key"] == "retail_assets/range" for tag in run["tags"])]
    tags = {tag["key"]: tag["value"] for tag in run["tags"]}
    assert tags["retail_assets/range"] == "2025-01-01 .. 2025-01-03" and tags["retail_assets/days"] == "3"


def test_a_backfill_whose_run_worker_is_killed_is_failed_and_the_next_one_runs(server, tmp_path):
    """SIGKILL the run worker of a UI backfill in the middle of the chain: Dagster fails the run and
    frees its writer-pool slot (run monitoring, dagster.yaml), the lakehouse shows only committed
    days, and the same backfill launched again completes to the tables of an uninterrupted run."""
    lakehouse = tmp_path / "lakehouse"
    days = [f"2025-01-{day:02d}" for day in range(1, 11)]
    _launch_backfill(server, days)
    run = _wait(lambda: next((r for r in _runs(server) if any(t["key"] == PID_TAG for t in r["tags"])), None),
                "the run's writer process")
    worker = int({tag["key"]: tag["value"] for tag in run["tags"]}[PID_TAG])
    second_batch = lakehouse / "gold_sales_fact" / "_delta_log" / f"{1:020d}.json"  # days 8-10, uncommitted
    deadline = time.monotonic() + RUN_SECONDS
    while not second_batch.exists():
        assert time.monotonic() < deadline, f"{second_batch} never appeared"
        time.sleep(0.002)
    os.kill(worker, signal.SIGKILL)
    _wait(lambda: [r for r in _runs(server) if r["runId"] == run["runId"] and r["status"] == "FAILURE"],
          "the killed run's failure")
    committed = Lakehouse(lakehouse)
    assert committed.date_keys("gold_sales_fact") == {20250101 + day for day in range(7)}  # batch 1 only

    backfill = _finished_backfill(server, _launch_backfill(server, days))
    assert backfill["status"] == "COMPLETED_SUCCESS", backfill
    reference = tmp_path / "reference"
    assert main(["run", "--preset", "tiny", "--days", "10", "--lakehouse", str(reference)]) == 0
    assert_same_tables(lakehouse, reference)


def _screenshot(page: Page, tmp_path: Path, name: str) -> None:
    page.screenshot(path=str(tmp_path / f"{name}.png"))
    if os.environ.get("RETAIL_UPDATE_DOCS") == "1":
        page.screenshot(path=str(REPOSITORY / "docs" / f"{name}.png"))


def _launch_from_the_asset_graph(page: Page, server: DagsterServer, partitions: str, button: str) -> None:
    page.goto(f"{server.url}/asset-groups", wait_until="networkidle")
    page.get_by_role("button", name="Materialize all…").click()
    dialog = page.get_by_role("dialog")
    selection = dialog.get_by_placeholder("ex: 2025-01-01", exact=False)
    selection.fill(partitions)
    selection.press("Enter")
    dialog.get_by_role("button", name=button).click()
    dialog.wait_for(state="hidden")


def test_the_asset_graph_in_a_browser_materialises_a_day_then_backfills_three(server, tmp_path):
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} is missing: `make test` installs Debian's chromium"
    lakehouse = tmp_path / "lakehouse"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"])
        try:
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            _launch_from_the_asset_graph(page, server, "2025-01-01", "Launch 1 run")
            (run,) = _wait(lambda: [r for r in _runs(server) if r["status"] in DONE], "the one-day run")
            assert run["status"] == "SUCCESS", run

            _launch_from_the_asset_graph(page, server, "[2025-01-02...2025-01-04]", "Launch backfill")
            (backfill_id,) = _wait(lambda: [b["id"] for b in server.graphql(
                "{ partitionBackfillsOrError { ... on PartitionBackfills { results { id } } } }")
                ["partitionBackfillsOrError"]["results"]], "the backfill's launch")
            _assert_the_range_in_one_run_then_the_profile(server, _finished_backfill(server, backfill_id))
            _assert_each_day_once_with_its_rows(server, lakehouse, ["2025-01-01", "2025-01-02", "2025-01-03",
                                                                    "2025-01-04"])

            page.goto(f"{server.url}/asset-groups", wait_until="networkidle")
            _screenshot(page, tmp_path, "asset_graph")
            page.goto(f"{server.url}/assets/gold_sales_fact?view=partitions&partition=2025-01-03",
                      wait_until="networkidle")
            rows = _rows_per_day(lakehouse, "gold_sales_fact")["2025-01-03"]
            metadata = page.locator("table", has_text="dagster/row_count")
            metadata.get_by_text(str(rows), exact=True).wait_for()  # the day's own rows, as the UI shows them
            assert page.get_by_text("Materialized (4)").is_visible()
            _screenshot(page, tmp_path, "partition_metadata")

            page.goto(f"{server.url}/assets/gold_sales_fact?view=checks", wait_until="networkidle")
            for check in ("contract", "inventory_constrained_sales", "return_restock_delay"):
                page.get_by_text(check, exact=True).first.wait_for()
            _screenshot(page, tmp_path, "checks")
        finally:
            browser.close()
