"""A real Dagster webserver + daemon (``dg dev``, as ``make dev`` starts it) for the UI tests.

It binds to a free loopback port, uses its own DAGSTER_HOME (the repository's dagster.yaml with
its storage moved into a temporary folder, its run monitoring polling sooner) and lakehouse, and is stopped by its process group
when the test ends, so nothing outlives the test or touches the repository's instance.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[1]
READY_SECONDS = 180
# The repository's run monitoring polls every minute; the tests' instance sooner, so a killed
# run is failed (and its pool slot freed) in seconds rather than a minute.
FASTER_MONITORING = {"poll_interval_seconds": 5, "free_slots_after_run_end_seconds": 5}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class DagsterServer:
    """``dg dev`` on 127.0.0.1 with ``environment`` (RETAIL_* variables) over a private home."""

    def __init__(self, home: Path, environment: dict[str, str]):
        home.mkdir(parents=True, exist_ok=True)
        instance_yaml = (REPOSITORY / "dagster.yaml").read_text().replace(".dagster_home/", f"{home}/")
        for setting, seconds in FASTER_MONITORING.items():  # the same run monitoring, polling sooner
            instance_yaml = re.sub(rf"{setting}: \d+", f"{setting}: {seconds}", instance_yaml)
        (home / "dagster.yaml").write_text(instance_yaml)
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        venv = Path(sys.executable).parent.parent
        env = {**os.environ, **environment, "DAGSTER_HOME": str(home), "VIRTUAL_ENV": str(venv),
               "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"}
        self.log = (home / "server.log").open("w")
        self.process = subprocess.Popen(
            [str(venv / "bin" / "dg"), "dev", "--host", "127.0.0.1", "--port", str(self.port)],
            cwd=REPOSITORY, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        self._wait_until_loaded()

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        body = json.dumps({"query": query, "variables": variables or {}}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", body, {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=60) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as error:  # the server's own message, as the UI would show it
            raise AssertionError(f"GraphQL HTTP {error.code}: {error.read().decode()[:2000]}") from None
        if answer.get("errors"):
            raise AssertionError(f"GraphQL errors: {answer['errors']}")
        return answer["data"]

    def _wait_until_loaded(self) -> None:
        deadline = time.monotonic() + READY_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"dg dev exited with {self.process.returncode}; see {self.log.name}")
            try:
                entries = self.graphql("""{ workspaceOrError { ... on Workspace { locationEntries {
                    locationOrLoadError { __typename ... on PythonError { message } } } } } }""")
                states = [entry["locationOrLoadError"] for entry in entries["workspaceOrError"]["locationEntries"]]
                if states and all(state["__typename"] == "RepositoryLocation" for state in states):
                    return
                errors = [state["message"] for state in states if state["__typename"] == "PythonError"]
                if errors:
                    raise RuntimeError(f"the code location did not load: {errors[0]}")
            except OSError:
                pass
            time.sleep(1)
        raise TimeoutError(f"dg dev did not load the code location in {READY_SECONDS} s; see {self.log.name}")

    def stop(self) -> None:
        """Stop the webserver, the daemon, the code server and their runs: the whole process group
        (``dg dev`` ignores SIGTERM and SIGINT for long seconds; its storage is thrown away)."""
        try:
            os.killpg(self.process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.log.close()
