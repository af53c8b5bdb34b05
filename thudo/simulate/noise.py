"""Deterministic noise: every random number is a hash of the seed, a key and an index.

Nothing here keeps state, so a value depends only on its inputs: the same seed, device and
simulated time give the same reading on any machine, in any order, at any speed.
"""

from __future__ import annotations

import hashlib
import math
from functools import lru_cache

__all__ = ["gauss", "key_of", "smooth", "unit"]

_MASK = (1 << 64) - 1
_TWO_PI = 2.0 * math.pi
_GOLDEN = 0x9E3779B97F4A7C15


def key_of(text: str) -> int:
    """A stable 64-bit key for a name (Python's ``hash`` changes between runs)."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big")


def _mix(x: int) -> int:
    # splitmix64 finaliser: a cheap, well-spread 64-bit permutation.
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def unit(seed: int, key: int, index: int) -> float:
    """A uniform number in [0, 1) for (seed, key, index)."""
    h = _mix(_mix(((seed * _GOLDEN) ^ key) & _MASK) ^ (index & _MASK))
    return (h >> 11) * (1.0 / (1 << 53))


def gauss(seed: int, key: int, index: int) -> float:
    """A standard normal number for (seed, key, index) (Box-Muller on two hashes)."""
    u1 = unit(seed, key, 2 * index) or 1e-12
    u2 = unit(seed, key, 2 * index + 1)
    return math.sqrt(-2.0 * math.log(u1)) * math.cos(_TWO_PI * u2)


def smooth(seed: int, key: int, t: float, period: float) -> float:
    """Correlated noise at time ``t``: normal values at knots ``period`` apart, blended.

    Two octaves keep the variance near 1 between knots; values ``period`` apart are almost
    independent, values a small fraction of it apart almost equal.
    """
    return 0.8 * _blend(seed, key, t / period) + 0.6 * _blend(
        seed, key ^ 0x5BD1E995, t / period * 2.7
    )


def _blend(seed: int, key: int, x: float) -> float:
    k = math.floor(x)
    w = 0.5 - 0.5 * math.cos(math.pi * (x - k))
    return (1.0 - w) * _knot(seed, key, k) + w * _knot(seed, key, k + 1)


@lru_cache(maxsize=1 << 16)
def _knot(seed: int, key: int, index: int) -> float:
    # Neighbouring instants share knots: caching them makes smooth noise cheap.
    return gauss(seed, key, index)
