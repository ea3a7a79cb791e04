"""The web UI (``/ui``) of a real server, read with httpx and rendered by headless Chromium.

The served yard has ``trip_acceptance`` v1 (with a training snapshot, in production) and v2
(other params and metrics, holding ``candidate``, promoted with a reason full of HTML), an A/B
deployment of v1 against v2 written by an actor whose name is HTML too, and a stored monitor
run over a drifted log window (``rating`` shifted). ``tip_amount`` has nothing registered.
The Chromium test leaves a screenshot of every page in ``test-artifacts/`` (``ui-*.png``).
"""

from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from datetime import datetime, timedelta, timezone
from html import unescape
from pathlib import Path

import httpx
import pytest
from srv_helpers import entities, running_server, train

MODEL = "trip_acceptance"
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
EVIL_REASON = '<script>alert("reason")</script> & "quotes"'
EVIL_ACTOR = "<b>ops</b>"


def _log_drifted(yard, frame, version: int) -> None:
    """Log ``frame``'s rows as predictions of ``version`` with ``rating`` shifted down by 0.6."""
    import pandas as pd

    from modelyard.predictions.log import open_prediction_logger
    from modelyard.predictions.records import PredictionRecord

    names = yard.features.feature_names(MODEL)
    start = datetime.now(timezone.utc) - timedelta(minutes=5)
    drifted = frame.assign(rating=frame["rating"] - 0.6)
    with open_prediction_logger(yard) as log:
        for i, row in enumerate(drifted.to_dict("records")):
            log.log(
                PredictionRecord(
                    request_id=f"ui-{i}",
                    model=MODEL,
                    version=version,
                    variant=f"v{version}",
                    prediction=1,
                    entities={"driver_id": int(row["driver_id"]), "customer_id": int(row["customer_id"])},
                    features={n: (None if pd.isna(row[n]) else row[n]) for n in names},
                    latency_ms=2.0,
                    timestamp=start + timedelta(milliseconds=i),
                )
            )


@pytest.fixture(scope="module")
def served(make_example_repo, tmp_path_factory):
    """(yard, base URL) of a real server over the yard described in the module docstring."""
    from modelyard.monitoring.runner import run_monitors
    from modelyard.rollout import changes
    from modelyard.routing.router import Variant
    from modelyard.serving.app import build_state, create_app
    from modelyard.ui.views import deployment_store
    from modelyard.yard import Yard

    repo = make_example_repo(tmp_path_factory.mktemp("ui") / "repo")
    yard = Yard.load(repo)
    ents = entities(repo, MODEL, 400)
    frame = yard.features.training_frame(MODEL, ents.drop(columns=["accepted"]))
    estimator, cols = train(yard, MODEL, n=400)  # trained on the same 400 rows as the snapshot
    snapshot = yard.registry.snapshot(MODEL, frame, ents)
    v1 = yard.registry.register(
        MODEL, estimator, snapshot=snapshot, feature_names=cols, params={"C": 1.0}, metrics={"auc": 0.75}
    )
    yard.registry.promote(MODEL, v1.version, reason="ui tests")
    other, _ = train(yard, MODEL, n=400, c=0.5)
    v2 = yard.registry.register(
        MODEL,
        other,
        feature_names=cols,
        params={"C": 0.5},
        metrics={"auc": 0.8123456},
        description="<i>v2</i>",
    )
    yard.registry.promote(MODEL, v2.version, "candidate", reason=EVIL_REASON, actor=EVIL_ACTOR)
    changes.deploy(
        deployment_store(yard),
        MODEL,
        router="ab",
        variants=[Variant("v1", 1, 0.5), Variant("v2", 2, 0.5)],
        guards=[{"type": "error_rate", "max": 0.02, "min_samples": 10}],
        actor=EVIL_ACTOR,
        reason="A/B of v2",
    )
    _log_drifted(yard, frame, v1.version)
    runs = run_monitors(yard, MODEL, window="1h", alert=False)
    assert [r.monitor for r in runs if r.failed], "the shifted window must fail a monitor"
    state = build_state(yard, cache=False)
    with running_server(create_app(state=state)) as url:
        yield yard, url
    state.close()
    yard.registry.close()


def _cells(html: str, table_class: str) -> list[tuple[bool, list[str]]]:
    """(highlighted, cell texts) of the rows of the first table of class ``table_class``."""
    part = re.split(rf'<table class="{table_class}">', html, maxsplit=1)[1].split("</table>", 1)[0]
    rows = []
    for attrs, body in re.findall(r"<tr([^>]*)>(.*?)</tr>", part, flags=re.S):
        cells = [
            unescape(re.sub(r"<[^>]+>", "", c)).strip()
            for c in re.findall(r"<td[^>]*>(.*?)</td>", body, re.S)
        ]
        if cells:
            rows.append(("bad" in attrs, cells))
    return rows


def _get(url: str, **params: str) -> str:
    r = httpx.get(url, params=params, timeout=120)
    assert r.status_code == 200, r.text[:3000]
    assert r.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in r.headers["content-security-policy"]
    assert (
        "<script" not in r.text and "http://" not in r.text and "https://" not in r.text
    )  # nothing external
    return r.text


def test_overview_shows_aliases_deployment_and_the_failed_check(served) -> None:
    yard, url = served
    page = _get(f"{url}/ui")
    model = page.split('id="model-trip_acceptance"', 1)[1].split("</section>", 1)[0]
    assert re.search(
        r'<span class="tag alias">production</span> &rarr; <a href="/ui/models/trip_acceptance/versions/1">v1</a>',
        model,
    )
    assert re.search(r'<span class="tag alias">candidate</span> &rarr; <a[^>]*>v2</a>', model)
    assert "Serving: v1, v2" in model
    split = {c[0]: c for _, c in _cells(model, "deployment")}
    assert split["v1"][1:] == ["v1", "live", "0.5", "50.0%"] and split["v2"][1:] == [
        "v2",
        "live",
        "0.5",
        "50.0%",
    ]
    assert "Needs attention: trip_acceptance" in page
    rows = _cells(model, "results")
    # columns: monitor, version, detector, feature, statistic, value, threshold, verdict, window, when
    assert any(bad and c[3] == "rating" and c[7] == "FAIL" for bad, c in rows)
    stored = [r for r in yard.registry.backend.monitor_results(MODEL) if r["drifted"]]
    assert len(rows) == len(stored)  # every failed check of the (only) run is listed
    for r in stored:  # the numbers are the registry's
        shown = next(c for _, c in rows if c[0] == r["monitor"] and c[3] == (r["feature"] or "(dataset)"))
        assert shown[5] == f"{r['score']:.4g}" and shown[6] == f"{r['threshold']:.4g}"
    # freshness of the model's features: the feature store's own figures, and the expired share of
    # the logged window (the 400 rows _log_drifted wrote) computed here from the frame itself
    from modelyard.features.freshness import format_span

    fresh = _cells(model, "freshness")
    views = {v.view: v for v in yard.features.freshness() if v.view in yard.features.views_of(MODEL)}
    assert sorted(c[0] for _, c in fresh) == sorted(views) and views
    frame = yard.features.training_frame(MODEL, entities(yard.path, MODEL, 400).drop(columns=["accepted"]))
    names = set(yard.features.feature_names(MODEL))
    for _, (view, ttl, materialized, pushed, lag, share, expired) in fresh:
        v = views[view]
        assert ttl == (format_span(v.ttl) or "none")
        assert materialized == f"{v.last_materialized:%Y-%m-%d %H:%M:%S}" and pushed == "-"
        assert lag != "never loaded" and share.endswith("%")
        columns = [f for f in v.features if f in names]
        expected = frame[columns].isna().all(axis=1).mean()
        assert expired == f"{expected * 100:.1f}% of 400 rows", (view, expired)
    tip = page.split('id="model-tip_amount"', 1)[1].split("</section>", 1)[0]
    assert "no monitor results yet" in tip and 'Serving: <span class="bad">nothing</span>' in tip


def test_model_page_timeline_escapes_user_text(served) -> None:
    yard, url = served
    page = _get(f"{url}/ui/models/{MODEL}")
    assert "<script>" not in page and "<b>ops</b>" not in page and "<i>v2</i>" not in page
    assert "&lt;script&gt;alert(&#34;reason&#34;)&lt;/script&gt; &amp; &#34;quotes&#34;" in page
    assert "&lt;b&gt;ops&lt;/b&gt;" in page and "&lt;i&gt;v2&lt;/i&gt;" in page
    timeline = page.split('<ol class="timeline aliases">', 1)[1].split("</ol>", 1)[0]
    events = yard.registry.history(MODEL)
    assert timeline.count("<li>") == len(events) == 2
    assert timeline.index("candidate") < timeline.index("production")  # newest first
    versions = _cells(page, "versions")
    assert [c[0] for _, c in versions] == ["v2", "v1"]
    assert versions[0][1][5] == "auc 0.8123"  # the registry's 0.8123456, to four digits
    assert [c[3] for _, c in _cells(page, "changes")] == ["ab"]
    guards = _cells(page, "guard-values")  # evaluated now, as the rollout policy would
    assert [(c[1], c[4], c[5]) for _, c in guards] == [("v2", "0", "ok")]  # v2 has no traffic yet
    assert "promote</button>" not in page  # read-only without the admin token


def test_version_page_shows_the_registrys_lineage(served) -> None:
    yard, url = served
    v1 = yard.registry.get_version(MODEL, 1)
    snap = yard.registry.get_snapshot(v1.snapshot_id)
    page = _get(f"{url}/ui/models/{MODEL}/versions/1")
    lineage = {
        c[0]: c[1] for _, c in _cells(page.replace("<th>", "<td>").replace("</th>", "</td>"), "lineage")
    }
    assert lineage["artifact sha256"] == v1.artifact_sha256
    assert lineage["snapshot content sha256"] == snap.content_sha256
    assert lineage["snapshot rows"] == str(snap.rows) == "400"
    assert lineage["schema fingerprint"] == v1.schema_fingerprint
    assert lineage["feature service"] == v1.feature_service
    assert "deployed as <strong>v1</strong> (live, weight 0.5)" in page
    assert '<span class="tag alias">production</span>' in page


def test_diff_page_puts_two_versions_side_by_side(served) -> None:
    _, url = served
    page = _get(f"{url}/ui/models/{MODEL}/diff", a="1", b="2")
    params = {c[0]: c[1:] for _, c in _cells(page, "diff")}
    assert params["C"] == ["1", "0.5", "changed (-0.5)"]
    assert "<h2>Metrics</h2>" in page and "0.8123" in page


def test_experiment_page_draws_intervals_and_the_sample_ratio(served) -> None:
    _, url = served
    page = _get(f"{url}/ui/models/{MODEL}/experiment")
    assert "Router <strong>ab</strong>" in page and "<h2>Sample ratio</h2>" in page
    variants = [c[0] for _, c in _cells(page, "variants")]
    assert variants[:2] == ["v1", "v2"]


def test_monitoring_page_charts_name_their_feature_and_axes(served) -> None:
    yard, url = served
    page = _get(f"{url}/ui/models/{MODEL}/monitoring", window="all")
    charts = re.findall(r"<svg.*?</svg>", page, flags=re.S)
    names = yard.features.feature_names(MODEL)
    assert len(charts) >= len(names) + 1
    for chart in charts:  # every chart carries a visible title and both axis labels
        assert 'class="chart-title"' in chart and 'class="x-label"' in chart and 'class="y-label"' in chart
    rating = next(c for c in charts if ">rating: reference vs current<" in c)
    assert ">share of rows<" in rating and ">rating</text>" in rating  # the x axis is the feature
    over_time = [c for c in charts if ">time (UTC)<" in c]
    assert any(
        ">rating: " in c and 'class="threshold"' in c for c in over_time
    )  # drift of rating, with its threshold


def test_errors_are_json(served) -> None:
    _, url = served
    missing = httpx.get(f"{url}/ui/models/no_such_model")
    assert missing.status_code == 404 and missing.json()["type"] == "ModelNotFound"
    bad = httpx.get(f"{url}/ui/models/{MODEL}/monitoring", params={"window": "soon"})
    assert bad.status_code == 400 and "bad window 'soon'" in bad.json()["error"]
    nov = httpx.get(f"{url}/ui/models/{MODEL}/versions/99")
    assert nov.status_code == 404


def test_latest_run_wins() -> None:
    from modelyard.ui.views import latest_results

    old, new = datetime(2026, 1, 1, tzinfo=timezone.utc), datetime(2026, 1, 2, tzinfo=timezone.utc)
    base = {"monitor": "drift", "version": 1, "variant": None, "detector": "drift", "statistic": "ks"}
    rows = [
        {**base, "feature": "rating", "drifted": True, "created_at": old},
        {**base, "feature": "rating", "drifted": False, "created_at": new},
        {**base, "feature": "<img src=x onerror=alert(1)>", "drifted": True, "created_at": new},
        {**base, "monitor": "quality", "feature": "rating", "drifted": False, "created_at": old},
    ]
    assert [(r["monitor"], r["feature"], r["drifted"]) for r in latest_results(rows)] == [
        ("drift", "<img src=x onerror=alert(1)>", True),
        ("drift", "rating", False),
        ("quality", "rating", False),  # an older run of another monitor is still its latest
    ]


# -- in a real browser --------------------------------------------------------------------------

PAGES = {
    "overview": "/ui",
    "model": f"/ui/models/{MODEL}",
    "version": f"/ui/models/{MODEL}/versions/1",
    "diff": f"/ui/models/{MODEL}/diff?a=1&b=2",
    "experiment": f"/ui/models/{MODEL}/experiment",
    "monitoring": f"/ui/models/{MODEL}/monitoring?window=all",
}


def _chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found:
        return found
    reason = "the chromium browser is not installed (apt-get install chromium)"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason}, and under CI=true the /ui browser test must run (.ci/run installs it)")
    pytest.skip(f"{reason}; install it to run this test (CI=true makes this a failure)")


def _headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--enable-logging=stderr",
        "--v=0",
        f"--user-data-dir={profile}",
    ]
    done = subprocess.run([chromium, *flags, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"chromium failed ({done.returncode}): {done.stderr[-2000:]}"
    return done


@pytest.mark.parametrize("page", list(PAGES))
def test_every_page_renders_in_headless_chromium(served, tmp_path: Path, page: str) -> None:
    """The page's DOM after Chromium ran it, no console message (CSP violations are console errors), a screenshot."""
    chromium = _chromium()
    yard, url = served
    done = _headless(chromium, tmp_path / "dom", "--dump-dom", url + PAGES[page])
    console = [line for line in done.stderr.splitlines() if "CONSOLE" in line]
    assert not console, console
    dom = done.stdout
    assert "<h1>" in dom and "</html>" in dom
    if page == "overview":
        assert any(bad and c[3] == "rating" and c[7] == "FAIL" for bad, c in _cells(dom, "results"))
        assert _cells(dom, "freshness"), "the features' freshness is on the overview"
    if page == "version":
        assert yard.registry.get_version(MODEL, 1).artifact_sha256 in dom
    if page in ("monitoring", "experiment"):
        assert "<svg" in dom  # the inline charts survive the CSP
    if page == "model":
        assert "&lt;script&gt;" in dom and "<b>ops</b>" not in dom  # user text stays text in the DOM

    ARTIFACTS.mkdir(exist_ok=True)
    shot = ARTIFACTS / f"ui-{page}.png"
    shot.unlink(missing_ok=True)
    _headless(
        chromium, tmp_path / "shot", f"--screenshot={shot}", "--window-size=1280,1000", url + PAGES[page]
    )
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert struct.unpack(">II", data[16:24]) == (1280, 1000)  # the IHDR chunk
    assert len(data) > 20_000  # a rendered page, not a blank image


# -- standalone, and the admin actions (last: they change the registry) --------------------------


def test_standalone_ui_serves_the_same_pages_without_models(served) -> None:
    from fastapi.testclient import TestClient

    from modelyard.ui.app import create_ui_app

    yard, _ = served
    with TestClient(create_ui_app(yard)) as client:
        page = client.get("/ui")
        assert page.status_code == 200 and "standalone UI (no model loaded)" in page.text
        assert "Serving:" not in page.text
        assert client.get(f"/ui/models/{MODEL}/versions/2").status_code == 200
        assert client.get("/", follow_redirects=False).headers["location"] == "/ui"


ADMIN, PREDICT = "a" * 24 + "-admin", "p" * 24 + "-predict"


def test_without_tokens_the_ui_is_read_only(served, monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi.testclient import TestClient

    from modelyard.ui.app import create_ui_app

    yard, _ = served
    for variable in ("MODELYARD_TOKENS_ADMIN", "MODELYARD_TOKENS_PREDICT", "MODELYARD_ADMIN_TOKEN"):
        monkeypatch.delenv(variable, raising=False)
    before = yard.registry.aliases(MODEL)
    with TestClient(create_ui_app(yard)) as client:
        form = {"version": "2", "alias": "production", "reason": "from the UI"}
        refused = client.post(f"/ui/models/{MODEL}/promote", data=form)
        assert refused.status_code == 403 and refused.json()["type"] == "Forbidden"
        assert "read-only" in refused.json()["error"] and "MODELYARD_TOKENS_ADMIN" in refused.json()["error"]
        assert client.post("/ui/admin", data={"token": ADMIN}).status_code == 403
        assert "modelyard token --scope admin" in client.get("/ui/admin").text
        assert (
            "read-only" in client.get("/ui").text
            and "promote</button>" not in client.get(f"/ui/models/{MODEL}").text
        )
    assert yard.registry.aliases(MODEL) == before


def test_actions_need_an_admin_scope_token(served, monkeypatch: pytest.MonkeyPatch) -> None:
    """The UI takes the serving API's tokens: only the admin scope signs in, shows buttons and acts."""
    from fastapi.testclient import TestClient

    from modelyard.ui.app import create_ui_app
    from modelyard.ui.routes import ADMIN_COOKIE

    yard, _ = served
    monkeypatch.delenv("MODELYARD_ADMIN_TOKEN", raising=False)
    monkeypatch.setenv("MODELYARD_TOKENS_ADMIN", ADMIN)
    monkeypatch.setenv("MODELYARD_TOKENS_PREDICT", PREDICT)
    with TestClient(create_ui_app(yard)) as client:
        form = {"version": "2", "alias": "production", "reason": "from the UI"}
        # every page needs an admin token now; the sign-in form stays open
        assert client.get("/ui").status_code == 401 and "/ui/admin" in client.get("/ui").json()["error"]
        assert client.get("/ui", headers={"Authorization": f"Bearer {PREDICT}"}).status_code == 403
        assert client.post(f"/ui/models/{MODEL}/promote", data=form).status_code == 401
        login = client.get("/ui/admin")
        assert login.status_code == 200 and 'name="token"' in login.text
        for wrong in ("wrong", PREDICT):  # unknown, or a valid token of another scope: the same answer
            r = client.post("/ui/admin", data={"token": wrong})
            assert r.status_code == 403 and "not an admin token" in r.text, wrong
            assert ADMIN_COOKIE not in r.cookies
        signed = client.post("/ui/admin", data={"token": ADMIN}, follow_redirects=False)
        assert signed.status_code == 303 and "httponly" in signed.headers["set-cookie"].lower()
        assert "samesite=strict" in signed.headers["set-cookie"].lower()
        assert "promote</button>" in client.get(f"/ui/models/{MODEL}").text
        done = client.post(f"/ui/models/{MODEL}/promote", data=form, follow_redirects=False)
        assert done.status_code == 303, done.text
        assert yard.registry.aliases(MODEL)["production"] == 2
        last = yard.registry.history(MODEL)[-1]
        assert (last.to_version, last.reason, last.actor) == (2, "from the UI", "web UI admin")
        client.cookies.clear()
        # a bearer header with an admin token acts too (scripts), a predict token does not
        headers = {"Authorization": f"Bearer {PREDICT}"}
        assert (
            client.post(f"/ui/models/{MODEL}/pause", data={"reason": "x"}, headers=headers).status_code == 403
        )
        headers = {"Authorization": f"Bearer {ADMIN}"}
        paused = client.post(
            f"/ui/models/{MODEL}/pause", data={"reason": "hold"}, headers=headers, follow_redirects=False
        )
        assert paused.status_code == 303
        from modelyard.ui.views import deployment_store

        assert deployment_store(yard).current(MODEL).status == "paused"


def test_the_old_admin_variable_is_a_deprecated_admin_token(caplog: pytest.LogCaptureFixture) -> None:
    from modelyard.errors import ConfigError
    from modelyard.serving.auth import Tokens

    with caplog.at_level("WARNING", logger="modelyard.serving.auth"):
        tokens = Tokens.load(environ={"MODELYARD_ADMIN_TOKEN": ADMIN})
    assert tokens.enabled and tokens.scopes_of(ADMIN) == {"admin"} and tokens.grants("admin")
    assert "deprecated" in caplog.text and "MODELYARD_TOKENS_ADMIN" in caplog.text
    with pytest.raises(ConfigError, match="MODELYARD_ADMIN_TOKEN is shorter than 16"):
        Tokens.load(environ={"MODELYARD_ADMIN_TOKEN": "s3cret"})
    assert not Tokens.load(environ={"MODELYARD_TOKENS_PREDICT": PREDICT}).grants("admin")
