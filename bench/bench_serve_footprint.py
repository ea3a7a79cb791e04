"""What each of modelyard's dependencies costs a serving worker: disk, and whether serving imports it.

A first child process makes the example yard and registers its models; a fresh one loads it, builds the serving state (every model loaded) and
answers one prediction per model through the HTTP app, imports what ``serve --workers N``'s
forking parent adds (gunicorn, uvicorn-worker), then reports which distributions own the modules
it imported and its peak RSS. For every distribution modelyard requires (core
and the ``serve`` extra) this prints its installed size together with what it alone pulls in
(dependencies nothing else needs), and whether the serving worker imported it. A dependency
serving never imports is a candidate for an extra.

    .venv/bin/python bench/bench_serve_footprint.py [--json]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from importlib import metadata
from pathlib import Path

SETUP = r"""
import sys
from pathlib import Path
from modelyard.examples.repo import prepare_example_repo
from modelyard.yard import Yard

repo = prepare_example_repo(Path(sys.argv[1]))
yard = Yard.load(repo)
sys.path[:0] = [sys.argv[2], str(Path(sys.argv[2]).parent)]
from srv_helpers import register
for model in ("trip_acceptance", "tip_amount"):
    register(yard, model)
yard.registry.close()
"""

CHILD = r"""
import json, resource, sys
from importlib import metadata
from pathlib import Path
from modelyard.yard import Yard

repo = Path(sys.argv[1])
sys.path[:0] = [sys.argv[2], str(Path(sys.argv[2]).parent)]
from srv_helpers import entities
from fastapi.testclient import TestClient
from modelyard.serving.app import build_state, create_app
yard = Yard.load(repo)
state = build_state(yard, cache=False)
with TestClient(create_app(state=state)) as client:
    row = entities(repo, "trip_acceptance", 1).iloc[0]
    keys = {"driver_id": [int(row["driver_id"])], "customer_id": [int(row["customer_id"])]}
    for model in ("trip_acceptance", "tip_amount"):
        assert client.post(f"/v1/models/{model}/predict", json={"entities": keys}).status_code == 200
state.close()
# `serve --workers N` (N > 1) runs this worker under a forking parent (gunicorn + uvicorn-worker)
import modelyard.serving.prefork  # noqa: F401
owners = metadata.packages_distributions()
imported = sorted({d for m in sys.modules for d in owners.get(m.partition(".")[0], [])})
print(json.dumps({"imported": imported, "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

ROOT = Path(__file__).resolve().parents[1]


def _name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def _requires(dist: str, extra: str | None = None) -> list[str]:
    out = []
    for req in metadata.requires(dist) or []:
        marker = req.partition(";")[2]
        if extra is None and "extra ==" in marker:
            continue
        if extra is not None and f'extra == "{extra}"' not in marker:
            continue
        out.append(_name(req))
    return out


def _closure(roots: list[str]) -> set[str]:
    seen: set[str] = set()
    todo = list(roots)
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        try:
            metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        seen.add(name)
        todo += _requires(name)
    return seen


def _size_mb(name: str) -> float:
    dist = metadata.distribution(name)
    total = 0
    for f in dist.files or []:
        try:
            total += Path(dist.locate_file(f)).stat().st_size
        except OSError:
            continue
    return total / 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    direct = {name: "core" for name in _requires("modelyard")}
    direct.update({name: "serve" for name in _requires("modelyard", "serve")})
    everything = _closure(list(direct))
    with tempfile.TemporaryDirectory() as tmp:
        argv = [str(Path(tmp) / "repo"), str(ROOT / "tests" / "serving")]
        # the yard is made and its models trained in one process; a fresh one only serves
        subprocess.run([sys.executable, "-c", SETUP, *argv], capture_output=True, check=True)
        done = subprocess.run(
            [sys.executable, "-c", CHILD, *argv], capture_output=True, text=True, check=False
        )
    if done.returncode != 0:
        raise SystemExit(f"the serving child failed:\n{done.stderr[-3000:]}")
    child = json.loads(done.stdout.strip().splitlines()[-1])
    imported = {n.lower().replace("_", "-") for n in child["imported"]}
    rows = []
    for name, where in sorted(direct.items()):
        others = _closure([n for n in direct if n != name])
        alone = _closure([name]) - others  # what dropping ``name`` would remove
        rows.append(
            {
                "dependency": name,
                "declared in": where,
                "MB with what only it pulls in": round(sum(_size_mb(n) for n in alone), 1),
                "imported by a serving worker": name in imported,
                "only it pulls in": sorted(alone - {name}),
            }
        )
    total = round(sum(_size_mb(n) for n in everything), 1)
    report = {"rows": rows, "serve install MB": total, "serving worker peak RSS MB": child["peak_rss_mb"]}
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print(f"{'dependency':<22}{'extra':<7}{'MB':>8}  serving imports it")
    for r in sorted(rows, key=lambda r: -r["MB with what only it pulls in"]):
        print(
            f"{r['dependency']:<22}{r['declared in']:<7}{r['MB with what only it pulls in']:>8.1f}  "
            f"{'yes' if r['imported by a serving worker'] else 'NO'}"
        )
    print(f"core + serve installed: {total:.0f} MB; serving worker peak RSS {child['peak_rss_mb']:.0f} MB")


if __name__ == "__main__":
    main()
