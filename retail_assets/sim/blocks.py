"""Blocks: how a day splits into independent pieces of work, and ``BlockStepper``, which steps
days that way in this process (the reference the Spark engine mirrors).

The customer side splits by customers (``customer_blocks``): every draw is keyed by customer,
order or line id, so a block of customers yields exactly its share of the day's requests.
The position side splits by location (``location_blocks``): a location's day only depends on
its own state, the requests for it, and the messages other locations sent it the day before
(a store's order to its DC, the DC's answer). The day's one exchange routes each request to
the block of the location it asks for, and each message to the block of its addressee.
Checkpoints split and merge along the same lines, so a state carried by blocks and the whole
world's state are interchangeable.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from retail_assets.sim import checkpoint
from retail_assets.sim import inventory as inv
from retail_assets.sim.context import DayContext
from retail_assets.sim.day import DayTables, initial_state, step
from retail_assets.sim.demand import Requests, generate_requests
from retail_assets.sim.world import World

CUSTOMERS_PER_BLOCK = 100_000  # one Spark task of the customer side
# Which location a message is for: orders go to the DC, answers to the store.
ADDRESSEE = {checkpoint.ORDERS: "dc_position", checkpoint.NOTICES: "store_position"}


def location_blocks(n_locations: int, n_blocks: int) -> list[np.ndarray]:
    """Location indexes split into ``n_blocks`` runs of consecutive locations (as even as possible)."""
    return list(np.array_split(np.arange(n_locations), max(1, min(n_blocks, n_locations))))


def block_of_location(blocks: list[np.ndarray], n_locations: int) -> np.ndarray:
    """Block number of every location index."""
    owner = np.full(n_locations, -1, dtype=np.int32)
    for number, block in enumerate(blocks):
        owner[block] = number
    return owner


def customer_blocks(n_customers: int, per_block: int = CUSTOMERS_PER_BLOCK) -> list[slice]:
    return [slice(start, min(start + per_block, n_customers)) for start in range(0, n_customers, per_block)]


def customer_block_requests(ctx: DayContext, day: int, customers: slice) -> Requests:
    """The new requests of a block of customers on ``day``, whatever locations they ask for."""
    return generate_requests(ctx.world, ctx.streams, ctx.calendar, day, ctx.config.cart_abandonment_base_rate,
                             customers)


def route(requests: Requests, owner: np.ndarray, n_blocks: int) -> list[Requests]:
    """The requests of each block, in their original order."""
    block = owner[requests.location]
    return [requests.take(np.flatnonzero(block == number)) for number in range(n_blocks)]


def _location_of_position(positions: pa.ChunkedArray, n_locations: int) -> pa.Array:
    return pc.subtract(positions, pc.multiply(pc.divide(positions, n_locations), n_locations))


def split_checkpoint(tables: dict[str, pa.Table], block: np.ndarray, n_locations: int) -> dict[str, pa.Table]:
    """The part of a whole-world checkpoint a block carries (``split_part`` of every part)."""
    return {part: split_part(part, table, block, n_locations) for part, table in tables.items()}


def split_part(part: str, table: pa.Table, block: np.ndarray, n_locations: int) -> pa.Table:
    """The rows of one checkpoint part a block carries: its positions and rows, the messages
    addressed to its locations (location rows: all of them)."""
    members = pa.array(block.astype(np.int64))
    if part == checkpoint.POSITIONS:
        return table.filter(pc.is_in(_location_of_position(table.column("position"), n_locations), members))
    if part == checkpoint.SCHEDULED:
        return table.filter(pc.is_in(pc.subtract(table.column("location_key").cast(pa.int64()), 1), members))
    if part == checkpoint.REQUESTS:
        return table.filter(pc.is_in(table.column("location"), members))
    if part in checkpoint.MESSAGES:
        return addressed_to(table, part, block, n_locations)
    return table


def addressed_to(messages: pa.Table, part: str, block: np.ndarray, n_locations: int) -> pa.Table:
    """The messages of ``part`` whose addressee is a location of ``block``."""
    addressee = _location_of_position(messages.column(ADDRESSEE[part]), n_locations)
    return messages.filter(pc.is_in(addressee, pa.array(block.astype(np.int64))))


def deliver(states: list, blocks: list[np.ndarray], n_locations: int) -> None:
    """Hand the messages the blocks' states sent today to the blocks they are addressed to (in
    process; a Spark run routes them through its exchange instead)."""
    for part in checkpoint.MESSAGES:
        sent = pa.concat_tables([getattr(state, part) for state in states])
        for state, block in zip(states, blocks):
            setattr(state, part, addressed_to(sent, part, block, n_locations).sort_by("store_position").combine_chunks())


def own_part(part: str, table: pa.Table, block: np.ndarray) -> pa.Table:
    """A block's rows of one checkpoint part that belong in the whole world's: all of them but
    the location rows of other blocks' locations."""
    if part == checkpoint.LOCATIONS:
        return table.filter(pc.is_in(table.column("location"), pa.array(block.astype(np.int64))))
    return table


def merge_checkpoints(parts: list[tuple[np.ndarray, dict[str, pa.Table]]]) -> dict[str, pa.Table]:
    """The whole-world checkpoint from each block's: its positions, its own location rows, the
    messages it sent."""
    merged = {part: pa.concat_tables([own_part(part, tables[part], block) for block, tables in parts])
              for part in checkpoint.CHECKPOINT_SCHEMAS}
    merged[checkpoint.POSITIONS] = merged[checkpoint.POSITIONS].sort_by("position")
    merged[checkpoint.LOCATIONS] = merged[checkpoint.LOCATIONS].sort_by("location")
    return merged


def merge_day_tables(parts: list[DayTables]) -> DayTables:
    """One day's tables from its blocks' (row order aside, the whole world's)."""
    first = parts[0]
    return DayTables(
        day=first.day,
        date_key=first.date_key,
        **{name: pa.concat_tables([getattr(part, name) for part in parts])
           for name in DayTables.__dataclass_fields__ if name not in ("day", "date_key")},
    )


StepBlock = Callable[[DayContext, inv.InventoryState, int, bool, Requests], "DayTables | None"]


class BlockStepper:
    """Steps days across location blocks in this process: requests per customer block, routed
    to the location block they ask for, every location block stepped, the messages delivered,
    the day's tables merged.

    The reference the Spark engine mirrors: its tasks run the same pieces
    (``customer_block_requests``, ``DayContext.for_block``, ``day.step``, ``addressed_to``,
    ``merge_day_tables``) with Spark's exchange in place of ``route`` and ``deliver``.
    """

    def __init__(self, world: World, n_location_blocks: int, customers_per_block: int = CUSTOMERS_PER_BLOCK):
        self.world_context = DayContext.build(world)
        self.n_locations = len(world.locations)
        self.location_blocks = location_blocks(self.n_locations, n_location_blocks)
        self.contexts = [self.world_context.for_block(block) for block in self.location_blocks]
        self.owner = block_of_location(self.location_blocks, self.n_locations)
        self.customer_blocks = customer_blocks(len(world.customers), customers_per_block)

    def initial_states(self) -> list[inv.InventoryState]:
        """Each location block's state before the warm-up, computed by the block itself."""
        return [initial_state(ctx) for ctx in self.contexts]

    def split(self, tables: dict[str, pa.Table], day: int) -> list[inv.InventoryState]:
        """Each location block's share of the whole world's checkpoint of ``day``."""
        return [checkpoint.state_from_tables(split_checkpoint(tables, ctx.positions.block, self.n_locations), day,
                                             ctx.positions.n_positions) for ctx in self.contexts]

    def requests(self, day: int) -> Requests:
        """The day's new requests, customer block by customer block."""
        return Requests.concat([customer_block_requests(self.world_context, day, customers)
                                for customers in self.customer_blocks])

    def step_blocks(self, states: list[inv.InventoryState], day: int, emit: bool = True,
                    requests: Requests | None = None, step_block: StepBlock = step) -> list[DayTables | None]:
        """Advance every block's state (in place) through ``day`` and deliver the messages they
        sent; each block's tables when ``emit``. ``requests``: the day's (``self.requests``
        by default); ``step_block``: ``day.step`` or a stand-in (the cost model times it)."""
        requests = self.requests(day) if requests is None else requests
        routed = route(requests, self.owner, len(self.contexts))
        tables = [step_block(ctx, state, day, emit, block_requests)
                  for ctx, state, block_requests in zip(self.contexts, states, routed)]
        deliver(states, self.location_blocks, self.n_locations)
        return tables

    def step(self, states: list[inv.InventoryState], day: int, emit: bool = True) -> DayTables | None:
        """``step_blocks``, the day's tables merged (row order aside, the whole world's)."""
        tables = self.step_blocks(states, day, emit)
        return merge_day_tables(tables) if emit else None

    def checkpoint(self, states: list[inv.InventoryState], date_key: int) -> dict[str, pa.Table]:
        """The whole world's checkpoint from the blocks' states."""
        return merge_checkpoints([(ctx.positions.block, checkpoint.state_to_tables(state, date_key, ctx.positions.key))
                                  for ctx, state in zip(self.contexts, states)])
