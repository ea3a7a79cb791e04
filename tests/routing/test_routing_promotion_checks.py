"""A required check as a promotion gate: the candidate must have passed a shadow (from the prediction log)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from routing_helpers import add_versions, write_yard

from modelyard.errors import PromotionRefused
from modelyard.predictions.records import PredictionRecord
from modelyard.rollout.traffic import open_log_sink
from modelyard.yard import Yard


def _log(
    yard: Yard,
    version: int,
    n: int,
    *,
    mode: str,
    errors: int = 0,
    start: int = 0,
    variant: str | None = None,
    latency: float = 5.0,
    at: datetime | None = None,
) -> None:
    at = at or datetime.now(timezone.utc) - timedelta(minutes=5)
    sink = open_log_sink(yard)
    sink.write(
        [
            PredictionRecord(
                request_id=f"r{start + i}",
                model="rides",
                version=version,
                variant=variant or f"v{version}",
                mode=mode,  # type: ignore[arg-type]
                prediction=None if i < errors else 1,
                error="boom" if i < errors else None,
                latency_ms=latency + (i % 7),
                timestamp=at + timedelta(milliseconds=i),
            ).to_row()
            for i in range(n)
        ]
    )
    sink.close()


@pytest.fixture(params=["shadow"])
def yard(tmp_path: Path, request: pytest.FixtureRequest):
    path = write_yard(tmp_path / "yard", registry_url=f"sqlite:///{tmp_path / 'reg.db'}")
    config = yaml.safe_load((path / "modelyard.yaml").read_text())
    config["models"]["rides"]["promotion"] = {
        "require": [request.param],
        "min_shadow_samples": 20,
        "min_experiment_samples": 20,
    }
    (path / "modelyard.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    y = Yard.load(path)
    add_versions(y.registry.backend, "rides", 3)
    y.registry.backend.move_alias(
        "rides", "production", action="promote", to_version=1, actor="t", reason="r"
    )
    yield y
    y.registry.close()


def test_promotion_needs_a_passed_shadow(yard: Yard) -> None:
    with pytest.raises(PromotionRefused, match="'passed shadow': rides v2 never answered as a shadow"):
        yard.registry.promote("rides", 2, reason="untested")
    _log(yard, 1, 30, mode="live")
    _log(yard, 2, 10, mode="shadow")
    with pytest.raises(PromotionRefused, match=r"10 shadow answers paired with live \(needs >= 20\)"):
        yard.registry.promote("rides", 2, reason="too little shadow traffic")
    _log(yard, 2, 20, mode="shadow", start=10)
    event = yard.registry.promote("rides", 2, reason="shadowed 30 requests cleanly")
    assert event.to_version == 2 and not event.forced


def test_a_shadow_with_errors_fails_the_check(yard: Yard) -> None:
    _log(yard, 1, 30, mode="live")
    _log(yard, 3, 30, mode="shadow", errors=3)
    with pytest.raises(PromotionRefused, match=r"error rate 10.00% \(needs <= 0.00%\)"):
        yard.registry.promote("rides", 3, reason="errors in the shadow")
    assert yard.registry.promote("rides", 3, reason="known flaky input", force=True).forced


def _labels(yard: Yard, start: int, n: int, correct: int) -> None:
    """Feedback for requests r<start>.. r<start+n-1>: the first ``correct`` agree with the logged 1."""
    from modelyard.predictions.feedback import record_feedback

    record_feedback(
        yard, "rides", [{"request_id": f"r{start + i}", "label": int(i < correct)} for i in range(n)]
    )


@pytest.mark.parametrize("yard", ["experiment"], indirect=True)
def test_promotion_needs_a_passed_experiment(yard: Yard) -> None:
    """Only a significantly better arm passes: inconclusive (no feedback, or a difference not yet
    significant) and worse are refused. The data are built, not sampled: every verdict is fixed."""
    from modelyard.rollout import changes
    from modelyard.routing.deployment import DeploymentStore
    from modelyard.routing.router import Variant

    with pytest.raises(PromotionRefused, match="v2 is not a treatment arm of the current experiment"):
        yard.registry.promote("rides", 2, reason="no experiment yet")
    changes.deploy(
        DeploymentStore.for_yard(yard),
        "rides",
        router="ab",
        variants=[Variant("v1", 1, 0.5), Variant("v2", 2, 0.5), Variant("v3", 3, 0.5)],
        actor="t",
        reason="a/b/c",
    )
    at = datetime.now(timezone.utc)  # after the deployment: the experiment starts there
    n = 200
    _log(yard, 1, n, mode="live", variant="v1", at=at)
    _log(yard, 2, n, mode="live", variant="v2", start=1000, at=at)
    _log(yard, 3, n, mode="live", variant="v3", start=2000, latency=80.0, at=at)
    with pytest.raises(PromotionRefused, match=r"inconclusive: no verdict on accuracy yet"):
        yard.registry.promote("rides", 2, reason="no feedback yet")

    # feedback joins only predictions made before it was recorded; the 200 predictions are stamped
    # over 200 ms from `at`, so on a fast machine wait until the last of them is in the past
    time.sleep(max(0.0, (at + timedelta(milliseconds=n + 50) - datetime.now(timezone.utc)).total_seconds()))
    # as accurate as the control (50% each): not yet significant, so not passed
    _labels(yard, 0, n, correct=n // 2)
    _labels(yard, 1000, n, correct=n // 2)
    _labels(yard, 2000, n, correct=n // 2)
    with pytest.raises(
        PromotionRefused, match=r"inconclusive: accuracy not yet significant against v1"
    ) as why:
        yard.registry.promote("rides", 2, reason="as good as control")
    assert "0.5 vs 0.5" in str(why.value)
    with pytest.raises(PromotionRefused, match="significantly worse latency_ms than v1"):
        yard.registry.promote("rides", 3, reason="slow arm")

    # v2's requests turn out right 95% of the time, against the control's 50%: passed
    _log(yard, 2, n, mode="live", variant="v2", start=3000, at=at)
    _log(yard, 1, n, mode="live", variant="v1", start=4000, at=at)
    _log(yard, 3, n, mode="live", variant="v3", start=5000, latency=80.0, at=at)  # the split stays even
    _labels(yard, 3000, n, correct=n)
    _labels(yard, 4000, n, correct=n // 2)
    _labels(yard, 1000, n, correct=n * 9 // 10)
    event = yard.registry.promote("rides", 2, reason="better than control")
    assert event.to_version == 2 and not event.forced
    # forcing past a failed experiment is recorded as forced, with the failed check in the reason
    forced = yard.registry.promote("rides", 3, reason="slow but needed for the audit", force=True)
    assert forced.forced and "passed experiment" in forced.reason
