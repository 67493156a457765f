"""Entry points that run where a Dagster run hands work to (a Databricks job), reporting back
through Dagster Pipes. They import ``dagster_pipes`` and the core only, never ``dagster``."""

PIPES_IO_ARGUMENT = "--retail-pipes-io"  # task parameter: which Pipes loader and writer the task uses
STEP_EVENT_MESSAGE = "retail_assets.step_event"  # custom message key: one event of the step (engine.steps)
