"""The Databricks resource: runs the daily chain as a one-time Databricks job through Dagster Pipes.

The job's task is ``retail_assets/remote/chain_task.py`` (uploaded to ``entry_file``, with the
project wheel in ``wheel``); the run's configuration and partition range go in the Pipes extras,
and the task reports the chain's materialisations and checks back. Host and token come from
``DATABRICKS_HOST`` / ``DATABRICKS_TOKEN`` (``dagster.EnvVar``: never written in the run config).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import dagster as dg
from pydantic import Field

if TYPE_CHECKING:  # the databricks packages come with the `spark` extra; the embedded default needs none
    from dagster_databricks import PipesDatabricksClient
    from databricks.sdk import WorkspaceClient
    from databricks.sdk.service import jobs

PIPES_IO = ("dbfs", "local")  # how context and messages travel: DBFS on a cluster, local files in tests


class DatabricksResource(dg.ConfigurableResource):
    """A Databricks workspace and the cluster the chain runs on (a new job cluster unless
    ``existing_cluster_id`` is set)."""

    host: str = Field(default="", description="Workspace URL; set DATABRICKS_HOST.")
    token: str = Field(default="", description="Personal access token; set DATABRICKS_TOKEN.")
    existing_cluster_id: str | None = None
    spark_version: str = "15.4.x-scala2.12"
    node_type_id: str = "i3.xlarge"
    num_workers: int = 2
    entry_file: str = "dbfs:/retail_assets/chain_task.py"
    wheel: str | None = None
    pipes_io: str = "dbfs"
    poll_interval_seconds: float = 5.0

    def workspace_client(self) -> WorkspaceClient:
        from databricks.sdk import WorkspaceClient

        if not self.host or not self.token:
            raise ValueError("databricks.host / databricks.token are empty: set DATABRICKS_HOST and DATABRICKS_TOKEN")
        return WorkspaceClient(host=self.host, token=self.token)

    def pipes_client(self) -> PipesDatabricksClient:
        from dagster_databricks import PipesDatabricksClient

        if self.pipes_io not in PIPES_IO:
            raise ValueError(f"databricks.pipes_io={self.pipes_io!r}; allowed: {', '.join(PIPES_IO)}")
        local = self.pipes_io == "local"
        return PipesDatabricksClient(
            client=self.workspace_client(),
            context_injector=dg.PipesTempFileContextInjector() if local else None,
            message_reader=dg.PipesTempFileMessageReader() if local else None,
            poll_interval_seconds=self.poll_interval_seconds,
        )

    def chain_task(self) -> jobs.SubmitTask:
        from databricks.sdk.service import compute, jobs

        task = jobs.SubmitTask(
            task_key="retail_daily_chain",
            spark_python_task=jobs.SparkPythonTask(python_file=self.entry_file),
            libraries=[compute.Library(whl=self.wheel)] if self.wheel else None,
        )
        if self.existing_cluster_id:
            task.existing_cluster_id = self.existing_cluster_id
        else:
            task.new_cluster = compute.ClusterSpec(
                spark_version=self.spark_version,
                node_type_id=self.node_type_id,
                num_workers=self.num_workers,
                spark_env_vars={"RETAIL_PIPES_IO": self.pipes_io},
            )
        return task
