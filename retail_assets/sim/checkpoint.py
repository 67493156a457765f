"""Inventory state <-> Arrow tables: the ``inventory_checkpoint`` of a day.

Three tables, each keyed by the checkpoint's ``date_key`` (the day the state is the end of):
positions (one row per product x location), locations (service feedback), and the
scheduled sales rows (pickups to collect, returns to come). Ring buffers are stored in
relative order, element k = the day after the checkpoint + k, so the layout does not
depend on how the engine indexes its rings.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.sim import inventory as inv
from retail_assets.sim.records import SCHEDULED_SCHEMA

POSITIONS, LOCATIONS, SCHEDULED = "positions", "locations", "scheduled_sales"
SCHEDULED_ROW_DATE = "row_date_key"  # the scheduled row's own date_key, renamed in the checkpoint

_RING_LIST = pa.list_(pa.int32())
POSITIONS_SCHEMA = pa.schema(
    [
        ("date_key", pa.int32()),
        ("position", pa.int64()),
        ("on_hand", pa.int32()),
        ("reserved", pa.int32()),
        ("inbound", _RING_LIST),
        ("restock", _RING_LIST),
        ("reorder_point", pa.int32()),
        ("order_up_to", pa.int32()),
        ("demand_rate", pa.float64()),
        ("sales_rate", pa.float64()),
        ("stockout_days", pa.int32()),
        ("last_receipt_day", pa.int32()),
    ]
)
LOCATIONS_SCHEMA = pa.schema(
    [
        ("date_key", pa.int32()),
        ("location", pa.int32()),
        ("service_adjustment", pa.float64()),
        ("review_stockout_days", pa.int64()),
        ("review_sellable_days", pa.int64()),
    ]
)
CHECKPOINT_SCHEMAS = {
    POSITIONS: POSITIONS_SCHEMA,
    LOCATIONS: LOCATIONS_SCHEMA,
    SCHEDULED: pa.schema(
        [pa.field("date_key", pa.int32())]
        + [f.with_name(SCHEDULED_ROW_DATE) if f.name == "date_key" else f for f in SCHEDULED_SCHEMA]
    ),
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


def state_to_tables(state: inv.InventoryState, date_key: int) -> dict[str, pa.Table]:
    """Snapshot of ``state`` as Arrow tables; copies, so later steps cannot alter it."""
    state = state.copy()
    n_pos, n_loc = len(state.on_hand), len(state.service_adjustment)
    positions = pa.Table.from_pydict(
        {
            "date_key": np.full(n_pos, date_key, dtype=np.int32),
            "position": np.arange(n_pos, dtype=np.int64),
            "on_hand": state.on_hand,
            "reserved": state.reserved,
            "inbound": _ring_to_list(state.inbound, state.day),
            "restock": _ring_to_list(state.restock, state.day),
            "reorder_point": state.reorder_point,
            "order_up_to": state.order_up_to,
            "demand_rate": state.demand_rate,
            "sales_rate": state.sales_rate,
            "stockout_days": state.stockout_days,
            "last_receipt_day": state.last_receipt_day,
        },
        schema=POSITIONS_SCHEMA,
    )
    locations = pa.Table.from_pydict(
        {
            "date_key": np.full(n_loc, date_key, dtype=np.int32),
            "location": np.arange(n_loc, dtype=np.int32),
            "service_adjustment": state.service_adjustment,
            "review_stockout_days": state.review_stockout_days,
            "review_sellable_days": state.review_sellable_days,
        },
        schema=LOCATIONS_SCHEMA,
    )
    scheduled = state.scheduled_sales.rename_columns(
        [SCHEDULED_ROW_DATE if name == "date_key" else name for name in state.scheduled_sales.column_names]
    )
    scheduled = scheduled.add_column(0, "date_key", pa.repeat(pa.scalar(date_key, pa.int32()), scheduled.num_rows))
    return {POSITIONS: positions, LOCATIONS: locations, SCHEDULED: scheduled.cast(CHECKPOINT_SCHEMAS[SCHEDULED])}


def state_from_tables(tables: dict[str, pa.Table], day: int, n_positions: int) -> inv.InventoryState:
    positions = tables[POSITIONS].sort_by("position")
    locations = tables[LOCATIONS].sort_by("location")
    if positions.num_rows != n_positions:
        raise ValueError(
            f"checkpoint has {positions.num_rows} positions but the configured world has {n_positions}: "
            "it was written with another configuration; re-run from the first day"
        )

    def column(table: pa.Table, name: str) -> np.ndarray:
        return table.column(name).to_numpy()

    scheduled = tables[SCHEDULED].drop_columns(["date_key"])
    scheduled = scheduled.rename_columns(
        ["date_key" if name == SCHEDULED_ROW_DATE else name for name in scheduled.column_names]
    ).cast(SCHEDULED_SCHEMA)
    return inv.InventoryState(
        day=day,
        on_hand=column(positions, "on_hand").astype(np.int32),
        reserved=column(positions, "reserved").astype(np.int32),
        inbound=_list_to_ring(positions.column("inbound"), day, n_positions),
        restock=_list_to_ring(positions.column("restock"), day, n_positions),
        reorder_point=column(positions, "reorder_point").astype(np.int32),
        order_up_to=column(positions, "order_up_to").astype(np.int32),
        demand_rate=column(positions, "demand_rate").astype(np.float64),
        sales_rate=column(positions, "sales_rate").astype(np.float64),
        stockout_days=column(positions, "stockout_days").astype(np.int32),
        last_receipt_day=column(positions, "last_receipt_day").astype(np.int32),
        service_adjustment=column(locations, "service_adjustment").astype(np.float64),
        review_stockout_days=column(locations, "review_stockout_days").astype(np.int64),
        review_sellable_days=column(locations, "review_sellable_days").astype(np.int64),
        scheduled_sales=scheduled.sort_by([("due_day", "ascending"), ("sale_id", "ascending")]).combine_chunks(),
    )
