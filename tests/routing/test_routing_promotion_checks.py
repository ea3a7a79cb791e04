"""A required check as a promotion gate: the candidate must have passed a shadow (from the prediction log)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import yaml
from routing_helpers import add_versions, write_yard

from modelyard.errors import PromotionRefused
from modelyard.rollout.traffic import open_log_sink
from modelyard.serving.records import PredictionRecord
from modelyard.yard import Yard


def _log(yard: Yard, version: int, n: int, *, mode: str, errors: int = 0, start: int = 0) -> None:
    at = datetime.now(timezone.utc) - timedelta(minutes=5)
    sink = open_log_sink(yard)
    sink.write(
        [
            PredictionRecord(
                request_id=f"r{start + i}",
                model="rides",
                version=version,
                variant=f"v{version}",
                mode=mode,  # type: ignore[arg-type]
                prediction=None if i < errors else 1,
                error="boom" if i < errors else None,
                latency_ms=5.0,
                timestamp=at + timedelta(milliseconds=i),
            ).to_row()
            for i in range(n)
        ]
    )
    sink.close()


@pytest.fixture
def yard(tmp_path: Path):
    path = write_yard(tmp_path / "yard", registry_url=f"sqlite:///{tmp_path / 'reg.db'}")
    config = yaml.safe_load((path / "modelyard.yaml").read_text())
    config["models"]["rides"]["promotion"] = {"require": ["shadow"], "min_shadow_samples": 20}
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
