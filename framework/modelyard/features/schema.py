"""A model's feature schema (names and Feast value types), its fingerprint, and the pandas dtypes it implies.

The fingerprint is stored with every model version, so serving can tell when a FeatureService
changed under a model. The dtype mapping is the single place that decides how a Feast value
type looks in pandas, used for both training frames and online vectors so they always agree:

=============== ============================ =====================
Feast type       pandas dtype                 missing value
=============== ============================ =====================
DOUBLE / FLOAT   float64 / float32            NaN
INT64 / INT32    Int64 / Int32 (nullable)     pd.NA
BOOL             boolean (nullable)           pd.NA
STRING, other    object                       None
UNIX_TIMESTAMP   datetime64[ns, UTC]          NaT
JSON             object: the parsed value     None (also JSON null)
UUID, TIME_UUID  object: ``uuid.UUID``        None
DECIMAL          object: ``decimal.Decimal``  None
=============== ============================ =====================

JSON, UUID, TIME_UUID and DECIMAL are what Feast's online read gives (parsed JSON, ``uuid.UUID``,
``decimal.Decimal`` of the exact text); sources hold them as text, so :func:`from_source`
turns a training frame's cells into the same objects (:func:`conform_column` alone cannot: a
str is a JSON text in a source but a parsed JSON string online).

UNIX_TIMESTAMP values are whole seconds, rounded down, on every path: Feast keeps them online
as whole Unix seconds, so training frames (and snapshots, batch scoring, replay, which read
them) drop the fraction too, and a model sees the same instant in training and in serving.
Times before 1970 are not supported (Feast rounds those towards zero).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

_DTYPES: dict[str, str] = {
    "DOUBLE": "float64",
    "FLOAT": "float32",
    "INT64": "Int64",
    "INT32": "Int32",
    "BOOL": "boolean",
    "UNIX_TIMESTAMP": "datetime64[ns, UTC]",
}


#: the input kinds a flavor may declare per column (artifact metadata ``input_schema``), and the
#: Feast value types a feature may have to feed such a column
INPUT_KINDS: dict[str, frozenset[str]] = {
    "float": frozenset({"DOUBLE", "FLOAT", "INT32", "INT64"}),
    "int": frozenset({"INT32", "INT64"}),
    "string": frozenset({"STRING"}),
    "bool": frozenset({"BOOL"}),
    "datetime": frozenset({"UNIX_TIMESTAMP"}),
    "bytes": frozenset({"BYTES"}),
}


def input_schema_problems(input_schema: Sequence[Sequence[str]], schema: FeatureSchema) -> list[str]:
    """Why features of ``schema`` cannot feed a model declaring ``input_schema`` (``(column, kind)`` pairs).

    Columns the schema does not hold (entity keys, request data) and kinds outside
    :data:`INPUT_KINDS` (``any``) are not judged here. Empty: every typed column can be fed.
    """
    types = dict(schema.fields)
    problems = []
    for name, kind in input_schema:
        value_type = types.get(name)
        allowed = INPUT_KINDS.get(kind)
        if value_type is not None and allowed is not None and value_type not in allowed:
            problems.append(f"{name} takes {kind} values but the feature is {value_type}")
    return problems


#: Feast value type name -> what a JSON value must be (for messages) and the Python types that fit it
_JSON_TYPES: dict[str, tuple[str, tuple[type, ...]]] = {
    "DOUBLE": ("a number", (int, float)),
    "FLOAT": ("a number", (int, float)),
    "INT64": ("an integer", (int,)),
    "INT32": ("an integer", (int,)),
    "BOOL": ("true or false", (bool,)),
    "STRING": ("a string", (str,)),
}


def json_value_problem(value: Any, value_type: str) -> str | None:
    """Why ``value`` (as parsed from JSON) cannot be a value of Feast type ``value_type``, or None if it can.

    Missing values (None, NaN) always fit; a bool is not a number. Types without a JSON rule
    (lists, bytes, timestamps) are left to the conversion that follows, which names its own problem.
    """
    rule = _JSON_TYPES.get(value_type)
    if rule is None or value is None or (isinstance(value, float) and value != value):
        return None
    import numpy as np

    what, kinds = rule
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, kinds) and (bool in kinds or not isinstance(value, bool)):
        return None
    return f"must be {what}"


def pandas_dtype(value_type: str) -> str:
    """The pandas dtype of a feature of Feast value type ``value_type`` (e.g. ``"DOUBLE"``)."""
    return _DTYPES.get(value_type, "object")


@dataclass(frozen=True)
class FeatureSchema:
    """The ordered features of a model: ``(output column name, Feast ValueType name)`` pairs."""

    fields: tuple[tuple[str, str], ...]

    @property
    def names(self) -> list[str]:
        return [name for name, _ in self.fields]

    @property
    def fingerprint(self) -> str:
        """sha256 hex of the ordered names and value types: equal schemas, equal fingerprints."""
        payload = json.dumps([list(f) for f in self.fields], separators=(",", ":"))
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def dtypes(self) -> dict[str, str]:
        """Column name -> pandas dtype (see the module table)."""
        return {name: pandas_dtype(value_type) for name, value_type in self.fields}

    def to_dict(self) -> dict[str, Any]:
        return {"fields": [list(f) for f in self.fields], "fingerprint": self.fingerprint}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FeatureSchema:
        return cls(tuple((str(name), str(value_type)) for name, value_type in data["fields"]))


def service_fields(service: Any) -> tuple[tuple[str, str], ...]:
    """``(output name, Feast ValueType name)`` of a FeatureService's features, in service order."""
    return tuple(
        (f.name, f.dtype.to_value_type().name) for p in service.feature_view_projections for f in p.features
    )


def conform_column(values: pd.Series | Sequence[Any], value_type: str, *, name: str = "") -> pd.Series:
    """``values`` as the pandas dtype of ``value_type``, every kind of missing turned into that dtype's own."""
    import pandas as pd

    dtype = pandas_dtype(value_type)
    series = values if isinstance(values, pd.Series) else pd.Series(list(values), dtype=object)
    if dtype == "object":
        out = series.astype(object)
        missing = out.isna()
        if missing.any():  # (the common case, nothing missing, skips a pass over every object)
            out = out.where(~missing, None)
        return out.rename(name or series.name)
    if dtype.startswith("datetime64"):
        # whole seconds, as Feast stores UNIX_TIMESTAMP online (see the module docs)
        times = pd.to_datetime(series, utc=True).astype(dtype)
        return times.dt.floor("s").rename(name or series.name)
    if series.dtype == object:
        series = series.where(series.notna(), None)
        if dtype.startswith("float"):
            series = pd.to_numeric(series, errors="raise")
    return series.astype(dtype).rename(name or series.name)


def _parse_json(text: Any) -> Any:
    return json.loads(text) if isinstance(text, str | bytes) else text


def _uuid(text: Any) -> Any:
    import uuid

    return uuid.UUID(text) if isinstance(text, str) else text


def _decimal(text: Any) -> Any:
    import decimal

    return decimal.Decimal(text) if isinstance(text, str) else text


#: Feast value types a source holds as text and an online read gives as objects (module docs)
_FROM_SOURCE: dict[str, Any] = {"JSON": _parse_json, "UUID": _uuid, "TIME_UUID": _uuid, "DECIMAL": _decimal}


def from_source(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Turn feature cells as an offline source holds them into what Feast's online read gives
    (JSON parsed, UUIDs and decimals as objects), in place; other types are left as they are."""
    for name, value_type in schema.fields:
        convert = _FROM_SOURCE.get(value_type)
        if convert is not None:
            column = frame[name].astype(object)
            present = column.notna()
            frame[name] = column.where(~present, column[present].map(convert))
    return frame


def conform_frame(frame: pd.DataFrame, schema: FeatureSchema) -> pd.DataFrame:
    """Cast ``frame``'s feature columns (in place of the originals) to the schema's dtypes."""
    for name, value_type in schema.fields:
        frame[name] = conform_column(frame[name], value_type, name=name)
    return frame
