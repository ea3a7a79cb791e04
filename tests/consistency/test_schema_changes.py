"""Schema changes under models in use: apply refuses them (naming model, version, alias) unless
forced; a forced change makes serving report the model not ready (503 with the reason); typos in
a FeatureService or in monitors[].features fail at apply with one line naming file and key."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
from cons_generator import generate
from cons_model import RowDigest

from modelyard.errors import DefinitionError, FeatureError, SchemaChangeRefused
from modelyard.yard import Yard


@pytest.fixture
def served_repo(tmp_path):
    """A generated repo, applied, with version 1 of its model in production."""
    repo = generate(tmp_path, 21)
    yard = Yard.load(repo.path)
    yard.features.apply()
    types = repo.feature_types()
    yard.registry.register(
        repo.model, RowDigest(list(types), types), flavor="python", feature_names=list(types)
    )
    yard.registry.promote(repo.model, 1, reason="schema change tests")
    return repo, yard


def _defs(repo):
    return repo.path / f"{repo.project}_defs.py"


def test_removing_or_retyping_a_used_feature_is_refused_naming_the_version(served_repo) -> None:
    repo, yard = served_repo
    defs = _defs(repo)
    original = defs.read_text()
    defs.write_text(original.replace(', Field(name="p_label", dtype=String)', ""))
    with pytest.raises(SchemaChangeRefused) as info:
        Yard.load(repo.path).features.apply()
    message = str(info.value)
    assert "consistency v1 (alias production)" in message and "p_label (removed)" in message
    assert "--force" in message

    defs.write_text(
        original.replace('Field(name="p_count", dtype=Int64)', 'Field(name="p_count", dtype=Float64)')
    )
    with pytest.raises(SchemaChangeRefused, match=re.escape("p_count (INT64 -> DOUBLE)")):
        Yard.load(repo.path).features.apply()
    # nothing was applied: the registry still serves the old schema
    assert dict(Yard.load(repo.path).features.schema(repo.model).fields)["p_count"] == "INT64"

    # adding a feature is fine
    defs.write_text(
        original.replace(
            'Field(name="p_count", dtype=Int64)',
            'Field(name="p_count", dtype=Int64), Field(name="p_extra", dtype=Int64)',
        )
    )
    yard = Yard.load(repo.path)
    yard.features.apply()
    assert "p_extra" in yard.features.feature_names(repo.model)


def test_a_forced_removal_makes_serving_report_not_ready_with_the_reason(served_repo) -> None:
    from fastapi.testclient import TestClient

    from modelyard.serving.app import build_state, create_app

    repo, _ = served_repo
    defs = _defs(repo)
    defs.write_text(defs.read_text().replace(', Field(name="p_label", dtype=String)', ""))
    yard = Yard.load(repo.path)
    yard.features.apply(force=True)
    assert "p_label" not in yard.features.feature_names(repo.model)
    state = build_state(yard)
    try:
        with TestClient(create_app(state=state)) as client:
            r = client.post(
                f"/v1/models/{repo.model}/predict", json={"entities": {"rider_id": [1], "zone": ["north"]}}
            )
            assert r.status_code == 503, r.text
            assert "p_label" in r.text and "no longer serves" in r.text
            ready = client.get(f"/v2/models/{repo.model}/ready")
            assert ready.status_code == 503
    finally:
        state.close()


@contextmanager
def _served(repo_path: Path) -> Iterator[str]:
    """A real ``modelyard serve`` of the repo (its own process, a port of 21100-21199); its URL."""
    port = next(p for p in range(21100, 21200) if _free(p))
    here = Path(__file__).parent
    path = os.pathsep.join([str(here), str(here.parent), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": path}  # the digest model's modules
    command = ["serve", "--repo", str(repo_path), "--port", str(port), "--log-level", "warning"]
    proc = subprocess.Popen(
        [sys.executable, "-m", "modelyard.cli.main", *command],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if httpx.get(f"{url}/v2/health/live").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                out = proc.stdout.read().decode() if proc.stdout else ""
                raise AssertionError(f"server did not start:\n{out[-3000:]}")
            time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (
            ('Field(name="p_count", dtype=Int64)', 'Field(name="p_count", dtype=Float64)'),
            "p_count (INT64 -> DOUBLE) whose type changed since training",
        ),
        ((', Field(name="p_label", dtype=String)', ""), "p_label that it no longer serves"),
    ],
    ids=["retyped", "removed"],
)
def test_a_real_server_reports_a_model_not_ready_after_a_forced_change(served_repo, change, reason) -> None:
    """503 on every predict path and on readiness, naming model, version and feature (and the old
    and new type), never a client error or a 500."""
    repo, _ = served_repo
    defs = _defs(repo)
    old, new = change
    defs.write_text(defs.read_text().replace(old, new))
    with pytest.raises(SchemaChangeRefused):
        Yard.load(repo.path).features.apply()
    Yard.load(repo.path).features.apply(force=True)
    entities = {"rider_id": [1], "zone": ["north"]}
    with _served(repo.path) as url:
        inputs = [
            {"name": "rider_id", "shape": [1], "datatype": "INT64", "data": [1]},
            {"name": "zone", "shape": [1], "datatype": "BYTES", "data": ["north"]},
        ]
        answers = [
            httpx.post(f"{url}/v1/models/{repo.model}/predict", json={"entities": entities}),
            httpx.post(f"{url}/v2/models/{repo.model}/infer", json={"inputs": inputs}),
        ]
        for r in answers:
            assert r.status_code == 503, r.text
            assert "consistency v1 reads" in r.text and reason in r.text, r.text
        assert httpx.get(f"{url}/v2/models/{repo.model}/ready").status_code == 503
        assert httpx.get(f"{url}/v2/health/live").status_code == 200


def test_a_typo_in_a_feature_service_is_one_line_naming_file_and_feature(tmp_path) -> None:
    repo = generate(tmp_path, 22)
    defs = _defs(repo)
    text = defs.read_text().replace(
        "features=[rider_stats, zone_lists, pair_stats]",
        'features=[rider_stats[["r_int32", "r_flaot64"]], zone_lists, pair_stats]',
    )
    defs.write_text(text)
    with pytest.raises(DefinitionError) as info:
        Yard.load(repo.path).features.apply()
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{defs}:") and "r_flaot64" in message and "'rider_stats'" in message


def test_monitors_naming_an_unknown_feature_fail_at_apply_naming_file_and_key(tmp_path) -> None:
    repo = generate(tmp_path, 23)
    config = repo.path / "modelyard.yaml"
    config.write_text(
        config.read_text()
        + "    monitors:\n      - {name: drift, detector: {plugin: psi}, features: [r_int32, r_nope]}\n"
    )
    with pytest.raises(FeatureError) as info:
        Yard.load(repo.path).features.apply()
    message = str(info.value)
    assert f"{config}: models.consistency.monitors[0].features" in message and "r_nope" in message
