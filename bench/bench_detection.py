"""Detection quality on generated data with known truth, at 1k, 10k, 100k and 1M rows.

Shifted features move by 0.1 reference standard deviations (numeric) or 5 points of the top
category's share (categorical); every other feature is unchanged. For each size the script
prints the detection rate on shifted features and the false-alarm rate on untouched ones,
for modelyard's default ``drift`` detector and, as the baseline measured in the same run, a
bare KS / chi-squared test at alpha 0.05 without multiple-testing correction, written with
scipy alone (``bench/baselines/drift_tests.py``: it calls no modelyard code).

Targets: every shift found at 100k rows and above; zero false alarms at every size.

Then the time to judge one window of ``--time-rows`` rows against a reference of as many
(``drift_cold.py``): modelyard (profile + ``drift`` detector) against the scipy baseline,
``--mode cold`` (each side a fresh process, imports included), ``warm`` (in this process) or
``both``, ``--rounds`` interleaved rounds, min / median / max and ratios; ``--profile`` writes a
cProfile (and py-spy) summary of the cold modelyard side to ``bench/results/detection_cold.txt``.

    .venv/bin/python bench/bench_detection.py               # 1k, 10k, 100k, 1M
    .venv/bin/python bench/bench_detection.py --sizes 1000 10000 --repeats 3 --time-rows 10000 --profile
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "baselines"))

from _timing import add_timing_arguments
from drift_cold import time_drift
from drift_data import feature_lists, make_frame
from drift_tests import judge

from modelyard.monitoring.profile import Profile
from modelyard.plugins.testing import make_host

SHIFTS = {
    "num_normal": 0.1,
    "num_lognormal": 0.1,
    "num_uniform": 0.1,
    "num_poisson": 0.1,
    "num_student_t": 0.1,
    "cat_5": 0.05,
    "cat_200": 0.05,
}
DEFAULT_REPEATS = {1_000: 20, 10_000: 10, 100_000: 4, 1_000_000: 2}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[1_000, 10_000, 100_000, 1_000_000])
    parser.add_argument(
        "--repeats", type=int, default=None, help="runs per size (default: more for small sizes)"
    )
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--time-rows", type=int, default=100_000, help="rows of the timed window")
    add_timing_arguments(parser)
    args = parser.parse_args()

    numeric, categorical = feature_lists()
    features = numeric + categorical
    shifted = [f for f in features if f in SHIFTS]
    untouched = [f for f in features if f not in SHIFTS]
    host = make_host()
    detectors = {
        "modelyard drift (default)": host.spec("detector", "drift").build(),
        "bare KS/chi2 (scipy), alpha 0.05": None,
    }

    print(f"features: {len(numeric)} numeric, {len(categorical)} categorical; shifted: {', '.join(shifted)}")
    print(f"{'rows':>9}  {'runs':>4}  {'detector':<34} {'detected':>9} {'false alarms':>13}  missed / false")
    figures = []
    all_ok = True
    for n in args.sizes:
        repeats = args.repeats or DEFAULT_REPEATS.get(n, 3)
        counts = {name: {"hit": 0, "fa": 0, "missed": {}, "false": {}} for name in detectors}
        for r in range(repeats):
            reference = make_frame(n, seed=10_000 + 2 * r + n % 97)
            current = make_frame(n, seed=10_001 + 2 * r + n % 97, shifts=SHIFTS)
            profile = Profile.from_frame(reference, features=features, categorical=categorical, seed=r)
            verdicts = {
                "modelyard drift (default)": {
                    x.feature: x.drifted
                    for x in detectors["modelyard drift (default)"].fit(profile).score(current)
                },
                "bare KS/chi2 (scipy), alpha 0.05": judge(
                    reference[features], current[features], alpha=0.05, categorical=categorical
                ),
            }
            for name, v in verdicts.items():
                c = counts[name]
                for f in shifted:
                    if v[f]:
                        c["hit"] += 1
                    else:
                        c["missed"][f] = c["missed"].get(f, 0) + 1
                for f in untouched:
                    if v[f]:
                        c["fa"] += 1
                        c["false"][f] = c["false"].get(f, 0) + 1
        for name, c in counts.items():
            detection = c["hit"] / (repeats * len(shifted))
            false_rate = c["fa"] / (repeats * len(untouched))
            notes = ", ".join(f"{f} x{k}" for f, k in c["missed"].items())
            notes += " / " + ", ".join(f"{f} x{k}" for f, k in c["false"].items())
            print(f"{n:>9}  {repeats:>4}  {name:<34} {detection:>9.1%} {false_rate:>13.2%}  {notes}")
            figures.append(
                {
                    "rows": n,
                    "runs": repeats,
                    "detector": name,
                    "detection_rate": detection,
                    "false_alarm_rate": false_rate,
                }
            )
            if name.startswith("modelyard"):
                ok = c["fa"] == 0 and (n < 100_000 or detection == 1.0)
                all_ok &= ok
    print(
        "targets (all shifts found from 100k rows, zero false alarms at every size):",
        "MET" if all_ok else "NOT MET",
    )
    timing = {}
    if args.mode != "none" or args.profile:
        n = args.time_rows
        timing = time_drift(
            "detection",
            make_frame(n, seed=1),
            make_frame(n, seed=2, shifts=SHIFTS),
            Path(tempfile.mkdtemp(prefix="bench_detection_")),
            args,
            detectors=["drift"],
            categorical=categorical,
        )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"at": time.time(), "figures": figures, "timing": timing}, indent=2, default=str)
        )
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
