"""Timing helpers shared by the benchmarks: interleaved rounds, fresh-process runs, summaries, profiles.

Every benchmark compares a modelyard side against a baseline that does not call modelyard. On a
shared machine a burst of other work would hit only whichever side runs at that moment, so the
sides run interleaved, round after round, each round in a rotated order; the summary gives the
min, median and max of each side and the ratio of medians (and of minimums).
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def run_fresh(
    cmd: Sequence[str],
    *,
    env: Mapping[str, str] | None = None,
    cwd: str | None = None,
    timeout: float | None = None,
) -> float:
    """Wall seconds of ``cmd`` in a new process, from spawn to exit (raises if it fails or outlives ``timeout``)."""
    started = time.perf_counter()
    done = subprocess.run(
        list(cmd),
        env={**os.environ, **(env or {})},
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )
    seconds = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return seconds


def compile_modelyard() -> None:
    """Byte-compile modelyard's modules once, as ``pip install`` does for an installed package.

    The baseline's libraries (pandas, pyarrow, onnxruntime) come with bytecode from their
    install; an editable install of modelyard gets it on first import, unless
    ``PYTHONDONTWRITEBYTECODE`` is set (as in some CI and agent shells): then every fresh
    ``modelyard`` process would compile its modules from source (0.2 s and more) that no user pays.
    """
    import compileall

    import modelyard
    import modelyard_plugins

    for package in (modelyard, modelyard_plugins):
        compileall.compile_dir(str(Path(package.__file__).parent), quiet=1)


def stop_processes(procs: Sequence[subprocess.Popen[bytes]], timeout: float = 20) -> None:
    """Terminate ``procs`` in reverse start order (workers before their scheduler); kill what does not exit."""
    for proc in reversed(procs):
        proc.terminate()
    for proc in procs:
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()


def cpu_seconds() -> float:
    """CPU seconds (user + system) used so far by this process and the children it has waited for."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def interleaved(
    cases: Mapping[str, Callable[[], object]], rounds: int, *, cpu: dict[str, list[float]] | None = None
) -> dict[str, list[float]]:
    """Each case's wall times over ``rounds`` rounds, the order rotated every round.

    With ``cpu``, each case's CPU seconds (this process and its fresh-process children, see
    :func:`cpu_seconds`) are appended to ``cpu[case]``: on a loaded machine wall time mostly
    measures waiting for a core, CPU time what each side costs.
    """
    names = list(cases)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(rounds):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            used = cpu_seconds()
            started = time.perf_counter()
            cases[name]()
            times[name].append(time.perf_counter() - started)
            if cpu is not None:
                cpu.setdefault(name, []).append(cpu_seconds() - used)
    return times


def summary(times: Sequence[float]) -> dict[str, float]:
    return {"min": min(times), "median": statistics.median(times), "max": max(times), "n": len(times)}


def report(title: str, times: Mapping[str, Sequence[float]], baseline: str) -> dict[str, object]:
    """Print a min/median/max table with ratios of medians and of minimums to ``baseline``; return it."""
    base = summary(times[baseline])
    print(f"\n{title}")
    print(f"  {'case':<40} {'min':>8} {'median':>8} {'max':>8}   x baseline (median / min)")
    rows: dict[str, object] = {}
    for name, values in times.items():
        s = summary(values)
        ratio_median, ratio_min = s["median"] / base["median"], s["min"] / base["min"]
        print(
            f"  {name:<40} {s['min']:>8.2f} {s['median']:>8.2f} {s['max']:>8.2f}   "
            f"{ratio_median:.2f} / {ratio_min:.2f}"
        )
        rows[name] = {**s, "x_median": ratio_median, "x_min": ratio_min}
    return rows


def add_timing_arguments(parser: argparse.ArgumentParser, *, rounds: int = 3) -> None:
    """The options every offline benchmark's timing takes: ``--mode``, ``--rounds``, ``--profile``."""
    parser.add_argument(
        "--mode",
        choices=["cold", "warm", "both", "none"],
        default="both",
        help="cold: each side in its own fresh process (spawn to exit); warm: in this process, "
        "after one untimed run of each; none: no timing",
    )
    parser.add_argument("--rounds", type=int, default=rounds, help="interleaved rounds per mode")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="write a cProfile (and py-spy, if installed) summary of modelyard's side to bench/results/",
    )


def cold_rounds(
    title: str, commands: Mapping[str, Sequence[str]], rounds: int, baseline: str
) -> dict[str, object]:
    """Each command in a fresh process, ``rounds`` interleaved rounds; wall and CPU tables printed."""
    cpu: dict[str, list[float]] = {}
    cases = {name: (lambda cmd=cmd: run_fresh(cmd)) for name, cmd in commands.items()}
    times = interleaved(cases, rounds, cpu=cpu)
    print(f"load average {os.getloadavg()}")
    return {
        "wall": report(f"cold, {title}: {rounds} interleaved rounds, wall seconds", times, baseline),
        "cpu": report(f"cold, {title}: CPU seconds (user + system) of the same runs", cpu, baseline),
    }


def warm_rounds(
    title: str, cases: Mapping[str, Callable[[], object]], rounds: int, baseline: str
) -> dict[str, object]:
    """Each case in this process: one untimed run each, then ``rounds`` interleaved rounds."""
    for run in cases.values():
        run()
    cpu: dict[str, list[float]] = {}
    times = interleaved(cases, rounds, cpu=cpu)
    print(f"load average {os.getloadavg()}")
    return {
        "wall": report(f"warm, {title}: {rounds} interleaved rounds, wall seconds", times, baseline),
        "cpu": report(f"warm, {title}: CPU seconds (user + system) of the same runs", cpu, baseline),
    }


def profile_fresh(
    cmd: Sequence[str], name: str, *, top: int = 30, env: Mapping[str, str] | None = None
) -> Path:
    """Run a Python command (``[python, args...]``) in a fresh process under cProfile (and py-spy if
    installed); write the summary (top ``top`` by cumulative time) to ``results/<name>.txt``."""
    RESULTS.mkdir(exist_ok=True)
    prof = RESULTS / f"{name}.prof"
    python, *args = cmd
    if args[:1] == ["-m"]:
        profiled = [python, "-m", "cProfile", "-o", str(prof), "-m", *args[1:]]
    else:
        profiled = [python, "-m", "cProfile", "-o", str(prof), *args]
    run_fresh(profiled, env=env)
    text = RESULTS / f"{name}.txt"
    with text.open("w") as out:
        stats = pstats.Stats(str(prof), stream=out)
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
    spy = shutil.which("py-spy")
    if spy:
        run_fresh(
            [
                spy,
                "record",
                "--format",
                "speedscope",
                "-o",
                str(RESULTS / f"{name}.speedscope.json"),
                "--",
                *cmd,
            ],
            env=env,
        )
    print(f"  profile of {name}: {text}" + (" (+ py-spy speedscope)" if spy else ""))
    return text


def profile_here(fn: Callable[[], object], name: str, *, top: int = 30) -> Path:
    """cProfile ``fn()`` in this process; summary written like :func:`profile_fresh`."""
    RESULTS.mkdir(exist_ok=True)
    profiler = cProfile.Profile()
    profiler.runcall(fn)
    text = RESULTS / f"{name}.txt"
    with text.open("w") as out:
        stats = pstats.Stats(profiler, stream=out)
        stats.sort_stats("cumulative").print_stats(top)
        stats.sort_stats("tottime").print_stats(top)
    print(f"  profile of {name}: {text}")
    return text


PY = sys.executable
