"""Counter-based randomness: every random number is a pure function of its coordinates.

A value is ``hash(seed, stream, day, entity_id)``; nothing depends on call order, global
state, batching or the engine that runs a block. A day produced alone, inside a range run or
inside a Spark task therefore gets the very same numbers. The mixer is SplitMix64's finaliser
(a bijective avalanche on uint64), applied to the coordinates folded together.
"""

from __future__ import annotations

import zlib

import numpy as np

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MUL1 = np.uint64(0xBF58476D1CE4E5B9)
_MUL2 = np.uint64(0x94D049BB133111EB)
_TO_UNIT = 1.0 / float(1 << 53)


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser, vectorised (uint64 arithmetic wraps by design)."""
    x = x ^ (x >> np.uint64(30))
    x = x * _MUL1
    x = x ^ (x >> np.uint64(27))
    x = x * _MUL2
    return x ^ (x >> np.uint64(31))


def stream_id(name: str) -> int:
    """Stable 32-bit id of a named stream (crc32 is fixed across Python versions and runs)."""
    return zlib.crc32(name.encode())


class Streams:
    """Named random streams of one seed; ``day`` may be negative (warm-up days)."""

    def __init__(self, seed: int):
        self.seed = int(seed)

    def _key(self, stream: str, day: int) -> np.uint64:
        with np.errstate(over="ignore"):
            base = _mix(np.array([self.seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
            base = _mix(base ^ np.uint64(stream_id(stream)) * _GOLDEN)
            base = _mix(base ^ (np.uint64(day & 0xFFFFFFFFFFFFFFFF) * _MUL1))
        return base[0]

    def bits(self, stream: str, day: int, ids: np.ndarray) -> np.ndarray:
        """64 random bits per id."""
        key = self._key(stream, day)
        with np.errstate(over="ignore"):
            return _mix(np.asarray(ids).astype(np.uint64) * _GOLDEN ^ key)

    def uniform(self, stream: str, day: int, ids: np.ndarray) -> np.ndarray:
        """Uniform floats in [0, 1), one per id."""
        return (self.bits(stream, day, ids) >> np.uint64(11)).astype(np.float64) * _TO_UNIT

    def integers(self, stream: str, day: int, ids: np.ndarray, low, high) -> np.ndarray:
        """Integers in [low, high] inclusive (scalars or arrays broadcast against ids)."""
        u = self.uniform(stream, day, ids)
        low = np.asarray(low, dtype=np.int64)
        span = np.asarray(high, dtype=np.int64) - low + 1
        return low + np.minimum((u * span).astype(np.int64), span - 1)

    def choice(self, stream: str, day: int, ids: np.ndarray, cumulative_weights: np.ndarray) -> np.ndarray:
        """Index drawn with probability proportional to weights, given their running sum."""
        u = self.uniform(stream, day, ids) * cumulative_weights[-1]
        return np.minimum(np.searchsorted(cumulative_weights, u, side="right"), len(cumulative_weights) - 1)

    def normal(self, stream: str, day: int, ids: np.ndarray) -> np.ndarray:
        """Standard normal values (Box-Muller on two derived uniforms)."""
        u1 = self.uniform(stream + "/a", day, ids)
        u2 = self.uniform(stream + "/b", day, ids)
        return np.sqrt(-2.0 * np.log1p(-u1)) * np.cos(2.0 * np.pi * u2)

    def poisson(self, stream: str, day: int, ids: np.ndarray, lam: np.ndarray) -> np.ndarray:
        """Poisson counts by inverse CDF; iterations grow with max(lam), meant for small rates."""
        u = self.uniform(stream, day, ids)
        lam = np.broadcast_to(np.asarray(lam, dtype=np.float64), u.shape)
        pmf = np.exp(-lam)
        cdf = pmf.copy()
        k = np.zeros(u.shape, dtype=np.int64)
        active = u >= cdf
        step = 0
        while active.any():
            step += 1
            idx = np.flatnonzero(active)
            pmf[idx] *= lam[idx] / step
            cdf[idx] += pmf[idx]
            k[idx] = step
            still = u[idx] >= cdf[idx]
            active[idx] = still & (pmf[idx] > 1e-300)
        return k
