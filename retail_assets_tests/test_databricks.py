"""The Databricks path without a workspace: the real Pipes Databricks clients (classic and
serverless), a fake WorkspaceClient whose jobs.submit runs the task's Python file in a local
subprocess (the 'cluster', with local PySpark), and local files for the Pipes context and
messages. Spark publishes Parquet there, where Unity Catalog would get Delta tables."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from deltalake import DeltaTable
from databricks.sdk.service import jobs

from retail_assets import registry
from retail_assets.cli import materialize_range
from retail_assets.config import SimulationConfig
from retail_assets.defs.databricks import DatabricksResource
from retail_assets.defs.location import build_definitions, resources
from retail_assets.registry import CONTRACT_CHECK, Role
from retail_assets.remote import PIPES_IO_ARGUMENT, chain_task
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
        cluster_env = task.new_cluster.spark_env_vars if task.new_cluster else None
        env = {**os.environ, **(cluster_env or {})}
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


def _run(tmp_path, entry: Path, days: int = 3, compute: str = "classic") -> dg.ExecuteInProcessResult:
    # A short warm-up: on the Spark engine every warm-up day is a Spark day.
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse", warmup_days=14)
    databricks = DatabricksResource(host="https://example.cloud.databricks.com", token="not-used", compute=compute,
                                    entry_file=str(entry), pipes_io="local", poll_interval_seconds=0.05,
                                    tables_path=str(tmp_path / "published"))
    defs = build_definitions(config, "databricks", databricks)
    last = config.start_date + dt.timedelta(days=days - 1)
    return materialize_range(config, config.start_date, last, raise_on_error=False, defs=defs)


@pytest.mark.parametrize("compute", ["classic", "serverless"])
def test_a_range_runs_as_one_databricks_job_and_reports_back(tmp_path, workspace, compute):
    result = _run(tmp_path, ENTRY, compute=compute)
    assert result.success
    (task,) = workspace.jobs.submitted  # one job for the whole range
    assert f"{PIPES_IO_ARGUMENT}=local" in task.spark_python_task.parameters
    materialized = {m.asset_key.to_user_string(): m for m in result.asset_materializations_for_node("daily_chain")}
    assert set(materialized) == {*registry.names(Role.CHAIN_FACT), "inventory_checkpoint"}
    assert materialized["gold_sales_fact"].metadata["dagster/row_count"].value > 0
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert all(checks[(name, CONTRACT_CHECK)].passed for name in registry.names(Role.CHAIN_FACT))
    assert checks[("gold_inventory_fact", "no_negative_available")].passed
    lakehouse = Lakehouse(tmp_path / "lakehouse")
    assert lakehouse.date_keys("gold_sales_fact") == {20250101, 20250102, 20250103}
    # The remote Spark engine published the same rows as Delta tables (delta-spark; read with delta-rs).
    published = DeltaTable(str(tmp_path / "published" / "gold_sales_fact"))
    assert published.to_pyarrow_table().num_rows == lakehouse.read("gold_sales_fact").num_rows
    assert materialized["gold_sales_fact"].metadata["published_delta_version"].value == published.version()
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
    with pytest.raises(ValueError, match="engine 'emr' is not available; allowed: local, spark, databricks"):
        build_definitions(config, "emr")


def test_the_job_task_names_the_cluster_and_the_wheel():
    resource = DatabricksResource(entry_file="dbfs:/retail/chain_task.py", wheel="dbfs:/retail/retail_assets.whl",
                                  num_workers=4)
    task = resource.chain_task()
    assert task.spark_python_task.python_file == "dbfs:/retail/chain_task.py"
    assert task.spark_python_task.parameters == [f"{PIPES_IO_ARGUMENT}=dbfs"]
    assert task.libraries[0].whl == "dbfs:/retail/retail_assets.whl"
    assert task.new_cluster.num_workers == 4 and resource.submit_args() == {}
    on_existing = DatabricksResource(existing_cluster_id="0101-abc").chain_task()
    assert on_existing.existing_cluster_id == "0101-abc" and on_existing.new_cluster is None
    assert resource.extras()["publish"] == {"catalog": "main", "schema": "retail", "path": None}


def test_a_serverless_task_runs_in_an_environment_holding_the_wheel():
    resource = DatabricksResource(compute="serverless", wheel="/Volumes/main/retail/dist/retail_assets.whl",
                                  volume_path="/Volumes/main/retail/pipes")
    task = resource.chain_task()
    assert task.new_cluster is None and task.existing_cluster_id is None
    assert task.spark_python_task.parameters == [f"{PIPES_IO_ARGUMENT}=volumes"]
    (environment,) = resource.submit_args()["environments"]
    assert environment.environment_key == task.environment_key
    assert environment.spec.dependencies == ["/Volumes/main/retail/dist/retail_assets.whl"]


def test_serverless_needs_a_volume_for_the_pipes_files(workspace):
    with pytest.raises(ValueError, match="databricks.volume_path is empty"):
        DatabricksResource(compute="serverless", host="h", token="t").pipes_client()


@pytest.mark.parametrize("field, value", [("catalog", "main`; DROP SCHEMA retail; --"), ("schema_name", "retail.x")])
def test_catalog_and_schema_are_checked_before_any_job_is_submitted(tmp_path, workspace, field, value):
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    databricks = DatabricksResource(host="h", token="t", entry_file=str(ENTRY), pipes_io="local", **{field: value})
    result = materialize_range(config, config.start_date, config.start_date, raise_on_error=False,
                               defs=build_definitions(config, "databricks", databricks))
    assert not result.success and workspace.jobs.submitted == []
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "is not a plain identifier" in str(failure.event_specific_data.error)


def test_missing_credentials_are_named(monkeypatch):
    monkeypatch.delenv("DATABRICKS_HOST", raising=False)
    monkeypatch.delenv("DATABRICKS_TOKEN", raising=False)
    with pytest.raises(ValueError, match="DATABRICKS_HOST and DATABRICKS_TOKEN"):
        DatabricksResource().workspace_client()


def test_launchpad_config_without_credentials_keeps_the_environments(tmp_path, monkeypatch):
    """Run config for the resource (here only ``compute``, as typed in the launchpad) replaces the
    code location's EnvVar host and token with empty defaults: the client still gets them from the
    environment. The real SDK client is built; nothing is sent to a workspace."""
    monkeypatch.setenv("DATABRICKS_HOST", "https://env-host.cloud.databricks.com")
    monkeypatch.setenv("DATABRICKS_TOKEN", "env-token")
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    seen = {}

    @dg.asset
    def client_probe(databricks: DatabricksResource):
        client = databricks.workspace_client()
        seen.update(fields=(databricks.host, databricks.token, databricks.compute),
                    client=(client.config.host, client.config.token))

    defs = dg.Definitions(assets=[client_probe], jobs=[dg.define_asset_job("probe", [client_probe])],
                          resources={"databricks": resources(config, "databricks")["databricks"]})
    run_config = {"resources": {"databricks": {"config": {"compute": "serverless"}}}}
    assert defs.resolve_job_def("probe").execute_in_process(run_config=run_config).success
    assert seen["fields"] == ("", "", "serverless")  # what the run config left of the EnvVar fields
    assert seen["client"] == ("https://env-host.cloud.databricks.com", "env-token")
