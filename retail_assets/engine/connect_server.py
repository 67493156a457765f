"""A local Spark Connect server with Delta Lake: the closest thing to Databricks serverless and
standard-access clusters on one machine (the tests and ``make bench ENGINE=connect``).

PySpark 4 ships the server (``SparkConnectServer`` in its ``spark-connect`` jar); it is started
with ``spark-submit`` and the Delta jars of the install step, bound to 127.0.0.1, its Python workers
running this interpreter (the project and its packages), and stopped by its PID.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from retail_assets.engine.spark_session import (
    DELTA_CONFIG,
    LOCAL_MASTER,
    LOCAL_PARALLELISM,
    LOCAL_SQL_CONFIG,
    SparkSetupError,
    delta_jars,
)

SERVER_CLASS = "org.apache.spark.sql.connect.service.SparkConnectServer"
STARTUP_SECONDS = 120


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def local_connect_server(log: Path) -> Iterator[str]:
    """Run a local Spark Connect server for the duration of the block; yields its ``sc://`` URL.
    The server's output goes to ``log``."""
    import pyspark

    jars = delta_jars()
    port = _free_port()
    conf = {
        **DELTA_CONFIG, **LOCAL_SQL_CONFIG,
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(port),
        "spark.default.parallelism": str(LOCAL_PARALLELISM),
        "spark.ui.enabled": "false",
        "spark.driver.memory": "4g",
    }
    command = [str(Path(pyspark.__file__).parent / "bin" / "spark-submit"), "--class", SERVER_CLASS,
               "--master", LOCAL_MASTER, "--jars", ",".join(str(jar) for jar in jars)]
    for key, value in conf.items():
        command += ["--conf", f"{key}={value}"]
    command.append("spark-internal")
    environment = {**os.environ, "PYSPARK_PYTHON": sys.executable}
    environment.pop("SPARK_REMOTE", None)
    with open(log, "ab") as output:
        server = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=environment,
                                  start_new_session=True)
    try:
        deadline = time.monotonic() + STARTUP_SECONDS
        while not _listening(port):
            if server.poll() is not None or time.monotonic() > deadline:
                raise SparkSetupError(f"the local Spark Connect server did not start (exit {server.poll()}): see {log}")
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
