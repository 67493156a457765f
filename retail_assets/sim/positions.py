"""The position index of a location block: which (product, location) pairs it owns and how
they are numbered.

Positions are numbered inside the block (product-major: every location of the block for
product 0, then product 1...); every random draw and message is keyed by the global position
id (``product * n_locations + location``), so a block's rows are the very rows the whole
world produces at those locations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa


@dataclass(frozen=True, eq=False)
class PositionIndex:
    n_locations: int  # of the whole world: location-scope state stays world-sized (it is small)
    block: np.ndarray  # the location indexes of the block, sorted
    in_block: np.ndarray  # per location of the world: is it in the block
    rank_in_block: np.ndarray  # per location of the world: its rank in the block
    product: np.ndarray  # per position: product index
    location: np.ndarray  # per position: location index
    key: np.ndarray  # per position: global position id

    @classmethod
    def build(cls, n_products: int, n_locations: int, block: np.ndarray | None = None) -> "PositionIndex":
        """The positions of ``block`` (location indexes, any grouping; all locations by default)."""
        block = np.arange(n_locations) if block is None else np.unique(block)
        in_block = np.zeros(n_locations, dtype=bool)
        in_block[block] = True
        location = np.tile(block, n_products)
        product = np.repeat(np.arange(n_products), len(block))
        return cls(
            n_locations=n_locations, block=block, in_block=in_block, rank_in_block=np.cumsum(in_block) - 1,
            product=product, location=location, key=product.astype(np.int64) * n_locations + location,
        )

    @property
    def n_positions(self) -> int:
        return len(self.key)

    @property
    def is_whole_world(self) -> bool:
        return len(self.block) == self.n_locations

    def position_at(self, product: np.ndarray, location: np.ndarray) -> np.ndarray:
        """Block position of (product index, location index) pairs; the location must be in the block."""
        return np.asarray(product, dtype=np.int64) * len(self.block) + self.rank_in_block[location]

    def local_position(self, position_key: np.ndarray) -> np.ndarray:
        """Block position of global position ids."""
        return self.position_at(position_key // self.n_locations, position_key % self.n_locations)

    def row_positions(self, rows: pa.Table) -> np.ndarray:
        """Block position of rows carrying ``product_key`` and ``location_key`` (1-based keys)."""
        product = rows.column("product_key").to_numpy().astype(np.int64) - 1
        return self.position_at(product, rows.column("location_key").to_numpy() - 1)

    def by_product(self, values: np.ndarray) -> np.ndarray:
        """Per-position ``values`` as a (product, location of the block) matrix (a view)."""
        return values.reshape(-1, len(self.block))
