"""The Databricks resource: runs each step (dimensions, daily chain, rollups, customer insights)
as a one-time Databricks job through Dagster Pipes; the Dagster host uses only the workspace API.

Before submitting, the resource **deploys**: it uploads the project's wheel (``make wheel``) and the
task file ``retail_assets/remote/step_task.py`` to the Unity Catalog volume ``volume_path``
through the Files API, each under a folder named by its content's digest, skipping what is already
there, and refuses to submit without them (or with a wheel built from other sources than this
checkout). The task runs the step with the Spark engine on the job's compute, against the
lakehouse of the configuration (a folder on a volume, seen by the cluster only); Spark publishes
the tables whose contracts passed as Delta tables ``catalog.schema_name.<table>``. The step, the
run's configuration, partition range and publishing target go in the Pipes extras; the task sends
the step's events back (``engine.steps``), which the asset records as on any engine.

Compute: ``classic`` (a new job cluster in dedicated access mode on the current LTS runtime, or
``existing_cluster_id``) through ``PipesDatabricksClient``; ``serverless`` through
``PipesDatabricksServerlessClient`` in a serverless environment of ``environment_version``.
Both exchange the Pipes context and messages as files on the volume (``pipes_io="volumes"``, the
default; ``dbfs`` on request, classic only). A failed job's step error carries the task's own
error and trace (``jobs.get_run_output`` of the task run), not only Databricks' state message.

Host and token come from ``DATABRICKS_HOST`` / ``DATABRICKS_TOKEN`` (``dagster.EnvVar``: never
written in the run config); an empty host or token, as a launchpad run config that leaves them
out makes them, falls back to the same variables.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import io
import os
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from retail_assets.engine.steps import StepEvent, from_message
from retail_assets.remote import PIPES_IO_ARGUMENT, STEP_EVENT_MESSAGE
from retail_assets.storage.spark_tables import SparkTables

if TYPE_CHECKING:  # the databricks packages come with the `spark` extra; the embedded default needs none
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import files, jobs

COMPUTE = ("classic", "serverless")
PIPES_IO = ("volumes", "dbfs")  # how context and messages travel: UC volume files, or DBFS (classic only)
ENVIRONMENT_KEY = "retail_assets"  # the serverless task's environment (the wheel as its dependency)
LTS_RUNTIME = "17.3.x-scala2.13"  # Databricks Runtime 17.3 LTS: Spark 4.0 (the engine needs 3.5 or later)
SERVERLESS_ENVIRONMENT = "4"  # serverless environment 4: Python 3.12, Databricks Connect 17.3 (Spark 4.0)
DEPLOY_FOLDER = "retail_assets/deploy"  # under the volume: <digest>/<file name>
PIPES_FOLDER = "retail_assets/pipes"  # under the volume: each run's Pipes context and messages
SCRATCH_FOLDER = "retail_assets/scratch"  # under the volume: the Spark engine's block rows, per store
PACKAGE = Path(__file__).resolve().parents[1]  # the retail_assets package of this checkout
TASK_FILE = PACKAGE / "remote" / "step_task.py"
WHEEL_NAME = re.compile(r"retail_assets-[^-]+-.+\.whl")


@dataclass(frozen=True)
class Deployment:
    """Where the job finds the project: the wheel and the task file, on the volume."""

    wheel: str
    task_file: str


def built_wheel(path: Path) -> Path:
    """The project's wheel at ``path`` (a wheel, or a folder holding one), refused when missing,
    ambiguous, or built from other sources than this checkout's package."""
    wheels = sorted(path.glob("retail_assets-*.whl")) if path.is_dir() else [path] if path.is_file() else []
    wheels = [wheel for wheel in wheels if WHEEL_NAME.fullmatch(wheel.name)]
    if len(wheels) != 1:
        found = "no wheel" if not wheels else f"{len(wheels)} wheels ({', '.join(w.name for w in wheels)})"
        raise ValueError(f"databricks.wheel_path={str(path)!r} holds {found} of the project: build exactly one "
                         "with `make wheel` (the job installs it on the cluster)")
    differing = _differing_module(wheels[0])
    if differing:
        raise ValueError(f"{wheels[0]} was built from other sources than this checkout ({differing} differs): "
                         "rebuild it with `make wheel`, or the cluster would run other code than this run's")
    return wheels[0]


def _differing_module(wheel: Path) -> str | None:
    """The first module of the package whose bytes differ between the wheel (its RECORD's
    digests) and this checkout, or that only one of them has."""
    with zipfile.ZipFile(wheel) as archive:
        record = next(name for name in archive.namelist() if name.endswith(".dist-info/RECORD"))
        packed = {}
        for line in archive.read(record).decode().splitlines():
            name, digest, _ = line.rsplit(",", 2)
            if name.startswith("retail_assets/") and name.endswith(".py"):
                packed[name] = digest.removeprefix("sha256=")
    local = {str(path.relative_to(PACKAGE.parent)): path for path in PACKAGE.rglob("*.py")}
    for name in sorted(packed.keys() | local.keys()):
        if name not in packed or name not in local or packed[name] != _record_digest(local[name].read_bytes()):
            return name
    return None


def _record_digest(data: bytes) -> str:
    """A wheel RECORD's digest of ``data``: urlsafe base64 of its SHA-256, unpadded."""
    return base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def from_run_config(path: Path) -> DatabricksResource:
    """The resource a run config file sets (``resources: databricks: config:``, as the launchpad
    and ``dagster asset materialize -c`` take it), ``{env: NAME}`` values read from the environment."""
    import yaml

    if not path.is_file():
        raise ValueError(f"-c {path}: no such file; start from databricks.example.yaml")
    document = yaml.safe_load(path.read_text()) or {}
    fields = (((document.get("resources") or {}).get("databricks") or {}).get("config")) or {}
    if not fields:
        raise ValueError(f"-c {path}: it sets no resources.databricks.config; start from databricks.example.yaml")

    def value(name: str, given: object) -> object:
        if not isinstance(given, dict):
            return given
        variable = given.get("env")
        if not os.environ.get(variable):
            raise ValueError(f"-c {path}: databricks.{name} comes from ${variable}, which is not set (or empty)")
        return os.environ[variable]

    return DatabricksResource(**{name: value(name, given) for name, given in fields.items()})


def task_error(client: WorkspaceClient, run_id: int) -> str:
    """The error and trace each task of the run reported (``get_run_output`` answers per task
    run, not for the job run)."""
    run = client.jobs.get_run(run_id)
    reports = []
    for task in run.tasks or []:
        output = client.jobs.get_run_output(task.run_id)
        if output.error or output.error_trace:
            reports.append(f"task {task.task_key}: {output.error or ''}\n{output.error_trace or ''}".rstrip())
    return "\n".join(reports) or "(the task reported no error text)"


class DatabricksResource(dg.ConfigurableResource):
    """A Databricks workspace, the compute the steps run on, the volume they are deployed to, and
    where Spark publishes their tables."""

    host: str = Field(default="", description="Workspace URL; empty: DATABRICKS_HOST.")
    token: str = Field(default="", description="Personal access token; empty: DATABRICKS_TOKEN.")
    compute: str = Field(default="classic", description="classic (job or existing cluster) or serverless.")
    existing_cluster_id: str | None = None
    spark_version: str = Field(default=LTS_RUNTIME, description="The job cluster's runtime (17.3 LTS).")
    node_type_id: str = "i3.xlarge"
    num_workers: int = 2
    single_user_name: str = Field(
        default="", description="The job cluster's user (dedicated access mode); empty: the token's own user.")
    volume_path: str = Field(
        default="", description="A Unity Catalog volume, /Volumes/<catalog>/<schema>/<volume>: the deployed wheel "
        "and task file, and the Pipes files.")
    wheel_path: str = Field(default="dist", description="The project's wheel (`make wheel`), or a folder holding it.")
    environment_version: str = Field(default=SERVERLESS_ENVIRONMENT, description="Serverless environment version.")
    timeout_seconds: int = Field(default=6 * 3600, description="The job run's time limit.")
    catalog: str = Field(default="main", description="Unity Catalog catalog of the published tables.")
    schema_name: str = Field(default="retail", description="Unity Catalog schema of the published tables.")
    tables_path: str | None = Field(
        default=None, description="Publish folders of tables under this path instead of catalog tables.")
    store_schema: str = Field(
        default="retail_store", description="Unity Catalog schema of the lakehouse of record: every table and its "
        "commit ledger as the tasks write them, judged or not (the judged tables are published to schema_name).")
    store_path: str | None = Field(
        default=None, description="Keep the lakehouse of record in folders under this path instead of catalog tables.")
    pipes_io: str = Field(default="volumes", description="volumes (classic and serverless) or dbfs (classic).")
    poll_interval_seconds: float = 5.0

    def workspace_client(self) -> WorkspaceClient:
        """The workspace's client. Run config given for this resource replaces the configured
        ``EnvVar`` host and token with the empty defaults, so empty ones fall back to
        DATABRICKS_HOST / DATABRICKS_TOKEN."""
        from databricks.sdk import WorkspaceClient

        host = self.host or os.environ.get("DATABRICKS_HOST")
        token = self.token or os.environ.get("DATABRICKS_TOKEN")
        if not host or not token:
            raise ValueError("databricks.host / databricks.token are empty: set DATABRICKS_HOST and DATABRICKS_TOKEN")
        return WorkspaceClient(host=host, token=token)

    @property
    def serverless(self) -> bool:
        if self.compute not in COMPUTE:
            raise ValueError(f"databricks.compute={self.compute!r}; allowed: {', '.join(COMPUTE)}")
        return self.compute == "serverless"

    @property
    def io(self) -> str:
        if self.pipes_io not in PIPES_IO:
            raise ValueError(f"databricks.pipes_io={self.pipes_io!r}; allowed: {', '.join(PIPES_IO)}")
        if self.serverless and self.pipes_io == "dbfs":
            raise ValueError("databricks.pipes_io='dbfs' is for classic compute: serverless exchanges the Pipes "
                             "files on a Unity Catalog volume (pipes_io='volumes')")
        return self.pipes_io

    @property
    def volume(self) -> str:
        if not self.volume_path.startswith("/") or self.volume_path.rstrip("/") == "":
            raise ValueError(f"databricks.volume_path={self.volume_path!r} is not a volume: set a Unity Catalog "
                             "volume, e.g. /Volumes/main/retail/artifacts (it receives the wheel, the task file "
                             "and the Pipes files)")
        return self.volume_path.rstrip("/")

    def publish_target(self) -> SparkTables:
        """Where the task's Spark publishes the tables whose contracts passed."""
        if self.tables_path:
            return SparkTables(path=self.tables_path)
        return SparkTables(catalog=self.catalog, schema=self.schema_name)

    def store(self) -> SparkTables:
        """Where the tasks keep the lakehouse of record; never where they publish."""
        store = (SparkTables(path=self.store_path) if self.store_path
                 else SparkTables(catalog=self.catalog, schema=self.store_schema))
        if store == self.publish_target():
            raise ValueError(f"databricks.store_schema={self.store_schema!r} is also where the judged tables are "
                             "published (schema_name): give the lakehouse of record a schema of its own")
        return store

    def extras(self) -> dict[str, Any]:
        """Where the task keeps and publishes the tables; names are checked here, before any run."""
        store = self.store()
        return {"scratch": f"{self.volume}/{SCRATCH_FOLDER}/{hashlib.sha256(store.describe().encode()).hexdigest()[:16]}",
                **{role: {"catalog": tables.catalog, "schema": tables.schema, "path": tables.path}
                   for role, tables in (("store", store), ("publish", self.publish_target()))}}

    # ------------------------------------------------------------------ deploy
    def deploy(self, client: WorkspaceClient) -> Deployment:
        """Upload the wheel and the task file to the volume (content-addressed: a file already
        there, same size, is not sent again); where the job finds them."""
        from databricks.sdk.service import files

        wheel = built_wheel(Path(self.wheel_path))  # refused before anything is sent
        api = files.FilesAPI(client.api_client)
        return Deployment(wheel=self._upload(api, wheel), task_file=self._upload(api, TASK_FILE))

    def _upload(self, api: files.FilesAPI, local: Path) -> str:
        from databricks.sdk.errors import NotFound

        data = local.read_bytes()
        remote = f"{self.volume}/{DEPLOY_FOLDER}/{hashlib.sha256(data).hexdigest()[:16]}/{local.name}"
        try:
            if api.get_metadata(remote).content_length == len(data):
                return remote
        except NotFound:
            pass
        api.upload(remote, io.BytesIO(data), overwrite=True)
        return remote

    # ------------------------------------------------------------------ the job
    def pipes_client(self, client: WorkspaceClient, on_event: Callable[[StepEvent], None]):
        """The Pipes client of the compute, exchanging context and messages on the volume (or
        DBFS); ``on_event`` gets each event of the task's step as it arrives."""
        from dagster_databricks.pipes import (
            PipesDatabricksClient,
            PipesDatabricksServerlessClient,
            PipesDbfsContextInjector,
            PipesDbfsMessageReader,
            PipesUnityCatalogVolumesContextInjector,
            PipesUnityCatalogVolumesMessageReader,
        )

        pipes_folder = f"{self.volume}/{PIPES_FOLDER}"
        if self.io == "volumes":
            injector = PipesUnityCatalogVolumesContextInjector(client=client, volume_path=pipes_folder)
            reader = PipesUnityCatalogVolumesMessageReader(client=client, volume_path=pipes_folder,
                                                           interval=self.poll_interval_seconds)
        else:
            injector, reader = PipesDbfsContextInjector(client=client), PipesDbfsMessageReader(client=client)
        channel = {"poll_interval_seconds": self.poll_interval_seconds, "context_injector": injector,
                   "message_reader": StepEventsReader(reader, on_event)}
        if self.serverless:
            return _with_task_errors(PipesDatabricksServerlessClient)(client=client, volume_path=pipes_folder,
                                                                      **channel)
        return _with_task_errors(PipesDatabricksClient)(client=client, **channel)

    def step_task(self, deployment: Deployment, client: WorkspaceClient, step: str) -> jobs.SubmitTask:
        """The job's one task, running ``step``: the deployed task file, the wheel as its library (classic) or its
        environment's dependency (serverless). A new job cluster runs in dedicated access mode
        (Unity Catalog, every Spark API) as ``single_user_name`` (default: the token's user)."""
        from databricks.sdk.service import compute, jobs

        task = jobs.SubmitTask(
            task_key=f"retail_{step}",
            spark_python_task=jobs.SparkPythonTask(python_file=deployment.task_file,
                                                   parameters=[f"{PIPES_IO_ARGUMENT}={self.io}"]),
        )
        if self.serverless:
            task.environment_key = ENVIRONMENT_KEY
            return task
        task.libraries = [compute.Library(whl=deployment.wheel)]
        if self.existing_cluster_id:
            task.existing_cluster_id = self.existing_cluster_id
            return task
        user = self.single_user_name or client.current_user.me().user_name
        task.new_cluster = compute.ClusterSpec(
            spark_version=self.spark_version, node_type_id=self.node_type_id, num_workers=self.num_workers,
            data_security_mode=compute.DataSecurityMode.SINGLE_USER, single_user_name=user)
        return task

    def submit_args(self, deployment: Deployment, run_id: str, step: str, first: str, last: str) -> dict[str, Any]:
        """The one-time run's settings: a name, a time limit, an idempotency token per Dagster run
        (a retried submission does not start a second job), and the serverless environment."""
        from databricks.sdk.service import compute, jobs

        settings: dict[str, Any] = {"run_name": f"retail_assets {step} {first}..{last} (dagster run {run_id})",
                                    "timeout_seconds": self.timeout_seconds,
                                    "idempotency_token": f"retail_assets-{run_id}-{step}"}
        if self.serverless:
            spec = compute.Environment(environment_version=self.environment_version, dependencies=[deployment.wheel])
            settings["environments"] = [jobs.JobEnvironment(environment_key=ENVIRONMENT_KEY, spec=spec)]
        return settings

    def run_step(self, context: dg.AssetExecutionContext, step: str, config_json: str,
                 days: tuple[dt.date, dt.date], on_event: Callable[[StepEvent], None]) -> None:
        """Deploy, then run ``step`` over ``days`` as a one-time job; ``on_event`` gets each of the
        step's events as the task sends it. Raises with the task's own error when it fails."""
        target = self.extras()  # names checked before anything is sent
        client = self.workspace_client()
        pipes = self.pipes_client(client, on_event)
        deployment = self.deploy(client)
        context.log.info(f"Deployed {deployment.wheel} and {deployment.task_file}")
        first, last = (str(day) for day in days)
        extras = {"step": step, "config_json": config_json, "first_day": first, "last_day": last, **target}
        submit = self.submit_args(deployment, context.run.run_id, step, first, last)
        pipes.run(context=context, task=self.step_task(deployment, client, step), extras=extras,
                  submit_args=submit).get_results()  # the events came through on_event


def _with_task_errors(client_class):
    """``client_class`` whose failed runs raise with the task's own error and trace."""
    from dagster._core.errors import DagsterPipesExecutionError  # what the Pipes clients raise (not exported)

    class WithTaskErrors(client_class):
        def _poll_til_success(self, context, run_id: int) -> None:
            try:
                super()._poll_til_success(context, run_id)
            except DagsterPipesExecutionError as error:
                raise DagsterPipesExecutionError(f"{error}\n{task_error(self.client, run_id)}") from error

    WithTaskErrors.__name__ = client_class.__name__
    return WithTaskErrors


class StepEventsReader(dg.PipesMessageReader):
    """A channel's message reader that also hands each step event the task sends (its
    ``STEP_EVENT_MESSAGE`` custom messages) to ``on_event`` as it arrives, so that a range failing
    later still records the days it committed."""

    def __init__(self, reader: dg.PipesMessageReader, on_event: Callable[[StepEvent], None]):
        self.reader, self.on_event = reader, on_event

    @contextmanager
    def read_messages(self, handler) -> Iterator[dict]:
        with self.reader.read_messages(_StepEventsHandler(handler, self.on_event)) as params:
            yield params

    def on_opened(self, opened_payload) -> None:
        self.reader.on_opened(opened_payload)

    def on_launched(self, launched_payload) -> None:
        self.reader.on_launched(launched_payload)

    def no_messages_debug_text(self) -> str:
        return self.reader.no_messages_debug_text()


class _StepEventsHandler:
    """The session's message handler; step events go to ``on_event`` instead."""

    def __init__(self, handler, on_event: Callable[[StepEvent], None]):
        self._handler, self._on_event = handler, on_event

    def handle_message(self, message) -> None:
        payload = message["params"].get("payload") if message["method"] == "report_custom_message" else None
        if isinstance(payload, dict) and STEP_EVENT_MESSAGE in payload:
            self._on_event(from_message(payload[STEP_EVENT_MESSAGE]))
            return
        self._handler.handle_message(message)

    def __getattr__(self, name: str):
        return getattr(self._handler, name)
