"""An independent point-in-time join in plain pandas, and a canonical form to compare cells by.

It shares no code with modelyard. The rules it implements are the documented ones
(docs/features.md, "What is guaranteed"):

* the row of a view for an entity row at time ``t`` is the latest feature row of the same keys
  with event time ``<= t``, compared exactly at the nanosecond; among rows with the same event
  time, the latest created time wins (a view without a created column has none), and among rows
  tying on that too, the one last in the source file (what Feast's file offline store does:
  a stable sort, then the last row);
* with a ttl, that row's value is kept only if its event time, in whole seconds rounded down
  (what every Feast online store keeps), plus the ttl is ``>= t``; else every feature of the
  view is missing;
* UnixTimestamp features are whole seconds, rounded down (what Feast stores online);
* the scalar types newer Feast releases added come as Feast's online read gives them: Json
  parsed (JSON ``null`` is missing), Uuid and TimeUuid as ``uuid.UUID``, Decimal as
  ``decimal.Decimal`` of the exact text, PdfBytes and ImageBytes as bytes.
"""

from __future__ import annotations

import decimal
import json
import math
import struct
import uuid
from typing import Any

import numpy as np
import pandas as pd
from cons_generator import SECOND, GeneratedRepo

MISSING = None


def canonical(value: Any, kind: str) -> Any:
    """A hashable, exact form of one cell: floats as their bits at the type's width, lists
    element-wise, timestamps as integer nanoseconds, every kind of missing as ``None``."""
    if value is None or value is pd.NA or value is pd.NaT:
        return MISSING
    if kind.startswith("Array("):
        if isinstance(value, float) and math.isnan(value):
            return MISSING
        inner = kind[6:-1]
        return ("list", *(canonical(v, inner) for v in list(value)))
    if isinstance(value, float | np.floating) and math.isnan(value):
        return MISSING
    if kind == "Float32":
        return ("f32", struct.unpack("<I", struct.pack("<f", float(value)))[0])
    if kind == "Float64":
        return ("f64", struct.unpack("<Q", struct.pack("<d", float(value)))[0])
    if kind in ("Int32", "Int64"):
        if isinstance(value, float | np.floating):  # an integer that went through a float
            return ("int-as-float", float(value))
        return ("int", int(value))
    if kind == "Bool":
        return ("bool", bool(value))
    if kind == "String":
        assert isinstance(value, str), (kind, value)
        return ("str", value)
    if kind in ("Bytes", "PdfBytes", "ImageBytes"):
        assert isinstance(value, bytes), (kind, value)
        return ("bytes", value)
    if kind == "Json":  # a parsed value: its exact JSON text (1 and 1.0, -0.0 and 0.0 differ)
        return ("json", json.dumps(value, sort_keys=True))
    if kind in ("Uuid", "TimeUuid"):
        assert isinstance(value, uuid.UUID), (kind, value)
        return ("uuid", str(value))
    if kind == "Decimal":
        assert isinstance(value, decimal.Decimal), (kind, value)
        return ("decimal", str(value))
    if kind == "UnixTimestamp":
        return (
            "ts",
            pd.Timestamp(value).value if pd.Timestamp(value).tzinfo else pd.Timestamp(value, tz="UTC").value,
        )
    raise AssertionError(kind)


def expected_frame(repo: GeneratedRepo, entities: pd.DataFrame) -> list[dict[str, Any]]:
    """The canonical feature cells of each entity row, in the entity frame's order."""
    out: list[dict[str, Any]] = [{} for _ in range(len(entities))]
    probe = entities.reset_index(drop=True).copy()
    probe["__t"] = probe["event_timestamp"].map(lambda t: pd.Timestamp(t).value).astype("int64")
    probe["__pos"] = np.arange(len(probe))
    for view in repo.views:
        rows = repo.rows[view.name].copy()  # in the order they are in the source file
        # one row per (keys, event time): the latest created one (only a view with a created
        # column has one), and of rows tying on that too, the last in the source
        order = [*view.keys, "event_ns", *(["created_ns"] if view.created else [])]
        rows = rows.sort_values(order, kind="stable")
        rows = rows.drop_duplicates([*view.keys, "event_ns"], keep="last")
        rows = rows.sort_values("event_ns", kind="stable").rename(columns={"event_ns": "__t_row"})
        left = probe.sort_values("__t", kind="stable")
        joined = pd.merge_asof(
            left,
            rows,
            left_on="__t",
            right_on="__t_row",
            by=list(view.keys),
            direction="backward",
            allow_exact_matches=True,
        )
        for record in joined.to_dict("records"):
            pos = record["__pos"]
            found = record["__t_row"]
            present = not (found is None or (isinstance(found, float) and math.isnan(found)))
            if present and view.ttl_ns:
                found_s = int(found) // SECOND * SECOND
                present = found_s + view.ttl_ns >= record["__t"]
            for name, kind in view.features:
                value = record[name] if present else None
                if kind == "UnixTimestamp" and canonical(value, kind) is not None:
                    ns = canonical(value, kind)[1]
                    value = pd.Timestamp(ns // SECOND * SECOND, tz="UTC")
                value = _as_served(value, kind)
                out[pos][name] = canonical(value, kind)
    return out


def _as_served(text: Any, kind: str) -> Any:
    """A source cell of a newer scalar type as the model sees it (see the module docs)."""
    if text is None:
        return None
    if kind == "Json":
        return json.loads(text)
    if kind in ("Uuid", "TimeUuid"):
        return uuid.UUID(text)
    if kind == "Decimal":
        return decimal.Decimal(text)
    return text


def canonical_rows(frame: pd.DataFrame | dict[str, list[Any]], types: dict[str, str]) -> list[dict[str, Any]]:
    """The canonical cells of a frame (or columnar dict) of features, row by row."""
    columns = frame if isinstance(frame, dict) else {c: frame[c].tolist() for c in frame.columns}
    n = len(next(iter(columns.values())))
    return [{name: canonical(columns[name][i], kind) for name, kind in types.items()} for i in range(n)]


EXPECTED_DTYPES = {
    "Int32": "Int32",
    "Int64": "Int64",
    "Float32": "float32",
    "Float64": "float64",
    "Bool": "boolean",
    "String": "object",
    "Bytes": "object",
    "UnixTimestamp": "datetime64[ns, UTC]",
    "Json": "object",
    "Uuid": "object",
    "TimeUuid": "object",
    "Decimal": "object",
    "PdfBytes": "object",
    "ImageBytes": "object",
    "Array(Float32)": "object",
    "Array(Int64)": "object",
    "Array(String)": "object",
}
"""The pandas dtype a training frame and an online vector give each Feast type (docs/features.md)."""


def diff(
    expected: list[dict[str, Any]], actual: list[dict[str, Any]], what: str, keys: list[Any] | None = None
) -> list[str]:
    """Human-readable cell differences (empty when equal)."""
    problems = []
    if len(expected) != len(actual):
        return [f"{what}: {len(actual)} rows, expected {len(expected)}"]
    for i, (e, a) in enumerate(zip(expected, actual, strict=True)):
        for name in e:
            if e[name] != a.get(name, "<absent>"):
                where = f" keys={keys[i]}" if keys else ""
                problems.append(
                    f"{what} row {i}{where} {name}: expected {e[name]!r}, got {a.get(name, '<absent>')!r}"
                )
    return problems
