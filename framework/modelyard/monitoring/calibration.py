"""Out-of-sample noise floors for effect-size statistics, from the held-out part of the reference.

An effect size measured between two samples of *unchanged* data is not zero: sampling noise
alone gives a normalised Wasserstein distance of about ``0.8 * sqrt(1/n + 1/m)``, a PSI of
about ``(bins - 1) * (1/n + 1/m)``, and more for skewed or high-cardinality features. A fixed
threshold therefore alarms on small windows of unchanged data. The held-out reference rows
are unchanged data that the profile was *not* computed from: cut into chunks, each chunk's
statistic against the fit part is a draw from the no-drift distribution of that statistic
for that feature. Normalising each draw by its sampling scale ``s(h) = (1/h + 1/m) ** e``
(``e = 1/2`` for distances, ``1`` for divergences like PSI) gives a per-feature constant, and
the floor for a window of ``n`` rows is ``(mean + k * sd of those constants) * s(n)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

#: Number of held-out chunks drawn per feature, and the smallest chunk worth measuring.
N_CHUNKS = 20
MIN_CHUNK = 50
#: The floor sits this many standard deviations above the mean of the no-drift draws.
K_SD = 4.0


T = TypeVar("T")  # a held-out chunk, as the statistic takes it


@dataclass(frozen=True)
class NoiseFloor:
    """The calibrated no-drift level of a statistic for one feature, at any window size."""

    scale: float
    exponent: float
    m: int
    chunks: int

    def at(self, n: int) -> float:
        """The floor for a window of ``n`` rows."""
        if n <= 0:
            return float("inf")
        return float(self.scale * (1.0 / n + 1.0 / self.m) ** self.exponent)


def numeric_chunks(holdout_sample: np.ndarray, seed: int) -> list[np.ndarray]:
    """The held-out sample shuffled and cut into sorted chunks (none if it is too small)."""
    n_chunks = min(N_CHUNKS, holdout_sample.size // MIN_CHUNK)
    if n_chunks < 5:
        return []
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(holdout_sample)
    return [np.sort(c) for c in np.array_split(shuffled, n_chunks)]


def categorical_chunks(counts: np.ndarray, seed: int, *, max_rows: int = 50_000) -> list[np.ndarray]:
    """Held-out category counts (aligned with ``counts``' order) cut into per-chunk count vectors."""
    counts = np.asarray(counts, dtype=np.int64)
    total = int(counts.sum())
    n_chunks = min(N_CHUNKS, total // MIN_CHUNK)
    if n_chunks < 5:
        return []
    rng = np.random.default_rng(seed)
    rows = rng.permutation(np.repeat(np.arange(counts.size), counts))[:max_rows]
    return [np.bincount(c, minlength=counts.size) for c in np.array_split(rows, n_chunks)]


def noise_floor(
    chunks: Sequence[T],
    sizes: list[int],
    statistic: Callable[[T], float],
    *,
    m: int,
    exponent: float,
    k_sd: float = K_SD,
) -> NoiseFloor | None:
    """Fit a :class:`NoiseFloor` from ``statistic`` of each held-out chunk (``None`` without chunks)."""
    if not chunks or m <= 0:
        return None
    values = np.array([statistic(c) for c in chunks], dtype=np.float64)
    scales = np.array([(1.0 / h + 1.0 / m) ** exponent for h in sizes])
    normalised = values / scales
    normalised = normalised[np.isfinite(normalised)]
    if normalised.size < 2:
        return None
    scale = float(normalised.mean() + k_sd * normalised.std(ddof=1))
    return NoiseFloor(scale=scale, exponent=exponent, m=m, chunks=int(normalised.size))


#: Draws of the simulated no-drift distribution of a categorical statistic at a window's size.
SIMULATED_DRAWS = 200


def simulated_floor(
    reference_counts: np.ndarray,
    n: int,
    statistic: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    seed: int,
    draws: int = SIMULATED_DRAWS,
    k_sd: float = K_SD,
) -> float:
    """The no-drift level of a categorical statistic for a window of exactly ``n`` values.

    Held-out chunks are smaller than most windows, and a statistic over many sparse cells does
    not shrink as ``(1/n + 1/m) ** e`` until every cell is well filled, so rescaling the chunks'
    level underestimates the noise of a large window over many cells. For categorical data the
    no-drift distribution at any size is known up to the cell shares: reference and window are
    both multinomial draws over the cells. This draws both (``m`` and ``n`` values from the
    reference's shares) ``draws`` times and returns mean + ``k_sd`` sd of the statistic, the same
    rule as :func:`noise_floor`. ``statistic`` takes 2-D count arrays, one draw per row. Tail cells are hashed buckets (:mod:`modelyard.monitoring.categories`),
    so values the reference never saw are in the shares too.
    """
    ref = np.asarray(reference_counts, dtype=np.float64)
    m = int(ref.sum())
    if n <= 0 or m <= 0:
        return float("inf")
    shares = ref / m
    rng = np.random.default_rng([seed, n, m, ref.size])
    refs = rng.multinomial(m, shares, size=draws).astype(np.float64)
    curs = rng.multinomial(n, shares, size=draws).astype(np.float64)
    values = np.asarray(statistic(refs, curs), dtype=np.float64)  # one value per draw (row)
    values = values[np.isfinite(values)]
    if values.size < 2:
        return float("inf")
    return float(values.mean() + k_sd * values.std(ddof=1))
