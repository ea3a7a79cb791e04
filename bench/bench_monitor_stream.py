"""Streaming a monitor window larger than memory: 10M rows x 25 columns, peak RSS and time.

The window is a Parquet dataset of ``--rows`` rows of the 25 realistic columns of
``monitor_data.py`` (written once to ``--data-dir`` and reused). Each mode runs in a fresh
process (cold: spawn to exit, imports included), rounds interleaved (order rotated each
round), and reports wall time (min / median / max, ratios to the baseline) and the process's
peak RSS:

* ``bins``: the baseline, no modelyard code (``bench/baselines/drift_stream.py``): the same
  batches counted into the reference's quantile bins and levels, then a chi-squared test per
  column with scipy: the same question in bounded memory, written by hand;
* ``scan``: the floor, no modelyard code: pyarrow's dataset scanner reads the batches and
  converts each to pandas, nothing else;
* ``stream``: the same batches fed to one ``WindowSummary`` (what ``run_monitors`` does with
  the log sink's chunks), then the default ``drift`` and ``quality`` detectors judge it;
* ``whole`` (with ``--whole``): ``pandas.read_parquet`` of the whole window, then ``score(frame)``:
  what a monitor did before windows were streamed.

``--profile`` writes a cProfile (and py-spy) summary of a ``stream`` run to
``bench/results/monitor_stream_cold.txt``.

    .venv/bin/python bench/bench_monitor_stream.py                     # 10M rows, 2 rounds
    .venv/bin/python bench/bench_monitor_stream.py --rows 1000000 --whole --profile
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent / "baselines"))

from _timing import PY, profile_fresh, report

BATCH_ROWS = 65_536


def _write_data(path: Path, rows: int, chunk: int = 500_000) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq
    from monitor_data import make_frame

    path.mkdir(parents=True, exist_ok=True)
    done = 0
    part = 0
    while done < rows:
        n = min(chunk, rows - done)
        table = pa.Table.from_pandas(make_frame(n, seed=7_000 + part), preserve_index=False)
        pq.write_table(table, path / f"part-{part:04d}.parquet")
        done += n
        part += 1
        print(f"  wrote {done:,} rows", flush=True)


def _batches(data: Path):
    import pyarrow.dataset as ds

    for batch in ds.dataset(str(data), format="parquet").to_batches(batch_size=BATCH_ROWS):
        yield batch.to_pandas()


def _child(mode: str, data: Path, profile_path: Path) -> dict:
    started = time.perf_counter()
    rows = 0
    verdicts = None
    if mode == "scan":
        for frame in _batches(data):
            rows += len(frame)
    elif mode == "bins":
        import pandas as pd
        from drift_stream import StreamCounts

        counts = StreamCounts(pd.read_parquet(profile_path.with_name("reference.parquet")))
        for frame in _batches(data):
            counts.update(frame)
            rows += len(frame)
        verdicts = sum(counts.judge().values())
    else:
        from modelyard.monitoring.profile import Profile
        from modelyard.plugins.testing import make_host

        profile = Profile.from_dict(json.loads(profile_path.read_text()))
        host = make_host()
        detectors = [host.spec("detector", d).build().fit(profile) for d in ("drift", "quality")]
        if mode == "stream":
            from modelyard.monitoring.window import WindowSummary

            summary = WindowSummary(profile)
            for frame in _batches(data):
                summary.update(frame)
                rows += len(frame)
            results = [r for d in detectors for r in d.score_summary(summary)]
        else:
            import pandas as pd

            frame = pd.read_parquet(data)
            rows = len(frame)
            results = [r for d in detectors for r in d.score(frame)]
        verdicts = sum(r.drifted for r in results)
    seconds = time.perf_counter() - started
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return {"mode": mode, "rows": rows, "seconds": seconds, "peak_rss_mb": peak_mb, "failed_checks": verdicts}


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--data-dir", type=Path, default=Path("/tmp/modelyard-bench-stream"))
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--whole", action="store_true", help="also read the whole window into memory")
    parser.add_argument(
        "--profile", action="store_true", help="write a cProfile (and py-spy) summary of a stream run"
    )
    parser.add_argument("--child", nargs=3, metavar=("MODE", "DATA", "PROFILE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(_child(args.child[0], Path(args.child[1]), Path(args.child[2]))))
        return 0

    data = args.data_dir / f"rows-{args.rows}"
    if not data.exists():
        print(f"writing {args.rows:,} rows x 25 columns to {data}")
        _write_data(data, args.rows)
    profile_path = args.data_dir / "reference-profile.json"
    if not profile_path.exists() or not profile_path.with_name("reference.parquet").exists():
        from monitor_data import make_frame

        from modelyard.monitoring.profile import Profile

        reference = make_frame(100_000, seed=1)
        reference.to_parquet(profile_path.with_name("reference.parquet"), index=False)
        profile_path.write_text(
            json.dumps(Profile.from_frame(reference, features=list(reference.columns)).to_dict())
        )
    on_disk = sum(p.stat().st_size for p in data.glob("*.parquet")) / 2**20
    modes = ["bins", "scan", "stream", *(["whole"] if args.whole else [])]
    figures: dict[str, list[dict]] = {m: [] for m in modes}
    wall: dict[str, list[float]] = {m: [] for m in modes}
    print(f"load average at the start {os.getloadavg()}")
    for r in range(args.rounds):
        k = r % len(modes)
        for mode in modes[k:] + modes[:k]:  # interleaved, the order rotated every round
            began = time.perf_counter()
            out = subprocess.run(
                [PY, __file__, "--child", mode, str(data), str(profile_path)],
                capture_output=True,
                text=True,
                check=True,
            )
            wall[mode].append(time.perf_counter() - began)
            figures[mode].append(json.loads(out.stdout.strip().splitlines()[-1]))
            print(f"round {r + 1} {mode}: {figures[mode][-1]}", flush=True)
    print(
        f"\n{args.rows:,} rows x 25 columns ({on_disk:,.0f} MiB of Parquet), batches of {BATCH_ROWS:,} rows"
    )
    report("cold: each mode a fresh process, spawn to exit, wall seconds", wall, "bins")
    print(
        f"\n{'mode':<8}{'in-process seconds min / median / max':>40}{'peak RSS MiB min / median / max':>36}"
    )
    for mode, runs in figures.items():
        s = [x["seconds"] for x in runs]
        m = [x["peak_rss_mb"] for x in runs]
        print(
            f"{mode:<8}{min(s):>18.1f}{statistics.median(s):>11.1f}{max(s):>11.1f}"
            f"{min(m):>14.0f}{statistics.median(m):>11.0f}{max(m):>11.0f}"
        )
    print(f"load average at the end {os.getloadavg()}")
    if args.profile:
        profile_fresh(
            [PY, __file__, "--child", "stream", str(data), str(profile_path)], "monitor_stream_cold"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
