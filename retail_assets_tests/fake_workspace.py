"""A Databricks workspace on this machine, for the Databricks path's tests: it fails where a real
workspace would, rather than swallowing what would fail there.

- **Files API** (``api_client``): the real SDK's ``FilesAPI`` (and so Dagster's real volumes
  context injector and message reader) talk to it; it serves the volume's files from a local
  folder, at the same paths, which the task's Pipes loaders open directly, as volumes are mounted
  on Databricks compute. A path outside the volume is refused; a missing file is ``NotFound``.
- **Jobs** (``jobs``): ``submit`` checks the payload as the Jobs API and the cluster would (the
  task file and the wheel present in the volume, an access mode that Unity Catalog accepts, a
  serverless environment with an ``environment_version`` and the wheel, a run name, a time limit,
  an idempotency token that returns the first run when reused), then runs the task's file in a
  subprocess: on a classic local session, or over Spark Connect (``SPARK_REMOTE``) for serverless.
  ``get_run_output`` answers only for a task run, as the real one does.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path

from databricks.sdk.errors import AlreadyExists, InvalidParameterValue, NotFound, PermissionDenied
from databricks.sdk.service import compute, iam, jobs

FILES, DIRECTORIES = "/api/2.0/fs/files", "/api/2.0/fs/directories"
UNITY_CATALOG_MODES = {compute.DataSecurityMode.SINGLE_USER, compute.DataSecurityMode.USER_ISOLATION,
                       compute.DataSecurityMode.DATA_SECURITY_MODE_DEDICATED,
                       compute.DataSecurityMode.DATA_SECURITY_MODE_STANDARD}


class FakeFilesApi:
    """The Files API's HTTP calls (``ApiClient.do``) served from ``volume``, a local folder."""

    def __init__(self, volume: Path):
        self.volume = volume
        self.uploads: list[str] = []  # every file uploaded, in order

    def _local(self, path: str) -> Path:
        local = Path(urllib.parse.unquote(path))
        if not local.is_relative_to(self.volume):
            raise PermissionDenied(f"{local} is not in the volume {self.volume}")
        return local

    def do(self, method: str, path: str, query=None, headers=None, body=None, raw=False, files=None, data=None,
           auth=None, response_headers=None):
        for prefix, kind in ((FILES, "file"), (DIRECTORIES, "directory")):
            if path.startswith(prefix):
                return getattr(self, f"_{method.lower()}_{kind}")(self._local(path[len(prefix):]), query or {}, data)
        raise AssertionError(f"the fake serves the Files API only, not {method} {path}")

    def _put_file(self, local: Path, query: dict, data) -> dict:
        if local.exists() and str(query.get("overwrite", True)).lower() == "false":
            raise AlreadyExists(f"{local} already exists")
        local.parent.mkdir(parents=True, exist_ok=True)
        local.write_bytes(data.read())
        self.uploads.append(str(local))
        return {}

    def _get_file(self, local: Path, *_) -> dict:
        if not local.is_file():
            raise NotFound(f"{local} does not exist")
        return {"contents": io.BytesIO(local.read_bytes()), "content-length": local.stat().st_size}

    def _head_file(self, local: Path, *_) -> dict:
        if not local.is_file():
            raise NotFound(f"{local} does not exist")
        return {"content-length": local.stat().st_size}

    def _delete_file(self, local: Path, *_) -> dict:
        if not local.is_file():
            raise NotFound(f"{local} does not exist")
        local.unlink()
        return {}

    def _put_directory(self, local: Path, *_) -> dict:
        local.mkdir(parents=True, exist_ok=True)
        return {}

    def _head_directory(self, local: Path, *_) -> dict:
        if not local.is_dir():
            raise NotFound(f"{local} does not exist")
        return {}

    def _get_directory(self, local: Path, *_) -> dict:
        if not local.is_dir():
            raise NotFound(f"{local} does not exist")
        return {"contents": [{"name": entry.name, "path": str(entry), "is_directory": entry.is_dir(),
                              "file_size": entry.stat().st_size if entry.is_file() else None}
                             for entry in sorted(local.iterdir())]}

    def _delete_directory(self, local: Path, *_) -> dict:
        if not local.is_dir():
            raise NotFound(f"{local} does not exist")
        local.rmdir()  # the real API deletes empty directories only
        return {}


@dataclass
class FinishedTask:
    run_id: int
    task_key: str
    process: subprocess.CompletedProcess


@dataclass
class FakeJobs:
    """One-time runs, each run to its end when submitted; ``spark_remote``: the Spark Connect
    server serverless tasks use (classic tasks start a local session)."""

    files: FakeFilesApi
    spark_remote: str | None = None
    submitted: list[dict] = field(default_factory=list)  # every accepted submission's arguments
    runs: dict[int, FinishedTask] = field(default_factory=dict)  # job run id -> its task's run
    tokens: dict[str, int] = field(default_factory=dict)

    def submit(self, tasks, run_name=None, timeout_seconds=None, idempotency_token=None, environments=None, **rest):
        if idempotency_token in self.tokens:
            return _Submitted(self.tokens[idempotency_token])
        (task,) = tasks
        arguments = {"task": task, "run_name": run_name, "timeout_seconds": timeout_seconds,
                     "idempotency_token": idempotency_token, "environments": environments, **rest}
        dependencies = self._check(task, environments)
        self._require_file(task.spark_python_task.python_file, "spark_python_task.python_file")
        for dependency in dependencies:
            self._require_file(dependency, "the wheel")
        self.submitted.append(arguments)
        env = {**os.environ, **((task.new_cluster.spark_env_vars or {}) if task.new_cluster else {})}
        env.pop("SPARK_REMOTE", None)
        if task.environment_key:  # serverless: Spark Connect
            env["SPARK_REMOTE"] = self.spark_remote
        command = [sys.executable, task.spark_python_task.python_file, *(task.spark_python_task.parameters or [])]
        run_id = 1000 + 2 * len(self.runs)
        self.runs[run_id] = FinishedTask(run_id + 1, task.task_key,
                                         subprocess.run(command, env=env, capture_output=True, text=True))
        if idempotency_token:
            self.tokens[idempotency_token] = run_id
        return _Submitted(run_id)

    def _check(self, task: jobs.SubmitTask, environments) -> list[str]:
        """What the Jobs API and the cluster refuse; the libraries the task installs."""
        if task.environment_key:
            (environment,) = [e for e in environments or [] if e.environment_key == task.environment_key]
            if environment.spec.client is not None or not environment.spec.environment_version:
                raise InvalidParameterValue("the serverless environment needs environment_version (client is "
                                            "deprecated)")
            return list(environment.spec.dependencies or [])
        if task.new_cluster is not None:
            cluster = task.new_cluster
            if cluster.data_security_mode not in UNITY_CATALOG_MODES:
                raise InvalidParameterValue(f"access mode {cluster.data_security_mode} cannot read Unity Catalog")
            if cluster.data_security_mode is compute.DataSecurityMode.SINGLE_USER and not cluster.single_user_name:
                raise InvalidParameterValue("a dedicated cluster needs single_user_name")
        wheels = [library.whl for library in task.libraries or [] if library.whl]
        if not wheels:
            raise AssertionError("no wheel is attached: the task could not import the project on a cluster")
        return wheels

    def _require_file(self, path: str, what: str) -> None:
        try:
            self.files._head_file(self.files._local(path))
        except (NotFound, PermissionDenied) as error:
            raise InvalidParameterValue(f"{what} {path}: {error}") from None

    def get_run(self, run_id: int) -> jobs.Run:
        task = self.runs[run_id]
        failed = task.process.returncode != 0
        return jobs.Run(run_id=run_id, run_page_url=f"https://workspace.example/#job/run/{run_id}",
                        tasks=[jobs.RunTask(run_id=task.run_id, task_key=task.task_key)],
                        state=jobs.RunState(
                            life_cycle_state=jobs.RunLifeCycleState.TERMINATED,
                            result_state=jobs.RunResultState.FAILED if failed else jobs.RunResultState.SUCCESS,
                            state_message="Workload failed, see run output for details" if failed else ""))

    def get_run_output(self, run_id: int) -> jobs.RunOutput:
        if run_id in self.runs:
            raise InvalidParameterValue("Retrieving the output of runs with multiple tasks is not supported. "
                                        "Please retrieve the output of each individual task run instead.")
        (task,) = [task for task in self.runs.values() if task.run_id == run_id]
        if task.process.returncode == 0:
            return jobs.RunOutput()
        lines = task.process.stderr.strip().splitlines()
        return jobs.RunOutput(error=lines[-1] if lines else "", error_trace="\n".join(lines[-40:]))

    def cancel_run(self, run_id):
        raise AssertionError("nothing is cancelled in these tests")


class _Submitted:
    def __init__(self, run_id: int):
        self.run_id = run_id

    def bind(self) -> dict:
        return {"run_id": self.run_id}


class _CurrentUser:
    def me(self) -> iam.User:
        return iam.User(user_name="data.engineer@example.com")


class FakeWorkspace:
    """The ``WorkspaceClient`` the resource gets: Files API, Jobs API, the token's user."""

    def __init__(self, volume: Path, spark_remote: str | None = None):
        volume.mkdir(parents=True, exist_ok=True)
        self.api_client = FakeFilesApi(volume)
        self.jobs = FakeJobs(self.api_client, spark_remote)
        self.current_user = _CurrentUser()
