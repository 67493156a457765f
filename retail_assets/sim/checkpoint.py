"""Inventory state <-> Arrow tables: the ``inventory_checkpoint`` of a day.

Six tables, each keyed by the checkpoint's ``date_key`` (the day the state is the end of):
positions (one row per product x location), locations (service feedback), the scheduled
sales rows (pickups to collect, returns to come), the scheduled requests (customers coming
back), and the transfer orders and notices between stores and their DC. Ring buffers are stored in
relative order, element k = the day after the checkpoint + k, so the layout does not
depend on how the engine indexes its rings.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.sim import inventory as inv
from retail_assets.sim.demand import SCHEDULED_REQUESTS_SCHEMA
from retail_assets.sim.scheduled_sales import SCHEDULED_SCHEMA

POSITIONS, LOCATIONS, SCHEDULED, REQUESTS = "positions", "locations", "scheduled_sales", "scheduled_requests"
ORDERS, NOTICES = "transfer_orders", "transfer_notices"
MESSAGES = {ORDERS: inv.TRANSFER_ORDERS_SCHEMA, NOTICES: inv.TRANSFER_NOTICES_SCHEMA}  # state tables, by part
SCHEDULED_ROW_DATE = "row_date_key"  # the scheduled row's own date_key, renamed in the checkpoint

_RING_LIST = pa.list_(pa.int32())


def _schema(scope: str, index: str, ring: bool = False) -> pa.Schema:
    array_fields = inv.InventoryState.arrays(scope) + (inv.InventoryState.arrays(inv.RING_SLOTS) if ring else [])
    return pa.schema(
        [("date_key", pa.int32()), (index, pa.int64())]
        + [(f.name, _RING_LIST if f.metadata["scope"] == inv.RING_SLOTS else pa.from_numpy_dtype(f.metadata["dtype"]))
           for f in array_fields]
    )


POSITIONS_SCHEMA = _schema(inv.POSITION, "position", ring=True)
LOCATIONS_SCHEMA = _schema(inv.LOCATION, "location")
CHECKPOINT_SCHEMAS = {
    POSITIONS: POSITIONS_SCHEMA,
    LOCATIONS: LOCATIONS_SCHEMA,
    SCHEDULED: pa.schema(
        [pa.field("date_key", pa.int32())]
        + [f.with_name(SCHEDULED_ROW_DATE) if f.name == "date_key" else f for f in SCHEDULED_SCHEMA]
    ),
    REQUESTS: pa.schema([pa.field("date_key", pa.int32()), *SCHEDULED_REQUESTS_SCHEMA]),
    **{part: pa.schema([pa.field("date_key", pa.int32()), *schema]) for part, schema in MESSAGES.items()},
}


def _ring_to_list(ring: np.ndarray, day: int) -> pa.Array:
    relative = np.roll(ring, -((day + 1) % inv.RING), axis=0)  # row k = day + 1 + k
    flat = np.ascontiguousarray(relative.T).reshape(-1)
    offsets = np.arange(0, flat.size + 1, inv.RING, dtype=np.int32)
    return pa.ListArray.from_arrays(pa.array(offsets), pa.array(flat, pa.int32()))


def _list_to_ring(values: pa.ChunkedArray, day: int, n_positions: int) -> np.ndarray:
    flat = pc.list_flatten(values.combine_chunks()).to_numpy().astype(np.int32)
    relative = flat.reshape(n_positions, inv.RING).T
    return np.ascontiguousarray(np.roll(relative, (day + 1) % inv.RING, axis=0))


def _scope_table(state: inv.InventoryState, scope: str, index: np.ndarray, date_key: int, schema: pa.Schema) -> pa.Table:
    n = len(index)
    columns = {"date_key": np.full(n, date_key, dtype=np.int32), schema.field(1).name: index}
    for f in inv.InventoryState.arrays(scope):
        columns[f.name] = getattr(state, f.name)
    if scope == inv.POSITION:
        for f in inv.InventoryState.arrays(inv.RING_SLOTS):
            columns[f.name] = _ring_to_list(getattr(state, f.name), state.day)
    return pa.Table.from_pydict(columns, schema=schema)


def state_to_tables(
    state: inv.InventoryState, date_key: int, position_keys: np.ndarray | None = None
) -> dict[str, pa.Table]:
    """Snapshot of ``state`` as Arrow tables; copies, so later steps cannot alter it.

    ``position_keys``: the global position id of each state position (a location block's
    ``PositionIndex.key``); the whole world's positions by default.
    """
    state = state.copy()
    scheduled = state.scheduled_sales.rename_columns(
        [SCHEDULED_ROW_DATE if name == "date_key" else name for name in state.scheduled_sales.column_names]
    )
    scheduled = scheduled.add_column(0, "date_key", pa.repeat(pa.scalar(date_key, pa.int32()), scheduled.num_rows))
    return {
        POSITIONS: _scope_table(
            state, inv.POSITION, np.arange(len(state.on_hand), dtype=np.int64) if position_keys is None
            else position_keys, date_key, POSITIONS_SCHEMA),
        LOCATIONS: _scope_table(
            state, inv.LOCATION, np.arange(len(state.service_adjustment), dtype=np.int64), date_key, LOCATIONS_SCHEMA),
        SCHEDULED: scheduled.cast(CHECKPOINT_SCHEMAS[SCHEDULED]),
        **{part: _dated(getattr(state, part), date_key) for part in (REQUESTS, *MESSAGES)},
    }


def _dated(table: pa.Table, date_key: int) -> pa.Table:
    return table.add_column(0, "date_key", pa.repeat(pa.scalar(date_key, pa.int32()), table.num_rows))


def state_from_tables(tables: dict[str, pa.Table], day: int, n_positions: int) -> inv.InventoryState:
    positions = tables[POSITIONS].sort_by("position")
    locations = tables[LOCATIONS].sort_by("location")
    if positions.num_rows != n_positions:
        raise ValueError(
            f"checkpoint has {positions.num_rows} positions but the configured world has {n_positions}: "
            "it was written with another configuration; re-run from the first day"
        )
    arrays: dict[str, np.ndarray] = {}
    for scope, table in ((inv.POSITION, positions), (inv.LOCATION, locations)):
        for f in inv.InventoryState.arrays(scope):
            values = table.column(f.name).to_numpy(zero_copy_only=False)
            arrays[f.name] = np.array(values, dtype=f.metadata["dtype"])
    for f in inv.InventoryState.arrays(inv.RING_SLOTS):
        arrays[f.name] = _list_to_ring(positions.column(f.name), day, n_positions)
    scheduled = tables[SCHEDULED].drop_columns(["date_key"])
    scheduled = scheduled.rename_columns(
        ["date_key" if name == SCHEDULED_ROW_DATE else name for name in scheduled.column_names]
    ).cast(SCHEDULED_SCHEMA)
    requests = tables[REQUESTS].drop_columns(["date_key"]).cast(SCHEDULED_REQUESTS_SCHEMA)
    messages = {part: tables[part].drop_columns(["date_key"]).cast(schema).sort_by("store_position").combine_chunks()
                for part, schema in MESSAGES.items()}
    return inv.InventoryState(
        day=day,
        scheduled_sales=scheduled.sort_by([("due_day", "ascending"), ("sale_id", "ascending")]).combine_chunks(),
        scheduled_requests=requests.sort_by([("due_day", "ascending"), ("line_id", "ascending")]).combine_chunks(),
        **messages,
        **arrays,
    )
