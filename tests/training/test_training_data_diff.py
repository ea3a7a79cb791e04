"""models diff between versions trained on different snapshots: the row-level data diff, as JSON and tables."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import pandas as pd
from click.testing import CliRunner

from modelyard.cli.main import main
from modelyard.registry.training import train_model

MODEL = "trip_acceptance"


def test_diff_reports_rows_labels_features_and_code_hash(trained_repo) -> None:
    yard = trained_repo.yard
    original = trained_repo.results[MODEL].version
    entities = pd.read_parquet(trained_repo.repo / "data" / f"{MODEL}_entities.parquet")
    fewer = train_model(yard, MODEL, entities=entities.iloc[40:].reset_index(drop=True)).version
    assert fewer.snapshot_id != original.snapshot_id

    out = CliRunner().invoke(
        main,
        [
            "--repo",
            str(trained_repo.repo),
            "models",
            "diff",
            MODEL,
            str(original.version),
            str(fewer.version),
            "--json",
        ],
    )
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)["data"]
    assert data["keys"] == ["driver_id", "customer_id", "event_timestamp"]
    assert data["rows"]["removed"] == 40 and data["rows"]["added"] == 0
    assert data["label"]["name"] == "accepted" and data["label"]["changed_rows"] == 0
    assert {f["feature"] for f in data["features"]} == set(yard.features.feature_names(MODEL))
    moves = [f["movement"] for f in data["features"]]
    assert moves == sorted(moves, reverse=True)
    lineage = {c["name"] for c in json.loads(out.output)["lineage"]}
    assert "code_sha256" not in lineage  # same training code

    table = CliRunner(env={"COLUMNS": "200"}).invoke(
        main,
        [
            "--repo",
            str(trained_repo.repo),
            "models",
            "diff",
            MODEL,
            str(original.version),
            str(fewer.version),
        ],
    )
    assert table.exit_code == 0 and "features by movement" in table.output and "removed" in table.output


class _Tables(HTMLParser):
    """The cell texts of every <table class=...> of a page, by class."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("class") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self._table[-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def _tables(page: str) -> dict[str, list[list[str]]]:
    parser = _Tables()
    parser.feed(page)
    return parser.tables


def test_the_html_diff_shows_rows_labels_features_by_movement_and_code(trained_repo, tmp_path) -> None:
    yard = trained_repo.yard
    original = trained_repo.results[MODEL].version
    entities = pd.read_parquet(trained_repo.repo / "data" / f"{MODEL}_entities.parquet")
    fewer = train_model(yard, MODEL, entities=entities.iloc[25:].reset_index(drop=True)).version
    out = tmp_path / "diff.html"
    args = [
        "--repo",
        str(trained_repo.repo),
        "models",
        "diff",
        MODEL,
        str(original.version),
        str(fewer.version),
    ]
    result = CliRunner().invoke(main, [*args, "--html", str(out)])
    assert result.exit_code == 0 and f"wrote {out}" in result.output, result.output
    data = json.loads(CliRunner().invoke(main, [*args, "--json"]).output)
    page = out.read_text()
    tables = _tables(page)

    header, counts = tables["data-diff"]
    assert dict(zip(header, counts, strict=True)) == {
        f"rows in v{original.version}": str(data["data"]["rows"]["a"]),
        f"rows in v{fewer.version}": str(data["data"]["rows"]["b"]),
        "added": "0",
        "removed": "25",
        "changed": str(data["data"]["rows"]["changed"]),
        "unchanged": str(data["data"]["rows"]["unchanged"]),
        "labels changed": "0",
    }
    label = data["data"]["label"]
    assert f"<h2>Label accepted ({label['kind']})</h2>" in page
    assert [row[0] for row in tables["label-diff"][1:]] == list(label["a"])
    ranked = [row[0] for row in tables["feature-movement"][1:]]
    assert ranked == [f["feature"] for f in data["data"]["features"]] and len(ranked) > 1
    code = {row[0]: row[1:] for row in tables["code"][1:]}
    assert code["training code sha256"] == [original.code_sha256, fewer.code_sha256, "same"]
    assert original.code_sha256 and len(original.code_sha256) == 64
    assert code["modelyard.yaml sha256"][:2] == [original.config_sha256, fewer.config_sha256]
    assert "<script" not in page and "http" not in page.split("<body>")[0]  # self-contained

    # the monitoring report explains the same two versions with the same tables
    report = tmp_path / "report.html"
    done = CliRunner().invoke(
        main,
        [
            "--repo",
            str(trained_repo.repo),
            "report",
            MODEL,
            "--out",
            str(report),
            "--diff",
            str(original.version),
            str(fewer.version),
        ],
    )
    assert done.exit_code == 0, done.output
    in_report = _tables(report.read_text())
    for name in ("data-diff", "label-diff", "feature-movement", "code"):
        assert in_report[name] == tables[name]
    as_json = CliRunner().invoke(
        main,
        [
            "--repo",
            str(trained_repo.repo),
            "report",
            MODEL,
            "--json",
            "--diff",
            str(original.version),
            str(fewer.version),
        ],
    )
    assert json.loads(as_json.output)["diff"]["data"] == data["data"]


def test_the_html_diff_escapes_what_users_and_data_wrote() -> None:
    from modelyard.monitoring.report.build import render_diff_html
    from modelyard.registry.data_diff import DataDiff, FeatureMovement
    from modelyard.registry.diff import Change, VersionDiff

    evil = "<script>alert(1)</script>"
    d = VersionDiff(
        model="m",
        a=1,
        b=2,
        params=[Change(f"p{evil}", "a&b", "[bold]x[/bold]")],
        notes=[f"note {evil}"],
        data=DataDiff(
            keys=["id"],
            rows_a=3,
            rows_b=3,
            added=0,
            removed=0,
            changed=1,
            unchanged=2,
            label="y",
            label_kind="categorical",
            label_a={evil: 0.5, "ok": 0.5},
            label_b={evil: 1.0},
            labels_changed=1,
            features=[FeatureMovement(f"share[{evil}]", "categorical", 0.5, 1, 1 / 3, evil, "b")],
        ),
        code={"a": {"code_sha256": evil}, "b": {"code_sha256": None}},
    ).to_dict()
    d["code"]["a"].update(config_sha256=None, git_commit=None, git_dirty=None)
    d["code"]["b"].update(config_sha256=None, git_commit=None, git_dirty=None)
    page = render_diff_html(d)
    assert "<script>" not in page and page.count("&lt;script&gt;alert(1)&lt;/script&gt;") >= 6
    assert "a&amp;b" in page and "[bold]x[/bold]" in page and "not recorded" in page
    tables = _tables(page)
    assert tables["feature-movement"][1][0] == f"share[{evil}]"
    assert [row[0] for row in tables["label-diff"][1:]] == [evil, "ok"]
