"""What the Spark engine's tasks run: Arrow in, Arrow out, the simulation core in between.

No Spark here: these functions are the bodies of ``mapInArrow`` and cogrouped
``applyInArrow`` calls, importable (and testable) anywhere the package is installed. Each
Python worker builds the world once per configuration and location block and keeps it.
They run the pieces ``sim.blocks.BlockStepper`` is made of (the in-process reference of
these tasks), Spark's exchange taking the place of its ``route`` and ``deliver``.

Tables travel between tasks and the driver as rows of ``(block, kind, name, payload)``:
``payload`` is one Arrow IPC stream (lz4), so a task returns all of a block's tables of a day,
its next state and the messages it sends other blocks in one result, whatever their schemas.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets import registry
from retail_assets.config import SimulationConfig
from retail_assets.registry import Role
from retail_assets.sim import blocks, checkpoint
from retail_assets.sim import day as day_step
from retail_assets.sim.context import DayContext
from retail_assets.sim.demand import SCHEDULED_REQUESTS_SCHEMA, Requests
from retail_assets.sim.world import build_world

BLOCK = "block"
STATE, FACT = "state", "fact"
PAYLOAD_SCHEMA = pa.schema([(BLOCK, pa.int32()), ("kind", pa.string()), ("name", pa.string()),
                            ("payload", pa.binary())])
REQUESTS_SCHEMA = SCHEDULED_REQUESTS_SCHEMA.append(pa.field(BLOCK, pa.int32()))
FACTS = tuple(entry.day_tables_field for entry in registry.entries(Role.CHAIN_FACT))  # the DayTables fields


@functools.lru_cache(maxsize=4)
def world_context(config_json: str) -> DayContext:
    """The whole world's context of a configuration (its world, calendar and streams)."""
    return DayContext.build(build_world(SimulationConfig.model_validate_json(config_json)))


@functools.lru_cache(maxsize=64)
def block_context(config_json: str, n_blocks: int, block: int) -> DayContext:
    """The context of location block ``block`` of ``n_blocks``."""
    ctx = world_context(config_json)
    return ctx.for_block(blocks.location_blocks(ctx.positions.n_locations, n_blocks)[block])


IPC_OPTIONS = pa.ipc.IpcWriteOptions(compression="lz4")  # payloads cross the shuffle and the driver link


def encode(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema, options=IPC_OPTIONS) as writer:
        writer.write_table(table)
    return sink.getvalue().to_pybytes()


def decode(payload: bytes) -> pa.Table:
    return pa.ipc.open_stream(pa.py_buffer(payload)).read_all()


def payload_rows(block: int, kind: str, tables: dict[str, pa.Table]) -> pa.Table:
    names = list(tables)
    return pa.Table.from_pydict(
        {BLOCK: [block] * len(names), "kind": [kind] * len(names), "name": names,
         "payload": [encode(tables[name]) for name in names]},
        schema=PAYLOAD_SCHEMA,
    )


def tables_of(rows: pa.Table, kind: str) -> dict[str, pa.Table]:
    """The tables of ``kind`` rows, by name (payloads of one name, e.g. messages from several
    blocks, concatenated)."""
    mine = rows.filter(pc.equal(rows.column("kind"), kind))
    parts: dict[str, list[pa.Table]] = {}
    for name, payload in zip(mine.column("name").to_pylist(), mine.column("payload").to_pylist()):
        parts.setdefault(name, []).append(decode(payload))
    return {name: pa.concat_tables(tables) for name, tables in parts.items()}


def state_of(rows: pa.Table) -> dict[str, pa.Table]:
    """A block's checkpoint tables from its state rows; a message part nobody sent it is empty."""
    parts = tables_of(rows, STATE)
    for part, schema in checkpoint.CHECKPOINT_SCHEMAS.items():
        parts.setdefault(part, schema.empty_table())
    return parts


def state_rows(ctx: DayContext, n_blocks: int, block: int, state, date_key: int) -> pa.Table:
    """A block's state as payload rows: its own parts to itself, each message part to the block
    of its addressees (the day's exchange delivers them)."""
    parts = checkpoint.state_to_tables(state, date_key, ctx.positions.key)
    n_locations = ctx.positions.n_locations
    addressees = blocks.location_blocks(n_locations, n_blocks)
    rows = [payload_rows(block, STATE, {name: table for name, table in parts.items()
                                        if name not in checkpoint.MESSAGES})]
    for number, addressee in enumerate(addressees):
        messages = {part: blocks.addressed_to(parts[part], part, addressee, n_locations)
                    for part in checkpoint.MESSAGES}
        rows.append(payload_rows(number, STATE, {part: t for part, t in messages.items() if t.num_rows}))
    return pa.concat_tables(rows)


def published_rows(table: str, attribute: str, stamp: pa.Scalar, batches: Iterator[pa.RecordBatch]
                   ) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the rows of one chain table from the blocks' payload rows, stamped
    and conformed to the table's declared schema, ready for Spark to write."""
    declared = registry.TABLES[table]
    for batch in batches:
        rows = pa.Table.from_batches([batch])
        for name, payload in zip(rows.column("name").to_pylist(), rows.column("payload").to_pylist()):
            if name == attribute:
                yield from declared.conform(decode(payload), stamp).to_batches()


def customer_requests(config_json: str, n_blocks: int, day: int, batches: Iterator[pa.RecordBatch]
                      ) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the day's new requests of the customer blocks in ``batches`` (column
    ``id``), each tagged with the location block it asks for."""
    ctx = world_context(config_json)
    n_locations = ctx.positions.n_locations
    customer_blocks = blocks.customer_blocks(len(ctx.world.customers))
    owner = blocks.block_of_location(blocks.location_blocks(n_locations, n_blocks), n_locations)
    for batch in batches:
        for block in batch.column("id").to_pylist():
            requests = blocks.customer_block_requests(ctx, day, customer_blocks[block])
            table = requests.to_table(np.full(len(requests), day, dtype=np.int32))
            yield from table.append_column(BLOCK, pa.array(owner[requests.location], pa.int32())).to_batches()


def initial_states(config_json: str, n_blocks: int, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the state before the warm-up of the location blocks in ``batches``
    (column ``id``); the warm-up days then run like any other day."""
    for batch in batches:
        for block in batch.column("id").to_pylist():
            ctx = block_context(config_json, n_blocks, block)
            first_day = -ctx.config.warmup_days - 1
            yield from state_rows(ctx, n_blocks, block, day_step.initial_state(ctx),
                                  ctx.calendar.date_key(first_day)).to_batches()


def step_block(config_json: str, n_blocks: int, day: int, emit: bool, key: tuple, requests: pa.Table,
               state: pa.Table) -> pa.Table:
    """Cogrouped ``applyInArrow`` body: one location block's day from its state, the messages
    sent to it and its requests; returns the day's tables (when ``emit``) and its next state."""
    block = key[0].as_py()
    ctx = block_context(config_json, n_blocks, block)
    today = checkpoint.state_from_tables(state_of(state), day - 1, ctx.positions.n_positions)
    new = Requests.from_table(requests.drop_columns([BLOCK]).cast(SCHEDULED_REQUESTS_SCHEMA).sort_by("line_id"))
    day_tables = day_step.step(ctx, today, day, emit, new)
    rows = state_rows(ctx, n_blocks, block, today, ctx.calendar.date_key(day))
    if day_tables is None:
        return rows
    return pa.concat_tables([payload_rows(block, FACT, {name: getattr(day_tables, name) for name in FACTS}), rows])
