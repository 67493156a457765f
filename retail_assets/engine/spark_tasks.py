"""What the Spark engine's tasks run: Arrow in, Arrow out, the simulation core in between.

No Spark here: these functions are the bodies of ``mapInArrow`` and cogrouped
``applyInArrow`` calls, importable (and testable) anywhere the package is installed. Each
Python worker builds the world once per configuration and region and keeps it.

Tables travel between tasks and the driver as rows of ``(block, kind, name, payload)``:
``payload`` is one Arrow IPC stream, so a task returns all of a region's tables of a day
(and its next state) in one result, whatever their schemas.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets import tables
from retail_assets.config import SimulationConfig
from retail_assets.sim import blocks, checkpoint
from retail_assets.sim.day import DayTables, Simulator
from retail_assets.sim.demand import SCHEDULED_REQUESTS_SCHEMA, Requests, generate_requests
from retail_assets.sim.world import World, build_world

BLOCK = "block"
STATE, FACT = "state", "fact"
PAYLOAD_SCHEMA = pa.schema([(BLOCK, pa.int32()), ("kind", pa.string()), ("name", pa.string()),
                            ("payload", pa.binary())])
REQUESTS_SCHEMA = SCHEDULED_REQUESTS_SCHEMA.append(pa.field(BLOCK, pa.int32()))
FACTS = tuple(name for name in DayTables.__dataclass_fields__ if name not in ("day", "date_key"))


@functools.lru_cache(maxsize=4)
def world_of(config_json: str) -> World:
    return build_world(SimulationConfig.model_validate_json(config_json))


@functools.lru_cache(maxsize=64)
def region_simulator(config_json: str, region: int) -> Simulator:
    world = world_of(config_json)
    return Simulator(world, blocks.regions(world)[region])


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
    """The tables of one block's ``kind`` rows, by name."""
    mine = rows.filter(pc.equal(rows.column("kind"), kind))
    return {name: decode(payload) for name, payload in zip(mine.column("name").to_pylist(),
                                                            mine.column("payload").to_pylist())}


def published_rows(table: str, attribute: str, stamp: pa.Scalar, batches: Iterator[pa.RecordBatch]
                   ) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the rows of one chain table from the regions' payload rows, stamped
    and conformed to the table's declared schema, ready for Spark to write."""
    declared = tables.TABLES[table]
    for batch in batches:
        rows = pa.Table.from_batches([batch])
        for name, payload in zip(rows.column("name").to_pylist(), rows.column("payload").to_pylist()):
            if name == attribute:
                yield from declared.conform(decode(payload), stamp).to_batches()


def customer_requests(config_json: str, day: int, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the day's new requests of the customer blocks in ``batches`` (column
    ``id``), each tagged with the region of the location it asks for."""
    world = world_of(config_json)
    config = world.config
    sim = region_simulator(config_json, 0)
    customer_blocks = blocks.customer_blocks(len(world.customers))
    owner = blocks.region_of_location(blocks.regions(world), len(world.locations))
    for batch in batches:
        for block in batch.column("id").to_pylist():
            requests = generate_requests(world, sim.streams, sim.calendar, day, config.cart_abandonment_base_rate,
                                         customer_blocks[block])
            table = requests.to_table(np.full(len(requests), day, dtype=np.int32))
            yield from table.append_column(BLOCK, pa.array(owner[requests.location], pa.int32())).to_batches()


def warm_up(config_json: str, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """``mapInArrow`` body: the state at the start date of the regions in ``batches`` (column ``id``)."""
    for batch in batches:
        for region in batch.column("id").to_pylist():
            sim = region_simulator(config_json, region)
            state = sim.state_at_start()
            tables = checkpoint.state_to_tables(state, sim.calendar.date_key(-1), sim.position_key)
            yield from payload_rows(region, STATE, tables).to_batches()


def step_region(config_json: str, day: int, key: tuple, requests: pa.Table, state_rows: pa.Table) -> pa.Table:
    """Cogrouped ``applyInArrow`` body: one region's day from its state and its requests;
    returns the day's tables and the region's next state."""
    region = key[0].as_py()
    sim = region_simulator(config_json, region)
    state = checkpoint.state_from_tables(tables_of(state_rows, STATE), day - 1, sim.n_positions)
    new = Requests.from_table(requests.drop_columns([BLOCK]).cast(SCHEDULED_REQUESTS_SCHEMA).sort_by("line_id"))
    day_tables = sim.step(state, day, new_requests=new)
    return pa.concat_tables([
        payload_rows(region, FACT, {name: getattr(day_tables, name) for name in FACTS}),
        payload_rows(region, STATE, checkpoint.state_to_tables(state, day_tables.date_key, sim.position_key)),
    ])
