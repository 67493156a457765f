"""The Spark engine: the same day step, cut into Spark tasks; Spark writes every table itself.

Per simulated day, one Spark job:

1. customer blocks (``mapInArrow``): each task draws the new requests of 100,000 customers,
   as rows addressed to the location block each asks for;
2. one exchange (``repartition`` by block): the requests meet the location blocks' states
   and the messages they sent each other yesterday (stores' orders to their DC, the DC's
   answers), read from yesterday's block rows;
3. location-block tasks (``mapInArrow``): each runs the position side of its locations with the
   very ``sim.day.step`` the local engine runs, and writes the day's tables, its figures, its
   next state and its messages as the day's block rows.

Block rows are scratch Parquet folders (a ring of ``BLOCK_ROW_SLOTS``), not a Delta table:
Delta's commit protocol costs 1.4 s a day on local[2] for rows nobody but the next day and the
batch's writes read (measured: 1.97 s against 0.58 s a step). The durable state between days
is the lakehouse's checkpoint, written to Delta with each batch, from which any run resumes.

Every few days (a batch, as on the local engine) Spark decodes the batch's rows into the
eight chain tables and the six checkpoint tables and writes them from the executors into
the lakehouse's folders (``replaceWhere`` on the batch's days); the driver reads only each
block's figures and each table's new Delta version, and commits the batch in the lakehouse's
ledger. Readers (DuckDB, delta-rs) see the very tables Spark wrote. The dimensions are built
by a Spark task each and written the same way; contracts, rules, rollups and insights are
Spark SQL (``contracts.sql_contract``, ``storage.queries``).

Only Spark 3.3+ DataFrame calls portable to Spark Connect are used: ``mapInArrow``,
``repartition``, ``unionByName``, Parquet and Delta reads and writes, SQL; no
``sparkContext``, no RDD, no ``localCheckpoint``, no Arrow to or from the driver.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import shutil
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.engine import spark_tasks as tasks
from retail_assets.engine.figures import DaySummary
from retail_assets.engine.local import CHAIN_FACTS, CHAIN_OPERATION, CHECKPOINT_PARTS, LocalEngine
from retail_assets.engine.spark_session import configured_parallelism, default_session, require_supported_spark
from retail_assets.sim import blocks
from retail_assets.storage.delta import Lakehouse
from retail_assets.storage.queries import SparkQueries, StoredDays
from retail_assets.storage.spark_lakehouse import SparkLakehouse
from retail_assets.storage.spark_tables import SparkTables
from retail_assets.table_model import etl_now

BLOCK_ROWS_FOLDER = "_spark/block_rows"  # under the lakehouse root; not a table folder, so no reader lists it
WRITTEN = (*CHAIN_FACTS, *CHECKPOINT_PARTS)  # what a batch writes
# A batch writes 14 tables, each a few short Spark jobs and a Delta commit (about 30 s on
# local[2] whatever its days): 28 days a batch bring that to about a second a day. Nothing of a
# batch is held by the driver, so its length is bounded by what a crash may redo, not by memory.
BATCH_DAYS = 28
CONCURRENT_WRITES = 4  # table writes in flight at once (measured on local[2]: see README)
# A day's block rows go to one of these Parquet folders, in turn: the batch's days and the state
# before them are kept, older days are overwritten (no delete needed, on any file system).
BLOCK_ROW_SLOTS = BATCH_DAYS + 1


def route_keys(spark, n_blocks: int) -> list[int]:
    """For each block, a value that Spark's hash partitioning into ``n_blocks`` partitions sends
    to partition ``block`` (the exchange's ``pmod(hash(v), n)``), so that every location block
    gets a task of its own."""
    found = spark.sql(
        f"SELECT min(id) AS key, pmod(hash(id), {int(n_blocks)}) AS part FROM range({64 * int(n_blocks)}) GROUP BY part"
    ).collect()
    keys = {row["part"]: row["key"] for row in found}
    return [keys.get(block, block) for block in range(n_blocks)]  # a partition no value reaches: blocks share one


class SparkEngine(LocalEngine):
    """Simulate on Spark; Spark writes every table of the lakehouse, the driver commits them."""

    def __init__(
        self, config: SimulationConfig, lakehouse: Lakehouse | None = None, spark=None,
        publish: SparkTables | None = None, location_blocks: int | None = None,
        catalog: tuple[str, str] | None = None,
    ):
        """``publish``: where Spark copies the committed tables once their contracts have passed
        (``publish_committed``; Unity Catalog on Databricks). ``location_blocks``:
        position-side tasks per day (default: the session's parallelism, at most one per
        location); the rows do not depend on it. ``catalog``: (catalog, schema) the lakehouse's
        tables are registered in as they are written. A ``SparkLakehouse`` brings its own tables
        (Unity Catalog on Databricks): ``catalog`` is not used."""
        super().__init__(config, lakehouse)
        self._spark = spark
        self.tables = (self.lakehouse.tables if isinstance(self.lakehouse, SparkLakehouse)
                       else SparkTables(*(catalog or (None, None)), path=str(self.lakehouse.root)))
        self.block_rows = str(self.lakehouse.root / BLOCK_ROWS_FOLDER)
        self.publish = publish
        self._location_blocks = location_blocks
        self.config_json = config.model_dump_json()

    @functools.cached_property
    def spark(self):
        """The given session, else the default one (``spark_session.default_session``)."""
        session = self._spark if self._spark is not None else default_session()
        require_supported_spark(session.version)
        return session

    @functools.cached_property
    def blocks(self) -> list:
        n_locations = len(self.context.world.locations)
        return blocks.location_blocks(n_locations, self._location_blocks or self.parallelism)

    @functools.cached_property
    def parallelism(self) -> int:
        """Tasks the session runs at once, from its configuration (a Spark Connect session has no
        SparkContext to ask)."""
        return configured_parallelism(self.spark)

    def run(self, first: dt.date, last: dt.date) -> Iterator[list[DaySummary]]:
        """Simulate first..last; yield the summaries of each committed batch of days."""
        self._check_range(first, last)
        self.spark  # a session the engine cannot use is refused before the lakehouse is touched
        first_day, last_day = self.config.day_ordinal(first), self.config.day_ordinal(last)
        with self.lakehouse.writing():  # the block rows and the batches are this run's alone
            batch_from = first_day
            for day in range(self._write_start_state(first), last_day + 1):
                self._step(day, emit=day >= first_day)
                if day >= first_day and (day == last_day or day - batch_from + 1 == BATCH_DAYS):
                    yield self._commit_batch(batch_from, day)
                    batch_from = day + 1
            self._drop_block_rows()

    def write_dimensions(self, first: dt.date, last: dt.date) -> dict[str, int]:
        self.spark  # a session the engine cannot use is refused before the lakehouse is touched
        return super().write_dimensions(first, last)

    def _write_dimension(self, name: str, first_day: int, last_day: int, keys: list[int], stamp) -> int:
        """One dimension built by a Spark task (from the world, as the local engine builds it)
        and written by Spark."""
        from pyspark.sql.pandas.types import from_arrow_schema

        declared = registry.TABLES[name]
        schema = from_arrow_schema(declared.arrow_schema)
        frame = self.spark.range(1, numPartitions=1).mapInArrow(
            functools.partial(tasks.dimension_rows, self.config_json, name, first_day, last_day, stamp), schema)
        version, rows = self.tables.write(frame, name, schema, keys, declared.partition_column)
        self._record_written(name, version, keys, declared.partition_column)
        return rows

    def queries(self) -> SparkQueries:
        """SQL over the tables Spark wrote, run by Spark (the rules run where the data is)."""
        return SparkQueries(self.spark, self.lakehouse, self.tables)

    # ------------------------------------------------------------------ internals
    def _block_rows_schema(self):
        from pyspark.sql.pandas.types import from_arrow_schema

        return from_arrow_schema(tasks.BLOCK_ROWS_SCHEMA)

    def _write_start_state(self, first: dt.date) -> int:
        """Write the blocks' state at the end of the day before ``first`` as the first block rows
        (replacing any a killed run left); the first day to step: the first warm-up day when
        ``first`` is the start date."""
        from pyspark.sql import functions as F

        self.require_checkpoint_before(first)
        spark, n_blocks, schema = self.spark, len(self.blocks), self._block_rows_schema()
        day = self.config.day_ordinal(first)
        if day == 0:
            before = -self.config.warmup_days - 1
            ids = spark.range(n_blocks, numPartitions=min(n_blocks, self.parallelism))
            rows = ids.mapInArrow(functools.partial(tasks.initial_state_rows, self.config_json, n_blocks, before),
                                  schema)
        else:
            before = day - 1
            key, versions = self.context.calendar.date_key(before), self.lakehouse.ledger_state().versions
            rows = functools.reduce(lambda a, b: a.unionByName(b), [
                self.tables.read(spark, part.name, versions[part.name]).where(F.col("date_key") == key)
                .mapInArrow(functools.partial(tasks.checkpoint_state_rows, self.config_json, n_blocks, before,
                                              part.checkpoint_part), schema)
                for part in CHECKPOINT_PARTS])
        self._write_rows(rows, before)
        return before + 1

    @functools.cached_property
    def _customers(self):
        n = len(blocks.customer_blocks(len(self.context.world.customers)))
        return self.spark.range(n, numPartitions=min(n, self.parallelism))

    @functools.cached_property
    def _route(self):
        """The exchange's partitioning column: each block's route key (``route_keys``)."""
        from pyspark.sql import functions as F

        keys = route_keys(self.spark, len(self.blocks))
        return F.element_at(F.array(*[F.lit(key) for key in keys]), F.col(tasks.BLOCK) + 1)

    def _step(self, day: int, emit: bool) -> None:
        """One Spark job: the day of every block, appended to the block rows."""
        from pyspark.sql import functions as F

        n_blocks, schema = len(self.blocks), self._block_rows_schema()
        requests = self._customers.mapInArrow(
            functools.partial(tasks.request_rows, self.config_json, n_blocks, day), schema)
        state = self._read_rows([day - 1]).where(F.col(tasks.KIND) == tasks.STATE)
        self._write_rows(requests.unionByName(state)
                         .repartition(n_blocks, self._route)
                         .mapInArrow(functools.partial(tasks.step_blocks, self.config_json, n_blocks, day, emit), schema),
                         day)

    def publish_committed(self, keys: dict[str, list[int]]) -> dict[str, int]:
        """Spark copies the committed partitions ``keys`` (values of each table's partition column)
        of the tables named there, from the lakehouse to ``publish``, replacing those partitions
        there; the Delta versions written, by table."""
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        committed = self.lakehouse.ledger_state().versions

        def publish(name: str) -> int:
            column = registry.ENTRIES[name].declaration.partition_column
            schema = from_arrow_schema(tasks.write_schema(name))
            rows = (self.tables.read(self.spark, name, committed[name])
                    .where(F.col(column).isin(keys[name])).select(*schema.fieldNames()))
            return self.publish.write(rows, name, schema, keys[name], column)[0]

        names = sorted(keys)
        with ThreadPoolExecutor(CONCURRENT_WRITES) as pool:
            return dict(zip(names, pool.map(publish, names)))

    def _commit_batch(self, first_day: int, last_day: int) -> list[DaySummary]:
        """Spark writes the batch's chain and checkpoint tables, several at once (each write is
        a few short jobs and a commit: the driver waits more than the cores work); the ledger
        commits them."""
        keys = [self.context.calendar.date_key(day) for day in range(first_day, last_day + 1)]
        rows = self._read_rows(range(first_day, last_day + 1))
        stamp = etl_now()
        with self.lakehouse.transaction(CHAIN_OPERATION, keys):
            with ThreadPoolExecutor(CONCURRENT_WRITES) as pool:
                versions = list(pool.map(lambda entry: self._write_table(entry, rows, stamp, keys), WRITTEN))
            for entry, version in zip(WRITTEN, versions):
                self._record_written(entry.name, version, keys, entry.declaration.partition_column)
            summaries = self._summaries(rows, first_day, last_day, len(WRITTEN))
        return summaries

    def _write_table(self, entry, rows, stamp, keys: list[int]) -> int:
        """Spark decodes one table's rows of the batch from the block rows and replaces the
        batch's days of it; the Delta version written."""
        from pyspark.sql import functions as F
        from pyspark.sql.pandas.types import from_arrow_schema

        kind, name = tasks.payload_name(entry.name)
        schema = from_arrow_schema(tasks.write_schema(entry.name))
        frame = rows.where((F.col(tasks.KIND) == kind) & (F.col(tasks.NAME) == name)).mapInArrow(
            functools.partial(tasks.table_rows, self.config_json, len(self.blocks), entry.name, stamp), schema)
        version, _ = self.tables.write(frame, entry.name, schema, keys, entry.declaration.partition_column)
        return version

    def _record_written(self, name: str, version: int, keys: list[int], key_column: str) -> None:
        """The lakehouse's transaction records what Spark wrote; the contract judges it in Spark."""
        self.lakehouse.record_written(name, version, keys, key_column=key_column,
                                      rows=StoredDays(self.queries, tuple(keys), key_column))

    def _summaries(self, rows, first_day: int, last_day: int, versions_read: int) -> list[DaySummary]:
        """The batch's days' summaries from the blocks' figures and row counts: the only rows of
        the day the driver reads (with the tables' new versions, ``versions_read`` numbers of
        8 bytes, shared by the batch's days)."""
        from pyspark.sql import functions as F

        collected = (rows.where(F.col(tasks.KIND).isin(tasks.FACT, tasks.SUMMARY))
                     .select(tasks.DAY, tasks.KIND, tasks.NAME, tasks.ROWS,
                             F.when(F.col(tasks.KIND) == tasks.SUMMARY, F.col(tasks.PAYLOAD)).alias(tasks.PAYLOAD))
                     .collect())
        days = range(first_day, last_day + 1)
        table_of_field = {fact.day_tables_field: fact.name for fact in CHAIN_FACTS}
        rows_of = {day: dict.fromkeys(table_of_field.values(), 0) for day in days}
        figures: dict[int, dict[str, float]] = {day: {} for day in days}
        driver_bytes = dict.fromkeys(days, 8 * versions_read // len(days))
        for row in collected:
            day = row[tasks.DAY]
            driver_bytes[day] += 4 + len(row[tasks.KIND]) + len(row[tasks.NAME]) + 8 + len(row[tasks.PAYLOAD] or b"")
            if row[tasks.KIND] == tasks.FACT:
                rows_of[day][table_of_field[row[tasks.NAME]]] += row[tasks.ROWS]
                continue
            for name, value in tasks.decode(row[tasks.PAYLOAD]).to_pylist()[0].items():
                figures[day][name] = figures[day].get(name, 0) + value
        calendar = self.context.calendar
        return [DaySummary.of(calendar.date(day), calendar.date_key(day), rows_of[day], figures[day], driver_bytes[day])
                for day in days]

    def _slot(self, day: int) -> str:
        """The folder of a day's block rows: one of ``BLOCK_ROW_SLOTS``, overwritten in turn."""
        return f"{self.block_rows}/slot-{day % BLOCK_ROW_SLOTS}"

    def _write_rows(self, rows, day: int) -> None:
        """The block rows of ``day``, written by the executors over the oldest slot."""
        rows.write.mode("overwrite").parquet(self._slot(day))

    def _read_rows(self, days):
        """The block rows of ``days`` (schema given: nothing to infer, no job before the day's)."""
        from pyspark.sql import functions as F

        days = list(days)
        return (self.spark.read.schema(self._block_rows_schema()).parquet(*[self._slot(day) for day in days])
                .where(F.col(tasks.DAY).between(days[0], days[-1])))

    def _drop_block_rows(self) -> None:
        """The block rows are scratch: removed at the end of a run where this process sees them
        (a local folder); elsewhere the next run overwrites the slots."""
        if os.path.isdir(self.block_rows):
            shutil.rmtree(Path(self.block_rows).parent)
