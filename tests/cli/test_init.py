"""``modelyard init``: a loadable yard from the template; never overwrites one."""

from __future__ import annotations

from pathlib import Path

import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner

from modelyard.cli.init import create_yard, project_name
from modelyard.cli.main import main
from modelyard.errors import ConfigError
from modelyard.yard import Yard


def test_init_writes_a_yard_that_loads(tmp_path: Path) -> None:
    target = tmp_path / "My Yard-2"
    result = CliRunner().invoke(main, ["init", str(target)])
    assert result.exit_code == 0, result.output
    for name in (
        "feature_store.yaml",
        "features.py",
        "modelyard.yaml",
        ".gitignore",
        "data/driver_stats.parquet",
    ):
        assert (target / name).is_file(), name
        assert name in result.output
    assert "project: my_yard_2" in (target / "feature_store.yaml").read_text()
    yard = Yard.load(target)
    assert yard.config.project == "my_yard_2"
    model = yard.model("driver_churn")
    assert (model.feature_service, model.entity_keys, model.task) == (
        "driver_quality",
        ["driver_id"],
        "classification",
    )
    table = pq.read_table(target / "data" / "driver_stats.parquet")
    assert table.num_rows == 10 * 56
    assert table.column("conv_rate").null_count > 0  # some values missing, on purpose
    assert set(table.column_names) >= {"driver_id", "event_timestamp", "conv_rate", "city"}


def test_init_uses_repo_option_when_no_path(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["--repo", str(tmp_path / "r"), "init", "--project", "custom"])
    assert result.exit_code == 0, result.output
    assert Yard.load(tmp_path / "r").config.project == "custom"


@pytest.mark.parametrize("existing", ["modelyard.yaml", "feature_store.yaml"])
def test_init_refuses_to_overwrite(tmp_path: Path, existing: str) -> None:
    (tmp_path / existing).write_text("precious: true\n")
    result = CliRunner().invoke(main, ["init", str(tmp_path)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {tmp_path / existing}: a yard (or Feast repo) is already here")
    assert (tmp_path / existing).read_text() == "precious: true\n"
    assert not (tmp_path / "features.py").exists()


def test_bad_project_name_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="project name '1-bad'"):
        create_yard(tmp_path / "x", project="1-bad")
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize(
    ("directory", "expected"), [("my-yard", "my_yard"), ("2024 models", "yard_2024_models"), ("---", "yard")]
)
def test_project_name_from_directory(directory: str, expected: str) -> None:
    assert project_name(Path("/tmp") / directory) == expected


def test_init_refuses_to_clobber_other_files(tmp_path: Path) -> None:
    (tmp_path / "features.py").write_text("# mine\n")
    with pytest.raises(ConfigError, match=r"refusing to overwrite .*features\.py"):
        create_yard(tmp_path)
    assert (tmp_path / "features.py").read_text() == "# mine\n"
    assert not (tmp_path / "modelyard.yaml").exists()


def test_init_into_a_non_empty_directory_keeps_other_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("keep me\n")
    create_yard(tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "keep me\n"
    assert (tmp_path / "modelyard.yaml").exists()
