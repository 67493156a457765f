"""What the Spark engine's tasks run: Arrow in, Arrow out, the simulation core in between.

No Spark here: these functions are the bodies of ``mapInArrow`` calls (Spark 3.3 and later,
classic and Spark Connect alike), importable and testable anywhere the package is installed.
Each Python worker builds the world once per configuration and location block and keeps it.
They run the pieces ``sim.blocks.BlockStepper`` is made of (the in-process reference of these
tasks), Spark's exchange taking the place of its ``route`` and ``deliver``.

Everything that travels between tasks, through the engine's scratch Parquet block rows, is a
row of ``(day, block, kind, name, rows, payload)``: ``payload`` is one Arrow IPC stream (lz4)
of the table ``name`` (``rows`` rows), so a task returns all of a block's tables of a day, its
next state and the messages it sends other blocks in one result, whatever their schemas.
Kinds: ``request`` (a customer block's requests for a location block), ``state`` (a part of
a block's end-of-day checkpoint, or a message addressed to it), ``fact`` (a block's rows of a
chain table), ``summary`` (a block's figures of the day: the only rows the driver reads).
Dimensions are built in a task of their own, from the world, as the local engine builds them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.engine.figures import day_figures
from retail_assets.registry import Role
from retail_assets.sim import blocks, checkpoint, dimensions
from retail_assets.sim import day as day_step
from retail_assets.sim.context import DayContext
from retail_assets.sim.demand import SCHEDULED_REQUESTS_SCHEMA, Requests
from retail_assets.sim.world import build_world

DAY, BLOCK, KIND, NAME, ROWS, PAYLOAD = "day", "block", "kind", "name", "rows", "payload"
REQUEST, STATE, FACT, SUMMARY = "request", "state", "fact", "summary"
BLOCK_ROWS_SCHEMA = pa.schema([(DAY, pa.int32()), (BLOCK, pa.int32()), (KIND, pa.string()), (NAME, pa.string()),
                               (ROWS, pa.int64()), (PAYLOAD, pa.binary())])
REQUESTS = "requests"  # the name of request rows
FACTS = tuple(entry.day_tables_field for entry in registry.entries(Role.CHAIN_FACT))  # the DayTables fields


@functools.lru_cache(maxsize=4)
def world_context(config_json: str) -> DayContext:
    """The whole world's context of a configuration (its world, calendar and streams)."""
    return DayContext.build(build_world(SimulationConfig.model_validate_json(config_json)))


def location_blocks(config_json: str, n_blocks: int) -> list[np.ndarray]:
    return blocks.location_blocks(world_context(config_json).positions.n_locations, n_blocks)


@functools.lru_cache(maxsize=64)
def block_context(config_json: str, n_blocks: int, block: int) -> DayContext:
    """The context of location block ``block`` of ``n_blocks``."""
    return world_context(config_json).for_block(location_blocks(config_json, n_blocks)[block])


IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")  # payloads cross the shuffle and the Delta table


def encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=IPC_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


def block_rows(day: int, block: int, kind: str, tables: dict[str, pa.Table]) -> pa.Table:
    names = list(tables)
    return pa.Table.from_pydict(
        {DAY: [day] * len(names), BLOCK: [block] * len(names), KIND: [kind] * len(names), NAME: names,
         ROWS: [tables[name].num_rows for name in names], PAYLOAD: [encode(tables[name]) for name in names]},
        schema=BLOCK_ROWS_SCHEMA,
    )


def tables_of(rows: pa.Table, kind: str) -> dict[str, pa.Table]:
    """The tables of ``kind`` rows, by name (payloads of one name, e.g. messages from several
    blocks, concatenated)."""
    mine = rows.filter(pc.equal(rows.column(KIND), kind))
    parts: dict[str, list[pa.Table]] = {}
    for name, payload in zip(mine.column(NAME).to_pylist(), mine.column(PAYLOAD).to_pylist()):
        parts.setdefault(name, []).append(decode(payload))
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


def state_of(rows: pa.Table) -> dict[str, pa.Table]:
    """A block's checkpoint tables from its state rows; a part nobody sent it is empty."""
    parts = tables_of(rows, STATE)
    for part, schema in checkpoint.CHECKPOINT_SCHEMAS.items():
        parts[part] = parts[part].cast(schema) if part in parts else schema.empty_table()
    return parts


def state_rows(config_json: str, n_blocks: int, block: int, tables: dict[str, pa.Table], day: int) -> pa.Table:
    """A block's end-of-day checkpoint tables as state rows: its own parts to itself, each
    message part to the block of its addressees (tomorrow's exchange delivers them)."""
    n_locations = world_context(config_json).positions.n_locations
    rows = [block_rows(day, block, STATE, {name: table for name, table in tables.items()
                                           if name not in checkpoint.MESSAGES})]
    for number, addressee in enumerate(location_blocks(config_json, n_blocks)):
        messages = {part: blocks.addressed_to(tables[part], part, addressee, n_locations)
                    for part in checkpoint.MESSAGES}
        rows.append(block_rows(day, number, STATE, {part: t for part, t in messages.items() if t.num_rows}))
    return pa.concat_tables(rows)


def request_rows(config_json: str, n_blocks: int, day: int, batches: Iterator[pa.RecordBatch]
                 ) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the day's new requests of the customer blocks in ``batches`` (column
    ``id``), as request rows addressed to the location block each asks for."""
    ctx = world_context(config_json)
    customer_blocks = blocks.customer_blocks(len(ctx.world.customers))
    owner = blocks.block_of_location(location_blocks(config_json, n_blocks), ctx.positions.n_locations)
    due = functools.partial(np.full, fill_value=day, dtype=np.int32)
    for batch in batches:
        for customers in batch.column("id").to_pylist():
            routed = blocks.route(blocks.customer_block_requests(ctx, day, customer_blocks[customers]), owner, n_blocks)
            for block, requests in enumerate(routed):
                if len(requests):
                    yield from block_rows(day, block, REQUEST, {REQUESTS: requests.to_table(due(len(requests)))}
                                          ).to_batches()


def initial_state_rows(config_json: str, n_blocks: int, day: int, batches: Iterator[pa.RecordBatch]
                       ) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the state of the location blocks in ``batches`` (column ``id``) at
    the end of ``day``, the day before the warm-up (the warm-up days then run like any other)."""
    for batch in batches:
        for block in batch.column("id").to_pylist():
            ctx = block_context(config_json, n_blocks, block)
            state = checkpoint.state_to_tables(day_step.initial_state(ctx), ctx.calendar.date_key(day),
                                               ctx.positions.key)
            yield from state_rows(config_json, n_blocks, block, state, day).to_batches()


def checkpoint_state_rows(config_json: str, n_blocks: int, day: int, part: str, batches: Iterator[pa.RecordBatch]
                          ) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: rows of one checkpoint part of ``day`` (as a lakehouse table holds
    them) as the state rows of every block that carries them."""
    n_locations = world_context(config_json).positions.n_locations
    schema = checkpoint.CHECKPOINT_SCHEMAS[part]
    for batch in batches:
        table = pa.Table.from_batches([batch]).select(schema.names).cast(schema)
        for block, members in enumerate(location_blocks(config_json, n_blocks)):
            carried = blocks.split_part(part, table, members, n_locations)
            if carried.num_rows:
                yield from block_rows(day, block, STATE, {part: carried}).to_batches()


def step_blocks(config_json: str, n_blocks: int, day: int, emit: bool, batches: Iterator[pa.RecordBatch]
                ) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body over the rows of one exchange partition (every row of a block lands
    in one partition): each block's day from its state, the messages sent to it and its
    requests. Returns its next state and, when ``emit``, the day's tables and figures."""
    rows = pa.Table.from_batches(list(batches), schema=BLOCK_ROWS_SCHEMA)
    for block in sorted(set(rows.column(BLOCK).to_pylist())):
        mine = rows.filter(pc.equal(rows.column(BLOCK), block))
        ctx = block_context(config_json, n_blocks, block)
        today = checkpoint.state_from_tables(state_of(mine), day - 1, ctx.positions.n_positions)
        sent = tables_of(mine, REQUEST).get(REQUESTS, SCHEDULED_REQUESTS_SCHEMA.empty_table())
        new = Requests.from_table(sent.cast(SCHEDULED_REQUESTS_SCHEMA).sort_by("line_id"))
        day_tables = day_step.step(ctx, today, day, emit, new)
        state = checkpoint.state_to_tables(today, ctx.calendar.date_key(day), ctx.positions.key)
        if day_tables is not None:
            facts = {name: getattr(day_tables, name) for name in FACTS}
            yield from block_rows(day, block, FACT, facts).to_batches()
            figures = pa.Table.from_pylist([day_figures(day_tables)])
            yield from block_rows(day, block, SUMMARY, {SUMMARY: figures}).to_batches()
        yield from state_rows(config_json, n_blocks, block, state, day).to_batches()


def table_rows(config_json: str, n_blocks: int, table: str, stamp: pa.Scalar | None,
               batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the rows of one lakehouse table from the block rows holding them
    (filtered to the table's kind and name): a chain table's rows stamped with ``stamp`` and
    conformed to its declaration, a checkpoint part's rows that belong in the whole world's."""
    entry = registry.ENTRIES[table]
    for batch in batches:
        rows = pa.Table.from_batches([batch])
        for block, payload in zip(rows.column(BLOCK).to_pylist(), rows.column(PAYLOAD).to_pylist()):
            part = decode(payload)
            if entry.role is Role.CHECKPOINT_PART:
                members = location_blocks(config_json, n_blocks)[block]
                schema = checkpoint.CHECKPOINT_SCHEMAS[entry.checkpoint_part]
                yield from blocks.own_part(entry.checkpoint_part, part.cast(schema), members).to_batches()
            else:
                yield from entry.declaration.conform(part, stamp).to_batches()


def dimension_rows(config_json: str, table: str, first_day: int, last_day: int, stamp: pa.Scalar,
                   batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body over one row: the rows of the dimension ``table`` effective on
    first_day..last_day, stamped with ``stamp``, built from the world as the local engine does."""
    for _ in batches:  # the one input row: the task's trigger
        rows = dimensions.BUILDERS[table](world_context(config_json).world, first_day, last_day)
        yield from registry.TABLES[table].conform(rows, stamp).to_batches()


def payload_name(table: str) -> tuple[str, str]:
    """The (kind, name) of the block rows holding a chain table or a checkpoint part."""
    entry = registry.ENTRIES[table]
    if entry.role is Role.CHECKPOINT_PART:
        return STATE, entry.checkpoint_part
    return FACT, entry.day_tables_field


def write_schema(table: str) -> pa.Schema:
    """The Arrow schema a table is written with: the declared one, the checkpoint's parts as
    the local engine writes them."""
    entry = registry.ENTRIES[table]
    if entry.role is Role.CHECKPOINT_PART:
        return checkpoint.CHECKPOINT_SCHEMAS[entry.checkpoint_part]
    return entry.declaration.arrow_schema
