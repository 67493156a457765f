"""The local Spark session: PySpark with Delta Lake (delta-spark), and nothing downloaded.

Spark reads and writes Delta through the Delta jars on its classpath. The project's install step
(`make .venv/.spark`, and the test set-up) fetches them once from Maven Central into
``.spark-jars/``; a session is built from that folder (``spark.jars``), never with
``spark.jars.packages``, which would resolve and download them at run time. Delta's jars are
built for one Spark minor version: the pairs are pinned here and in the Makefile (4.2, the
``spark`` extra; 3.5, the lowest line the engine supports, the ``spark35`` extra), and a
session on another Spark line is refused before any day runs, naming what is needed.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

# Spark line -> the jars a local session of that line loads (the Makefile fetches them all).
DELTA_JARS = {
    "4.2": ("delta-spark_4.2_2.13-4.4.0.jar", "delta-storage-4.4.0.jar"),  # delta-spark (Python) 4.4.x
    "3.5": ("delta-spark_2.12-3.3.2.jar", "delta-storage-3.3.2.jar"),  # Databricks Runtime 15.4 / 16.4 LTS's line
}
JARS_VARIABLE = "RETAIL_SPARK_JARS"  # the folder holding DELTA_JARS; default: .spark-jars in the checkout
MINIMUM_SPARK = (3, 5)  # the oldest Spark the engine runs on (Databricks Runtime 15.4 LTS)
REMOTE_VARIABLE = "SPARK_REMOTE"  # Spark Connect's standard variable: sc://host:port
DATABRICKS_RUNTIME = "DATABRICKS_RUNTIME_VERSION"  # set on every Databricks cluster
LOCAL_MASTER = "local[2]"
LOCAL_PARALLELISM = 2  # local[2]: one task per core
DELTA_CONFIG = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


LOCAL_SQL_CONFIG = {  # the same for the local Spark Connect server (its --conf flags)
    "spark.sql.shuffle.partitions": "4",
    # Delta rebuilds a table's snapshot with this many tasks: 50 by default, which on two cores
    # costs more than the engine's daily job itself.
    "spark.databricks.delta.snapshotPartitions": "2",
    "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # not INT96: every Delta reader reads it
}


def default_session():
    """The session the engine uses when it is given none: the cluster's on Databricks, else the
    active one, else ``session_config``'s (Spark Connect or local[2])."""
    from pyspark.sql import SparkSession

    if DATABRICKS_RUNTIME in os.environ:
        return SparkSession.builder.getOrCreate()
    active = None if os.environ.get(REMOTE_VARIABLE) else SparkSession.getActiveSession()
    if active is not None:
        return active
    builder = SparkSession.builder
    for key, value in session_config().items():
        builder = builder.config(key, value)
    return builder.getOrCreate()


def configured_parallelism(spark) -> int:
    """Tasks a session runs at once, read from its configuration (works on Spark Connect, which
    has no SparkContext): ``spark.default.parallelism``, else ``spark.sql.shuffle.partitions``."""
    value = spark.conf.get("spark.default.parallelism", None) or spark.conf.get("spark.sql.shuffle.partitions")
    return int(value)


class SparkSetupError(RuntimeError):
    """The Spark session cannot be built as the engine needs it: the message says how to fix it."""


def jars_folder() -> Path:
    default = Path(__file__).resolve().parents[2] / ".spark-jars"
    return Path(os.environ.get(JARS_VARIABLE, default)).expanduser()


def spark_line(version: str) -> str:
    return ".".join(version.split(".")[:2])


def delta_jars() -> list[Path]:
    """The jars of the installed PySpark's line, all present; SparkSetupError naming the missing
    ones and the fix otherwise."""
    import pyspark

    require_jar_line(pyspark.__version__)
    folder = jars_folder()
    jars = [folder / name for name in DELTA_JARS[spark_line(pyspark.__version__)]]
    missing = [jar.name for jar in jars if not jar.is_file()]
    if missing:
        raise SparkSetupError(
            f"Delta Lake's Spark jars are missing from {folder}: {', '.join(missing)}. Run `make .venv/.spark` "
            f"(it fetches them from Maven Central once), or set {JARS_VARIABLE} to a folder holding them.")
    return jars


def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def require_supported_spark(version: str) -> None:
    """Refuse a session older than the engine's minimum (``mapInArrow`` with the Arrow types the
    block rows use), before any day runs."""
    if _minor(version) < MINIMUM_SPARK:
        needed = ".".join(map(str, MINIMUM_SPARK))
        raise SparkSetupError(
            f"Spark {version} is older than the Spark engine needs: use Spark {needed} or later (Databricks "
            f"Runtime 15.4 LTS or later, or pyspark>={needed} with its Delta jars).")


def require_jar_line(version: str) -> None:
    """Refuse a local Spark no Delta jars here are built for, before anything runs."""
    if spark_line(version) not in DELTA_JARS:
        lines = " or ".join(f"{line}.x" for line in DELTA_JARS)
        raise SparkSetupError(
            f"Spark {version}: the Delta jars fetched here need Spark {lines}; install the spark extra "
            "(`pip install -e '.[spark]'`, pyspark 4.2.x) or the spark35 one (pyspark 3.5.x), or use such a cluster.")


def local_spark_config() -> dict[str, str]:
    """The configuration of a classic ``local[2]`` session with Delta, from the jars on this
    machine (what ``local_session`` builds, and the Dagster ``PySparkResource`` of the spark engine)."""
    # Python workers run this interpreter and its packages: PySpark reads the variable, not a
    # configuration key, when the session starts in this process.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    return {
        "spark.master": LOCAL_MASTER,
        "spark.app.name": "retail-assets",
        "spark.jars": ",".join(str(jar) for jar in delta_jars()),
        "spark.ui.enabled": "false",
        "spark.ui.showConsoleProgress": "false",
        "spark.default.parallelism": str(LOCAL_PARALLELISM),
        "spark.driver.memory": "4g",
        **LOCAL_SQL_CONFIG,
        **DELTA_CONFIG,
    }


def session_config() -> dict[str, str]:
    """The session the spark engine runs on outside Databricks: Spark Connect when ``SPARK_REMOTE``
    is set (``spark.remote``), else a local[2] one."""
    remote = os.environ.get(REMOTE_VARIABLE)
    return {"spark.remote": remote} if remote else local_spark_config()


def local_session():
    """A classic ``local[2]`` session with Delta, from the jars on this machine."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder
    for key, value in local_spark_config().items():
        builder = builder.config(key, value)
    return builder.getOrCreate()
