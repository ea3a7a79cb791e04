"""Speed and peak memory of a drift run: modelyard (cached reference profile) vs Evidently's DataDriftPreset.

20 features (15 numeric, 5 categorical), reference and current frames of 100k rows (and 1M),
five features shifted by known amounts. Both tools run in their own subprocess on the same
Parquet files, in the same run; each reports the seconds of its drift computation (reading
the files excluded), its peak resident memory (``ru_maxrss``, whole process) and its per-feature
verdicts, which are scored against the known truth.

modelyard's run reads only the current window and the stored profile (computed once per
snapshot; its one-off cost is printed too). Evidently reads both frames, as it must.

Evidently lives only in this benchmark's environment: the script creates ``bench/.venv-evidently``
(``python3 -m venv`` + ``pip install evidently 'pandas<3' pyarrow``) on first use. If that fails,
modelyard's figures are still printed.

``--cold-rounds N`` also times each tool as a user meets it: the whole fresh process (imports,
reading, drift), spawn to exit, N interleaved rounds, min / median / max and the ratio to
Evidently. ``--profile`` writes a cProfile (and py-spy, if installed) summary of a fresh
modelyard worker to ``bench/results/drift_ours_cold.txt``.

    .venv/bin/python bench/bench_drift.py                  # 100k and 1M
    .venv/bin/python bench/bench_drift.py --sizes 100000 --no-evidently
    .venv/bin/python bench/bench_drift.py --sizes 100000 --cold-rounds 5 --profile
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
EVIDENTLY_VENV = HERE / ".venv-evidently"
# feature -> shift (numeric: reference sds; categorical: points of the top category's share)
SHIFTS = {"num_normal": 0.1, "num_uniform": 0.1, "num_lognormal": 0.25, "cat_5": 0.10, "cat_20": 0.05}


def _peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


# --- workers (run in subprocesses) ---------------------------------------------------------


def worker_ours(data: Path, size: int) -> dict:
    import pyarrow.parquet as pq
    import scipy.stats  # noqa: F401 - import cost is not drift-run cost (Evidently's imports are done too)

    from modelyard.monitoring.profile import Profile
    from modelyard.plugins.testing import make_host

    detector = make_host().spec("detector", "drift").build()
    current = pq.read_table(data / f"cur_{size}.parquet").to_pandas(strings_to_categorical=True)
    profile_dict = json.loads((data / f"profile_{size}.json").read_text())
    started = time.perf_counter()
    profile = Profile.from_dict(profile_dict)
    results = detector.fit(profile).score(current)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "peak_mb": _peak_mb(),
        "drifted": {r.feature: bool(r.drifted) for r in results if r.feature is not None},
        "dataset_drift": next(bool(r.drifted) for r in results if r.feature is None),
    }


def worker_evidently(data: Path, size: int) -> dict:
    import pandas as pd
    from evidently import Report
    from evidently.presets import DataDriftPreset

    reference = pd.read_parquet(data / f"ref_{size}.parquet")
    current = pd.read_parquet(data / f"cur_{size}.parquet")
    started = time.perf_counter()
    snapshot = Report([DataDriftPreset()]).run(current, reference)
    seconds = time.perf_counter() - started
    drifted: dict[str, bool] = {}
    dataset = False
    for metric in snapshot.dict()["metrics"]:
        cfg = metric["config"]
        if cfg["type"].endswith("ValueDrift"):
            value, threshold = metric["value"], cfg["threshold"]
            drifted[cfg["column"]] = bool(
                value < threshold if "p_value" in cfg["method"] else value >= threshold
            )
        elif cfg["type"].endswith("DriftedColumnsCount"):
            dataset = bool(metric["value"]["share"] >= cfg["drift_share"])
    return {"seconds": seconds, "peak_mb": _peak_mb(), "drifted": drifted, "dataset_drift": dataset}


# --- orchestration ---------------------------------------------------------------------------


def _ensure_evidently() -> Path | None:
    python = EVIDENTLY_VENV / "bin" / "python"
    probe = [str(python), "-c", "import evidently, pyarrow"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    print(f"setting up Evidently in {EVIDENTLY_VENV} (once) ...", flush=True)
    try:
        subprocess.run(
            [sys.executable if os.name == "nt" else "python3", "-m", "venv", str(EVIDENTLY_VENV)], check=True
        )
        subprocess.run(
            [str(python), "-m", "pip", "install", "-q", "evidently", "pandas<3", "pyarrow"],
            check=True,
            capture_output=True,
            timeout=1200,
        )
    except (subprocess.SubprocessError, OSError) as exc:
        print(f"Evidently could not be installed ({exc}); printing modelyard's figures only")
        return None
    return python if subprocess.run(probe, capture_output=True).returncode == 0 else None


def _worker_cmd(python: str, kind: str, data: Path, size: int) -> list[str]:
    return [
        python,
        str(Path(__file__).resolve()),
        "--worker",
        kind,
        "--data",
        str(data),
        "--sizes",
        str(size),
    ]


def _cold(python_evidently: str | None, data: Path, size: int, rounds: int) -> None:
    """Each tool's whole fresh process, interleaved rounds (see the module docs)."""
    from _timing import interleaved, report, run_fresh

    cases = {
        "modelyard drift, fresh process": lambda: run_fresh(_worker_cmd(sys.executable, "ours", data, size))
    }
    if python_evidently:
        cases["Evidently preset, fresh process"] = lambda: run_fresh(
            _worker_cmd(python_evidently, "evidently", data, size)
        )
    print(f"  load average {os.getloadavg()}")
    report(
        f"  cold: {rounds} interleaved rounds, seconds (spawn to exit)",
        interleaved(cases, rounds),
        list(cases)[-1],
    )


def _run_worker(python: str, kind: str, data: Path, size: int, timeout: float) -> dict | None:
    cmd = _worker_cmd(python, kind, data, size)
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        print(f"  {kind} worker timed out after {timeout:.0f}s")
        return None
    if done.returncode != 0:
        print(f"  {kind} worker failed:\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def _score(verdicts: dict[str, bool], features: list[str]) -> tuple[list[str], list[str]]:
    missed = [f for f in features if f in SHIFTS and not verdicts.get(f, False)]
    false = [f for f in features if f not in SHIFTS and verdicts.get(f, False)]
    return missed, false


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--no-evidently", action="store_true", help="only measure modelyard")
    parser.add_argument("--worker", choices=["ours", "evidently"], help=argparse.SUPPRESS)
    parser.add_argument("--data", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--json", type=Path, default=None, help="also write the figures to this file")
    parser.add_argument("--cold-rounds", type=int, default=0, help="also time whole fresh processes (rounds)")
    parser.add_argument("--profile", action="store_true", help="profile a fresh modelyard worker")
    args = parser.parse_args()

    if args.worker:
        fn = worker_ours if args.worker == "ours" else worker_evidently
        print(json.dumps(fn(args.data, args.sizes[0])))
        return 0

    sys.path.insert(0, str(HERE))
    from drift_data import feature_lists, make_frame

    from modelyard.monitoring.profile import Profile

    numeric, categorical = feature_lists(15, 5)
    features = numeric + categorical
    evidently = None if args.no_evidently else _ensure_evidently()
    figures = []
    ok = True
    with tempfile.TemporaryDirectory(prefix="modelyard-bench-drift-") as tmp:
        data = Path(tmp)
        for size in args.sizes:
            reference = make_frame(size, seed=1)
            current = make_frame(size, seed=2, shifts=SHIFTS)
            reference.to_parquet(data / f"ref_{size}.parquet")
            current.to_parquet(data / f"cur_{size}.parquet")
            started = time.perf_counter()
            profile = Profile.from_frame(reference, features=features, categorical=categorical)
            profile_seconds = time.perf_counter() - started
            (data / f"profile_{size}.json").write_text(json.dumps(profile.to_dict()))
            del reference, current
            print(
                f"\n{size:,} reference x {size:,} current rows, {len(features)} features; "
                f"shifted: {', '.join(f'{k} +{v}' for k, v in SHIFTS.items())}"
            )
            print(f"  reference profile, computed once per snapshot: {profile_seconds:.2f} s")
            if args.cold_rounds:
                _cold(str(evidently) if evidently else None, data, size, args.cold_rounds)
            if args.profile:
                from _timing import profile_fresh

                profile_fresh(_worker_cmd(sys.executable, "ours", data, size), "drift_ours_cold")
            ours = _run_worker(sys.executable, "ours", data, size, timeout=600)
            theirs = _run_worker(str(evidently), "evidently", data, size, timeout=1800) if evidently else None
            print(f"  {'tool':<22} {'seconds':>9} {'peak MB':>9}  {'missed shifts':<28} false alarms")
            for name, res in (("modelyard drift", ours), ("Evidently preset", theirs)):
                if res is None:
                    continue
                missed, false = _score(res["drifted"], features)
                print(
                    f"  {name:<22} {res['seconds']:>9.3f} {res['peak_mb']:>9.0f}  "
                    f"{', '.join(missed) or '-':<28} {', '.join(false) or '-'}"
                )
                figures.append({"rows": size, "tool": name, **res, "missed": missed, "false_alarms": false})
            ok &= ours is not None and (evidently is None or theirs is not None)
            if ours and theirs:
                speedup = theirs["seconds"] / ours["seconds"]
                memory = ours["peak_mb"] / theirs["peak_mb"]
                print(
                    f"  modelyard is {speedup:.0f}x faster, with {memory:.0%} of Evidently's peak memory "
                    f"(targets: >= 30x, < 100%)"
                )
                ok &= speedup >= 30 and memory < 1
            if ours:
                missed, false = _score(ours["drifted"], features)
                ok &= not missed and not false
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=2))
    print("\ntargets:", "MET" if ok else "NOT MET")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
