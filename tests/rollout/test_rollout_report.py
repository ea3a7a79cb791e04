"""The experiment report and the shadow report over prediction-log rows in the real record format."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import numpy as np
import pandas as pd
import pytest

from modelyard.predictions.records import PredictionRecord
from modelyard.rollout.analysis import build_report
from modelyard.routing.router import Deployment, Variant

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)


def rows_for(
    variant: str,
    version: int,
    n: int,
    *,
    error_rate: float,
    latency: float,
    acc: float,
    rng: np.random.Generator,
    mode: str = "live",
    start: int = 0,
) -> tuple[list[dict], list[dict]]:
    """Log rows and feedback rows: predictions are right with probability ``acc``."""
    log, feedback = [], []
    for i in range(n):
        rid = f"r{start + i}"
        label = int(rng.random() < 0.5)
        failed = rng.random() < error_rate
        pred = None if failed else (label if rng.random() < acc else 1 - label)
        log.append(
            PredictionRecord(
                request_id=rid,
                model="rides",
                version=version,
                prediction=pred,
                variant=variant,
                mode=mode,
                score=None if failed else float(pred),
                latency_ms=float(rng.lognormal(np.log(latency), 0.3)),
                error="boom" if failed else None,
                timestamp=T0 + timedelta(seconds=start + i),
            ).to_row()
        )
        feedback.append({"request_id": rid, "accepted": label})
    return log, feedback


def test_report_finds_the_worse_candidate_and_no_srm() -> None:
    rng = np.random.default_rng(0)
    dep = Deployment(
        "rides", (Variant("v1", 1, 0.5), Variant("v2", 2, 0.5)), router="ab", salt="s", revision=3
    )
    l1, f1 = rows_for("v1", 1, 2000, error_rate=0.01, latency=20, acc=0.85, rng=rng)
    l2, f2 = rows_for("v2", 2, 2000, error_rate=0.05, latency=30, acc=0.75, rng=rng, start=5000)
    log, fb = pd.DataFrame(l1 + l2), pd.DataFrame(f1 + f2)
    report = build_report(
        log,
        deployment=dep,
        task="classification",
        periods=[(T0, {"v1": 0.5, "v2": 0.5})],
        feedback=fb,
        label="accepted",
    )
    by_metric = {c.metric: c for c in report.comparisons}
    assert by_metric["error_rate"].verdict == "worse"
    assert by_metric["latency_ms"].verdict == "worse"
    assert by_metric["accuracy"].verdict == "worse"
    assert by_metric["positive_rate"].verdict in ("different", "not yet significant")
    assert report.srm is not None and not report.srm.mismatch
    v1, v2 = report.variants
    assert v1.requests == 2000 and v1.share == pytest.approx(0.5)
    assert v1.metrics["accuracy"] == pytest.approx(0.85, abs=0.03)
    assert v2.error_rate == pytest.approx(0.05, abs=0.015)
    assert report.to_dict()["comparisons"][0]["control"] == "v1"


def test_report_warns_about_a_broken_split() -> None:
    rng = np.random.default_rng(1)
    dep = Deployment("rides", (Variant("v1", 1, 0.5), Variant("v2", 2, 0.5)), router="ab", salt="s")
    l1, _ = rows_for("v1", 1, 1200, error_rate=0, latency=20, acc=0.8, rng=rng)
    l2, _ = rows_for("v2", 2, 800, error_rate=0, latency=20, acc=0.8, rng=rng, start=5000)
    report = build_report(
        pd.DataFrame(l1 + l2), deployment=dep, task="classification", periods=[(T0, {"v1": 0.5, "v2": 0.5})]
    )
    assert report.srm.mismatch
    assert report.warnings[0].startswith("sample ratio mismatch")


def test_shadow_report_agreement_latency_and_errors() -> None:
    rng = np.random.default_rng(2)
    dep = Deployment("rides", (Variant("v1", 1), Variant("v3", 3, 0, "shadow")), router="shadow", salt="s")
    live, _ = rows_for("v1", 1, 1000, error_rate=0, latency=20, acc=1.0, rng=rng)
    shadow = []
    for i, row in enumerate(live):
        failed = i % 50 == 0
        agree = i % 10 != 0
        pred = None if failed else (row["prediction"] if agree else 1 - row["prediction"])
        shadow.append(
            PredictionRecord(
                request_id=row["request_id"],
                model="rides",
                version=3,
                prediction=pred,
                variant="v3",
                mode="shadow",
                latency_ms=200.0,
                error="timeout" if failed else None,
                timestamp=row["timestamp"],
            ).to_row()
        )
    report = build_report(pd.DataFrame(live + shadow), deployment=dep, task="classification")
    assert [v.variant for v in report.variants] == ["v1"] and report.variants[0].requests == 1000
    (s,) = report.shadows
    assert s.variant == "v3" and s.version == 3 and s.requests == 1000 and s.errors == 20
    assert s.paired == 980
    expected = sum(1 for i in range(1000) if i % 50 and i % 10) / 980
    assert s.agreement == pytest.approx(expected)
    assert s.latency_p50_ms == pytest.approx(200.0)
    assert s.prediction_difference["mean_abs"] == pytest.approx(1 - expected)


def _ab(names: tuple[str, str] = ("control", "treatment")) -> Deployment:
    return Deployment("sim", (Variant(names[0], 1, 0.5), Variant(names[1], 2, 0.5)), router="ab", salt="s")


def test_report_states_unit_method_families_and_cuped() -> None:
    from modelyard.rollout.simulation import Scenario, simulate

    sim = simulate(Scenario(users=600, accuracy_effect=0.08), 3)
    report = build_report(
        sim.log,
        deployment=_ab(),
        task="classification",
        periods=sim.periods,
        feedback=sim.feedback,
        pre_log=sim.pre_log,
        pre_feedback=sim.pre_feedback,
    )
    assert report.unit == "entity (user_id)" and report.design.startswith("sequential")
    primary, guardrail = report.families
    assert primary["metrics"] == ["accuracy"] and primary["correction"] == "none"
    assert guardrail["correction"] == "Bonferroni" and guardrail["alpha_each"] == pytest.approx(0.05 / 3)
    acc = next(c for c in report.comparisons if c.metric == "accuracy")
    assert acc.role == "primary" and acc.verdict == "better" and acc.unit == "entity (user_id)"
    assert acc.n_control + acc.n_treatment <= 600 < sum(acc.requests)  # units, not requests
    assert acc.adjustment.startswith("CUPED") and acc.unadjusted["difference"] is not None
    err = next(c for c in report.comparisons if c.metric == "error_rate")
    assert err.role == "guardrail" and err.level == pytest.approx(1 - 0.05 / 3)
    assert report.srm.unit == "unit" and not report.srm.mismatch
    assert report.coverage["coverage"] == 1.0 and report.to_dict()["unit"] == "entity (user_id)"


def _drop_markers(counts: dict[str, int]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "request_id": f"dropped-{v}",
                "timestamp": T0,
                "model": "sim",
                "version": 0,
                "variant": v,
                "mode": "dropped",
                "entities": "{}",
                "features": "{}",
                "prediction": float(n),
                "prediction_label": "live",
                "score": float("nan"),
                "latency_ms": 0.0,
                "cache_hit": False,
                "error": "prediction log queue full",
            }
            for v, n in counts.items()
        ]
    )


def test_report_refuses_a_verdict_when_the_logger_lost_rows() -> None:
    from modelyard.rollout.simulation import Scenario, simulate

    sim = simulate(Scenario(users=400, accuracy_effect=0.1), 5)
    n = len(sim.log)
    lossy = pd.concat([sim.log, _drop_markers({"control": n // 20, "treatment": n // 20})], ignore_index=True)
    report = build_report(lossy, deployment=_ab(), task="classification", feedback=sim.feedback)
    assert report.coverage["dropped"] == 2 * (n // 20)
    assert report.coverage["coverage"] == pytest.approx(n / (n + 2 * (n // 20)))
    assert all(c.verdict == "no verdict (rows lost)" for c in report.comparisons)
    assert "dropped" in report.warnings[0] and "no verdict" in report.warnings[0]
    # a small, even loss is reported but does not block the verdict
    light = pd.concat([sim.log, _drop_markers({"control": 2, "treatment": 2})], ignore_index=True)
    ok = build_report(light, deployment=_ab(), task="classification", feedback=sim.feedback)
    assert ok.coverage["dropped"] == 4 and not any("no verdict" in c.verdict for c in ok.comparisons)
    assert [v.dropped for v in ok.variants] == [2, 2]


def test_report_warns_when_pooling_across_a_weight_change_is_biased() -> None:
    from modelyard.rollout.simulation import Scenario, simulate

    # accuracy falls over the day while the treatment's share grows from 10% to 90%: no true effect,
    # but the treatment's rows are mostly late ones (Simpson's paradox)
    scenario = Scenario(users=1500, weights=((0.0, 0.1), (12.0, 0.9)), accuracy_drift_per_hour=-0.012)
    sim = simulate(scenario, 8)
    report = build_report(
        sim.log, deployment=_ab(), task="classification", periods=sim.periods, feedback=sim.feedback
    )
    assert any("Simpson" in w and w.startswith("accuracy") for w in report.warnings)


def test_a_fixed_horizon_read_early_is_warned() -> None:
    from modelyard.rollout.sequential import Plan
    from modelyard.rollout.simulation import Scenario, simulate

    sim = simulate(Scenario(users=300), 2)
    report = build_report(
        sim.log,
        deployment=_ab(),
        task="classification",
        feedback=sim.feedback,
        plan=Plan(design="fixed", planned_units=5000),
    )
    assert report.design == "fixed horizon at 5000 units per arm"
    assert any("before the planned horizon" in w for w in report.warnings)


def test_rows_the_logger_drops_under_a_burst_reach_the_report(tmp_path) -> None:
    """A burst beyond the logger's queue: the real Parquet sink holds drop markers, the report refuses."""
    import time

    from modelyard.predictions.log import PredictionLogger
    from modelyard_plugins.log_sinks.parquet import ParquetSink, ParquetSinkConfig

    class SlowParquet(ParquetSink):
        def write(self, rows):  # a sink that cannot keep up with the burst
            time.sleep(0.05)
            super().write(rows)

    rng = np.random.default_rng(4)
    sink = SlowParquet(ParquetSinkConfig(path=str(tmp_path / "log"), fsync=False))
    logger = PredictionLogger(sink, flush_interval=0.01, max_buffer=50, max_queue=200)
    accepted = 0
    for i in range(3000):
        variant = "control" if i % 2 else "treatment"
        accepted += logger.log(
            PredictionRecord(
                request_id=f"r{i}",
                model="sim",
                version=1 if variant == "control" else 2,
                prediction=int(rng.random() < 0.5),
                entities={"user_id": i % 500},
                variant=variant,
                latency_ms=float(rng.lognormal(3, 0.3)),
                timestamp=T0 + timedelta(milliseconds=i),
            )
        )
    logger.close()
    reader = ParquetSink(ParquetSinkConfig(path=str(tmp_path / "log")))
    log = reader.read_frame("sim")
    assert accepted < 3000 and logger.stats["dropped"] == 3000 - accepted
    report = build_report(log, deployment=_ab(), task="classification")
    assert report.coverage["logged"] == accepted and report.coverage["dropped"] == 3000 - accepted
    assert report.unit == "entity (user_id)"
    assert all(c.verdict == "no verdict (rows lost)" for c in report.comparisons)
