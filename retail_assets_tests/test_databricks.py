"""The Databricks path without a workspace: the real PipesDatabricksClient, a fake WorkspaceClient
whose jobs.submit runs the task's Python file in a local subprocess (the 'cluster'), and local
files for the Pipes context and messages."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from databricks.sdk.service import jobs

from retail_assets.cli import materialize_range
from retail_assets.config import SimulationConfig
from retail_assets.contracts.reports import CONTRACT_CHECK
from retail_assets.definitions import build_definitions
from retail_assets.defs.databricks import DatabricksResource
from retail_assets.engine.local import CHAIN_TABLES
from retail_assets.remote import chain_task
from retail_assets.storage.delta import Lakehouse

ENTRY = Path(chain_task.__file__)


class _Submitted:
    def __init__(self, run_id: int):
        self.run_id = run_id

    def bind(self) -> dict:
        return {"run_id": self.run_id}


class FakeJobs:
    """jobs.submit runs the task's file with the cluster's environment; get_run reports how it ended."""

    def __init__(self):
        self.finished: dict[int, subprocess.CompletedProcess] = {}
        self.submitted: list[jobs.SubmitTask] = []

    def submit(self, tasks, **_):
        (task,) = tasks
        self.submitted.append(task)
        env = {**os.environ, **(task.new_cluster.spark_env_vars or {})}
        command = [sys.executable, task.spark_python_task.python_file, *(task.spark_python_task.parameters or [])]
        run_id = len(self.finished) + 1
        self.finished[run_id] = subprocess.run(command, env=env, capture_output=True, text=True)
        return _Submitted(run_id)

    def get_run(self, run_id):
        done = self.finished[run_id]
        failed = done.returncode != 0
        return jobs.Run(run_id=run_id, state=jobs.RunState(
            life_cycle_state=jobs.RunLifeCycleState.TERMINATED,
            result_state=jobs.RunResultState.FAILED if failed else jobs.RunResultState.SUCCESS,
            state_message=done.stderr.strip().splitlines()[-1] if failed else "",
        ))

    def cancel_run(self, run_id):
        raise AssertionError("nothing is cancelled in these tests")


class FakeWorkspace:
    def __init__(self):
        self.jobs = FakeJobs()


@pytest.fixture
def workspace(monkeypatch) -> FakeWorkspace:
    fake = FakeWorkspace()
    monkeypatch.setattr(DatabricksResource, "workspace_client", lambda self: fake)
    return fake


def _run(tmp_path, entry: Path, days: int = 3) -> dg.ExecuteInProcessResult:
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    databricks = DatabricksResource(host="https://example.cloud.databricks.com", token="not-used",
                                    entry_file=str(entry), pipes_io="local", poll_interval_seconds=0.05)
    defs = build_definitions(config, "databricks", databricks)
    last = config.start_date + dt.timedelta(days=days - 1)
    return materialize_range(config, config.start_date, last, raise_on_error=False, defs=defs)


def test_a_range_runs_as_one_databricks_job_and_reports_back(tmp_path, workspace):
    result = _run(tmp_path, ENTRY)
    assert result.success
    (task,) = workspace.jobs.submitted  # one job for the whole range
    assert task.new_cluster.spark_env_vars["RETAIL_PIPES_IO"] == "local"
    materialized = {m.asset_key.to_user_string(): m for m in result.asset_materializations_for_node("daily_chain")}
    assert set(materialized) == {*CHAIN_TABLES, "inventory_checkpoint"}
    assert materialized["gold_sales_fact"].metadata["dagster/row_count"].value > 0
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert all(checks[(name, CONTRACT_CHECK)].passed for name in CHAIN_TABLES)
    assert checks[("gold_inventory_fact", "no_negative_available")].passed
    lakehouse = Lakehouse(tmp_path / "lakehouse")
    assert lakehouse.date_keys("gold_sales_fact") == {20250101, 20250102, 20250103}
    assert any(m.asset_key.to_user_string() == "gold_sales_daily_agg"
               for m in result.asset_materializations_for_node("rollups"))


def test_a_failing_remote_run_fails_the_dagster_run_with_its_error(tmp_path, workspace):
    broken = tmp_path / "broken_task.py"
    broken.write_text("raise RuntimeError('cluster ran out of disk on /local_disk0')\n")
    result = _run(tmp_path, broken, days=1)
    assert not result.success
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "cluster ran out of disk on /local_disk0" in str(failure.event_specific_data.error)


def test_an_unknown_engine_is_refused_with_the_allowed_ones(tmp_path):
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    with pytest.raises(ValueError, match="engine 'spark' is not available; allowed: local, databricks"):
        build_definitions(config, "spark")


def test_the_job_task_names_the_cluster_and_the_wheel():
    resource = DatabricksResource(entry_file="dbfs:/retail/chain_task.py", wheel="dbfs:/retail/retail_assets.whl",
                                  num_workers=4)
    task = resource.chain_task()
    assert task.spark_python_task.python_file == "dbfs:/retail/chain_task.py"
    assert task.libraries[0].whl == "dbfs:/retail/retail_assets.whl"
    assert task.new_cluster.num_workers == 4 and task.new_cluster.spark_env_vars == {"RETAIL_PIPES_IO": "dbfs"}
    on_existing = DatabricksResource(existing_cluster_id="0101-abc").chain_task()
    assert on_existing.existing_cluster_id == "0101-abc" and on_existing.new_cluster is None


def test_missing_credentials_are_named():
    with pytest.raises(ValueError, match="DATABRICKS_HOST and DATABRICKS_TOKEN"):
        DatabricksResource().workspace_client()
