"""The example third-party plugin, installed for real with pip into a throwaway target.

``pip install --target TMP`` the distribution in plugins/examples/modelyard-hello-detector,
then run modelyard in subprocesses with ``PYTHONPATH=TMP``: it is listed, a config can
select its detector, and once removed that config fails with the "unknown ... plugin" error.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "plugins" / "examples" / "modelyard-hello-detector"
MODELYARD = [sys.executable, "-m", "modelyard.cli.main"]

YARD_CONFIG = """
project: hello
models:
  churn:
    feature_service: driver_quality
    entity_keys: [driver_id]
    task: classification
    label: churned
    monitors:
      - name: conv-rate-mean
        detector:
          plugin: mean-shift
          settings: {k: 3.5, min_rows: 10}
        features: [conv_rate]
"""

LOAD_YARD = """
import sys
from modelyard.yard import Yard
yard = Yard.load(sys.argv[1])
monitor = yard.model("churn").monitors[0]
detector = yard.build_plugin("detector", monitor.detector)
print(type(detector).__module__, type(detector).__name__, detector.config.k, detector.config.min_rows)
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin pip-installed into a fresh target directory (built from a copy of its source)."""
    base = tmp_path_factory.mktemp("hello")
    source = base / "src"
    shutil.copytree(SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    target = base / "target"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--target",
            str(target),
            str(source),
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, (
        f"pip install of {SOURCE.name} failed (needs setuptools>=70.1 or wheel in the venv):\n{proc.stderr}"
    )
    assert (target / "modelyard_hello" / "__init__.py").exists()
    return target


def _run(args: list[str], pythonpath: Path | None, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MODELYARD_")}
    env.pop("PYTHONPATH", None)
    if pythonpath is not None:
        env["PYTHONPATH"] = str(pythonpath)
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=env, cwd=cwd)


def _yard(path: Path) -> Path:
    path.mkdir(parents=True)
    (path / "modelyard.yaml").write_text(YARD_CONFIG)
    (path / "feature_store.yaml").write_text("project: hello\nprovider: local\nregistry: data/registry.db\n")
    return path


def test_installed_plugin_is_listed_and_selectable_then_removed(installed: Path, tmp_path: Path) -> None:
    listing = _run([*MODELYARD, "plugins", "--json"], installed, tmp_path)
    assert listing.returncode == 0, listing.stderr
    rows = {row["name"]: row for row in json.loads(listing.stdout)}
    hello = rows["hello"]
    assert hello["distribution"] == "modelyard-hello-detector"
    assert hello["version"] == "0.2.0"
    assert hello["module"] == "modelyard_hello"
    assert hello["contributes"] == {"detector": ["mean-shift"]}
    assert hello["roles"] == ["detector"] and hello["error"] is None
    table = _run([*MODELYARD, "plugins"], installed, tmp_path)
    assert table.returncode == 0 and "hello" in table.stdout

    yard = _yard(tmp_path / "yard")
    loaded = _run([sys.executable, "-c", LOAD_YARD, str(yard)], installed, tmp_path)
    assert loaded.returncode == 0, loaded.stderr
    assert loaded.stdout.split() == ["modelyard_hello.detector", "MeanShiftDetector", "3.5", "10"]

    # "pip uninstall": with --target there is no record to uninstall from, so remove the files.
    removed = installed.parent / "removed"
    installed.rename(removed)
    try:
        listing = _run([*MODELYARD, "plugins", "--json"], installed, tmp_path)
        assert "hello" not in {row["name"] for row in json.loads(listing.stdout)}
        failed = _run([*MODELYARD, "--repo", str(yard), "apply"], installed, tmp_path)
        assert failed.returncode == 1
        assert "Traceback" not in failed.stderr
        first_line = failed.stderr.strip().splitlines()[0]
        assert first_line.startswith(f"Error: {yard / 'modelyard.yaml'}: models.churn.monitors.0.detector: ")
        assert "unknown detector plugin 'mean-shift'; choose one of: " in first_line
        assert "ks" in first_line
    finally:
        removed.rename(installed)


def test_bad_settings_for_the_installed_detector_name_the_key(installed: Path, tmp_path: Path) -> None:
    yard = _yard(tmp_path / "yard")
    (yard / "modelyard.yaml").write_text(YARD_CONFIG.replace("k: 3.5", "k: -1"))
    result = _run([sys.executable, "-c", LOAD_YARD, str(yard)], installed, tmp_path)
    assert result.returncode == 1
    assert "models.churn.monitors.0.detector.settings.k: Input should be greater than 0" in result.stderr
