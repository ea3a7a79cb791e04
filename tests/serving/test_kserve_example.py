"""The example protocol plugin (plugins/examples/modelyard-kserve), installed for real and served.

``pip install --target TMP`` the distribution (no modelyard code imported from its source tree),
then, with ``PYTHONPATH=TMP`` so ``importlib.metadata`` finds its entry point as it finds any
installed plugin's: ``modelyard serve`` a yard whose ``serving.protocols`` names ``kserve-v1``,
with a trained model, and predict through KServe's v1 protocol (a ``predict`` token required);
``modelyard plugins`` lists what it contributes; its ``kserve-example`` command runs. Once the
files are removed, the same config fails with the unknown-protocol error.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
import yaml
from srv_helpers import entities, free_port, register

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "plugins" / "examples" / "modelyard-kserve"
MODELYARD = [sys.executable, "-m", "modelyard.cli.main"]
TOKEN = "kserve-test-token-" + "p" * 20
PROTOCOLS = ["v1", "v2", "kserve-v1"]


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example distribution pip-installed into a fresh target directory (from a copy of its source)."""
    base = tmp_path_factory.mktemp("kserve")
    source = base / "src"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = base / "target"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"),
            *("--no-index", "--target", str(target), str(source)),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, f"pip install of {SOURCE.name} failed:\n{proc.stderr}"
    assert (target / "modelyard_kserve" / "protocol.py").exists()
    assert list(target.glob("modelyard_kserve-0.1.0.dist-info/entry_points.txt"))
    return target


@pytest.fixture(scope="module")
def yard_repo(make_example_repo, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An example repo with trip_acceptance trained and in production, mounting kserve-v1."""
    from modelyard.yard import Yard

    repo = Path(make_example_repo(tmp_path_factory.mktemp("kserve_yard") / "repo"))
    register(Yard.load(repo), "trip_acceptance")
    config = yaml.safe_load((repo / "modelyard.yaml").read_text())
    config.setdefault("serving", {})["protocols"] = PROTOCOLS
    (repo / "modelyard.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return repo


def _env(pythonpath: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env["PYTHONPATH"] = str(pythonpath)
    return env


def _run(args: list[str], pythonpath: Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=180, env=_env(pythonpath), cwd=cwd)


def test_installed_protocol_is_served_with_a_trained_model(
    installed: Path, yard_repo: Path, tmp_path: Path
) -> None:
    port = free_port()
    env = {**_env(installed), "MODELYARD_TOKENS_PREDICT": TOKEN}
    server = subprocess.Popen(
        [*MODELYARD, "--repo", str(yard_repo), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        deadline = time.monotonic() + 180
        while True:
            assert server.poll() is None, f"the server exited:\n{server.stdout.read()}"
            try:
                if httpx.get(f"{url}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready"
            time.sleep(0.5)

        rows = entities(yard_repo, n=5)
        instances = [
            {"driver_id": int(r.driver_id), "customer_id": int(r.customer_id)} for r in rows.itertuples()
        ]
        predict = f"{url}/v1/models/trip_acceptance:predict"
        assert httpx.post(predict, json={"instances": instances}).status_code == 401  # auth covers it
        answered = httpx.post(predict, json={"instances": instances}, headers=auth)
        assert answered.status_code == 200, answered.text
        predictions = answered.json()["predictions"]
        assert len(predictions) == 5

        # the same rows through modelyard's own v1 protocol on the same server: the same answers
        columns = {
            "driver_id": [i["driver_id"] for i in instances],
            "customer_id": [i["customer_id"] for i in instances],
        }
        v1 = httpx.post(f"{url}/v1/models/trip_acceptance/predict", json={"entities": columns}, headers=auth)
        assert v1.status_code == 200, v1.text
        assert predictions == [p["prediction"] for p in v1.json()["predictions"]]

        # instances as lists of values, in the model's entity-key order
        as_lists = [[i["driver_id"], i["customer_id"]] for i in instances]
        assert (
            httpx.post(predict, json={"instances": as_lists}, headers=auth).json()["predictions"]
            == predictions
        )

        bad = httpx.post(predict, json={"instances": [{"driver_id": 1}]}, headers=auth)
        assert (
            bad.status_code == 400
            and "the model takes exactly ['driver_id', 'customer_id']" in bad.json()["error"]
        )
        status = httpx.get(f"{url}/v1/models/trip_acceptance", headers=auth)
        assert status.json() == {"name": "trip_acceptance", "ready": True}
        assert httpx.get(f"{url}/v1/models/nope", headers=auth).status_code == 404
        assert "/v1/models/{name}:predict" in httpx.get(f"{url}/openapi.json").json()["paths"]
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def test_installed_plugin_lists_its_contributions_and_its_command_runs(
    installed: Path, yard_repo: Path, tmp_path: Path
) -> None:
    listing = _run([*MODELYARD, "plugins", "--json"], installed, tmp_path)
    assert listing.returncode == 0, listing.stderr
    kserve = {row["name"]: row for row in json.loads(listing.stdout)}["kserve"]
    assert (kserve["distribution"], kserve["version"], kserve["error"]) == ("modelyard-kserve", "0.1.0", None)
    assert kserve["contributes"] == {"protocol": ["kserve-v1"], "command": ["kserve-example"]}

    helped = _run([*MODELYARD, "--help"], installed, tmp_path)
    assert "kserve-example" in helped.stdout and "Print the KServe v1 URL" in helped.stdout
    example = _run(
        [*MODELYARD, "--repo", str(yard_repo), "kserve-example", "trip_acceptance"], installed, tmp_path
    )
    assert example.returncode == 0, example.stderr
    first, body = example.stdout.splitlines()
    assert first == "POST http://127.0.0.1:8000/v1/models/trip_acceptance:predict"
    assert json.loads(body) == {"instances": [{"driver_id": "<driver_id>", "customer_id": "<customer_id>"}]}


def test_removed_plugin_leaves_a_config_error_naming_the_installed_protocols(
    installed: Path, yard_repo: Path, tmp_path: Path
) -> None:
    # "pip uninstall": with --target there is no record to uninstall from, so move the files away
    removed = installed.parent / "removed"
    installed.rename(removed)
    try:
        served = _run(
            [*MODELYARD, "--repo", str(yard_repo), "serve", "--port", str(free_port())], installed, tmp_path
        )
        assert served.returncode == 1
        assert (
            "serving.protocols.2: unknown protocol plugin 'kserve-v1'; choose one of: feedback, push, ui, v1, v2"
            in (served.stderr)
        )
        gone = _run(
            [*MODELYARD, "--repo", str(yard_repo), "kserve-example", "trip_acceptance"], installed, tmp_path
        )
        assert gone.returncode == 2 and "No such command 'kserve-example'" in gone.stderr
    finally:
        removed.rename(installed)
