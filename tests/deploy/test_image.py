"""The serving image's files checked by the tools that judge them, and its requirement list installed for real.

No Docker engine runs here, so: hadolint lints the Dockerfile, kubernetes-validate checks the
manifests against the Kubernetes schemas, and a fresh venv built from exactly the image's
``requirements.txt`` loads the yard and serves predictions of every built-in flavor.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from modelyard.deploy.context import write_build_context
from modelyard.errors import ContainerizeError
from modelyard.plugins import hookimpl
from modelyard.plugins.manager import PluginHost
from modelyard.plugins.specs import RouterSpec
from modelyard.yard import Yard

ROOT = Path(__file__).resolve().parents[2]
HELLO = ROOT / "plugins" / "examples" / "modelyard-hello-detector"
BIN = Path(sys.executable).parent


def _yard(path: Path, extra: str = "") -> Path:
    path.mkdir(parents=True, exist_ok=True)
    (path / "feature_store.yaml").write_text("project: rides\n")
    (path / "modelyard.yaml").write_text(
        "project: rides\nmodels:\n"
        "  trips: {feature_service: fs, entity_keys: [driver_id], task: classification, label: y"
        + extra
        + "}\n"
    )
    return path


def _tool(name: str) -> str:
    found = shutil.which(name, path=str(BIN)) or shutil.which(name)
    if found is None:
        pytest.fail(f"{name} is not installed: it comes with modelyard's dev extra (pip install -e '.[dev]')")
    return found


def test_hadolint_passes_the_dockerfile(tmp_path: Path) -> None:
    ctx = write_build_context(Yard.load(_yard(tmp_path / "yard")), tmp_path / "build")
    done = subprocess.run(
        [_tool("hadolint"), "--no-color", "--failure-threshold", "info", str(ctx.directory / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr


def test_manifests_validate_against_the_kubernetes_schemas(tmp_path: Path) -> None:
    ctx = write_build_context(
        Yard.load(_yard(tmp_path / "yard")), tmp_path / "build", namespace="ml", env_secret="rides-env"
    )
    files = sorted(str(p) for p in (ctx.directory / "k8s").glob("*.yaml"))
    assert len(files) == 4
    done = subprocess.run(
        [_tool("kubernetes-validate"), "--strict", "--kubernetes-version", "1.30", *files],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.count(" passed for resource ") == 4, done.stdout
    # and the validator does reject a wrong object (so a pass above means something)
    bad = Path(files[1]).read_text().replace("replicas: 2", "replicas: two")
    assert "replicas: two" in bad
    (tmp_path / "bad.yaml").write_text(bad)
    rejected = subprocess.run(
        [
            _tool("kubernetes-validate"),
            "--strict",
            "--kubernetes-version",
            "1.30",
            str(tmp_path / "bad.yaml"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert rejected.returncode != 0 and "replicas" in rejected.stdout + rejected.stderr


def test_a_plugin_from_another_distribution_is_in_the_image(tmp_path: Path) -> None:
    """The example third-party detector, pip-installed from its source tree, comes along as a wheel."""
    source = tmp_path / "src"
    shutil.copytree(HELLO, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = tmp_path / "target"
    pip = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*pip, "--no-index", "--target", str(target), str(source)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    yard = _yard(
        tmp_path / "yard",
        ", monitors: [{name: m, detector: {plugin: mean-shift, settings: {k: 3.0}}, features: [x]}]",
    )
    env = {**os.environ, "PYTHONPATH": str(target)}
    run = subprocess.run(
        [
            *(sys.executable, "-m", "modelyard.cli.main", "--repo", str(yard), "containerize"),
            *("--out", str(tmp_path / "build"), "--json"),
            # modelyard's own wheel is another test's subject: skip its build here
            *("--modelyard-requirement", "modelyard[serve]"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=env,
    )
    assert run.returncode == 0, run.stderr
    lines = json.loads(run.stdout)["requirements"]
    hello = [line for line in lines if "modelyard_hello" in line]
    assert len(hello) == 1 and hello[0].startswith("./wheels/modelyard_hello_detector-"), lines
    assert (tmp_path / "build" / "image" / hello[0]).is_file()
    text = (tmp_path / "build" / "image" / "requirements.txt").read_text()
    assert "models.trips.monitors.0.detector" in text  # says why the distribution is there


class _InCode:
    """A router registered in code, by no installed distribution."""

    @hookimpl
    def modelyard_routers(self):
        yield RouterSpec(name="in-code", summary="x", factory="modelyard_plugins.routers.single:SingleRouter")


def test_a_plugin_no_distribution_provides_fails_naming_the_key(tmp_path: Path) -> None:
    host = PluginHost.from_entry_points()
    host.register(_InCode(), name="in_code")
    yard = Yard.load(_yard(tmp_path / "yard", ", deployment: {router: {plugin: in-code}}"), host=host)
    with pytest.raises(ContainerizeError, match=r"models\.trips\.deployment\.router.*'in-code'.*entry point"):
        write_build_context(yard, tmp_path / "build")
    assert not (tmp_path / "build" / "Dockerfile").exists()


def test_compiled_wheels_pin_the_image_python(tmp_path: Path) -> None:
    yard = Yard.load(_yard(tmp_path / "yard"))
    ctx = write_build_context(yard, tmp_path / "build")
    assert ctx.settings.python_version == "{}.{}".format(*sys.version_info[:2])
    wheel = next(d.wheel for d in ctx.requirements.distributions if d.distribution == "modelyard")
    if wheel.name.endswith("-none-any.whl"):
        pytest.skip("modelyard was built without its C extension: the wheel runs on any Python")
    with pytest.raises(ContainerizeError, match="--python-version"):
        write_build_context(yard, tmp_path / "other", python_version="3.9")


# -- the image's requirement list, installed for real ---------------------------------------------------

FLAVOR_MODELS = """
  trip_onnx:
    feature_service: trip_acceptance_v1
    entity_keys: [driver_id, customer_id]
    task: classification
    label: accepted
    flavor: onnx
  trip_python:
    feature_service: trip_acceptance_v1
    entity_keys: [driver_id, customer_id]
    task: classification
    label: accepted
    flavor: python
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_a_venv_from_the_image_requirements_serves_every_flavor(make_example_repo, tmp_path: Path) -> None:
    """pip installs exactly image/requirements.txt into a fresh venv; its modelyard serves sklearn, onnx, python."""
    sys.path.insert(0, str(ROOT / "tests" / "serving"))
    from srv_helpers import entities, free_port, train

    repo = make_example_repo(tmp_path / "repo")
    config = repo / "modelyard.yaml"
    config.write_text(config.read_text().replace("models:\n", "models:\n" + FLAVOR_MODELS.lstrip("\n"), 1))
    yard = Yard.load(repo)
    estimator, cols = train(yard, "trip_acceptance")
    yard.registry.register("trip_acceptance", estimator, feature_names=cols)
    yard.registry.register("trip_onnx", estimator, feature_names=cols, flavor="onnx")
    (tmp_path / "constant_model.py").write_text(
        "class Constant:\n    def predict(self, frame):\n        return [1] * len(frame)\n"
    )
    sys.path.insert(0, str(tmp_path))
    from constant_model import Constant  # written just above

    yard.registry.register("trip_python", Constant(), feature_names=cols, flavor="python")
    for model in ("trip_acceptance", "trip_onnx", "trip_python"):
        yard.registry.promote(model, 1, reason="image test")
    yard.registry.close()

    ctx = write_build_context(Yard.load(repo), tmp_path / "build")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    started = time.monotonic()
    pip = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "-r", "requirements.txt"],
        cwd=ctx.requirements_file.parent,
        capture_output=True,
        text=True,
        timeout=840,
    )
    assert pip.returncode == 0, pip.stderr[-3000:]
    installed = subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "list", "--format", "json"],
        capture_output=True,
        text=True,
        check=True,
    )
    names = {p["name"].lower() for p in json.loads(installed.stdout)}
    assert {"modelyard", "onnxruntime", "scikit-learn", "skops"} <= names
    assert not names & {"skl2onnx", "pytest", "ruff", "duckdb", "distributed"}, names  # serving only
    print(f"pip install of the image requirements: {time.monotonic() - started:.0f} s")

    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    log = tmp_path / "server.log"
    with log.open("w") as out:
        server = subprocess.Popen(
            [str(venv / "bin" / "modelyard"), "--repo", str(repo), "serve", "--port", str(port)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{base}/v2/health/ready", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert server.poll() is None, log.read_text()[-5000:]
            assert time.monotonic() < deadline, "not ready in 120 s:\n" + log.read_text()[-5000:]
            time.sleep(0.5)
        row = entities(repo, "trip_acceptance", 1).iloc[0]
        keys = {"driver_id": [int(row["driver_id"])], "customer_id": [int(row["customer_id"])]}
        for model in ("trip_acceptance", "trip_onnx", "trip_python"):
            answer = httpx.post(f"{base}/v1/models/{model}/predict", json={"entities": keys}, timeout=30)
            assert answer.status_code == 200, (model, answer.text)
            prediction = answer.json()["predictions"][0]
            assert prediction["version"] == 1 and prediction["prediction"] in (0, 1), answer.json()
    finally:
        server.terminate()
        server.wait(timeout=30)
