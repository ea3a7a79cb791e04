"""Deterministic, salted bucketing: the same key lands in the same place in every process.

``bucket(salt, key)`` maps a string to a uniform number in [0, 1) with blake2b, so
assignment depends only on the experiment's salt and the key: not on the worker, the
process, ``PYTHONHASHSEED`` or a restart. ``pick`` turns a bucket into a variant by
cumulative weight, in the order the variants are given: growing the share of the first
variant (a canary candidate) only ever moves keys *into* it, never back out.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Sequence

_SCALE = float(1 << 64)


def bucket(salt: str, key: str) -> float:
    """A uniform number in [0, 1) determined by ``salt`` and ``key`` alone."""
    digest = hashlib.blake2b(f"{salt}\x1f{key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / _SCALE


def random_bucket() -> float:
    """A uniform number in [0, 1) for requests without any key (not sticky)."""
    return secrets.randbits(53) / float(1 << 53)


def pick(weights: Sequence[float], u: float) -> int:
    """The index whose cumulative-weight interval holds ``u`` (weights need not sum to 1).

    Zero weights are never picked; if every weight is zero the shares are equal.
    """
    if not weights:
        raise ValueError("pick() needs at least one weight")
    total = float(sum(weights))
    if total <= 0:
        return min(int(u * len(weights)), len(weights) - 1)
    target = u * total
    acc = 0.0
    last_positive = 0
    for i, w in enumerate(weights):
        if w <= 0:
            continue
        last_positive = i
        acc += w
        if target < acc:
            return i
    return last_positive  # float rounding at the very top of the range


def sticky_unit(salt: str, key: str | None) -> float:
    """``bucket(salt, key)`` for a key, a random draw when there is none."""
    return random_bucket() if key is None else bucket(salt, key)
