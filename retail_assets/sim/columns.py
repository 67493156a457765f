"""Arrow column helpers of the row builders: ids from string kernels, categories by ``take``.

The ground floor of ``sim``: it imports nothing from the simulation, so any module building
rows can use it.
"""

from __future__ import annotations


import numpy as np
import pyarrow as pa
import pyarrow.compute as pc


def as_text(values) -> pa.Array:
    if isinstance(values, (pa.Array, pa.ChunkedArray)):
        return values.cast(pa.string())
    return pa.array(values).cast(pa.string())


def join_text(*parts) -> pa.Array:
    """Concatenate string literals and arrays element-wise."""
    return pc.binary_join_element_wise(*[p if isinstance(p, str) else as_text(p) for p in parts], "")


def vocab(vocabulary, codes: np.ndarray, valid: np.ndarray | None = None) -> pa.Array:
    """The words of ``codes`` in ``vocabulary`` (null where not ``valid``)."""
    taken = pa.array(list(vocabulary), pa.string()).take(pa.array(np.where(codes < 0, 0, codes)))
    if valid is None:
        return taken
    return pc.if_else(pa.array(valid), taken, pa.scalar(None, pa.string()))


def time_key_of(slot: np.ndarray) -> np.ndarray:
    """The time_key (HHMM) of 15-minute slots of the day."""
    return ((slot // 4) * 100 + (slot % 4) * 15).astype(np.int32)


def money(values: np.ndarray) -> np.ndarray:
    return np.round(values, 2)


