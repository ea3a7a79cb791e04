"""Windows judged batch by batch: the same verdicts as the whole frame, with bounded memory."""

from __future__ import annotations

import numpy as np
from drift_frames import make_frame

from modelyard.monitoring.profile import Profile
from modelyard.monitoring.window import WindowSummary


def _verdicts(results):
    return {(r.feature, r.statistic): r.drifted for r in results}


def _batches(frame, k):
    return [frame.iloc[i : i + k] for i in range(0, len(frame), k)]


def test_batches_give_the_verdicts_of_the_whole_frame(host, profile: Profile) -> None:
    cur = make_frame(30_000, seed=31, shift=0.2, share_shift=0.05)
    cur.loc[:99, "num_b"] = np.inf
    for name in ["drift", "quality", "psi"]:
        detector = host.spec("detector", name).build().fit(profile)
        whole = detector.score(cur)
        summary = WindowSummary(profile, max_sample=None)
        for batch in _batches(cur, 4_096):
            summary.update(batch)
        streamed = detector.score_summary(summary)
        assert [(r.feature, r.statistic, r.value, r.drifted) for r in streamed] == [
            (r.feature, r.statistic, r.value, r.drifted) for r in whole
        ]


def test_a_bounded_sample_keeps_memory_flat_and_the_verdicts(host, profile: Profile) -> None:
    cur = make_frame(60_000, seed=32, shift=0.2, share_shift=0.05)
    summary = WindowSummary(profile, max_sample=5_000)
    for batch in _batches(cur, 7_000):
        summary.update(batch)
    column = summary.columns["num_a"]
    assert column.sample.size == 5_000 and column.n_finite == column.rows == 60_000  # counts stay exact
    assert abs(np.mean(column.sample) - cur["num_a"].mean()) < 0.05  # a uniform sample of the window
    assert summary.columns["cat_a"].counts == cur["cat_a"].value_counts().to_dict()
    for name in ["drift", "quality"]:
        detector = host.spec("detector", name).build().fit(profile)
        assert _verdicts(detector.score_summary(summary)) == _verdicts(detector.score(cur))


def test_a_column_absent_from_some_batches_counts_as_missing_there(host, profile: Profile) -> None:
    cur = make_frame(2_000, seed=33)
    summary = WindowSummary(profile, max_sample=None)
    summary.update(cur.iloc[:1_000])
    summary.update(cur.iloc[1_000:].drop(columns=["num_b"]))
    assert summary.absent == []
    assert summary.columns["num_b"].missing == 1_000 and summary.columns["num_b"].rows == 2_000
    quality = {
        (r.feature, r.statistic): r
        for r in host.spec("detector", "quality").build().fit(profile).score_summary(summary)
    }
    assert quality[("num_b", "missing_rate_change")].drifted
