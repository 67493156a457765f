"""The Databricks resource: runs the daily chain as a one-time Databricks job through Dagster Pipes.

The job's task is ``retail_assets/remote/chain_task.py`` (uploaded to ``entry_file``, with the
project wheel in ``wheel``); it runs the Spark engine on the job's cluster, and Spark publishes
the chain's tables as Delta tables ``catalog.schema_name.<table>`` in Unity Catalog. The run's
configuration, partition range and publishing target go in the Pipes extras (Pipes does not
pass a range itself); the task reports the chain's materialisations and checks back.

Compute: ``classic`` (a new job cluster from the spec below, or ``existing_cluster_id``) through
``PipesDatabricksClient``; ``serverless`` through ``PipesDatabricksServerlessClient``, with the
Pipes files on the Unity Catalog volume ``volume_path``. Host and token come from
``DATABRICKS_HOST`` / ``DATABRICKS_TOKEN`` (``dagster.EnvVar``: never written in the run config);
an empty host or token, as a launchpad run config that leaves them out makes them, falls back to
the same variables.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import dagster as dg
from pydantic import Field

from retail_assets.remote import PIPES_IO_ARGUMENT
from retail_assets.storage.spark_tables import SparkTables

if TYPE_CHECKING:  # the databricks packages come with the `spark` extra; the embedded default needs none
    from dagster_databricks.pipes import PipesDatabricksClient, PipesDatabricksServerlessClient
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import jobs

COMPUTE = ("classic", "serverless")
PIPES_IO = ("dbfs", "volumes", "local")  # how context and messages travel: DBFS, UC volumes, local files (tests)
ENVIRONMENT_KEY = "retail_assets"  # the serverless task's environment (the wheel as its dependency)


class DatabricksResource(dg.ConfigurableResource):
    """A Databricks workspace, the compute the chain runs on, and where Spark publishes its tables."""

    host: str = Field(default="", description="Workspace URL; empty: DATABRICKS_HOST.")
    token: str = Field(default="", description="Personal access token; empty: DATABRICKS_TOKEN.")
    compute: str = Field(default="classic", description="classic (job or existing cluster) or serverless.")
    existing_cluster_id: str | None = None
    spark_version: str = "15.4.x-scala2.12"
    node_type_id: str = "i3.xlarge"
    num_workers: int = 2
    entry_file: str = "dbfs:/retail_assets/chain_task.py"
    wheel: str | None = None
    catalog: str = Field(default="main", description="Unity Catalog catalog of the published tables.")
    schema_name: str = Field(default="retail", description="Unity Catalog schema of the published tables.")
    tables_path: str | None = Field(
        default=None, description="Publish folders of tables under this path instead of catalog tables.")
    volume_path: str | None = Field(
        default=None, description="UC volume for the Pipes files of serverless runs, /Volumes/<catalog>/<schema>/<v>.")
    pipes_io: str | None = Field(default=None, description="dbfs, volumes or local; by default dbfs on classic "
                                 "compute, volumes on serverless.")
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
        io = self.pipes_io or ("volumes" if self.serverless else "dbfs")
        if io not in PIPES_IO:
            raise ValueError(f"databricks.pipes_io={io!r}; allowed: {', '.join(PIPES_IO)}")
        return io

    def publish_target(self) -> SparkTables:
        """Where the task's Spark publishes the tables; names are checked here, before any run."""
        if self.tables_path:
            return SparkTables(path=self.tables_path)
        return SparkTables(catalog=self.catalog, schema=self.schema_name)

    def extras(self) -> dict[str, Any]:
        target = self.publish_target()
        return {"publish": {"catalog": target.catalog, "schema": target.schema, "path": target.path}}

    def pipes_client(self) -> PipesDatabricksClient | PipesDatabricksServerlessClient:
        from dagster_databricks.pipes import PipesDatabricksClient, PipesDatabricksServerlessClient

        local = self.io == "local"
        files = {"context_injector": dg.PipesTempFileContextInjector() if local else None,
                 "message_reader": dg.PipesTempFileMessageReader() if local else None,
                 "poll_interval_seconds": self.poll_interval_seconds}
        if self.serverless:
            if not self.volume_path and not local:
                raise ValueError("databricks.volume_path is empty: serverless runs exchange Pipes files on a "
                                 "Unity Catalog volume, e.g. /Volumes/main/retail/pipes")
            return PipesDatabricksServerlessClient(client=self.workspace_client(), volume_path=self.volume_path or "",
                                                   **files)
        return PipesDatabricksClient(client=self.workspace_client(), **files)

    def chain_task(self) -> jobs.SubmitTask:
        from databricks.sdk.service import compute, jobs

        task = jobs.SubmitTask(
            task_key="retail_daily_chain",
            spark_python_task=jobs.SparkPythonTask(python_file=self.entry_file,
                                                   parameters=[f"{PIPES_IO_ARGUMENT}={self.io}"]),
        )
        if self.serverless:
            task.environment_key = ENVIRONMENT_KEY
            return task
        task.libraries = [compute.Library(whl=self.wheel)] if self.wheel else None
        if self.existing_cluster_id:
            task.existing_cluster_id = self.existing_cluster_id
        else:
            task.new_cluster = compute.ClusterSpec(
                spark_version=self.spark_version, node_type_id=self.node_type_id, num_workers=self.num_workers)
        return task

    def submit_args(self) -> dict[str, Any]:
        """Serverless tasks name an environment: the wheel is its dependency."""
        if not self.serverless:
            return {}
        from databricks.sdk.service import compute, jobs

        spec = compute.Environment(client="2", dependencies=[self.wheel] if self.wheel else None)
        return {"environments": [jobs.JobEnvironment(environment_key=ENVIRONMENT_KEY, spec=spec)]}

    def run_chain(self, context: dg.AssetExecutionContext, extras: dict[str, Any]):
        """Submit the chain task for the run's range; the results it reported."""
        return self.pipes_client().run(context=context, task=self.chain_task(), extras={**extras, **self.extras()},
                                       submit_args=self.submit_args()).get_results()
