"""CLI tables a person can read: short floats, whole header words at 80 columns, titles above, --json in full."""

from __future__ import annotations

import json
import re

import pytest

from modelyard.cli.output import emit, format_cell, format_number


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        (0.37037037037037035, "0.3704"),
        (12.3456, "12.35"),
        (0.05, "0.05"),
        (1.0, "1"),
        (1234.5678, "1235"),
        (0.001234567, "0.001235"),
        (1.2e-07, "1.2e-07"),
        (-0.5, "-0.5"),
        (0.0, "0"),
        (float("inf"), "inf"),
    ],
)
def test_floats_are_shown_to_four_significant_digits(value: float, shown: str) -> None:
    assert format_number(value) == shown
    assert format_cell(value) == shown


def test_numpy_floats_and_nested_values_are_shortened_too() -> None:
    import numpy as np

    assert format_cell(np.float64(0.37037037037037035)) == "0.3704"
    assert format_cell(np.float32(0.1)) == "0.1"
    assert format_cell({"auc": 0.8123456, "n": 400}) == "auc: 0.8123\nn: 400"
    assert format_cell([0.333333333, None]) == "0.3333, -"
    assert format_cell(float("nan")) == "-"


ROWS = [
    {
        "model": "trip_acceptance",
        "monitor": "rating-drift",
        "statistic": 0.37037037037037035,
        "threshold": 0.05,
        "verdict": "FAIL",
        "observations": 13,
    }
]


def test_piped_table_keeps_header_words_whole_and_the_title_above(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    emit(ROWS, as_json=False, title="Monitor results of trip_acceptance")
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == "Monitor results of trip_acceptance"  # its own line, not inside the frame
    assert all(len(line) <= 80 for line in lines)
    header = next(line for line in lines if "model" in line and "verdict" in line)
    for word in ROWS[0]:
        assert re.search(rf"(^|\s){word}(\s|$)", header), (word, header)
    assert "0.3704" in out and "0.37037037" not in out


def test_too_many_columns_for_the_width_become_blocks(capsys, monkeypatch) -> None:
    monkeypatch.setenv("COLUMNS", "40")
    emit(ROWS * 2, as_json=False)
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["model", "trip_acceptance"]
    assert lines[2].split() == ["statistic", "0.3704"]
    assert lines.count("") == 1  # one blank line between the two rows' blocks
    assert all(len(line) <= 40 for line in lines)


def test_json_carries_the_full_values(capsys) -> None:
    emit(ROWS, as_json=True)
    assert json.loads(capsys.readouterr().out)[0]["statistic"] == 0.37037037037037035
