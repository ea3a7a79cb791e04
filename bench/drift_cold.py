"""Timing of drift judging, cold and warm: modelyard's detectors against scipy by hand.

Shared by ``bench_detection.py`` and ``bench_monitor_calibration.py``. One reference frame and
one current window are written to Parquet; each side reads both and judges every column:

* ``modelyard``: ``Profile.from_frame`` of the reference, then the given detectors (``drift``
  by default) fitted on it score the window (what ``modelyard monitor`` does);
* ``scipy by hand``: ``bench/baselines/drift_tests.py`` (KS / chi-squared per column, no modelyard).

Cold: each side a fresh process (``python bench/drift_cold.py ...`` and the baseline script),
spawn to exit, imports included. Warm: the same functions in this process. ``--profile`` writes
a cProfile (and py-spy) summary of the cold modelyard side to ``bench/results/<name>.txt``.

    python bench/drift_cold.py --reference ref.parquet --current cur.parquet [--detectors drift quality]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "baselines"))

from _timing import PY, cold_rounds, profile_fresh, warm_rounds

HERE = Path(__file__).resolve().parent
BASELINE = HERE / "baselines" / "drift_tests.py"
OURS, THEIRS = "modelyard detectors", "scipy by hand"


def judge_with_modelyard(
    reference: Any, current: Any, *, detectors: list[str], categorical: list[str] | None = None
) -> dict[str, bool]:
    """Column -> drifted by any of ``detectors`` (default settings), from a profile of ``reference``."""
    from modelyard.monitoring.profile import Profile
    from modelyard.plugins.testing import make_host

    profile = Profile.from_frame(reference, features=list(reference.columns), categorical=categorical)
    host = make_host()
    verdicts: dict[str, bool] = {}
    for name in detectors:
        for result in host.spec("detector", name).build().fit(profile).score(current):
            if result.feature is not None:
                verdicts[result.feature] = verdicts.get(result.feature, False) or bool(result.drifted)
    return verdicts


def commands(
    reference: Path, current: Path, detectors: list[str], categorical: list[str] | None
) -> dict[str, list[str]]:
    cat = ["--categorical", *categorical] if categorical is not None else []
    io = ["--reference", str(reference), "--current", str(current)]
    return {
        THEIRS: [PY, str(BASELINE), *io, *cat],
        OURS: [PY, str(Path(__file__).resolve()), *io, "--detectors", *detectors, *cat],
    }


def time_drift(
    name: str,
    reference: Any,
    current: Any,
    work: Path,
    args: argparse.Namespace,
    *,
    detectors: list[str],
    categorical: list[str] | None = None,
) -> dict[str, Any]:
    """Write the frames to ``work``, time both sides per ``args.mode`` / ``args.rounds``, profile if asked."""
    import pandas as pd
    from drift_tests import judge

    work.mkdir(parents=True, exist_ok=True)
    ref_path, cur_path = work / f"{name}_reference.parquet", work / f"{name}_current.parquet"
    reference.to_parquet(ref_path, index=False)
    current.to_parquet(cur_path, index=False)
    title = f"{name}, {len(reference):,} reference rows, {len(current):,} window rows"
    cmds = commands(ref_path, cur_path, detectors, categorical)
    results: dict[str, Any] = {}
    if args.mode in ("cold", "both"):
        results["cold"] = cold_rounds(title, cmds, args.rounds, THEIRS)
    if args.mode in ("warm", "both"):
        ref, cur = pd.read_parquet(ref_path), pd.read_parquet(cur_path)
        results["warm"] = warm_rounds(
            title,
            {
                THEIRS: lambda: judge(ref, cur, categorical=categorical),
                OURS: lambda: judge_with_modelyard(ref, cur, detectors=detectors, categorical=categorical),
            },
            args.rounds,
            THEIRS,
        )
    if args.profile:
        profile_fresh(cmds[OURS], f"{name}_cold")
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description="judge a window with modelyard's detectors (one side of the timing)"
    )
    parser.add_argument("--reference", required=True)
    parser.add_argument("--current", required=True)
    parser.add_argument("--detectors", nargs="+", default=["drift"])
    parser.add_argument("--categorical", nargs="*", default=None)
    args = parser.parse_args()
    import pandas as pd

    verdicts = judge_with_modelyard(
        pd.read_parquet(args.reference),
        pd.read_parquet(args.current),
        detectors=args.detectors,
        categorical=args.categorical,
    )
    print(json.dumps({"drifted": sorted(c for c, v in verdicts.items() if v), "columns": len(verdicts)}))


if __name__ == "__main__":
    main()
