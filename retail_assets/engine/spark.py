"""The Spark engine: the same day step, cut into Spark tasks.

Per simulated day, one Spark job:

1. customer blocks (``mapInArrow``): each task draws the new requests of 100,000 customers and
   tags each with the block of the location it asks for;
2. one shuffle: requests, the location blocks' states and the messages they sent each other
   yesterday (stores' orders to their DC, the DC's answers) are cogrouped by location block;
3. location-block tasks (cogrouped ``applyInArrow``): each runs the position side of its
   locations with the very ``sim.day.step`` the local engine runs, and returns the day's
   tables, its next state and its messages, addressed to their blocks.

The blocks' states stay in Spark between days (a local checkpoint of the day's output), so
the state is a table, not a driver variable; the warm-up days run the same way. The day's
tables and the whole-world checkpoint are then collected and committed by the local engine's
batch writer: the same delta-rs lakehouse, contracts and checks, whichever engine ran. Where
no Spark session is active, a local one (``local[2]``) starts.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
from collections.abc import Iterator

import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.config import SimulationConfig
from retail_assets.engine import spark_tasks as tasks
from retail_assets.engine.local import CHAIN_FACTS, MAX_BATCH_DAYS, LocalEngine
from retail_assets.engine.spark_session import configured_parallelism, local_session
from retail_assets.sim import blocks
from retail_assets.sim.day import DayTables
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.spark_tables import SparkTables
from retail_assets.table_model import etl_now

DATABRICKS_RUNTIME = "DATABRICKS_RUNTIME_VERSION"  # set on every Databricks cluster


class SparkEngine(LocalEngine):
    """Simulate on Spark, commit like the local engine."""

    def __init__(
        self, config: SimulationConfig, lakehouse: Lakehouse | None = None, spark=None,
        publish: SparkTables | None = None, location_blocks: int | None = None,
    ):
        """``publish``: where Spark also writes the chain's tables from the tasks' output (Unity
        Catalog on Databricks), every ``MAX_BATCH_DAYS`` days, replacing those days.
        ``location_blocks``: position-side tasks per day (default: the session's parallelism, at
        most one per location); the rows do not depend on it."""
        super().__init__(config, lakehouse)
        self._spark = spark
        self.publish = publish
        self._location_blocks = location_blocks
        self.published_versions: dict[str, int] = {}  # table -> the Delta version holding its newest days

    @functools.cached_property
    def spark(self):
        """The given session, else the cluster's (on Databricks), else a local[2] one."""
        from pyspark.sql import SparkSession

        if self._spark is not None:
            return self._spark
        if DATABRICKS_RUNTIME in os.environ:
            return SparkSession.builder.getOrCreate()
        return SparkSession.getActiveSession() or local_session()

    @functools.cached_property
    def blocks(self) -> list:
        n_locations = len(self.context.world.locations)
        return blocks.location_blocks(n_locations, self._location_blocks or self.parallelism)

    @functools.cached_property
    def parallelism(self) -> int:
        """Tasks the session runs at once, from its configuration (a Spark Connect session has no
        SparkContext to ask)."""
        return configured_parallelism(self.spark)

    def _simulate(self, first: dt.date, last: dt.date) -> Iterator[tuple[DayTables, dict[str, pa.Table]]]:
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        spark, world = self.spark, self.context.world
        config_json, n_blocks = self.config.model_dump_json(), len(self.blocks)
        customers = spark.range(len(blocks.customer_blocks(len(world.customers))),
                                numPartitions=self.parallelism)
        payload_schema = from_arrow_schema(tasks.PAYLOAD_SCHEMA)
        requests_schema = from_arrow_schema(tasks.REQUESTS_SCHEMA)
        state, warm_up_from = self._state_before(first, payload_schema)
        unpublished = []
        first_day, last_day = self.config.day_ordinal(first), self.config.day_ordinal(last)
        for day in range(warm_up_from, last_day + 1):
            emit = day >= first_day  # warm-up days only carry the state forward
            requests = customers.mapInArrow(
                functools.partial(tasks.customer_requests, config_json, n_blocks, day), requests_schema)
            output = (
                requests.groupBy(tasks.BLOCK)
                .cogroup(state.groupBy(tasks.BLOCK))
                .applyInArrow(functools.partial(tasks.step_block, config_json, n_blocks, day, emit), payload_schema)
                .localCheckpoint(eager=True)
            )
            state = output.where(F.col("kind") == tasks.STATE)
            if not emit:
                continue
            if self.publish is not None:
                unpublished.append(output.where(F.col("kind") == tasks.FACT))
                if len(unpublished) == MAX_BATCH_DAYS or day == last_day:
                    self._publish(unpublished, day - len(unpublished) + 1, day)
                    unpublished = []
            yield self._collect(output.toArrow(), day)

    def _publish(self, facts: list, first_day: int, last_day: int) -> None:
        """Spark writes the chain tables of first_day..last_day from the blocks' fact rows."""
        from pyspark.sql.pandas.types import from_arrow_schema

        rows = functools.reduce(lambda a, b: a.unionByName(b), facts)
        stamp = etl_now()
        first_key, last_key = (self.context.calendar.date_key(day) for day in (first_day, last_day))
        for fact in CHAIN_FACTS:
            declared = fact.declaration
            frame = rows.mapInArrow(functools.partial(tasks.published_rows, fact.name, fact.day_tables_field, stamp),
                                    from_arrow_schema(declared.arrow_schema))
            self.published_versions[fact.name] = self.publish.replace_days(
                frame, fact.name, declared.partition_column, first_key, last_key)

    def _state_before(self, first: dt.date, payload_schema):
        """The blocks' states at the end of the day before ``first`` as a Spark table, and the
        first day to simulate: the first warm-up day when ``first`` is the start date."""
        previous = self._checkpoint_before(first)
        if previous is None:
            config_json = self.config.model_dump_json()
            ids = self.spark.range(len(self.blocks), numPartitions=self.parallelism)
            initial = ids.mapInArrow(functools.partial(tasks.initial_states, config_json, len(self.blocks)),
                                     payload_schema)
            return initial.localCheckpoint(eager=True), -self.config.warmup_days
        n_locations = len(self.context.world.locations)
        rows = pa.concat_tables([
            tasks.payload_rows(number, tasks.STATE, blocks.split_checkpoint(previous, block, n_locations))
            for number, block in enumerate(self.blocks)
        ])
        return self.spark.createDataFrame(rows, schema=payload_schema), self.config.day_ordinal(first)

    def _collect(self, output: pa.Table, day: int) -> tuple[DayTables, dict[str, pa.Table]]:
        """The whole world's day tables and checkpoint from the blocks' output rows."""
        states, facts = [], []
        for number, block in enumerate(self.blocks):
            rows = output.filter(pc.equal(output.column(tasks.BLOCK), number))
            states.append((block, tasks.state_of(rows)))
            facts.append(DayTables(day=day, date_key=self.context.calendar.date_key(day),
                                   **tasks.tables_of(rows, tasks.FACT)))
        return blocks.merge_day_tables(facts), blocks.merge_checkpoints(states)
