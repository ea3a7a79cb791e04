"""Sticky assignment: deterministic across processes, splits within binomial tolerance."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from collections import Counter

import pytest

from modelyard.plugins.testing import make_host
from modelyard.routing.hashing import bucket, pick
from modelyard.routing.router import Deployment, RouteRequest, Variant

N = 20_000


def ab_deployment(weights: dict[str, float], salt: str = "exp-1") -> Deployment:
    variants = tuple(Variant(name, i + 1, w) for i, (name, w) in enumerate(weights.items()))
    return Deployment(model="rides", variants=variants, router="ab", salt=salt)


def assign(weights: dict[str, float], keys: range, salt: str = "exp-1") -> list[str]:
    router = make_host().spec("router", "ab").build({})
    dep = ab_deployment(weights, salt)
    return [router.route(RouteRequest("rides", routing_key=f"user-{k}"), dep).live.name for k in keys]


_CHILD = """
import json, sys
sys.path.insert(0, {here!r})
from test_routing_hashing import assign
print(json.dumps(assign({{"control": 0.5, "treatment": 0.3, "third": 0.2}}, range(2000))))
"""


def test_bucket_is_deterministic_and_in_unit_interval() -> None:
    values = [bucket("s", str(i)) for i in range(1000)]
    assert values == [bucket("s", str(i)) for i in range(1000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert bucket("s", "k") != bucket("t", "k")  # the salt matters


def test_same_keys_same_variants_in_two_separate_processes() -> None:
    here = os.path.dirname(__file__)
    outputs = []
    for seed in ("1", "12345"):  # different hash seeds: str hashing must not leak into assignment
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run(
            [sys.executable, "-c", _CHILD.format(here=here)],
            capture_output=True,
            text=True,
            env=env,
            check=True,
        )
        outputs.append(json.loads(proc.stdout))
    assert outputs[0] == outputs[1]
    assert outputs[0] == assign({"control": 0.5, "treatment": 0.3, "third": 0.2}, range(2000))
    assert set(outputs[0]) == {"control", "treatment", "third"}


@pytest.mark.parametrize("weights", [{"a": 0.5, "b": 0.5}, {"a": 0.9, "b": 0.1}, {"a": 1, "b": 2, "c": 7}])
def test_observed_split_within_binomial_tolerance(weights: dict[str, float]) -> None:
    counts = Counter(assign(weights, range(N)))
    total = sum(weights.values())
    for name, w in weights.items():
        p = w / total
        sd = math.sqrt(N * p * (1 - p))
        assert abs(counts[name] - N * p) < 4.5 * sd, (name, counts[name], N * p)


def test_a_new_salt_reshuffles_users() -> None:
    first = assign({"a": 0.5, "b": 0.5}, range(2000), salt="exp-1")
    second = assign({"a": 0.5, "b": 0.5}, range(2000), salt="exp-2")
    moved = sum(x != y for x, y in zip(first, second, strict=True))
    assert 800 < moved < 1200  # independent halves: about half move


def test_weight_change_moves_only_keys_in_resized_intervals() -> None:
    before = assign({"a": 0.5, "b": 0.5}, range(N))
    after = assign({"a": 0.4, "b": 0.6}, range(N))
    moved = [(x, y) for x, y in zip(before, after, strict=True) if x != y]
    assert all(x == "a" and y == "b" for x, y in moved)
    assert abs(len(moved) / N - 0.1) < 0.02


def test_pick_skips_zero_weights_and_handles_all_zero() -> None:
    assert {pick([0.0, 1.0, 0.0], u / 100) for u in range(100)} == {1}
    assert {pick([0.0, 0.0], u / 100) for u in range(100)} == {0, 1}
    assert pick([1.0, 1.0], 0.999999999999) == 1
