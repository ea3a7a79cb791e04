"""After materialization, every online read path returns exactly the training-frame row at that time.

For a generated repo on SQLite and on the real Redis, at request times at and after the
materialization (ttl edges to the nanosecond), these must all equal the oracle's row, cell for
cell (floats as bits, lists element-wise, nulls as nulls): the Python API (dtypes and column
order too), the serving reader (Redis: compiled and Python decoders, and Feast's own read), the
CLI, and the HTTP features endpoint, v1 predict and v2 infer (a model that digests its input).
The skew monitor is silent on those rows and finds exactly the cells then corrupted in the store.
"""

from __future__ import annotations

import base64
import decimal
import json
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest
from cons_generator import END_NS, RIDERS, ZONES, GeneratedRepo, generate
from cons_oracle import EXPECTED_DTYPES, canonical, canonical_rows, diff, expected_frame
from services import REDIS_HOST, REDIS_PORT, need_redis

from modelyard.features import expiry
from modelyard.yard import Yard

KEYS = {"rider_id": [r for r in RIDERS for _ in ZONES], "zone": [z for _ in RIDERS for z in ZONES]}


def _entities_at(t: int) -> pd.DataFrame:
    return pd.DataFrame({**KEYS, "event_timestamp": pd.to_datetime([t] * len(KEYS["zone"]), utc=True)})


@pytest.fixture(scope="module", params=["sqlite", "redis"])
def materialized(request, tmp_path_factory) -> Iterator[tuple[GeneratedRepo, Yard]]:
    online: dict[str, Any] | None = None
    if request.param == "redis":
        need_redis()
        online = {"type": "redis", "connection_string": f'"{REDIS_HOST}:{REDIS_PORT},db=0"'}
    repo = generate(tmp_path_factory.mktemp(f"online_{request.param}"), 5, online=online)
    yard = Yard.load(repo.path)
    yard.features.apply()
    yard.features.materialize(pd.Timestamp(END_NS, tz="UTC").to_pydatetime(), progress=False)
    try:
        yield repo, yard
    finally:
        if request.param == "redis":
            yard.feature_store.teardown()


def _expected(repo: GeneratedRepo, t: int) -> list[dict[str, Any]]:
    return expected_frame(repo, _entities_at(t))


def test_python_api_and_readers_equal_the_training_row(materialized, monkeypatch) -> None:
    from modelyard.features.online.reader import online_reader
    from modelyard.features.online.redis import codec as redis_codec

    repo, yard = materialized
    types = repo.feature_types()
    store = yard.feature_store
    readers = {"reader": online_reader(store, repo.service)}
    if store.config.online_store.type == "redis":
        assert readers["reader"].fast
        readers["feast reader"] = online_reader(store, repo.service, fast=False)
    keys = [tuple(k) for k in zip(KEYS["rider_id"], KEYS["zone"], strict=True)]
    problems: list[str] = []
    for t in repo.request_times:
        monkeypatch.setattr(expiry, "now_ns", lambda t=t: t)
        expected = _expected(repo, t)
        training = yard.features.training_frame(repo.model, _entities_at(t))
        problems += diff(expected, canonical_rows(training[list(types)], types), f"training at {t}", keys)
        frame = yard.features.online_vectors(repo.model, KEYS)
        assert list(frame.columns) == [*KEYS, *types]
        assert {n: str(frame[n].dtype) for n in types} == {n: EXPECTED_DTYPES[k] for n, k in types.items()}
        problems += diff(expected, canonical_rows(frame[list(types)], types), f"python api at {t}", keys)
        for label, reader in readers.items():
            columns = reader.read(KEYS)
            assert list(columns) == [*KEYS, *types]
            problems += diff(expected, canonical_rows(columns, types), f"{label} at {t}", keys)
            if reader.fast:
                with monkeypatch.context() as m:
                    m.setattr(redis_codec, "compiled_rows", None)
                    columns = reader.read(KEYS)
                problems += diff(expected, canonical_rows(columns, types), f"python decoder at {t}", keys)
    # the times must exercise present and stale values of every view
    first, last = _expected(repo, repo.request_times[0]), _expected(repo, repo.request_times[-1])
    assert any(v is not None for row in first for v in row.values())
    for view in repo.views:
        if view.ttl_ns and view.ttl_ns < 3600 * 10**9:
            assert all(row[view.features[0][0]] is None for row in last), view.name
    assert not problems, "\n".join(problems[:30])


def test_cli_equals_the_training_row(materialized, monkeypatch) -> None:
    from click.testing import CliRunner

    from modelyard.cli.main import main

    repo, _ = materialized
    types = repo.feature_types()
    args = [
        a
        for r, z in zip(KEYS["rider_id"], KEYS["zone"], strict=True)
        for a in ("-e", f"rider_id={r}", "-e", f"zone={z}")
    ]
    for t in (repo.request_times[0], repo.request_times[-1]):
        monkeypatch.setattr(expiry, "now_ns", lambda t=t: t)
        result = CliRunner().invoke(main, ["--repo", str(repo.path), "features", repo.model, *args, "--json"])
        assert result.exit_code == 0, result.output
        printed = json.loads(result.output)
        assert [list(row) for row in printed] == [[*KEYS, *types]] * len(printed)
        got = [{n: _from_json(row[n], kind) for n, kind in types.items()} for row in printed]
        problems = diff(_expected(repo, t), got, f"cli at {t}")
        assert not problems, "\n".join(problems[:30])


def _from_json(value: Any, kind: str) -> Any:
    """A JSON cell back in canonical form (bytes travel as base64, timestamps as ISO 8601, UUIDs and
    decimals as their text, JSON features as the value itself)."""
    if value is None:
        return None
    if kind in ("Bytes", "PdfBytes", "ImageBytes"):
        return canonical(base64.b64decode(value), kind)
    if kind == "UnixTimestamp":
        return canonical(pd.Timestamp(value), kind)
    if kind in ("Uuid", "TimeUuid"):  # as text, exactly str(uuid.UUID)
        assert value == str(uuid.UUID(value)), value
        return canonical(uuid.UUID(value), kind)
    if kind == "Decimal":  # as the exact text
        return canonical(decimal.Decimal(value), kind)
    return canonical(value, kind)  # Json: the parsed value, embedded


def test_http_paths_equal_the_training_row(materialized, monkeypatch) -> None:
    from cons_model import RowDigest
    from fastapi.testclient import TestClient

    from modelyard.serving.app import build_state, create_app

    repo, yard = materialized
    types = repo.feature_types()
    yard.registry.register(
        repo.model, RowDigest(list(types), types), flavor="python", feature_names=list(types)
    )
    yard.registry.promote(repo.model, 1, reason="consistency suite")
    state = build_state(yard)
    try:
        with TestClient(create_app(state=state)) as client:
            for t in (repo.request_times[0], repo.request_times[-1]):
                monkeypatch.setattr(expiry, "now_ns", lambda t=t: t)
                expected = _expected(repo, t)
                r = client.post(f"/v1/features/{repo.model}", json={"entities": KEYS})
                assert r.status_code == 200, r.text
                columns = r.json()["columns"]
                got = [
                    {n: _from_json(columns[n][i], k) for n, k in types.items()}
                    for i in range(len(KEYS["zone"]))
                ]
                problems = diff(expected, got, f"features endpoint at {t}")
                assert not problems, "\n".join(problems[:30])
                digests = [RowDigest.digest(row, list(types)) for row in expected]
                r = client.post(f"/v1/models/{repo.model}/predict", json={"entities": KEYS})
                assert r.status_code == 200, r.text
                assert [p["prediction"] for p in r.json()["predictions"]] == digests
                inputs = [
                    {
                        "name": "rider_id",
                        "shape": [len(KEYS["zone"])],
                        "datatype": "INT64",
                        "data": KEYS["rider_id"],
                    },
                    {"name": "zone", "shape": [len(KEYS["zone"])], "datatype": "BYTES", "data": KEYS["zone"]},
                ]
                r = client.post(f"/v2/models/{repo.model}/infer", json={"inputs": inputs})
                assert r.status_code == 200, r.text
                outputs = {o["name"]: o["data"] for o in r.json()["outputs"]}
                assert outputs["prediction"] == digests
    finally:
        state.close()


def test_generated_values_round_trip_numpy(materialized) -> None:
    """Guard the oracle: float32 cells of the data are float32 values (so bits compare at 32)."""
    repo, _ = materialized
    values = [v for v in repo.rows["rider_stats"]["r_float32"] if v is not None]
    assert all(np.float32(v) == v for v in values)


# last: it corrupts the module's online store
def test_skew_monitor_is_silent_then_finds_exactly_the_corrupted_cells(materialized, monkeypatch) -> None:
    """Corrupt cells the old monitor missed (an Int64 near 2**62 off by one, a timestamp off by a
    second, a decimal's text, a list element's sign) in two views, directly in the store."""
    from modelyard.monitoring.skew import SkewDetector

    repo, yard = materialized
    t = END_NS
    monkeypatch.setattr(expiry, "now_ns", lambda: t)
    window = yard.features.online_vectors(repo.model, KEYS)
    window["timestamp"] = pd.Timestamp(t, tz="UTC")
    detector = SkewDetector().bind(yard, repo.model)
    results = [r for r in detector.score(window) if r.feature]
    assert {r.feature for r in results} == set(repo.feature_types())
    assert [r.feature for r in results if r.drifted] == [], [r.details for r in results if r.drifted]

    # the first rider and zone have a row fresh at END in their views (see the generator)
    rider, zone = RIDERS[0], ZONES[0]
    _corrupt(yard, repo, "rider_stats", (rider,), ["r_int64", "r_unixtimestamp", "r_decimal"])
    _corrupt(yard, repo, "zone_lists", (zone,), ["z_float32_list"])
    window = yard.features.online_vectors(repo.model, KEYS)
    window["timestamp"] = pd.Timestamp(t, tz="UTC")
    results = [r for r in detector.score(window) if r.feature]
    flagged = {r.feature: r.details["entities"] for r in results if r.drifted}
    assert set(flagged) == {"r_int64", "r_unixtimestamp", "r_decimal", "z_float32_list"}, flagged
    for feature, key, value in [
        ("r_int64", "rider_id", rider),
        ("r_unixtimestamp", "rider_id", rider),
        ("r_decimal", "rider_id", rider),
        ("z_float32_list", "zone", zone),
    ]:
        rows = [i for i in range(len(KEYS["zone"])) if KEYS[key][i] == value]
        assert [(e["rider_id"], e["zone"]) for e in flagged[feature]] == [
            (KEYS["rider_id"][i], KEYS["zone"][i]) for i in rows
        ], feature
    dataset = [r for r in detector.score(window) if not r.feature]
    assert dataset and dataset[0].drifted  # any mismatch alerts by default


def _tweak(value: Any) -> Any:
    """A different ``feast.types.Value`` of the same type (or one where there was none)."""
    from feast.protos.feast.types.Value_pb2 import FloatList, Value

    kind = value.WhichOneof("val")
    if kind == "int64_val":
        v = value.int64_val
        return Value(int64_val=v + 1 if v < 2**63 - 1 else v - 1)
    if kind == "unix_timestamp_val":
        return Value(unix_timestamp_val=value.unix_timestamp_val + 1)
    if kind == "decimal_val":  # the same number in other text: "1E+3" -> "1000", "-3.10" -> "-3.100"
        text = value.decimal_val
        if "E" in text:
            return Value(decimal_val=f"{decimal.Decimal(text):f}")
        return Value(decimal_val=text + ("0" if "." in text else ".0"))
    if kind == "float_list_val":
        values = list(value.float_list_val.val) or [0.0]
        values[0] = -values[0]  # 0.0 becomes -0.0
        return Value(float_list_val=FloatList(val=values))
    return Value(string_val="corrupted")  # a missing value becomes present


def _corrupt(
    yard: Yard, repo: GeneratedRepo, view_name: str, key: tuple[Any, ...], features: list[str]
) -> None:
    """Overwrite ``features`` of one entity of ``view_name`` in the online store directly (Feast's write path)."""
    from datetime import datetime, timezone

    from feast.protos.feast.types.EntityKey_pb2 import EntityKey
    from feast.protos.feast.types.Value_pb2 import Value

    store = yard.feature_store
    view = store.get_feature_view(view_name)
    spec = next(v for v in repo.views if v.name == view_name)
    provider = store._get_provider()
    entity_values = [Value(int64_val=k) if isinstance(k, int) else Value(string_val=k) for k in key]
    entity = EntityKey(join_keys=list(spec.keys), entity_values=entity_values)
    _, current = provider.online_read(store.config, view, [entity])[0]
    assert current, (view_name, key)
    values = dict(current)
    for feature in features:
        values[feature] = _tweak(values.get(feature, Value()))
    # a microsecond after the stored row (Redis keeps a write only if it is newer), same second
    rows = repo.rows[view_name]
    latest = int(rows[rows[spec.keys[0]] == key[0]]["event_ns"].max())
    event = pd.Timestamp(min(latest + 1000, END_NS), tz="UTC").floor("us")
    provider.online_write_batch(
        store.config, view, [(entity, values, event.to_pydatetime(), datetime.now(timezone.utc))], None
    )
