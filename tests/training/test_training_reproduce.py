"""Reproduce a version from its snapshot and recorded recipe, and verify it bit for bit."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from modelyard.cli.main import main
from modelyard.errors import ReproductionError
from modelyard.features.store import FeatureFacade
from modelyard.registry.training import reproduce_version, train_model
from modelyard.registry.verify import verify_version

MODEL = "trip_acceptance"


@pytest.fixture
def no_feast_reads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Reading training data from Feast fails: a reproduction must use the stored snapshot only."""

    def refuse(*_args, **_kwargs):
        raise AssertionError("the reproduction read the Feast sources")

    monkeypatch.setattr(FeatureFacade, "training_frame", refuse)


def test_reproduction_from_the_snapshot_is_bit_identical(trained_repo, no_feast_reads) -> None:
    yard = trained_repo.yard
    original = trained_repo.results[MODEL].version
    assert original.code_sha256 and original.config_sha256  # recorded at registration
    assert original.code_sha256 == _file_sha(trained_repo.repo / "train.py")

    again = reproduce_version(yard, MODEL, original.version).version
    assert again.params["reproduces"] == original.version
    assert again.snapshot_id == original.snapshot_id
    assert {k: v for k, v in again.params.items() if k != "reproduces"} == original.params
    assert again.metrics == original.metrics

    registered = verify_version(yard, MODEL, original.version, against=again.version)
    assert registered.verdict == "bit-identical" and registered.identical and registered.ok
    assert registered.rows == trained_repo.results[MODEL].snapshot.rows
    retrained = verify_version(yard, MODEL, original.version)
    assert retrained.verdict == "bit-identical" and retrained.code_changed is False
    assert retrained.config_sha256_now == original.config_sha256


def test_cli_train_from_version_and_verify(trained_repo, no_feast_reads) -> None:
    repo = str(trained_repo.repo)
    original = trained_repo.results[MODEL].version.version
    out = CliRunner().invoke(
        main, ["--repo", repo, "train", MODEL, "--from-version", str(original), "--json"]
    )
    assert out.exit_code == 0, out.output
    new = json.loads(out.output)["version"]
    out = CliRunner().invoke(
        main, ["--repo", repo, "models", "verify", MODEL, str(original), "--against", str(new)]
    )
    assert out.exit_code == 0 and "bit-identical" in out.output, out.output
    bad = CliRunner().invoke(main, ["--repo", repo, "train", MODEL, "--from-version", "1", "--param", "C=2"])
    assert bad.exit_code == 2 and "--from-version repeats the recorded recipe" in bad.output


def test_verify_reports_a_different_model_and_changed_code(trained_repo) -> None:
    yard = trained_repo.yard
    original = trained_repo.results[MODEL].version
    other = train_model(yard, MODEL, params={"C": 0.01}, snapshot=original.snapshot_id).version
    assert other.snapshot_id == original.snapshot_id
    result = verify_version(yard, MODEL, original.version, against=other.version)
    assert result.verdict == "different" and not result.ok and result.max_abs_diff > 0
    out = CliRunner().invoke(
        main,
        [
            "--repo",
            str(trained_repo.repo),
            "models",
            "verify",
            MODEL,
            str(original.version),
            "--against",
            str(other.version),
            "--json",
        ],
    )
    assert out.exit_code == 1 and json.loads(out.output)["verdict"] == "different"

    source = trained_repo.repo / "train.py"
    text = source.read_text()
    try:
        source.write_text(text + "\n# a comment: the code changed, its behaviour did not\n")
        result = verify_version(yard, MODEL, original.version)
        assert result.verdict == "bit-identical" and result.code_changed is True
    finally:
        source.write_text(text)


def test_a_version_without_a_recipe_cannot_be_reproduced(trained_repo, tmp_path) -> None:
    yard = trained_repo.yard
    original = trained_repo.results[MODEL].version
    artifact = tmp_path / "artifact"
    yard.registry.artifacts.get(original.artifact_uri, original.artifact_sha256, artifact, label="copy")
    hand_made = yard.registry.register(MODEL, artifact, snapshot=original.snapshot_id)
    with pytest.raises(ReproductionError, match="no recipe to repeat"):
        reproduce_version(yard, MODEL, hand_made.version)


def _file_sha(path) -> str:
    from modelyard.artifacts.hashing import file_sha256

    return file_sha256(path)
