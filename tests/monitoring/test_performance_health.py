"""Performance metrics against scikit-learn, baseline comparisons, business metric; serving health."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn import metrics as sk

from modelyard.errors import ConfigError, MonitoringError
from modelyard.monitoring import metrics as m


def business_value(frame: pd.DataFrame) -> float:
    """A user business metric: revenue of accepted rides (label 1 predicted 1)."""
    return float(((frame["label"] == 1) & (frame["prediction"] == 1)).sum() * 12.5)


def _classified(n: int, seed: int, noise: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    label = rng.integers(0, 2, n)
    score = np.clip(label * 0.6 + 0.2 + rng.normal(0, noise, n), 0, 1)
    return pd.DataFrame({"label": label, "score": score, "prediction": (score > 0.5).astype(int)})


def test_classification_metrics_match_sklearn() -> None:
    f = _classified(2_000, 1, 0.3)
    y, p, s = f["label"].to_numpy(), f["prediction"].to_numpy(), f["score"].to_numpy()
    assert m.accuracy(y, p) == pytest.approx(sk.accuracy_score(y, p))
    assert m.precision(y, p) == pytest.approx(sk.precision_score(y, p))
    assert m.recall(y, p) == pytest.approx(sk.recall_score(y, p))
    assert m.f1(y, p) == pytest.approx(sk.f1_score(y, p))
    assert m.roc_auc(y, s) == pytest.approx(sk.roc_auc_score(y, s))
    assert m.log_loss(y, s) == pytest.approx(sk.log_loss(y, s))


def test_regression_metrics_match_sklearn() -> None:
    rng = np.random.default_rng(2)
    y = rng.normal(10, 3, 1_000)
    p = y + rng.normal(0, 1, 1_000)
    assert m.mae(y, p) == pytest.approx(sk.mean_absolute_error(y, p))
    assert m.rmse(y, p) == pytest.approx(np.sqrt(sk.mean_squared_error(y, p)))
    assert m.r2(y, p) == pytest.approx(sk.r2_score(y, p))


def test_performance_decay_against_the_baseline(host) -> None:
    detector = host.spec("detector", "performance").build(
        {"business_metric": f"{__name__}:business_value", "min_values": {"business": 1.0}}
    )
    good = _classified(2_000, 3, 0.2)
    baseline = detector.compute(good)
    detector.fit().with_baseline(baseline)
    assert [r.statistic for r in detector.score(_classified(2_000, 4, 0.2)) if r.drifted] == []
    decayed = detector.score(_classified(2_000, 5, 0.45))
    failed = {r.statistic for r in decayed if r.drifted}
    assert {"accuracy", "roc_auc", "log_loss"} <= failed
    acc = next(r for r in decayed if r.statistic == "accuracy")
    assert acc.threshold == pytest.approx(baseline["accuracy"] - 0.05)
    assert "worse than the baseline" in acc.details["reasons"][0]
    business = next(r for r in decayed if r.statistic == "business")
    assert business.value == business_value(_classified(2_000, 5, 0.45))


def test_sharp_change_between_windows_and_regression(host) -> None:
    detector = host.spec("detector", "performance").build({"task": "regression", "max_change": 0.5})
    rng = np.random.default_rng(6)
    y = rng.normal(0, 2, 500)
    frame = pd.DataFrame({"label": y, "prediction": y + rng.normal(0, 0.5, 500)})
    detector.fit().with_baseline({}, previous={"mae": 0.4, "rmse": 0.5, "r2": 0.9})
    by = {r.statistic: r for r in detector.score(frame)}
    assert not by["mae"].drifted and not by["r2"].drifted
    worse = frame.assign(prediction=y + rng.normal(0, 2.0, 500))
    assert {r.statistic for r in detector.score(worse) if r.drifted} >= {"mae", "rmse", "r2"}


def test_performance_errors_and_small_windows(host) -> None:
    with pytest.raises(MonitoringError, match="unknown regression metric"):
        host.spec("detector", "performance").build({"task": "regression", "metrics": ["accuracy"]})
    with pytest.raises(ConfigError, match="max_drop"):
        host.spec("detector", "performance").build({"max_drop": 0.1})
    detector = host.spec("detector", "performance").build().fit()
    with pytest.raises(MonitoringError, match="no 'label' column"):
        detector.score(pd.DataFrame({"prediction": [1] * 50, "y": [1] * 50}))
    few = detector.score(_classified(10, 1, 0.2))
    assert all(not r.drifted and "skipped" in r.details for r in few)


def test_health_latency_errors_and_process(host) -> None:
    detector = host.spec("detector", "health").build({"max_p95_ms": 100, "max_error_rate": 0.02}).fit()
    rng = np.random.default_rng(0)
    healthy = pd.DataFrame({"latency_ms": rng.gamma(2, 10, 1_000), "error": [None] * 1_000})
    by = {r.statistic: r for r in detector.score(healthy)}
    assert not any(r.drifted for r in by.values())
    assert by["latency_p95_ms"].value == pytest.approx(np.percentile(healthy["latency_ms"], 95))
    assert by["memory_mb"].value > 10 and by["cpu_percent"].value >= 0
    slow = healthy.assign(latency_ms=healthy["latency_ms"] * 10)
    slow.loc[:49, "error"] = "feature store timeout"
    by = {r.statistic: r for r in detector.score(slow)}
    assert by["latency_p95_ms"].drifted and by["error_rate"].drifted
    assert by["error_rate"].value == 0.05 and by["error_rate"].details["examples"] == {
        "feature store timeout": 50
    }


def test_label_distribution_shift_is_reported_when_the_profile_has_the_label(host) -> None:
    from modelyard.monitoring.profile import Profile

    reference = _classified(5_000, 7, 0.2).rename(columns={"label": "accepted"})
    profile = Profile.from_frame(reference, features=["accepted"], categorical=["accepted"])
    detector = host.spec("detector", "performance").build().fit(profile, label="accepted")
    same = {r.statistic: r for r in detector.score(_classified(2_000, 8, 0.2))}
    assert not same["label_shift:jensen_shannon"].drifted
    rng = np.random.default_rng(9)
    shifted = _classified(2_000, 9, 0.2)
    shifted["label"] = (rng.random(2_000) < 0.7).astype(int)  # 70% positives instead of 50%
    by = {r.statistic: r for r in detector.score(shifted)}
    assert by["label_shift:jensen_shannon"].drifted and by["label_shift:jensen_shannon"].feature == "accepted"
    assert "label_shift:jensen_shannon" not in {
        r.statistic for r in host.spec("detector", "performance").build().fit().score(shifted)
    }


def _late_labels(n: int, seed: int, noise: float, labelled: float) -> pd.DataFrame:
    """A scored window where only ``labelled`` of the rows have their label yet."""
    frame = _classified(n, seed, noise)
    missing = np.random.default_rng(seed + 1).random(n) >= labelled
    return frame.assign(label=frame["label"].astype(float).where(~missing))


def test_late_labels_do_not_fail_an_unchanged_model(host) -> None:
    detector = host.spec("detector", "performance").build({"bootstrap": 100}).fit()
    detector.with_baseline(detector.compute(_classified(200_000, 30, 0.35)))  # the validation metrics
    beyond_margin = 0
    for seed in range(12):
        results = detector.score(_late_labels(400, 100 + seed, 0.35, labelled=0.3))
        assert [r.statistic for r in results if r.drifted] == [], seed
        for r in results:
            assert r.details["labelled_share"] == pytest.approx(r.n_current / 400)
            assert 0.2 < r.details["labelled_share"] < 0.4
            assert r.details["ci_low"] <= r.value <= r.details["ci_high"]
            lower_better = r.statistic in m.LOWER_IS_BETTER
            beyond_margin += (r.value > r.threshold) if lower_better else (r.value < r.threshold)
    assert beyond_margin > 0  # a fixed margin alone would have failed this good model


def test_late_labels_still_fail_a_degraded_model(host) -> None:
    detector = host.spec("detector", "performance").build({"bootstrap": 100}).fit()
    detector.with_baseline(detector.compute(_classified(200_000, 30, 0.35)))
    results = {r.statistic: r for r in detector.score(_late_labels(2_000, 40, 0.8, labelled=0.3))}
    assert {"accuracy", "roc_auc", "log_loss"} <= {k for k, r in results.items() if r.drifted}
    auc = results["roc_auc"]
    assert auc.details["distinguishable_from_baseline"] and auc.details["ci_high"] < auc.details["baseline"]
    assert "labelled rows" in auc.details["reasons"][0]


def test_intervals_shrink_for_large_labelled_samples(host) -> None:
    detector = host.spec("detector", "performance").build({"bootstrap": 50, "bootstrap_rows": 1_000}).fit()
    small = detector.intervals(_classified(1_000, 50, 0.35))["accuracy"]
    large = detector.intervals(_classified(16_000, 51, 0.35))["accuracy"]
    assert (large[1] - large[0]) == pytest.approx((small[1] - small[0]) / 4, rel=0.35)


def test_a_baseline_from_a_small_held_out_set_is_judged_with_its_own_noise(host) -> None:
    """The same model, measured on 150 held-out rows (the baseline) and then on 5,000 labelled rows.

    A lucky held-out sample makes the baseline look better than the model is; treated as exact,
    it fails the unchanged model in the window. With its size known, the difference's interval
    carries both sample sizes, and an unchanged model passes on every seed, while a model that
    really lost 15 points still fails.
    """
    config = {"metrics": ["accuracy"], "bootstrap": 60, "max_degradation": 0.01}
    exact_fails = noisy_fails = 0
    for seed in range(30):
        held_out = _classified(150, 1_000 + seed, 0.35)
        window = _classified(5_000, 2_000 + seed, 0.35)
        baseline = host.spec("detector", "performance").build(config).fit().compute(held_out)
        exact = host.spec("detector", "performance").build(config).fit().with_baseline(baseline)
        noisy = host.spec("detector", "performance").build(config).fit()
        noisy.with_baseline(baseline, baseline_rows=150)
        exact_fails += exact.score(window)[0].drifted
        result = noisy.score(window)[0]
        noisy_fails += result.drifted
        assert result.details["baseline_rows"] == 150
        assert (
            result.details["difference_ci_low"]
            < result.value - baseline["accuracy"]
            < result.details["difference_ci_high"]
        )
    assert exact_fails >= 3, exact_fails  # the fixed baseline fails a good model through its own noise
    assert noisy_fails == 0, noisy_fails
    degraded = host.spec("detector", "performance").build(config).fit()
    degraded.with_baseline(baseline, baseline_rows=150)
    verdict = degraded.score(_classified(5_000, 77, 0.8))[0]
    assert verdict.drifted and "150 held-out rows" in verdict.details["reasons"][0]


def test_baseline_rows_must_be_a_row_count(host) -> None:
    from modelyard.errors import MonitoringError

    detector = host.spec("detector", "performance").build({}).fit()
    with pytest.raises(MonitoringError, match="baseline_rows"):
        detector.with_baseline({"accuracy": 0.9}, baseline_rows=0)
