"""CLI start-up: ``modelyard --help`` and ``modelyard plugins`` against the bare interpreter and Feast.

Each command runs in a fresh interpreter (what a user pays), ``REPEAT`` times; the median
wall time is reported next to, in the same run:

* python - ``python -c pass``: the floor, interpreter start-up alone;
* feast  - ``python -c "import feast"``: what any command importing Feast at top level would pay.

Target: ``--help`` and ``plugins`` under 1 s each, i.e. nowhere near ``feast``.
Run: ``.venv/bin/python bench/bench_cli_startup.py``.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time

REPEAT = 5
CLI = [sys.executable, "-m", "modelyard.cli.main"]
CASES = {
    "python -c pass": [sys.executable, "-c", "pass"],
    "import feast": [sys.executable, "-c", "import feast"],
    "modelyard --help": [*CLI, "--help"],
    "modelyard plugins": [*CLI, "plugins"],
    "modelyard plugins --json": [*CLI, "plugins", "--json"],
}
TARGET_S = 1.0


def _median_seconds(cmd: list[str]) -> float:
    samples = []
    for _ in range(REPEAT):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        samples.append(time.perf_counter() - start)
    return statistics.median(samples)


def main() -> int:
    times = {name: _median_seconds(cmd) for name, cmd in CASES.items()}
    floor, feast = times["python -c pass"], times["import feast"]
    print(f"{'case':<28}{'median s':>10}{'x python':>10}{'/ feast':>10}")
    for name, seconds in times.items():
        print(f"{name:<28}{seconds:>10.3f}{seconds / floor:>10.1f}{seconds / feast:>10.2f}")
    slow = [n for n in CASES if n.startswith("modelyard") and times[n] >= TARGET_S]
    print(f"target: modelyard commands < {TARGET_S:.1f} s: {'FAIL ' + ', '.join(slow) if slow else 'ok'}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
