"""The cells a categorical feature is compared over: frequent categories, plus hashed tail buckets.

Comparing a window with the reference category by category works for a handful of levels,
but not for a long tail (thousands of Zipf-distributed levels): most tail categories are seen
a few times or never, so the reference counts of the tail are mostly noise, and whichever
categories the reference *happened* to see are over-represented in it (the window's share of
"categories the reference has" is always lower than the reference's own). Keeping the top
categories of the reference sample and pooling the rest into one ``other`` cell turns that
selection effect into a systematic difference that no sample size makes go away.

So a categorical feature is compared over *cells* chosen so that no cell depends on which tail
categories the reference sample happened to contain:

* **head** cells: one per category seen at least :func:`head_min_count` times in the *held-out*
  part of the reference (at most ``max_categories`` of them), stable enough to compare one by
  one. They are chosen on the held-out rows, not on the fit rows the window is compared with,
  so the fit counts of the head are not inflated by the choice (a category that happened to
  be frequent in the fit rows is no more likely to be a head cell);
* **tail** buckets: every other value, seen in the reference or not, goes to bucket
  ``hash(value) mod B``. The hash does not look at the data, so a bucket's reference count is an
  unbiased estimate of its share, and a window of unchanged data fills the buckets in the same
  proportions. ``B`` keeps about :data:`TAIL_MIN_PER_BUCKET` reference values per bucket.

A feature without a tail (every category frequent) keeps its categories exactly; a value the
reference never had gets a cell of its own. With a tail, a value the reference never had that
takes at least :data:`NEW_CATEGORY_SHARE` of a window (and :data:`NEW_CATEGORY_MIN` values) gets
a cell of its own too, instead of hiding in its bucket: a value that frequent would have been
seen in the reference (a tail value the fit part missed has a share below a few over its size),
so it is a new category, not the tail. The fit part's full vocabulary is kept (as 64-bit
hashes when there is a tail) so the quality check can still count values never seen before.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np

#: Reference values per tail bucket (at least), and the most tail buckets a feature gets.
TAIL_MIN_PER_BUCKET = 100
MAX_TAIL_BUCKETS = 64
#: An unseen value with at least this share of a window (and this many values) is a new category.
NEW_CATEGORY_SHARE = 0.005
NEW_CATEGORY_MIN = 10
#: Prefix of the tail bucket cells' names (``__tail_07__``).
TAIL_PREFIX = "__tail_"


def head_min_count(count: int) -> int:
    """How often a category must appear among ``count`` values to get a cell of its own (5 to 30)."""
    return int(np.clip(count // 200, 5, 30))


def tail_cell(bucket: int) -> str:
    return f"{TAIL_PREFIX}{bucket:02d}__"


def is_tail_cell(key: str) -> bool:
    return key.startswith(TAIL_PREFIX) and key.endswith("__")


_FNV_OFFSET = np.uint64(0xCBF29CE484222325)
_FNV_PRIME = np.uint64(0x100000001B3)


def key_hashes(keys: Iterable[str]) -> np.ndarray:
    """A stable 64-bit hash of each key: FNV-1a over its UTF-8 bytes and length, then splitmix64's mix.

    Written out here (vectorised over the keys, one pass per byte position) so a profile stored
    today buckets and recognises values the same way on any machine and any library version.
    """
    encoded = [k.encode("utf-8") for k in keys]
    if not encoded:
        return np.empty(0, dtype=np.uint64)
    raw = np.array(encoded, dtype=bytes)  # fixed width, zero padded
    width = raw.dtype.itemsize
    data = raw.view(np.uint8).reshape(len(encoded), width) if width else np.zeros((len(encoded), 0), np.uint8)
    lengths = np.fromiter((len(b) for b in encoded), dtype=np.uint64, count=len(encoded))
    h = np.full(len(encoded), _FNV_OFFSET, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for j in range(width):
            active = lengths > j
            mixed = (h ^ data[:, j].astype(np.uint64)) * _FNV_PRIME
            h = np.where(active, mixed, h)
        h ^= lengths
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return h


@dataclass(frozen=True)
class Cells:
    """A feature's cell layout: head categories, number of tail buckets, fit vocabulary."""

    head: frozenset[str]
    tail_buckets: int
    vocabulary: np.ndarray  # sorted uint64 hashes of every fit category (used when tail_buckets > 0)

    def knows(self, keys: list[str], hashes: np.ndarray | None = None) -> np.ndarray:
        """Whether each key was seen in the fit part of the reference."""
        if not self.tail_buckets:
            return np.fromiter((k in self.head for k in keys), dtype=bool, count=len(keys))
        hashes = key_hashes(keys) if hashes is None else hashes
        if self.vocabulary.size == 0:
            return np.zeros(len(keys), dtype=bool)
        pos = np.searchsorted(self.vocabulary, hashes)
        pos = np.minimum(pos, self.vocabulary.size - 1)
        return self.vocabulary[pos] == hashes

    def count(self, counts: Mapping[str, int]) -> tuple[dict[str, int], dict[str, int]]:
        """``(cell counts, unseen value counts)`` of category counts (keys as ``category_key`` makes them).

        Unseen values are those the fit part never had; with a tail they are counted in their
        bucket, without one each gets a cell of its own (after the head cells).
        """
        keys = list(counts)
        if not keys:
            return {}, {}
        values = np.fromiter((int(v) for v in counts.values()), dtype=np.int64, count=len(keys))
        hashes = key_hashes(keys) if self.tail_buckets else None
        known = self.knows(keys, hashes)
        in_head = np.fromiter((k in self.head for k in keys), dtype=bool, count=len(keys))
        cells = {keys[i]: int(values[i]) for i in np.flatnonzero(in_head)}
        if self.tail_buckets:  # frequent new values: cells of their own (see the module docstring)
            floor = max(NEW_CATEGORY_MIN, NEW_CATEGORY_SHARE * float(values.sum()))
            new = np.flatnonzero(~known & ~in_head & (values >= floor))
            for i in new:
                cells[keys[i]] = int(values[i])
            in_head[new] = True
        rest = np.flatnonzero(~in_head)
        if self.tail_buckets and rest.size:
            buckets = (hashes[rest] % np.uint64(self.tail_buckets)).astype(np.int64)  # type: ignore[index]
            totals = np.bincount(buckets, weights=values[rest], minlength=self.tail_buckets)
            for b in np.flatnonzero(totals):
                cells[tail_cell(int(b))] = int(totals[b])
        else:
            for i in rest:
                cells[keys[i]] = cells.get(keys[i], 0) + int(values[i])
        unseen = {keys[i]: int(values[i]) for i in np.flatnonzero(~known)}
        return cells, unseen


def build_cells(
    fit_counts: Mapping[str, int], holdout_counts: Mapping[str, int], *, max_categories: int
) -> Cells:
    """The cell layout for a feature whose fit and held-out parts have these category counts.

    The head is chosen on the held-out counts (on the fit counts only when nothing is held out).
    """
    chooser = holdout_counts if sum(holdout_counts.values()) else fit_counts
    floor = head_min_count(sum(chooser.values()))
    ranked = sorted(chooser.items(), key=lambda kv: -kv[1])
    head = [k for k, v in ranked if v >= floor][:max_categories]
    head_set = frozenset(head)
    tail_total = sum(v for k, v in fit_counts.items() if k not in head_set)
    if tail_total == 0:  # every fit category is frequent: keep exactly those (the vocabulary)
        fit_keys = frozenset(k for k, v in fit_counts.items() if v > 0)
        return Cells(head=fit_keys, tail_buckets=0, vocabulary=np.empty(0, dtype=np.uint64))
    buckets = int(np.clip(tail_total // TAIL_MIN_PER_BUCKET, 1, MAX_TAIL_BUCKETS))
    vocabulary = np.unique(key_hashes(fit_counts))
    return Cells(head=head_set, tail_buckets=buckets, vocabulary=vocabulary)
