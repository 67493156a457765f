"""The Databricks path against a fake workspace that fails where a real one would
(``fake_workspace``): the real Pipes Databricks clients (classic and serverless) with the real
Unity Catalog volumes injector, reader and task-side loaders over a Files API served from a local
folder; the resource deploys the project's wheel and task file to the volume before it submits;
the submitted payload is checked as the Jobs API would; each step's task runs on a classic local
Spark session, or over a local Spark Connect server for serverless; a failed task's own error
reaches the Dagster step. The Dagster process never opens the lakehouse: only the tasks do."""

from __future__ import annotations

import datetime as dt
import hashlib
import subprocess
import sys
import zipfile
from pathlib import Path

import dagster as dg
import pytest
import yaml
from databricks.sdk.service import compute
from deltalake import DeltaTable

from retail_assets import registry
from retail_assets import cli
from retail_assets.cli import materialize_range
from retail_assets.config import SimulationConfig
from retail_assets.defs import databricks as databricks_module
from retail_assets.defs.databricks import (
    DEPLOY_FOLDER,
    LTS_RUNTIME,
    SERVERLESS_ENVIRONMENT,
    TASK_FILE,
    DatabricksResource,
    built_wheel,
)
from retail_assets.defs.location import build_definitions, resources
from retail_assets.engine.connect_server import local_connect_server
from retail_assets.registry import CHAIN_STEP, CONTRACT_CHECK, DIMENSIONS_STEP, INSIGHTS_STEP, ROLLUPS_STEP, Role
from retail_assets.remote import PIPES_IO_ARGUMENT
from retail_assets.storage import delta
from retail_assets.storage.delta import Lakehouse
from retail_assets_tests.fake_workspace import FakeWorkspace
from retail_assets_tests.helpers import REPOSITORY, canonical

WHEELS = REPOSITORY / "dist"  # `make wheel` (a prerequisite of `make test`)
USER = "data.engineer@example.com"  # the fake token's user
STEPS = (DIMENSIONS_STEP, CHAIN_STEP, ROLLUPS_STEP, INSIGHTS_STEP)
WARMUP_DAYS = 7  # on the Spark engine every warm-up day is a Spark day: a short warm-up keeps the jobs quick


@pytest.fixture(scope="module")
def connect_url(tmp_path_factory):
    """The serverless tasks' Spark: a local Spark Connect server with Delta, stopped after."""
    with local_connect_server(tmp_path_factory.mktemp("connect") / "server.log") as url:
        yield url


def _workspace(tmp_path, monkeypatch, spark_remote: str | None = None) -> FakeWorkspace:
    fake = FakeWorkspace(tmp_path / "Volumes" / "main" / "retail" / "artifacts", spark_remote)
    monkeypatch.setattr(DatabricksResource, "workspace_client", lambda self: fake)
    return fake


def _resource(fake: FakeWorkspace, tmp_path, **fields) -> DatabricksResource:
    settings = {"host": "https://example.cloud.databricks.com", "token": "not-used", "wheel_path": str(WHEELS),
                "volume_path": str(fake.api_client.volume), "poll_interval_seconds": 0.05,
                "tables_path": str(tmp_path / "published"), "store_path": str(tmp_path / "lakehouse")}
    return DatabricksResource(**{**settings, **fields})


def _run(tmp_path, databricks: DatabricksResource, days: int = 3) -> dg.ExecuteInProcessResult:
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse", warmup_days=WARMUP_DAYS)
    defs = build_definitions(config, "databricks", databricks)
    last = config.start_date + dt.timedelta(days=days - 1)
    return materialize_range(config, config.start_date, last, raise_on_error=False, defs=defs)


def _refuse_on_the_host(self, root, *args, **kwargs):
    """In place of ``Lakehouse.__init__`` in the Dagster process: on a real workspace the lakehouse
    lives on a volume only the cluster sees (the tasks, in their own processes, open it)."""
    raise AssertionError(f"the Dagster process opened the lakehouse {root}")


def _deploy_task(patch: pytest.MonkeyPatch, tmp_path, text: str) -> Path:
    """The resource deploys ``text`` as the task file (in its own folder, named as the real one)."""
    task = tmp_path / "task" / "step_task.py"
    task.parent.mkdir(exist_ok=True)
    task.write_text(text)
    patch.setattr(databricks_module, "TASK_FILE", task)
    return task


def _deployed(fake: FakeWorkspace) -> list[str]:
    return [path for path in fake.api_client.uploads if f"/{DEPLOY_FOLDER}/" in path]


def _failure(result: dg.ExecuteInProcessResult) -> str:
    return str(next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
               .event_specific_data.error)


# The task as deployed, but Spark commits two days a batch, the batch of the third day fails,
# and the chain's job dies before it publishes what it committed (a cluster lost in between).
FAILING_ON_THE_THIRD_DAY = """
from retail_assets.engine import spark
from retail_assets.remote import step_task

spark.BATCH_DAYS = 2
publish = step_task.publish_judged


def killed_before_publishing(engine, ledger, step, written, days):
    if step == "daily_chain":
        raise RuntimeError("the job died before it published")
    yield from publish(engine, ledger, step, written, days)


step_task.publish_judged = killed_before_publishing
commit = spark.SparkEngine._commit_batch


def commit_two_days(self, first_day, last_day):
    if first_day >= 2:
        raise RuntimeError("executor lost while writing 2025-01-03")
    return commit(self, first_day, last_day)


spark.SparkEngine._commit_batch = commit_two_days
step_task.main()
"""


# The task as deployed, but the contract of the sales fact fails on the cluster.
SALES_CONTRACT_FAILING = """
from retail_assets.contracts import ledger
from retail_assets.remote import step_task

judged = ledger.ContractLedger.verdict


def verdict(self, name):
    found = judged(self, name)
    if name == "gold_sales_fact":
        found.failures_by_check["injected: a line the contract refuses"] = 1
        found.failures = max(found.failures, 1)
    return found


ledger.ContractLedger.verdict = verdict
step_task.main()
"""


def _chain_submission(fake: FakeWorkspace) -> dict:
    return next(s for s in reversed(fake.jobs.submitted) if s["task"].task_key == f"retail_{CHAIN_STEP}")


def _assert_deployed_and_reported(fake: FakeWorkspace, result: dg.ExecuteInProcessResult, first: str, last: str,
                                  tmp_path, failed_contract: str | None = None) -> dict:
    """Each step ran the deployed task file with the deployed wheel, in a job named after its
    step, range and run; what the tasks reported through the volume matches the lakehouse they
    wrote; every table the run wrote whose contract passed is published with the lakehouse's
    rows, ``failed_contract``'s is not. The chain's submission."""
    assert result.success == (failed_contract is None), _failure(result)
    wheel = built_wheel(WHEELS)
    digest = hashlib.sha256(wheel.read_bytes()).hexdigest()[:16]
    deployed_wheel = f"{fake.api_client.volume}/{DEPLOY_FOLDER}/{digest}/{wheel.name}"
    run_id = result.run_id
    ran = [step for step in STEPS if result.asset_materializations_for_node(step)]
    for submitted in fake.jobs.submitted[-len(ran):]:
        task = submitted["task"]
        step = task.task_key.removeprefix("retail_")
        submitted["wheel"] = deployed_wheel
        assert {deployed_wheel, task.spark_python_task.python_file} <= set(_deployed(fake))
        assert Path(task.spark_python_task.python_file).read_bytes() == databricks_module.TASK_FILE.read_bytes()
        assert f"{PIPES_IO_ARGUMENT}=volumes" in task.spark_python_task.parameters
        assert submitted["idempotency_token"] == f"retail_assets-{run_id}-{step}" and submitted["timeout_seconds"] > 0
        assert submitted["run_name"] == f"retail_assets {step} {first}..{last} (dagster run {run_id})"
    assert sorted(s["task"].task_key for s in fake.jobs.submitted[-len(ran):]) == sorted(f"retail_{step}" for step in ran)
    chain = {m.asset_key.to_user_string(): m for m in result.asset_materializations_for_node(CHAIN_STEP)}
    assert set(chain) == {*registry.names(Role.CHAIN_FACT), "inventory_checkpoint"}
    lakehouse = Lakehouse(tmp_path / "lakehouse")
    checks = {(e.asset_key.to_user_string(), e.check_name): e for e in result.get_asset_check_evaluations()}
    assert {name for name in registry.names(Role.CHAIN_FACT) if not checks[(name, CONTRACT_CHECK)].passed} == (
        {failed_contract} if failed_contract else set())
    assert checks[("gold_inventory_fact", "no_negative_available")].passed
    # Spark published the tables that passed with the lakehouse's rows (delta-spark; read with delta-rs).
    for step in ran:
        for name, materialization in {m.asset_key.to_user_string(): m
                                      for m in result.asset_materializations_for_node(step)}.items():
            metadata = materialization.metadata
            if name == failed_contract:
                assert not (tmp_path / "published" / name).exists() and metadata["published"].value == (
                    "no: its contract failed")
                continue
            published = DeltaTable(str(tmp_path / "published" / name))
            assert published.to_pyarrow_table().num_rows == lakehouse.read(name).num_rows, name
            assert metadata["published_delta_version"].value == published.version(), name
    assert not any((fake.api_client.volume / "retail_assets" / "pipes" / "tmp").iterdir())  # Pipes cleaned up
    return _chain_submission(fake)


def test_serverless_a_range_is_deployed_run_over_connect_and_reported_back_over_the_volume(
        tmp_path, monkeypatch, connect_url):
    """Over Spark Connect, the sales fact's contract failing on the cluster: the dimensions and
    every chain table but the sales fact are published (the contracts are judged before
    publishing), the sales fact's check fails in Dagster with its count, and the downstream
    assets do not run. The Dagster process never opened the lakehouse."""
    _deploy_task(monkeypatch, tmp_path, SALES_CONTRACT_FAILING)
    fake = _workspace(tmp_path, monkeypatch, connect_url)
    with monkeypatch.context() as host:
        host.setattr(delta.Lakehouse, "__init__", _refuse_on_the_host)
        result = _run(tmp_path, _resource(fake, tmp_path, compute="serverless"))
    submitted = _assert_deployed_and_reported(fake, result, "2025-01-01", "2025-01-03", tmp_path,
                                              failed_contract="gold_sales_fact")
    sales = next(e for e in result.get_asset_check_evaluations()
                 if e.asset_key.to_user_string() == "gold_sales_fact" and e.check_name == CONTRACT_CHECK)
    assert sales.metadata["failures_by_check"].value == {"injected: a line the contract refuses": 1}
    assert not result.asset_materializations_for_node("rollups")  # downstream of a failed blocking check
    assert len(fake.jobs.submitted) == 2  # one job per step for the whole range: dimensions, chain
    (environment,) = submitted["environments"]
    assert environment.environment_key == submitted["task"].environment_key and environment.spec.client is None
    assert environment.spec.environment_version == SERVERLESS_ENVIRONMENT
    assert environment.spec.dependencies == [submitted["wheel"]]
    lakehouse = Lakehouse(tmp_path / "lakehouse")
    assert lakehouse.date_keys("gold_sales_fact") == {20250101, 20250102, 20250103}
    by_day = {m.partition: m.metadata["dagster/row_count"].value
              for m in result.asset_materializations_for_node("daily_chain")
              if m.asset_key.to_user_string() == "gold_sales_fact"}  # each day its own rows
    assert len(by_day) == 3 and sum(by_day.values()) == lakehouse.read("gold_sales_fact").num_rows


def test_classic_a_range_failing_on_its_third_day_keeps_two_and_resumes_to_the_local_engines_rows(
        tmp_path, monkeypatch):
    """The chain's task commits days 1 and 2, then fails and dies before publishing them: Dagster
    records days 1-2 (the task reported them as it committed them) and the step fails with the
    task's own error. Materialising the missing day resumes from it (dimensions, chain, rollups and
    insights, each a job); the chain's job first judges and publishes days 1-2, and the run ends
    with the rows of an uninterrupted run of the local engine, in the lakehouse and in the catalog."""
    fake = _workspace(tmp_path, monkeypatch)
    instance = dg.DagsterInstance.ephemeral()
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse", warmup_days=WARMUP_DAYS)
    defs = build_definitions(config, "databricks", _resource(fake, tmp_path))
    third = config.start_date + dt.timedelta(days=2)
    with monkeypatch.context() as patch:
        patch.setattr(delta.Lakehouse, "__init__", _refuse_on_the_host)
        _deploy_task(patch, tmp_path, FAILING_ON_THE_THIRD_DAY)
        failed = materialize_range(config, config.start_date, third, instance, raise_on_error=False, defs=defs)
    assert not failed.success and "RuntimeError: executor lost while writing 2025-01-03" in _failure(failed)
    for name in [*registry.names(Role.CHAIN_FACT), "inventory_checkpoint"]:
        assert instance.get_materialized_partitions(dg.AssetKey(name)) == {"2025-01-01", "2025-01-02"}, name
    assert not (tmp_path / "published" / "gold_sales_fact").exists()  # committed, never published
    with monkeypatch.context() as host:
        host.setattr(delta.Lakehouse, "__init__", _refuse_on_the_host)
        resumed = materialize_range(config, third, third, instance, raise_on_error=False, defs=defs)
    submitted = _assert_deployed_and_reported(fake, resumed, "2025-01-03", "2025-01-03", tmp_path)
    published = DeltaTable(str(tmp_path / "published" / "gold_sales_fact")).to_pyarrow_table()
    assert set(published.column("date_key").to_pylist()) == {20250101, 20250102, 20250103}
    assert any("2 day(s) 2025-01-01 .. 2025-01-02 that an earlier job committed but did not publish"
               in (entry.user_message or "") for entry in instance.all_logs(resumed.run_id))
    task = submitted["task"]
    assert [library.whl for library in task.libraries] == [submitted["wheel"]]
    cluster = task.new_cluster
    assert cluster.spark_version == LTS_RUNTIME and cluster.single_user_name == USER
    assert cluster.data_security_mode is compute.DataSecurityMode.SINGLE_USER
    assert instance.get_materialized_partitions(dg.AssetKey("gold_sales_fact")) == {
        "2025-01-01", "2025-01-02", "2025-01-03"}
    reference = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "local", warmup_days=WARMUP_DAYS)
    assert materialize_range(reference, config.start_date, third, defs=build_definitions(reference)).success
    for name in [*registry.step_entries(DIMENSIONS_STEP), *registry.step_entries(CHAIN_STEP)]:
        assert canonical(Lakehouse(tmp_path / "lakehouse"), name.name).equals(
            canonical(Lakehouse(tmp_path / "local"), name.name)), name.name


def test_a_failing_task_fails_the_step_with_the_tasks_own_error(tmp_path, monkeypatch):
    _deploy_task(monkeypatch, tmp_path,
                 "def load():\n    raise RuntimeError('cluster ran out of disk on /local_disk0')\n\nload()\n")
    fake = _workspace(tmp_path, monkeypatch)
    result = _run(tmp_path, _resource(fake, tmp_path), days=1)
    assert not result.success
    error = _failure(result)
    assert "Workload failed, see run output for details" in error  # all Databricks' state says
    assert "RuntimeError: cluster ran out of disk on /local_disk0" in error  # the task's get_run_output
    assert "in load" in error  # and its trace


def test_deploying_sends_each_file_once_and_a_changed_file_to_a_new_place(tmp_path, monkeypatch):
    fake = _workspace(tmp_path, monkeypatch)
    task = _deploy_task(monkeypatch, tmp_path, TASK_FILE.read_text())
    resource = _resource(fake, tmp_path)
    first = resource.deploy(fake)
    assert resource.deploy(fake) == first and len(_deployed(fake)) == 2  # already there: nothing sent
    task.write_text(TASK_FILE.read_text() + "\n# changed\n")
    changed = resource.deploy(fake)
    assert changed.wheel == first.wheel and changed.task_file != first.task_file
    assert _deployed(fake)[2:] == [changed.task_file]
    Path(first.wheel).write_bytes(b"cut short")  # a partial file of another size is sent again
    assert resource.deploy(fake) == changed and _deployed(fake)[3:] == [first.wheel]


@pytest.mark.parametrize("wheels, message", [
    ([], "holds no wheel of the project: build exactly one with `make wheel`"),
    (["retail_assets-0.1.0-py3-none-any.whl", "retail_assets-0.2.0-py3-none-any.whl"], "holds 2 wheels"),
])
def test_no_job_is_submitted_without_exactly_one_wheel(tmp_path, monkeypatch, wheels, message):
    folder = tmp_path / "dist"
    folder.mkdir()
    for name in wheels:
        (folder / name).write_bytes(built_wheel(WHEELS).read_bytes())
    fake = _workspace(tmp_path, monkeypatch)
    result = _run(tmp_path, _resource(fake, tmp_path, wheel_path=str(folder)), days=1)
    assert not result.success and message in _failure(result)
    assert fake.jobs.submitted == [] and _deployed(fake) == []


def test_a_wheel_built_from_other_sources_is_refused_naming_the_module(tmp_path):
    stale = tmp_path / "retail_assets-0.1.0-py3-none-any.whl"
    with zipfile.ZipFile(built_wheel(WHEELS)) as built, zipfile.ZipFile(stale, "w") as copy:
        for item in built.infolist():
            data = built.read(item)
            if item.filename.endswith(".dist-info/RECORD"):  # as if config.py had been edited since
                data = b"\n".join(line.replace(b"sha256=", b"sha256=0", 1) if line.startswith(b"retail_assets/config.py,")
                                  else line for line in data.splitlines())
            copy.writestr(item, data)
    with pytest.raises(ValueError, match=r"built from other sources than this checkout \(retail_assets/config.py"):
        built_wheel(stale)


def test_the_cluster_installs_a_slim_wheel_and_the_task_imports_no_dagster():
    """What the cluster installs with the wheel: its base requirements, the core and dagster-pipes,
    not Dagster's web stack (the code location is the `dagster` extra); the task never imports
    dagster itself."""
    with zipfile.ZipFile(built_wheel(WHEELS)) as wheel:
        metadata = wheel.read(next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))).decode()
    base = {line.split(":", 1)[1].strip().split(" ")[0].split(";")[0].split("=")[0].split(">")[0].split("<")[0]
            for line in metadata.splitlines() if line.startswith("Requires-Dist:") and "extra ==" not in line}
    assert "dagster-pipes" in base and "numpy" in base and "pyarrow" in base
    assert not base & {"dagster", "dagster-webserver", "dagster-dg-cli", "dagster-graphql"}, base
    probe = ("import sys, retail_assets.remote.step_task; "
             "print(sorted(m for m in sys.modules if m == 'dagster' or m.startswith('dagster.')))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPOSITORY)
    assert done.returncode == 0 and done.stdout.strip() == "[]", done.stdout + done.stderr


def test_the_task_is_refused_before_submission_where_the_workspace_would_refuse_it(tmp_path, monkeypatch):
    """The fake checks what a workspace checks: a payload without the access mode Unity Catalog
    needs, or with the deprecated serverless ``client``, does not run."""
    fake = _workspace(tmp_path, monkeypatch)
    resource = _resource(fake, tmp_path)
    deployment = resource.deploy(fake)
    task = resource.step_task(deployment, fake, CHAIN_STEP)
    task.new_cluster.data_security_mode = compute.DataSecurityMode.NONE
    with pytest.raises(Exception, match="cannot read Unity Catalog"):
        fake.jobs.submit([task])
    serverless = _resource(fake, tmp_path, compute="serverless")
    settings = serverless.submit_args(deployment, "run", CHAIN_STEP, "2025-01-01", "2025-01-01")
    settings["environments"][0].spec = compute.Environment(client="2", dependencies=[deployment.wheel])
    with pytest.raises(Exception, match="needs environment_version"):
        fake.jobs.submit([serverless.step_task(deployment, fake, CHAIN_STEP)], **settings)
    assert fake.jobs.submitted == []


def test_an_existing_cluster_gets_the_wheel_and_no_cluster_spec(tmp_path, monkeypatch):
    fake = _workspace(tmp_path, monkeypatch)
    resource = _resource(fake, tmp_path, existing_cluster_id="0101-abc", single_user_name="someone@example.com")
    task = resource.step_task(resource.deploy(fake), fake, CHAIN_STEP)
    assert task.existing_cluster_id == "0101-abc" and task.new_cluster is None
    assert task.libraries[0].whl.endswith(".whl")
    assert resource.extras()["publish"] == {"catalog": None, "schema": None, "path": str(tmp_path / "published")}
    defaults = DatabricksResource(volume_path="/Volumes/main/retail/artifacts").extras()
    assert defaults["publish"] == {"catalog": "main", "schema": "retail", "path": None}
    assert defaults["store"] == {"catalog": "main", "schema": "retail_store", "path": None}
    assert defaults["scratch"].startswith("/Volumes/main/retail/artifacts/retail_assets/scratch/")


@pytest.mark.parametrize("fields, message", [
    ({"compute": "serverless", "pipes_io": "dbfs"}, "pipes_io='dbfs' is for classic compute"),
    ({"volume_path": ""}, "volume_path='' is not a volume"),
    ({"pipes_io": "local"}, "pipes_io='local'; allowed: volumes, dbfs"),
    ({"catalog": "main`; DROP SCHEMA retail; --", "tables_path": None}, "is not a plain identifier"),
    ({"schema_name": "retail.x", "tables_path": None}, "is not a plain identifier"),
    ({"store_path": None, "tables_path": None, "store_schema": "retail"}, "store_schema='retail' is also where"),
])
def test_bad_settings_are_named_before_anything_is_sent(tmp_path, monkeypatch, fields, message):
    fake = _workspace(tmp_path, monkeypatch)
    result = _run(tmp_path, _resource(fake, tmp_path, **fields), days=1)
    assert not result.success and message in _failure(result)
    assert fake.jobs.submitted == [] and fake.api_client.uploads == []


def test_the_example_run_config_is_valid_and_deploys_from_the_cli(tmp_path, monkeypatch, capsys):
    """The README's run config validates against the code location's job, takes host and token
    from the environment only, and ``cli deploy -c`` sends the wheel and the task file with it."""
    fake = _workspace(tmp_path, monkeypatch)
    example = yaml.safe_load((REPOSITORY / "databricks.example.yaml").read_text())
    fields = example["resources"]["databricks"]["config"]
    assert fields["host"] == {"env": "DATABRICKS_HOST"} and fields["token"] == {"env": "DATABRICKS_TOKEN"}
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    job = build_definitions(config, "databricks").resolve_job_def("daily_lakehouse")
    monkeypatch.setenv("DATABRICKS_HOST", "https://example.cloud.databricks.com")
    run_config = tmp_path / "run.yaml"
    run_config.write_text(yaml.safe_dump({"resources": {"databricks": {"config": {
        **fields, "volume_path": str(fake.api_client.volume), "wheel_path": str(WHEELS)}}}}))
    monkeypatch.setenv("DATABRICKS_TOKEN", "")
    assert cli.main(["deploy", "-c", str(run_config)]) == 2  # the token's variable is empty
    assert "databricks.token comes from $DATABRICKS_TOKEN, which is not set (or empty)" in capsys.readouterr().err
    monkeypatch.setenv("DATABRICKS_TOKEN", "from-the-environment")
    assert dg.validate_run_config(job, example)
    assert cli.main(["deploy", "-c", str(run_config)]) == 0
    printed = {line.split()[-1] for line in capsys.readouterr().out.splitlines()}
    assert printed == set(_deployed(fake)) and len(printed) == 2


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


def test_an_unknown_engine_is_refused_with_the_allowed_ones(tmp_path):
    config = SimulationConfig.build(preset="tiny", lakehouse_path=tmp_path / "lakehouse")
    with pytest.raises(ValueError, match="engine 'emr' is not available; allowed: local, spark, databricks"):
        build_definitions(config, "emr")
