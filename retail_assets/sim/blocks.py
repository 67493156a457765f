"""Blocks: how a day splits into independent pieces of work, for Spark tasks and their tests.

The customer side splits by customers (``customer_blocks``): every draw is keyed by customer,
order or line id, so a block of customers yields exactly its share of the day's requests.
The position side splits by location (``regions``): a distribution center together with the
stores and warehouses it replenishes, because the DC echelon is the only place where one
location's stock decides another's. The day's one exchange routes each request to the region
of the location it asks for. Checkpoints split and merge along the same lines, so a state
carried by blocks and the whole world's state are interchangeable.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.sim import checkpoint
from retail_assets.sim.day import DayTables
from retail_assets.sim.demand import Requests
from retail_assets.sim.world import World

CUSTOMERS_PER_BLOCK = 100_000  # one Spark task of the customer side


def regions(world: World) -> list[np.ndarray]:
    """Location indexes of each region: a DC, then the locations it replenishes."""
    locations = world.locations
    own = np.arange(len(locations))
    region_dc = np.where(locations.source_dc >= 0, locations.source_dc, own)
    return [np.flatnonzero(region_dc == dc) for dc in np.unique(region_dc)]


def region_of_location(blocks: list[np.ndarray], n_locations: int) -> np.ndarray:
    """Block number of every location index."""
    owner = np.full(n_locations, -1, dtype=np.int32)
    for number, block in enumerate(blocks):
        owner[block] = number
    return owner


def customer_blocks(n_customers: int, per_block: int = CUSTOMERS_PER_BLOCK) -> list[slice]:
    return [slice(start, min(start + per_block, n_customers)) for start in range(0, n_customers, per_block)]


def route(requests: Requests, owner: np.ndarray, n_blocks: int) -> list[Requests]:
    """The requests of each block, in their original order."""
    block = owner[requests.location]
    return [requests.take(np.flatnonzero(block == number)) for number in range(n_blocks)]


def _location_of_position(positions: pa.ChunkedArray, n_locations: int) -> pa.Array:
    return pc.subtract(positions, pc.multiply(pc.divide(positions, n_locations), n_locations))


def split_checkpoint(tables: dict[str, pa.Table], block: np.ndarray, n_locations: int) -> dict[str, pa.Table]:
    """The part of a whole-world checkpoint a block carries (location rows: all of them)."""
    members = pa.array(block.astype(np.int64))
    positions = tables[checkpoint.POSITIONS]
    keep = pc.is_in(_location_of_position(positions.column("position"), n_locations), members)
    sales = tables[checkpoint.SCHEDULED]
    requests = tables[checkpoint.REQUESTS]
    return {
        checkpoint.POSITIONS: positions.filter(keep),
        checkpoint.LOCATIONS: tables[checkpoint.LOCATIONS],
        checkpoint.SCHEDULED: sales.filter(pc.is_in(pc.subtract(sales.column("location_key").cast(pa.int64()), 1),
                                                    members)),
        checkpoint.REQUESTS: requests.filter(pc.is_in(requests.column("location"), members)),
    }


def merge_checkpoints(parts: list[tuple[np.ndarray, dict[str, pa.Table]]]) -> dict[str, pa.Table]:
    """The whole-world checkpoint from each block's: its positions, its own location rows."""
    def own_locations(block: np.ndarray, table: pa.Table) -> pa.Table:
        return table.filter(pc.is_in(table.column("location"), pa.array(block.astype(np.int64))))

    return {
        checkpoint.POSITIONS: pa.concat_tables([t[checkpoint.POSITIONS] for _, t in parts]).sort_by("position"),
        checkpoint.LOCATIONS: pa.concat_tables([own_locations(b, t[checkpoint.LOCATIONS]) for b, t in parts])
        .sort_by("location"),
        checkpoint.SCHEDULED: pa.concat_tables([t[checkpoint.SCHEDULED] for _, t in parts]),
        checkpoint.REQUESTS: pa.concat_tables([t[checkpoint.REQUESTS] for _, t in parts]),
    }


def merge_day_tables(parts: list[DayTables]) -> DayTables:
    """One day's tables from its blocks' (row order aside, the whole world's)."""
    first = parts[0]
    return DayTables(
        day=first.day,
        date_key=first.date_key,
        **{name: pa.concat_tables([getattr(part, name) for part in parts])
           for name in DayTables.__dataclass_fields__ if name not in ("day", "date_key")},
    )
