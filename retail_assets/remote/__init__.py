"""Entry points that run where a Dagster run hands work to (a Databricks job), reporting back
through Dagster Pipes. They import ``dagster_pipes`` and the core only, never ``dagster``."""
