"""The built-in routers: plans from config, validation, and what each returns."""

from __future__ import annotations

from collections import Counter

import pytest

from modelyard.errors import ConfigError, RolloutError
from modelyard.plugins.testing import make_host
from modelyard.routing.router import Deployment, RouteRequest, Variant

HOST = make_host()


def build(name: str, settings: dict | None = None):
    return HOST.spec("router", name).build(settings or {})


def test_every_builtin_router_is_registered() -> None:
    assert {"single", "ab", "shadow", "canary"} <= set(HOST.routers())


@pytest.mark.parametrize("name", ["single", "ab", "shadow", "canary"])
def test_router_settings_forbid_unknown_keys(name: str) -> None:
    with pytest.raises(ConfigError, match="wieght"):
        build(name, {"wieght": 1})


def test_single_serves_alias_holder_and_lists_shadows() -> None:
    router = build("single")
    assert router.plan("rides", alias="production", alias_version=4) == (Variant("v4", 4),)
    with pytest.raises(RolloutError, match="no version holds the alias 'production'"):
        router.plan("rides", alias="production", alias_version=None)
    dep = Deployment("rides", (Variant("v4", 4), Variant("v5", 5, 0, "shadow")))
    decision = router.route(RouteRequest("rides", "u1"), dep)
    assert decision.live.version == 4 and [s.version for s in decision.shadows] == [5]


def test_ab_needs_two_variants() -> None:
    with pytest.raises(RolloutError, match="at least two variants"):
        build("ab", {"variants": [{"version": 1}]}).plan("rides", alias="production", alias_version=1)
    with pytest.raises(RolloutError, match="at least two live variants"):
        build("ab").validate(Deployment("rides", (Variant("v1", 1),), router="ab"))
    planned = build("ab", {"variants": [{"version": 1, "weight": 0.7}, {"version": 2, "weight": 0.3}]}).plan(
        "rides", alias="production", alias_version=None
    )
    assert planned == (Variant("v1", 1, 0.7), Variant("v2", 2, 0.3))


def test_ab_falls_back_to_entities_for_stickiness() -> None:
    router = build("ab")
    dep = Deployment("rides", (Variant("a", 1), Variant("b", 2)), router="ab", salt="s")
    picks = {
        router.route(
            RouteRequest("rides", entities={"driver_id": 7, "customer_id": 3}, request_id=str(i)), dep
        ).live
        for i in range(50)
    }
    assert len(picks) == 1  # same entities, different request ids: same variant


def test_shadow_router_lists_shadows_and_samples_them() -> None:
    router = build("shadow", {"shadows": [2, 3]})
    variants = router.plan("rides", alias="production", alias_version=1)
    assert [(v.version, v.mode) for v in variants] == [(1, "live"), (2, "shadow"), (3, "shadow")]
    dep = Deployment("rides", variants, router="shadow", salt="s")
    router.validate(dep)
    decision = router.route(RouteRequest("rides", "u", request_id="r1"), dep)
    assert decision.live.version == 1 and [s.version for s in decision.shadows] == [2, 3]

    sampled = build("shadow", {"shadows": [2], "sample": 0.25})
    dep = Deployment(
        "rides", sampled.plan("rides", alias="production", alias_version=1), router="shadow", salt="s"
    )
    mirrored = sum(
        bool(sampled.route(RouteRequest("rides", request_id=str(i)), dep).shadows) for i in range(8000)
    )
    assert abs(mirrored / 8000 - 0.25) < 0.03
    with pytest.raises(RolloutError, match="at least one shadow"):
        sampled.validate(Deployment("rides", (Variant("v1", 1),), router="shadow"))


def test_canary_plan_starts_at_the_first_step_and_candidate_keeps_its_keys() -> None:
    router = build("canary", {"candidate": 2, "steps": [10, 50, 100]})
    base, cand = router.plan("rides", alias="production", alias_version=1)
    assert (base.version, base.weight, cand.version, cand.weight) == (1, 0.9, 2, 0.1)
    with pytest.raises(RolloutError, match="already holds"):
        router.plan("rides", alias="production", alias_version=2)

    def routed(share: float) -> dict[str, str]:
        dep = Deployment(
            "rides",
            (Variant("v1", 1, 1 - share), Variant("v2", 2, share)),
            router="canary",
            salt="c",
            state={"candidate": "v2", "baseline": "v1"},
        )
        return {f"u{i}": router.route(RouteRequest("rides", f"u{i}"), dep).live.name for i in range(5000)}

    small, big = routed(0.1), routed(0.5)
    in_small = {k for k, v in small.items() if v == "v2"}
    assert in_small <= {k for k, v in big.items() if v == "v2"}  # ramping never moves a key back out
    assert abs(len(in_small) / 5000 - 0.1) < 0.02
    assert Counter(routed(0.0).values()) == {"v1": 5000}


@pytest.mark.parametrize(
    "steps, message",
    [([5, 50], "last step must be 100"), ([50, 25, 100], "increase"), ([0, 100], "percentage")],
)
def test_canary_steps_are_checked(steps: list[float], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        build("canary", {"candidate": 2, "steps": steps})


def test_deployment_rejects_duplicate_names_and_no_live_variant() -> None:
    with pytest.raises(RolloutError, match="unique"):
        Deployment("rides", (Variant("a", 1), Variant("a", 2)))
    with pytest.raises(RolloutError, match="no live variant"):
        Deployment("rides", (Variant("a", 1, 0, "shadow"),))
    dep = Deployment(
        "rides",
        (Variant("a", 1, 3), Variant("b", 2, 1)),
        router="ab",
        salt="x",
        guards=({"type": "latency", "max_ms": 5},),
    )
    assert Deployment.from_dict(dep.to_dict(), revision=4) == dep.replace(revision=4)
    assert dep.weights() == {"a": 0.75, "b": 0.25}
