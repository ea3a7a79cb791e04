"""A seeded generator of Feast repos for the consistency suite (not the rideshare example).

Each seed gives a different repo with the same shape:

* ``rider_stats``: keyed by an Int64 join key, every scalar type of the installed Feast (0.67)
  that it can serve: Int32, Int64, Float32, Float64, String, Bytes, Bool, UnixTimestamp and the
  newer Json, Uuid, TimeUuid, Decimal, PdfBytes, ImageBytes (not ZonedTimestamp: Feast cannot
  materialize it, see docs/features.md), a created-timestamp column, rows that share an
  event time and differ in created time, rows that tie on both (other values, a float zero
  against the other signed zero: the place in the source decides), exact duplicate rows and
  late rows (an event time before the first materialization, created after it);
* ``zone_lists``: keyed by a String join key, ``Array(Float32)``, ``Array(Int64)``, ``Array(String)``,
  no created-timestamp column (rows sharing an event time: the place in the source decides);
* ``pair_stats``: a compound key (the Int64 and the String join key).

Every view's ttl is drawn from none / short (minutes) / long (days); every feature cell is null
with some probability; event times carry nanoseconds. The entity frame holds rows before any
feature row, exactly at feature times, just inside and just past each ttl (at the nanosecond),
duplicates and unknown keys. All times are at or after 1970 (Feast stores UnixTimestamp
features as whole seconds since the epoch, rounded down).
"""

from __future__ import annotations

import textwrap
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SECOND = 1_000_000_000
# the last materialization (whole second) and the first one, for late rows
END_NS = 1_767_225_600 * SECOND  # 2026-01-01T00:00:00Z
MID_NS = END_NS - 2 * 3600 * SECOND

CLASSIC = ("Int32", "Int64", "Float32", "Float64", "String", "Bytes", "Bool", "UnixTimestamp")
#: the scalar types later Feast releases added, as sources hold them (text, or bytes)
NEWER = ("Json", "Uuid", "TimeUuid", "Decimal", "PdfBytes", "ImageBytes")
SCALARS = CLASSIC + NEWER
LISTS = ("Array(Float32)", "Array(Int64)", "Array(String)")

_ARROW = {
    "Int32": pa.int32(),
    "Int64": pa.int64(),
    "Float32": pa.float32(),
    "Float64": pa.float64(),
    "String": pa.string(),
    "Bytes": pa.binary(),
    "Bool": pa.bool_(),
    "UnixTimestamp": pa.timestamp("ns", tz="UTC"),
    "Json": pa.large_string(),
    "Uuid": pa.string(),
    "TimeUuid": pa.string(),
    "Decimal": pa.string(),
    "PdfBytes": pa.binary(),
    "ImageBytes": pa.binary(),
    "Array(Float32)": pa.list_(pa.float32()),
    "Array(Int64)": pa.list_(pa.int64()),
    "Array(String)": pa.list_(pa.string()),
}

_JSON = [
    '{"a": 1, "b": [1.5, null, true], "c": "\u00fc"}',
    "[]",
    "-0.0",
    '"text"',
    '{"nested": {"x": [1, 2, {"y": 1.0}]}}',
    "null",
]

RIDERS = [1, 7, -3, 2**40 + 1, 2**62, 5]
ZONES = ["north", "süd", "a b", "zone-4"]


@dataclass(frozen=True)
class ViewSpec:
    name: str
    keys: tuple[str, ...]
    features: tuple[tuple[str, str], ...]  # (name, Feast type as written in the definitions)
    ttl: timedelta | None
    created: bool

    @property
    def ttl_ns(self) -> int | None:
        if not self.ttl:
            return None
        return (self.ttl.days * 86_400 + self.ttl.seconds) * SECOND + self.ttl.microseconds * 1000


@dataclass
class GeneratedRepo:
    """One generated repo: where it is, what it defines and the rows it holds."""

    path: Path
    project: str
    views: list[ViewSpec]
    rows: dict[str, pd.DataFrame]  # view -> every feature row (keys, features, event_ns, created_ns)
    late: dict[str, pd.DataFrame]  # view -> the late rows (also in ``rows``)
    entities: pd.DataFrame  # rider_id, zone, event_timestamp (ns, UTC) for the training join
    model: str = "consistency"
    service: str = "consistency_features"
    request_times: list[int] = field(default_factory=list)  # ns, all >= END_NS

    @property
    def keys(self) -> list[str]:
        return ["rider_id", "zone"]

    def feature_types(self) -> dict[str, str]:
        """Output column -> Feast type, in service order."""
        return {name: kind for view in self.views for name, kind in view.features}

    def view_of(self, feature: str) -> ViewSpec:
        return next(v for v in self.views if feature in dict(v.features))


def _ttl(rng: np.random.Generator, choice: str) -> timedelta | None:
    if choice == "none":
        return None
    if choice == "short":
        return timedelta(seconds=int(rng.integers(60, 900)), microseconds=int(rng.integers(0, 1_000_000)))
    return timedelta(days=int(rng.integers(2, 30)), seconds=int(rng.integers(0, 86_400)))


def _value(rng: np.random.Generator, kind: str) -> Any:
    if kind == "Int32":
        return int(rng.choice([-(2**31), 2**31 - 1, 0, int(rng.integers(-(2**31), 2**31))]))
    if kind == "Int64":
        return int(
            rng.choice([-(2**63), 2**63 - 1, 2**53 + 1, 10**12 + 7, int(rng.integers(-(2**62), 2**62))])
        )
    if kind == "Float32":
        special = [-0.0, 1e-45, 3.4028235e38, 1.0000001]
        return float(np.float32(rng.choice(special) if rng.random() < 0.3 else rng.normal(0, 1e4)))
    if kind == "Float64":
        special = [-0.0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2]
        return float(rng.choice(special) if rng.random() < 0.3 else rng.normal(0, 1e6))
    if kind == "String":
        return str(rng.choice(["", "plain", "ünïcödé ✓", "tab\tand\nnewline", "x" * 40]))
    if kind == "Bytes":
        return bytes(rng.integers(0, 256, int(rng.integers(0, 9))).astype(np.uint8))
    if kind == "Bool":
        return bool(rng.integers(0, 2))
    if kind == "UnixTimestamp":
        # nanoseconds on purpose: online stores keep whole seconds
        return pd.Timestamp(int(rng.integers(0, END_NS)), tz="UTC")
    if kind == "Json":  # text, as Feast's sources hold it; JSON null is a missing value online
        return str(rng.choice(_JSON))
    if kind in ("Uuid", "TimeUuid"):
        value = uuid.UUID(
            int=int(rng.integers(0, 2**63)) << 64 | int(rng.integers(0, 2**63)),
            version=4 if kind == "Uuid" else 1,
        )
        return str(value).upper() if rng.random() < 0.3 else str(value)
    if kind == "Decimal":  # exact text, trailing zeros and exponents kept
        return str(rng.choice(["0", "-0.00", "1E+3", "12345678901234567890.123456789", "-3.10", "0.000001"]))
    if kind in ("PdfBytes", "ImageBytes"):
        head = b"%PDF-1.7\n" if kind == "PdfBytes" else b"\x89PNG\r\n\x1a\n"
        return head + bytes(rng.integers(0, 256, int(rng.integers(0, 9))).astype(np.uint8))
    if kind == "Array(Float32)":
        return [float(np.float32(x)) for x in rng.normal(0, 100, int(rng.integers(0, 4)))]
    if kind == "Array(Int64)":
        return [int(x) for x in rng.integers(-(2**62), 2**62, int(rng.integers(0, 4)))]
    if kind == "Array(String)":
        return [str(rng.choice(["a", "", "é", "b c"])) for _ in range(int(rng.integers(0, 4)))]
    raise AssertionError(kind)


def _key_sets(view: ViewSpec) -> list[tuple[Any, ...]]:
    if view.keys == ("rider_id",):
        return [(r,) for r in RIDERS[:-1]]  # the last rider has no row in any view
    if view.keys == ("zone",):
        return [(z,) for z in ZONES[:-1]]
    return [(r, z) for r in RIDERS[:3] for z in ZONES[:2]]


def _view_rows(
    rng: np.random.Generator, view: ViewSpec, null_rate: float
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every row of ``view`` (and, separately, its late rows)."""
    records: list[dict[str, Any]] = []
    late: list[dict[str, Any]] = []
    span = 6 * 3600 * SECOND
    for n_key, key in enumerate(_key_sets(view)):
        mine: list[dict[str, Any]] = []  # this key's rows, in source order
        if n_key == 0:  # fresh at END whatever the ttl, and complete: something to serve and corrupt
            record = dict(zip(view.keys, key, strict=True))
            record["event_ns"] = END_NS - int(rng.integers(1, SECOND))
            record["created_ns"] = record["event_ns"]
            record.update({name: _value(rng, kind) for name, kind in view.features})
            mine.append(record)
        for _ in range(int(rng.integers(0, 4))):
            event = END_NS - int(rng.integers(0, span))
            record = dict(zip(view.keys, key, strict=True))
            record["event_ns"] = event
            record["created_ns"] = event + int(rng.integers(0, 60 * SECOND))
            for name, kind in view.features:
                record[name] = None if rng.random() < null_rate else _value(rng, kind)
            mine.append(record)
        if not mine:
            continue
        last = mine[-1]
        if view.created and rng.random() < 0.7:  # same event time, later created time, other values
            twin = dict(last, created_ns=last["created_ns"] + 1)
            for name, kind in view.features:
                twin[name] = _value(rng, kind)
            mine.append(twin)
        if rng.random() < 0.6:  # a full tie with the latest row: only the place in the source decides
            mine.insert(int(rng.integers(0, len(mine) + 1)), _tie(rng, view, max(mine, key=_latest)))
        if rng.random() < 0.5:  # an exact duplicate row
            mine.append(dict(mine[int(rng.integers(0, len(mine)))]))
        if view.created and rng.random() < 0.5:  # a late row: event before MID, written after it
            row = dict(last, event_ns=MID_NS - int(rng.integers(1, 600 * SECOND)))
            row["created_ns"] = MID_NS + int(rng.integers(1, 600 * SECOND))
            for name, kind in view.features:
                row[name] = _value(rng, kind)
            late.append(row)
            mine.append(row)
        records += mine
    columns = [*view.keys, *(n for n, _ in view.features), "event_ns", "created_ns"]
    return _frame(records, columns), _frame(late, columns)


def _latest(record: dict[str, Any]) -> tuple[int, int]:
    return record["event_ns"], record["created_ns"]


def _tie(rng: np.random.Generator, view: ViewSpec, row: dict[str, Any]) -> dict[str, Any]:
    """A row with the keys, event and created time of ``row`` and other values: a float zero
    becomes the other signed zero (the case -0.0 vs 0.0 is to catch), anything else is redrawn."""
    tie = dict(row)
    for name, kind in view.features:
        value = row[name]
        if kind in ("Float32", "Float64") and (value is None or value == 0.0 or rng.random() < 0.7):
            tie[name] = 0.0 if value is not None and value == 0.0 and np.signbit(value) else -0.0
        else:
            tie[name] = _value(rng, kind)
    return tie


def _frame(records: list[dict[str, Any]], columns: list[str]) -> pd.DataFrame:
    """Rows as objects (None stays None), times and the integer key as int64."""
    frame = pd.DataFrame(records, columns=columns, dtype=object)
    for name in ("event_ns", "created_ns", "rider_id"):
        if name in frame.columns:
            frame[name] = frame[name].astype("int64")
    return frame


def _write_parquet(path: Path, view: ViewSpec, rows: pd.DataFrame) -> None:
    arrays: dict[str, pa.Array] = {}
    for key in view.keys:
        arrays[key] = pa.array(rows[key].tolist(), type=pa.int64() if key == "rider_id" else pa.string())
    for name, kind in view.features:
        values = rows[name].tolist()
        if kind == "UnixTimestamp":
            values = [None if v is None or v is pd.NaT else v.value for v in values]
            arrays[name] = pa.array(values, type=pa.int64()).cast(_ARROW[kind])
        else:
            arrays[name] = pa.array(values, type=_ARROW[kind])
    arrays["event_timestamp"] = pa.array(rows["event_ns"].tolist(), type=pa.int64()).cast(
        pa.timestamp("ns", tz="UTC")
    )
    if view.created:
        arrays["created"] = pa.array(rows["created_ns"].tolist(), type=pa.int64()).cast(
            pa.timestamp("ns", tz="UTC")
        )
    pq.write_table(pa.table(arrays), path)


def _definitions(views: list[ViewSpec], service: str) -> str:
    lines = [
        "from datetime import timedelta",
        "",
        "from feast import Entity, FeatureService, FeatureView, Field, FileSource, ValueType",
        "from feast.types import (Array, Bool, Bytes, Decimal, Float32, Float64, ImageBytes, Int32, Int64, Json,",
        "    PdfBytes, String, TimeUuid, UnixTimestamp, Uuid)",
        "",
        'rider = Entity(name="rider", join_keys=["rider_id"], value_type=ValueType.INT64)',
        'zone = Entity(name="zone", join_keys=["zone"], value_type=ValueType.STRING)',
        "",
    ]
    entity_of = {"rider_id": ("rider", "Int64"), "zone": ("zone", "String")}
    for view in views:
        ttl = "None" if view.ttl is None else f"timedelta(microseconds={view.ttl_ns // 1000})"
        schema = [f'Field(name="{k}", dtype={entity_of[k][1]})' for k in view.keys]
        schema += [f'Field(name="{n}", dtype={kind})' for n, kind in view.features]
        created = ', created_timestamp_column="created"' if view.created else ""
        lines.append(
            f'{view.name} = FeatureView(name="{view.name}", '
            f"entities=[{', '.join(entity_of[k][0] for k in view.keys)}], ttl={ttl}, "
            f"schema=[{', '.join(schema)}], "
            f'source=FileSource(name="{view.name}_source", path="data/{view.name}.parquet", '
            f'timestamp_field="event_timestamp"{created}))'
        )
    lines.append(
        f'{service} = FeatureService(name="{service}", features=[{", ".join(v.name for v in views)}])'
    )
    return "\n".join(lines) + "\n"


def _entity_frame(
    rng: np.random.Generator, views: list[ViewSpec], rows: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    """Entity rows at the interesting times: before any row, at rows, at ttl edges, duplicates."""
    times: list[int] = [0, END_NS - 7 * 3600 * SECOND, MID_NS, END_NS, END_NS + 1]
    for view in views:
        frame = rows[view.name]
        for event in frame["event_ns"].tolist()[:12]:
            times += [event, event - 1, event + 1]
            if view.ttl_ns:
                edge = (event // SECOND) * SECOND + view.ttl_ns  # the last instant the value is fresh
                times += [edge, edge + 1, edge - 1]
    times = sorted(set(times))
    pick = rng.choice(len(times), size=min(len(times), 40), replace=False)
    chosen = [times[i] for i in sorted(pick)] + [END_NS]
    riders = [RIDERS[int(i)] for i in rng.integers(0, len(RIDERS), len(chosen))]
    zones = [ZONES[int(i)] for i in rng.integers(0, len(ZONES), len(chosen))]
    frame = pd.DataFrame(
        {
            "rider_id": np.array(riders, dtype="int64"),
            "zone": zones,
            "event_timestamp": pd.to_datetime(np.array(chosen, dtype="int64"), utc=True),
        }
    )
    duplicates = frame.sample(n=4, random_state=int(rng.integers(0, 2**31)))
    frame = pd.concat([frame, duplicates]).sample(frac=1.0, random_state=int(rng.integers(0, 2**31)))
    frame.index = pd.RangeIndex(100, 100 + len(frame))  # a non-default index, which must be kept
    return frame


def _request_times(views: list[ViewSpec], rows: dict[str, pd.DataFrame]) -> list[int]:
    """Times (>= END_NS) at which every online read must equal the training row: ttl edges after END."""
    times = {END_NS, END_NS + 1}
    for view in views:
        if not view.ttl_ns:
            continue
        for event in rows[view.name]["event_ns"].tolist():
            edge = (event // SECOND) * SECOND + view.ttl_ns
            if edge >= END_NS:
                times.update({edge, edge + 1})
    return sorted(times)[:8]


def generate(root: Path, seed: int, *, online: dict[str, Any] | None = None) -> GeneratedRepo:
    """Write a repo for ``seed`` into ``root`` (definitions, Parquet, feature_store.yaml, modelyard.yaml).

    ``online`` is the ``online_store`` section (default: SQLite in the repo). Nothing is applied.
    """
    rng = np.random.default_rng(seed)
    choices = ["none", "short", "long"]
    rng.shuffle(choices)
    scalars = tuple((f"r_{k.lower()}", k) for k in SCALARS)
    views = [
        ViewSpec("rider_stats", ("rider_id",), scalars, _ttl(rng, choices[0]), created=True),
        ViewSpec(
            "zone_lists",
            ("zone",),
            tuple((f"z_{k[6:-1].lower()}_list", k) for k in LISTS),
            _ttl(rng, choices[1]),
            created=False,
        ),
        ViewSpec(
            "pair_stats",
            ("rider_id", "zone"),
            (("p_score", "Float64"), ("p_count", "Int64"), ("p_label", "String")),
            _ttl(rng, choices[2]),
            created=True,
        ),
    ]
    project = f"cons_{uuid.uuid4().hex[:10]}"
    repo = root / project
    (repo / "data").mkdir(parents=True)
    rows: dict[str, pd.DataFrame] = {}
    late: dict[str, pd.DataFrame] = {}
    for view in views:
        rows[view.name], late[view.name] = _view_rows(rng, view, null_rate=float(rng.uniform(0.05, 0.3)))
        _write_parquet(repo / "data" / f"{view.name}.parquet", view, rows[view.name])
    generated = GeneratedRepo(repo, project, views, rows, late, _entity_frame(rng, views, rows))
    generated.request_times = _request_times(views, rows)
    (repo / f"{project}_defs.py").write_text(_definitions(views, generated.service))
    online_yaml = textwrap.indent(
        "\n".join(f"{k}: {v}" for k, v in (online or {"type": "sqlite", "path": "data/online.db"}).items()),
        "  ",
    )
    (repo / "feature_store.yaml").write_text(
        f"project: {project}\nprovider: local\nregistry: data/registry.db\nonline_store:\n{online_yaml}\n"
        "offline_store:\n  type: modelyard.features.offline.asof.AsofDuckDBOfflineStore\n"
        "entity_key_serialization_version: 3\n"
    )
    (repo / "modelyard.yaml").write_text(
        textwrap.dedent(
            f"""
            project: {project}
            models:
              {generated.model}:
                feature_service: {generated.service}
                entity_keys: [rider_id, zone]
                task: regression
                label: y
                flavor: python
            """
        )
    )
    return generated
