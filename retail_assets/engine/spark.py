"""The Spark engine: the same day step, cut into Spark tasks.

Per simulated day, one Spark job:

1. customer blocks (``mapInArrow``): each task draws the new requests of 100,000 customers and
   tags each with the region of the location it asks for;
2. one shuffle: requests and the regions' states are cogrouped by region;
3. region tasks (cogrouped ``applyInArrow``): each runs the position side of its region (a
   distribution center and the locations it replenishes) with the very ``Simulator.step`` the
   local engine runs, and returns the day's tables and its next state.

The regions' states stay in Spark between days (a local checkpoint of the day's output), so
the state is a table, not a driver variable. The day's tables and the whole-world checkpoint
are then collected and committed by the local engine's batch writer: the same delta-rs
lakehouse, contracts and checks, whichever engine ran. Where no Spark session is active, a
local one (``local[2]``) starts.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import sys
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from retail_assets import tables
from retail_assets.config import SimulationConfig
from retail_assets.engine import spark_tasks as tasks
from retail_assets.engine.local import CHAIN_TABLES, MAX_BATCH_DAYS, LocalEngine
from retail_assets.sim import blocks
from retail_assets.sim.day import DayTables
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.spark_tables import SparkTables
from retail_assets.table_model import etl_now

LOCAL_MASTER = "local[2]"
DATABRICKS_RUNTIME = "DATABRICKS_RUNTIME_VERSION"  # set on every Databricks cluster


def local_session():
    """A Spark session on this machine (no downloads: plain PySpark, Parquet only)."""
    from pyspark.sql import SparkSession

    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)  # workers run this interpreter and its packages
    return (
        SparkSession.builder.master(LOCAL_MASTER)
        .appName("retail-assets")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.sql.shuffle.partitions", "4")
        .config("spark.driver.memory", "4g")
        .config("spark.cleaner.periodicGC.interval", "1min")  # frees the days' checkpointed output
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .getOrCreate()
    )


class SparkEngine(LocalEngine):
    """Simulate on Spark, commit like the local engine."""

    def __init__(
        self, config: SimulationConfig, lakehouse: Lakehouse | None = None, spark=None,
        publish: SparkTables | None = None,
    ):
        """``publish``: where Spark also writes the chain's tables from the tasks' output (Unity
        Catalog on Databricks), every ``MAX_BATCH_DAYS`` days, replacing those days."""
        super().__init__(config, lakehouse)
        self._spark = spark
        self.publish = publish

    @functools.cached_property
    def spark(self):
        """The given session, else the cluster's (on Databricks), else a local[2] one."""
        from pyspark.sql import SparkSession

        if self._spark is not None:
            return self._spark
        if DATABRICKS_RUNTIME in os.environ:
            return SparkSession.builder.getOrCreate()
        return SparkSession.getActiveSession() or local_session()

    def _simulate(self, first: dt.date, last: dt.date) -> Iterator[tuple[DayTables, dict[str, pa.Table]]]:
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        spark, world = self.spark, self.simulator.world
        config_json = self.config.model_dump_json()
        regions = blocks.regions(world)
        customers = spark.range(len(blocks.customer_blocks(len(world.customers))),
                                numPartitions=spark.sparkContext.defaultParallelism)
        payload_schema = from_arrow_schema(tasks.PAYLOAD_SCHEMA)
        state = self._regions_state(first, regions, payload_schema)
        unpublished = []
        last_day = self.config.day_ordinal(last)
        for day in range(self.config.day_ordinal(first), last_day + 1):
            requests = customers.mapInArrow(functools.partial(tasks.customer_requests, config_json, day),
                                            from_arrow_schema(tasks.REQUESTS_SCHEMA))
            output = (
                requests.groupBy(tasks.BLOCK)
                .cogroup(state.groupBy(tasks.BLOCK))
                .applyInArrow(functools.partial(tasks.step_region, config_json, day), payload_schema)
                .localCheckpoint(eager=True)
            )
            state = output.where(F.col("kind") == tasks.STATE)
            if self.publish is not None:
                unpublished.append(output.where(F.col("kind") == tasks.FACT))
                if len(unpublished) == MAX_BATCH_DAYS or day == last_day:
                    self._publish(unpublished, day - len(unpublished) + 1, day)
                    unpublished = []
            yield self._collect(output.toArrow(), regions, day)

    def _publish(self, facts: list, first_day: int, last_day: int) -> None:
        """Spark writes the chain tables of first_day..last_day from the regions' fact rows."""
        from pyspark.sql.pandas.types import from_arrow_schema

        rows = functools.reduce(lambda a, b: a.unionByName(b), facts)
        stamp = etl_now()
        first_key, last_key = (self.simulator.calendar.date_key(day) for day in (first_day, last_day))
        for name, attribute in CHAIN_TABLES.items():
            declared = tables.TABLES[name]
            frame = rows.mapInArrow(functools.partial(tasks.published_rows, name, attribute, stamp),
                                    from_arrow_schema(declared.arrow_schema))
            self.publish.replace_days(frame, name, declared.partition_column, first_key, last_key)

    def _regions_state(self, first: dt.date, regions, payload_schema):
        """The regions' states at the end of the day before ``first``, as a Spark table."""
        previous = self._checkpoint_before(first)
        region_ids = self.spark.range(len(regions), numPartitions=len(regions))
        if previous is None:
            config_json = self.config.model_dump_json()
            return region_ids.mapInArrow(functools.partial(tasks.warm_up, config_json), payload_schema) \
                .localCheckpoint(eager=True)
        n_locations = len(self.simulator.world.locations)
        rows = pa.concat_tables([
            tasks.payload_rows(number, tasks.STATE, blocks.split_checkpoint(previous, region, n_locations))
            for number, region in enumerate(regions)
        ])
        return self.spark.createDataFrame(rows, schema=payload_schema)

    def _collect(self, output: pa.Table, regions, day: int) -> tuple[DayTables, dict[str, pa.Table]]:
        """The whole world's day tables and checkpoint from the regions' output rows."""
        states, facts = [], []
        for number, region in enumerate(regions):
            rows = output.filter(pc.equal(output.column(tasks.BLOCK), number))
            states.append((region, tasks.tables_of(rows, tasks.STATE)))
            facts.append(DayTables(day=day, date_key=self.simulator.calendar.date_key(day),
                                   **tasks.tables_of(rows, tasks.FACT)))
        return blocks.merge_day_tables(facts), blocks.merge_checkpoints(states)
