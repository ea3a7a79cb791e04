"""Does the experiment report keep its promises on traffic that is not the textbook case?

Over many seeds of :func:`modelyard.rollout.simulation.simulate` (clustered users with their
own base rates, heavy-tailed request counts, sticky hashing, delayed labels, a pre-period for
CUPED, weight changes), each figure is printed next to its nominal value:

1. A/A false-positive rate of the primary metric (accuracy), one read at the end: the report
   (unit-level, sequential) and, for contrast, a request-level z-test on the same rows (what
   the report did before);
2. A/A with peeking (5 reads while data arrive): any read significant, sequential (the
   default) vs a fixed-horizon test read at every look (the same z-statistics against the
   normal quantile, so both readings see identical rows);
3. family-wise false positives of the guardrail family (Bonferroni over 3 metrics);
4. power for a stated effect (+3 points of accuracy), sequential and fixed, with and without CUPED;
5. SRM false alarms on clustered traffic with a weight change (10% -> 50%): distinct units
   (the report) vs requests;
6. the guards' false-rollback and missed-failure rates (defaults; and the old point rule);
7. timing of the latency comparison on ``--rows`` (59,000) rows per arm: the report's
   Mann-Whitney test, Hodges-Lehmann shift and Moses interval on all rows against
   ``bench/baselines/shift_by_hand.py``, which computes the same figures with scipy and numpy
   and no modelyard code (both printed, they agree); ``--mode cold`` (each side a fresh
   process, spawn to exit), ``warm`` (in this process) or ``both``, ``--rounds`` interleaved
   rounds, min / median / max and ratios; ``--profile`` writes a cProfile (and py-spy) summary
   of the cold modelyard side to ``bench/results/experiments_shift_cold.txt``.

Run: ``.venv/bin/python bench/bench_experiments.py [--seeds 200]`` (about 4 s per seed on an idle core);
``--seeds 0 --guard-reps 0`` runs the timing alone.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _timing import PY, add_timing_arguments, cold_rounds, profile_fresh, warm_rounds

HERE = Path(__file__).resolve().parent


def binomial_se(p: float, n: int) -> float:
    return math.sqrt(max(p * (1 - p), 1e-12) / n)


def line(name: str, rate: float, n: int, nominal: str) -> None:
    print(f"  {name:<58} {rate:6.1%}  (+-{1.96 * binomial_se(rate, n):.1%}, n={n})   nominal {nominal}")


def report_for(sim, *, plan, cuped: bool = True):
    from modelyard.rollout.analysis import build_report
    from modelyard.routing.router import Deployment, Variant

    dep = Deployment("sim", (Variant("control", 1, 0.5), Variant("treatment", 2, 0.5)), router="ab", salt="s")
    return build_report(
        sim.log,
        deployment=dep,
        task="classification",
        periods=sim.periods,
        feedback=sim.feedback,
        plan=plan,
        pre_log=sim.pre_log if cuped else None,
        pre_feedback=sim.pre_feedback if cuped else None,
    )


def request_level_significant(sim) -> bool:
    from scipy import stats

    joined = sim.log.merge(sim.feedback, on="request_id")
    joined = joined[joined["prediction"].notna()]
    correct = (joined["prediction"] == joined["label"]).astype(float)
    a = correct[joined["variant"] == "control"]
    b = correct[joined["variant"] == "treatment"]
    z = (b.mean() - a.mean()) / math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b))
    return bool(2 * stats.norm.sf(abs(z)) < 0.05)


def significant(report, metric: str) -> bool:
    comp = next((c for c in report.comparisons if c.metric == metric), None)
    return comp is not None and comp.verdict not in ("not yet significant", "no verdict (rows lost)")


def primary_reads(report, plan) -> dict[str, bool]:
    """Significance of the primary metric read four ways from one report (same rows, same estimates).

    The report itself gives the sequential reading with CUPED and, in ``unadjusted``, without;
    the fixed-horizon readings compare the same z-statistics with the normal quantile.
    """
    from modelyard.rollout import sequential as seq
    from modelyard.rollout.units import harmonic_units

    comp = next((c for c in report.comparisons if c.metric == "accuracy"), None)
    if comp is None or comp.ci_low is None:
        return dict.fromkeys(("sequential + CUPED", "sequential", "fixed + CUPED", "fixed"), False)
    crit = seq.critical_z(plan, harmonic_units(comp.n_control, comp.n_treatment), comp.alpha)
    z_fixed = seq.normal_quantile(1 - comp.alpha / 2)
    raw = comp.unadjusted or {
        "difference": comp.difference,
        "ci_low": comp.ci_low,
        "ci_high": comp.ci_high,
    }
    se_raw = (raw["ci_high"] - raw["ci_low"]) / (2 * crit)
    return {
        "sequential + CUPED": comp.verdict != "not yet significant",
        "sequential": not (raw["ci_low"] <= 0 <= raw["ci_high"]),
        "fixed + CUPED": abs(comp.statistic or 0.0) > z_fixed,
        "fixed": abs(raw["difference"] / se_raw) > z_fixed if se_raw > 0 else False,
    }


def experiments(seeds: int, users: int = 2000) -> None:
    from modelyard.rollout.sequential import Plan
    from modelyard.rollout.simulation import Scenario, simulate
    from modelyard.rollout.srm import check_ratio, check_units, expected_counts
    from modelyard.rollout.units import unit_keys

    aa = Scenario(users=users, label_delay_hours=2.0)
    plan = Plan(planned_units=1000)
    print(
        f"scenario: {aa.users} users, Pareto({aa.pareto_shape}) extra requests (cap {aa.max_requests}), "
        f"accuracy ~ Beta{aa.accuracy_beta}, labels delayed ~Exp({aa.label_delay_hours} h), 24 h, 50/50, "
        "a 24 h pre-period for CUPED"
    )

    once = {"sequential + CUPED": 0, "sequential": 0, "fixed + CUPED": 0, "fixed": 0}
    peek = dict.fromkeys(once, 0)
    request_hits = guard_any = 0
    t0 = time.perf_counter()
    for seed in range(seeds):
        seen = dict.fromkeys(once, False)
        for hours in (4.8, 9.6, 14.4, 19.2, 24.0):
            sim = simulate(aa, seed, read_at_hours=hours)
            rep = report_for(sim, plan=plan)
            reads = primary_reads(rep, plan)
            for k, v in reads.items():
                seen[k] |= v
        for k, v in reads.items():  # the last look is the single read at the end
            once[k] += v
        for k, v in seen.items():
            peek[k] += v
        guard_any += any(significant(rep, m) for m in ("error_rate", "positive_rate", "latency_ms"))
        request_hits += request_level_significant(sim)
    print(f"A/A ({seeds} seeds, {time.perf_counter() - t0:.0f} s)")
    line(
        "primary, one read at the end: report (sequential + CUPED)",
        once["sequential + CUPED"] / seeds,
        seeds,
        "<= 5%",
    )
    line("primary, one read: unit-level fixed-horizon z (no CUPED)", once["fixed"] / seeds, seeds, "5%")
    line("primary, one read: request-level z-test (the old report)", request_hits / seeds, seeds, "5%")
    line(
        "primary, 5 reads: report (sequential + CUPED), any significant",
        peek["sequential + CUPED"] / seeds,
        seeds,
        "<= 5%",
    )
    line(
        "primary, 5 reads: unit-level fixed-horizon z, any significant",
        peek["fixed"] / seeds,
        seeds,
        "5% (inflated)",
    )
    line("guardrail family (3 metrics, Bonferroni), any significant", guard_any / seeds, seeds, "<= 5%")

    effect = replace(aa, accuracy_effect=0.03)
    hits = dict.fromkeys(once, 0)
    for seed in range(seeds):
        for k, v in primary_reads(report_for(simulate(effect, 10_000 + seed), plan=plan), plan).items():
            hits[k] += v
    print(f"power for +3 points of accuracy (about {users // 2} users per arm; read once at 24 h)")
    for name, h in hits.items():
        line(f"primary detected: {name}", h / seeds, seeds, "as high as possible")

    ramp = replace(aa, weights=((0.0, 0.1), (12.0, 0.5)))
    by_units = by_requests = 0
    for seed in range(seeds):
        sim = simulate(ramp, 20_000 + seed)
        units, _ = unit_keys(sim.log)
        by_units += check_units(sim.log, units, sim.periods).mismatch
        expected = expected_counts(sim.log["timestamp"].tolist(), sim.periods)
        by_requests += check_ratio(sim.log["variant"].value_counts().to_dict(), expected).mismatch
    print("SRM on clustered traffic with a weight change 10% -> 50%")
    line("false alarm: distinct units per period (the report)", by_units / seeds, seeds, "0.1%")
    line("false alarm: requests (the old check)", by_requests / seeds, seeds, "0.1%")


def guards(reps: int) -> None:
    from scipy import stats

    from modelyard.rollout.simulation import guard_run

    def errors(p: float):
        return lambda rng, n: (rng.random(n) < p).astype(float)

    def latencies(ratio: float):
        median = 100.0 * ratio / float(np.exp(0.5 * stats.norm.ppf(0.99)))
        return lambda rng, n: rng.lognormal(np.log(median), 0.5, n)

    print(
        "guards over a 30-minute canary step (1 request/s, a tick every 30 s, window 600 s, min_samples 50, "
        "confidence 0.99 to roll back, 0.95 to pass)"
    )
    for p in (0.005, 0.008, 0.01, 0.02, 0.05):
        new = guard_run(errors(p), 0.01, kind="error", reps=reps, seed=1)
        old = guard_run(errors(p), 0.01, kind="error", reps=reps, seed=1, rule="point")
        what = "false rollback" if p < 0.01 else ("at the limit" if p == 0.01 else "missed failure")
        shown = new.rollback if p <= 0.01 else new.passed_before_fail
        was = old.rollback if p <= 0.01 else old.passed_first
        print(
            f"  error rate {p:.1%} vs limit 1%: rolled back {new.rollback:6.1%}, passed before failing "
            f"{new.passed_before_fail:6.1%}  ({what} {shown:.1%}; point rule {was:.1%})"
        )
    for ratio in (0.8, 1.0, 1.5):
        new = guard_run(latencies(ratio), 100.0, kind="latency", reps=max(reps // 4, 20), seed=2)
        old = guard_run(
            latencies(ratio), 100.0, kind="latency", reps=max(reps // 4, 20), seed=2, rule="point"
        )
        print(
            f"  p99 at {ratio:.0%} of its limit: rolled back {new.rollback:6.1%}, passed before failing "
            f"{new.passed_before_fail:6.1%}  (point rule: rolled back {old.rollback:.1%}, "
            f"passed first look {old.passed_first:.1%})"
        )


OURS, THEIRS = "modelyard shift_comparison", "scipy + numpy by hand"


def child(rows: int) -> None:
    """The cold modelyard side: the same samples as the baseline, then ``shift_comparison``."""
    import json

    from modelyard.rollout import significance as sig
    from modelyard.rollout.sequential import Plan

    rng = np.random.default_rng(0)
    a, b = rng.lognormal(3, 0.4, rows), rng.lognormal(3, 0.4, rows) + 0.3
    res = sig.shift_comparison("latency_ms", a, b, plan=Plan(design="fixed"))
    print(json.dumps({"u": res.statistic, "p": res.p_value, "shift": res.difference}))


def timing(args: argparse.Namespace) -> None:
    """The report's latency comparison against ``bench/baselines/shift_by_hand.py`` (same figures, no modelyard)."""
    sys.path.insert(0, str(HERE / "baselines"))
    import shift_by_hand

    from modelyard.rollout import significance as sig
    from modelyard.rollout.sequential import Plan

    rows = args.rows
    a, b = shift_by_hand.samples(rows)
    ours = sig.shift_comparison("latency_ms", a, b, plan=Plan(design="fixed"))
    theirs = shift_by_hand.compare(a, b)
    print(f"latency comparison on {rows:,} rows per arm (Mann-Whitney U, Hodges-Lehmann shift, Moses 95%)")
    print(
        f"  modelyard: shift {ours.difference:.6f} ms [{ours.ci_low:.6f}, {ours.ci_high:.6f}] U {ours.statistic:.0f}"
        f" p {ours.p_value:.3g}, verdict {ours.verdict}"
    )
    print(
        f"  by hand:   shift {theirs['shift']:.6f} ms [{theirs['low']:.6f}, {theirs['high']:.6f}] U {theirs['u']:.0f}"
        f" p {theirs['p']:.3g}"
    )
    cmds = {
        THEIRS: [PY, str(HERE / "baselines" / "shift_by_hand.py"), "--rows", str(rows)],
        OURS: [PY, str(Path(__file__).resolve()), "--child", str(rows)],
    }
    if args.mode in ("cold", "both"):
        cold_rounds("latency comparison", cmds, args.rounds, THEIRS)
    if args.mode in ("warm", "both"):
        warm_rounds(
            "latency comparison",
            {
                THEIRS: lambda: shift_by_hand.compare(a, b),
                OURS: lambda: sig.shift_comparison("latency_ms", a, b, plan=Plan(design="fixed")),
            },
            args.rounds,
            THEIRS,
        )
    if args.profile:
        profile_fresh(cmds[OURS], "experiments_shift_cold")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=200)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--guard-reps", type=int, default=400)
    parser.add_argument(
        "--rows", type=int, default=59_000, help="rows per arm of the timed latency comparison"
    )
    add_timing_arguments(parser)
    parser.add_argument("--child", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        child(args.child)
        return
    if args.seeds:
        experiments(args.seeds, args.users)
    if args.guard_reps:
        guards(args.guard_reps)
    if args.mode != "none" or args.profile:
        timing(args)


if __name__ == "__main__":
    main()
