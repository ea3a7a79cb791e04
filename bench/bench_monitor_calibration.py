"""Monitoring calibration: false alarms on unchanged data and detection power, on realistic columns.

The frames come from ``monitor_data.py`` (25 columns: heavy tails, zero-inflated counts, ties,
bounded rates, hour of day, Zipf categoricals with 300 to 100,000 levels, booleans, 5-30%
missing), a generator the thresholds were not tuned on. Every seed draws a fresh reference
(``--reference-rows``, 100k by default) and profiles it, as production profiles one training
sample among many; the windows are independent draws.

False alarms: for each window size and seed, an unchanged window is judged by the default
``drift`` detector, each single-statistic detector (``ks``, ``wasserstein``, ``psi``, ``chi2``,
``jensen_shannon``) and ``quality``; the rate is flagged column verdicts over judged column
verdicts (target: at most 1%), and dataset-level alarms are counted (target: 0).

Power: for each planted change (``monitor_data.SCENARIOS``: 0.1 sd mean shifts, a variance-only
change, a new category at 2%, a top share moving 5 points, a shift inside one 15% segment, a
unit change) the share of seeds where the change is found on its target column.

The baseline that calls no modelyard code, ``scipy`` (``bench/baselines/drift_tests.py``: a
bare KS / chi-squared test per column at alpha 0.05, uncorrected), judges the same windows and
is printed beside them.

Timing (``drift_cold.py``): one reference and one unchanged window of ``--time-rows`` rows
judged by modelyard (profile + ``drift`` detector) and by the scipy baseline, ``--mode cold``
(each side a fresh process), ``warm`` or ``both``, ``--rounds`` interleaved rounds, min /
median / max; ``--profile`` writes a cProfile (and py-spy) summary of the cold modelyard side
to ``bench/results/calibration_cold.txt``.

With ``--evidently PYTHON`` (a Python with ``evidently`` installed in a separate environment,
never a project dependency) the same frames are judged by Evidently's ``DataDriftPreset`` in a
worker process (``evidently_worker.py``), and its figures are printed side by side.

    .venv/bin/python bench/bench_monitor_calibration.py --seeds 20 --power-seeds 10
    .venv/bin/python bench/bench_monitor_calibration.py --sizes 1000 10000 --seeds 3 --evidently /tmp/ev/bin/python
    .venv/bin/python bench/bench_monitor_calibration.py --sizes 1000 --seeds 2 --power-seeds 1 --time-rows 10000 --profile
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "baselines"))

from _timing import add_timing_arguments
from drift_cold import time_drift
from drift_tests import judge
from monitor_data import SCENARIOS, make_frame

from modelyard.monitoring.profile import Profile
from modelyard.plugins.testing import make_host

DETECTORS = ["drift", "ks", "wasserstein", "psi", "chi2", "jensen_shannon", "quality"]


class Evidently:
    """A long-lived worker process running Evidently's DataDriftPreset on frames written to Parquet."""

    def __init__(self, python: str, workdir: Path) -> None:
        worker = Path(__file__).resolve().parent / "evidently_worker.py"
        self.proc = subprocess.Popen(
            [python, str(worker)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, bufsize=1
        )
        self.workdir = workdir
        self.n = 0

    def write(self, frame, name: str) -> str:
        path = self.workdir / f"{name}.parquet"
        frame.to_parquet(path)
        return str(path)

    def judge(self, reference_path: str, frame) -> dict:
        self.n += 1
        current = self.write(frame, f"cur{self.n % 2}")
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"reference": reference_path, "current": current}) + "\n")
        answer = json.loads(self.proc.stdout.readline())
        if "error" in answer:
            raise RuntimeError(f"evidently worker: {answer['error']}")
        return answer

    def close(self) -> None:
        if self.proc.stdin:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def _column_verdicts(name: str, results) -> dict[str, bool]:
    """Per column: did any check of this detector fail on it (quality has several checks per column)."""
    out: dict[str, bool] = {}
    for r in results:
        if r.feature is None or ("skipped" in r.details and not r.drifted):
            continue
        out[r.feature] = out.get(r.feature, False) or r.drifted
    return out


def _dataset_alarm(results) -> bool:
    return any(r.feature is None and r.drifted for r in results)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument("--seeds", type=int, default=20, help="unchanged windows per size")
    parser.add_argument("--seeds-1m", type=int, default=5, help="seeds for sizes of 1M rows and more")
    parser.add_argument("--power-seeds", type=int, default=10, help="seeds per planted change and size")
    parser.add_argument("--power-seeds-1m", type=int, default=2, help="seeds per planted change at 1M rows")
    parser.add_argument("--reference-rows", type=int, default=100_000)
    parser.add_argument("--evidently", default=None, help="a Python that has evidently installed")
    parser.add_argument(
        "--evidently-max-rows", type=int, default=100_000, help="larger windows skip Evidently"
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument(
        "--time-rows", type=int, default=100_000, help="rows of the timed reference and window"
    )
    add_timing_arguments(parser)
    args = parser.parse_args()

    host = make_host()
    workdir = Path(tempfile.mkdtemp(prefix="bench-calibration-"))
    evidently = Evidently(args.evidently, workdir) if args.evidently else None
    names = [*DETECTORS, "scipy", *(["evidently"] if evidently else [])]
    fa = {(d, n): [0, 0, 0, 0] for d in names for n in args.sizes}  # flagged, judged, dataset alarms, windows
    flagged_columns: dict[tuple[str, int], dict[str, int]] = {k: {} for k in fa}
    power = {
        (s.name, n): {d: [0, 0] for d in ("drift", "quality", "scipy", "evidently")}
        for s in SCENARIOS
        for n in args.sizes
    }
    seconds: dict[tuple[str, int], list[float]] = {}
    started = time.perf_counter()
    for seed in range(args.seeds):
        reference = make_frame(args.reference_rows, seed=1_000 + seed)
        t0 = time.perf_counter()
        profile = Profile.from_frame(reference, features=list(reference.columns), seed=seed)
        seconds.setdefault(("profile", args.reference_rows), []).append(time.perf_counter() - t0)
        detectors = {d: host.spec("detector", d).build().fit(profile) for d in DETECTORS}
        ref_path = evidently.write(reference, f"ref{seed}") if evidently else None
        for n in args.sizes:
            if n >= 1_000_000 and seed >= args.seeds_1m:
                continue
            windows = [("null", None, make_frame(n, seed=50_000 + 7 * seed + n % 991))]
            if seed < (args.power_seeds_1m if n >= 1_000_000 else args.power_seeds):
                windows += [(s.name, s, s.apply(n, 90_000 + 7 * seed + n % 991)) for s in SCENARIOS]
            for _label, scenario, window in windows:
                for d, detector in detectors.items():
                    if scenario is not None and d not in ("drift", "quality"):
                        continue
                    t0 = time.perf_counter()
                    results = detector.score(window)
                    seconds.setdefault((d, n), []).append(time.perf_counter() - t0)
                    verdicts = _column_verdicts(d, results)
                    if scenario is None:
                        c = fa[(d, n)]
                        c[0] += sum(verdicts.values())
                        c[1] += len(verdicts)
                        c[2] += _dataset_alarm(results)
                        c[3] += 1
                        for col, v in verdicts.items():
                            if v:
                                flagged_columns[(d, n)][col] = flagged_columns[(d, n)].get(col, 0) + 1
                    else:
                        p = power[(scenario.name, n)][d]
                        p[0] += bool(verdicts.get(scenario.target))
                        p[1] += 1
                t0 = time.perf_counter()
                by_hand = judge(reference, window)
                seconds.setdefault(("scipy", n), []).append(time.perf_counter() - t0)
                if scenario is None:
                    c = fa[("scipy", n)]
                    c[0] += sum(by_hand.values())
                    c[1] += len(by_hand)
                    c[3] += 1
                    for col, v in by_hand.items():
                        if v:
                            flagged_columns[("scipy", n)][col] = flagged_columns[("scipy", n)].get(col, 0) + 1
                else:
                    p = power[(scenario.name, n)]["scipy"]
                    p[0] += bool(by_hand.get(scenario.target))
                    p[1] += 1
                if evidently and n <= args.evidently_max_rows:
                    answer = evidently.judge(ref_path, window)
                    seconds.setdefault(("evidently", n), []).append(answer["seconds"])
                    if scenario is None:
                        c = fa[("evidently", n)]
                        c[0] += sum(answer["columns"].values())
                        c[1] += len(answer["columns"])
                        c[2] += bool(answer["dataset"])
                        c[3] += 1
                        for col, v in answer["columns"].items():
                            if v:
                                flagged_columns[("evidently", n)][col] = (
                                    flagged_columns[("evidently", n)].get(col, 0) + 1
                                )
                    else:
                        p = power[(scenario.name, n)]["evidently"]
                        p[0] += bool(answer["columns"].get(scenario.target))
                        p[1] += 1
        print(f"seed {seed} done at {time.perf_counter() - started:.0f} s", flush=True)
    if evidently:
        evidently.close()

    print(
        f"\nreference {args.reference_rows} rows, 25 columns; {args.seeds} seeds ({args.seeds_1m} at 1M rows)"
    )
    print(
        "\nFALSE ALARMS on unchanged windows (column verdicts flagged / judged; dataset-level alarms / windows)"
    )
    print(f"{'detector':<16}" + "".join(f"{n:>22,}" for n in args.sizes))
    ok = True
    for d in names:
        cells = []
        for n in args.sizes:
            flagged, judged, dataset, windows = fa[(d, n)]
            if not windows:
                cells.append(f"{'-':>22}")
                continue
            rate = flagged / judged if judged else 0.0
            cells.append(f"{rate:>9.2%} {dataset:>3}/{windows:<3} ds".rjust(22))
            if d not in ("evidently", "scipy"):
                ok &= rate <= 0.01 and dataset == 0
        print(f"{d:<16}" + "".join(cells))
    for (d, n), cols in flagged_columns.items():
        if cols:
            print(f"  {d} at {n:,}: flagged " + ", ".join(f"{c} x{k}" for c, k in sorted(cols.items())))
    print("\nPOWER: share of seeds where the planted change is found on its target column")
    print(f"{'change':<36}{'detector':<12}" + "".join(f"{n:>12,}" for n in args.sizes))
    for s in SCENARIOS:
        for d in ("drift", "quality", "scipy", "evidently"):
            if (d == "quality" and "quality" not in s.detectors) or (d == "evidently" and not evidently):
                continue
            row = []
            for n in args.sizes:
                hit, total = power[(s.name, n)][d]
                row.append(f"{hit / total:>12.0%}" if total else f"{'-':>12}")
            print(f"{s.name:<36}{d:<12}" + "".join(row))
    print("\nTIME per window (median seconds; the profile is built once per reference)")
    for (d, n), values in sorted(seconds.items(), key=lambda kv: (kv[0][1], kv[0][0])):
        print(
            f"  {d:<16}{n:>10,} rows  {statistics.median(values):8.3f} s  (min {min(values):.3f}, max {max(values):.3f}, {len(values)} runs)"
        )
    print(
        "\ntargets (<= 1% column false alarms, 0 dataset alarms, every modelyard detector and size):",
        "MET" if ok else "NOT MET",
    )
    timing = {}
    if args.mode != "none" or args.profile:
        timing = time_drift(
            "calibration",
            make_frame(args.time_rows, seed=1),
            make_frame(args.time_rows, seed=2),
            Path(tempfile.mkdtemp(prefix="bench-calibration-timing-")),
            args,
            detectors=["drift"],
        )
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "false_alarms": {f"{d}@{n}": v for (d, n), v in fa.items()},
                    "power": {f"{s}@{n}": v for (s, n), v in power.items()},
                    "seconds": {f"{d}@{n}": statistics.median(v) for (d, n), v in seconds.items()},
                    "timing": timing,
                },
                indent=2,
                default=str,
            )
        )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
