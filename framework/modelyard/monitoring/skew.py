"""Train/serve skew: the online feature values a server used vs Feast's offline values (``skew`` detector).

For logged predictions (entity keys, the time of the request and the feature vector the
server read online), the offline store's point-in-time join for the same entity and time
(``yard.features.training_frame``) must give the same values (docs/features.md, "What is
guaranteed"). Values are compared by their Feast value type, never as text:

* integers, strings, bytes, booleans and timestamps exactly (timestamps as instants); UUIDs
  exactly; decimals by their exact text (``1.0`` differs from ``1.00``); JSON values by their
  canonical text (so ``1`` differs from ``1.0`` and ``-0.0`` from ``0.0``, key order aside);
* floats bit for bit (``-0.0`` differs from ``0.0``), or within ``max_ulps`` units in the last
  place when configured (then at the type's own width: float32 for ``Float32``);
* lists element by element with the element type's rule, and equal lengths;
* missing on both sides agrees; missing on one side only is always a mismatch.

Each feature's result names the entities (and times) that differ and gives examples. By
default any mismatch is an alert (``drifted``); ``max_mismatch_rate`` tolerates a share of
rows only where it is configured.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any, ClassVar
from uuid import UUID

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from modelyard.errors import MonitoringError
from modelyard.monitoring.detector import Detector
from modelyard.monitoring.results import DetectorResult, dataset_result

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import Profile
    from modelyard.yard import Yard


class SkewConfig(BaseModel):
    """Settings of the ``skew`` detector."""

    model_config = ConfigDict(extra="forbid")

    max_ulps: int = Field(0, ge=0)
    """Float tolerance in units in the last place at the feature's width (0: bit for bit)."""
    max_mismatch_rate: float | None = Field(None, ge=0, le=1)
    """Tolerated share of differing rows per feature; unset: any mismatch alerts."""
    timestamp_column: str = "timestamp"
    examples: int = Field(5, ge=0)
    """Example rows (keys, online value, offline value) kept per feature."""
    max_entities: int = Field(100, ge=0)
    """Differing entity rows listed per feature."""
    share_threshold: float = Field(1e-9, gt=0, le=1)
    """Share of differing features that makes the dataset-level verdict drifted (default: any)."""


def is_missing(value: Any) -> bool:
    """None, NaN, NaT and pd.NA are missing; a list (even empty) is a value."""
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return math.isnan(value)
    if isinstance(value, list | tuple | np.ndarray):
        return False
    try:
        import pandas as pd

        return bool(pd.isna(value))
    except (TypeError, ValueError):
        return False


def _float_bits(value: Any, width: int) -> int:
    """The IEEE bits of ``value`` at ``width`` (32 or 64) as a signed integer."""
    if width == 32:
        return struct.unpack("<i", struct.pack("<f", float(value)))[0]
    return struct.unpack("<q", struct.pack("<d", float(value)))[0]


def _ordered(bits: int, width: int) -> int:
    """Float bits mapped to integers that are consecutive for consecutive floats (for ULP distances)."""
    return bits if bits >= 0 else -(bits & ((1 << (width - 1)) - 1))


def _float_rule(width: int, max_ulps: int) -> Callable[[Any, Any], bool]:
    def same(a: Any, b: Any) -> bool:
        if isinstance(a, bool | str | bytes) or isinstance(b, bool | str | bytes):
            return False
        x, y = _float_bits(a, width), _float_bits(b, width)
        if max_ulps == 0:
            return x == y
        return abs(_ordered(x, width) - _ordered(y, width)) <= max_ulps

    return same


def _int_same(a: Any, b: Any) -> bool:
    def exact(v: Any) -> int | None:
        if isinstance(v, bool | np.bool_):
            return None
        if isinstance(v, int | np.integer):
            return int(v)
        if isinstance(v, float | np.floating) and float(v).is_integer() and abs(v) < 2**53:
            return int(v)  # a JSON log may carry small integers as floats
        return None

    x, y = exact(a), exact(b)
    return x is not None and x == y


def _bool_same(a: Any, b: Any) -> bool:
    return isinstance(a, bool | np.bool_) and isinstance(b, bool | np.bool_) and bool(a) == bool(b)


def _time_same(a: Any, b: Any) -> bool:
    import pandas as pd

    def instant(v: Any) -> int | None:
        try:
            t = pd.Timestamp(v)
        except (TypeError, ValueError):
            return None
        return (t if t.tzinfo is not None else t.tz_localize("UTC")).value

    x, y = instant(a), instant(b)
    return x is not None and x == y


def _json_same(a: Any, b: Any) -> bool:
    import json

    try:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    except (TypeError, ValueError):
        return False


def _decimal_same(a: Any, b: Any) -> bool:
    return isinstance(a, Decimal) and isinstance(b, Decimal) and str(a) == str(b)


def _plain_same(a: Any, b: Any) -> bool:
    for kind in (str, bytes):
        if isinstance(a, kind) or isinstance(b, kind):
            return isinstance(a, kind) and isinstance(b, kind) and a == b
    try:
        return bool(a == b)
    except (TypeError, ValueError):  # e.g. arrays where a scalar was expected
        return False


def cell_rule(value_type: str, *, max_ulps: int = 0) -> Callable[[Any, Any], bool]:
    """The equality of two present values of Feast value type ``value_type`` (e.g. ``"FLOAT_LIST"``)."""
    if value_type.endswith("_LIST"):
        element = cell_rule(value_type.removesuffix("_LIST"), max_ulps=max_ulps)

        def same_list(a: Any, b: Any) -> bool:
            if not isinstance(a, list | tuple | np.ndarray) or not isinstance(b, list | tuple | np.ndarray):
                return False
            return len(a) == len(b) and all(
                (is_missing(x) and is_missing(y))
                or (not is_missing(x) and not is_missing(y) and element(x, y))
                for x, y in zip(a, b, strict=True)
            )

        return same_list
    if value_type == "DOUBLE":
        return _float_rule(64, max_ulps)
    if value_type == "FLOAT":
        return _float_rule(32, max_ulps)
    if value_type in ("INT32", "INT64"):
        return _int_same
    if value_type == "BOOL":
        return _bool_same
    if value_type == "UNIX_TIMESTAMP":
        return _time_same
    if value_type == "JSON":
        return _json_same
    if value_type == "DECIMAL":
        return _decimal_same
    return _plain_same


def _infer_type(column: pd.Series) -> str:
    kind = column.dtype.kind
    return {"f": "DOUBLE", "i": "INT64", "u": "INT64", "b": "BOOL", "M": "UNIX_TIMESTAMP"}.get(kind, "STRING")


def mismatches(
    online: Sequence[Any], offline: Sequence[Any], value_type: str, *, max_ulps: int = 0
) -> np.ndarray:
    """Boolean mask of rows where two aligned columns of one Feast type disagree."""
    same = cell_rule(value_type, max_ulps=max_ulps)
    out = np.zeros(len(online), dtype=bool)
    for i, (a, b) in enumerate(zip(online, offline, strict=True)):
        a_na, b_na = is_missing(a), is_missing(b)
        out[i] = (a_na != b_na) or (not a_na and not same(a, b))
    return out


def compare(
    online: pd.DataFrame,
    offline: pd.DataFrame,
    features: Sequence[str],
    *,
    keys: Sequence[str],
    config: SkewConfig,
    detector: str = "skew",
    types: Mapping[str, str] | None = None,
) -> list[DetectorResult]:
    """Per-feature mismatches between row-aligned online and offline frames: rate, entities, examples.

    ``types`` maps a feature to its Feast value type name; a feature without one is compared
    by its offline column's dtype (floats bit for bit, anything else exactly).
    """
    out = []
    n = len(online)
    key_columns = [k for k in keys if k in online.columns]
    key_rows = online[key_columns].reset_index(drop=True) if key_columns else None
    for name in features:
        value_type = (types or {}).get(name) or _infer_type(offline[name])
        mask = mismatches(online[name].tolist(), offline[name].tolist(), value_type, max_ulps=config.max_ulps)
        count = int(mask.sum())
        rate = count / n if n else 0.0
        rows = np.flatnonzero(mask)
        entities = (
            [{k: _plain(key_rows[k].iloc[i]) for k in key_columns} for i in rows[: config.max_entities]]
            if key_rows is not None
            else []
        )
        examples = [
            dict(entities[j], online=_plain(online[name].iloc[i]), offline=_plain(offline[name].iloc[i]))
            for j, i in enumerate(rows[: min(config.examples, config.max_entities)])
        ]
        limit = config.max_mismatch_rate
        out.append(
            DetectorResult(
                detector=detector,
                feature=name,
                statistic="mismatch_rate",
                value=rate,
                p_value=None,
                threshold=0.0 if limit is None else limit,
                drifted=count > 0 if limit is None else rate > limit,
                n_reference=n,
                n_current=n,
                details={
                    "mismatches": count,
                    "value_type": value_type,
                    "entities": entities,
                    "examples": examples,
                },
            )
        )
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return [_plain(v) for v in value.tolist()]
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, UUID | Decimal):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


class SkewDetector(Detector):
    """Online (logged) vs offline (Feast point-in-time) feature values of a model.

    Bind it to a yard and model with :meth:`bind`; ``score`` takes the logged window with one
    column per entity key and feature (as ``modelyard.predictions.records.expand`` gives) and the
    request time in ``timestamp_column``.
    """

    kind: ClassVar[str] = "skew"
    name: ClassVar[str] = "skew"

    def __init__(self, config: SkewConfig | None = None) -> None:
        super().__init__(config or SkewConfig())
        self._yard: Yard | None = None
        self._model: str | None = None

    def fit(self, reference: Profile | None = None) -> SkewDetector:
        """Skew compares with the offline store, not a profile."""
        self._reference = reference
        return self

    def bind(self, yard: Yard, model: str) -> SkewDetector:
        """Read offline values of ``model`` from ``yard``'s feature store; returns ``self``."""
        yard.model(model)
        self._yard, self._model = yard, model
        return self

    def score(self, current: pd.DataFrame, *, features: list[str] | None = None) -> list[DetectorResult]:
        if self._yard is None or self._model is None:
            raise MonitoringError("the skew detector is not bound to a model: call bind(yard, model) first")
        cfg = self.config
        keys = list(self._yard.model(self._model).entity_keys)
        keys += list(self._yard.features.request_fields(self._model))  # logged beside the entity keys
        names = list(features) if features is not None else self._yard.features.feature_names(self._model)
        needed = [*keys, cfg.timestamp_column, *names]
        absent = [c for c in needed if c not in current.columns]
        if absent:
            raise MonitoringError(
                f"skew detector for {self._model!r}: the logged window has no column(s) {absent}; "
                "expand the log's entities and features into columns first"
            )
        entities = current[[*keys, cfg.timestamp_column]].rename(
            columns={cfg.timestamp_column: "event_timestamp"}
        )
        offline = self._yard.features.training_frame(self._model, entities)
        schema = dict(self._yard.features.schema(self._model).fields)
        results = compare(
            current.reset_index(drop=True),
            offline.reset_index(drop=True),
            names,
            keys=[*keys, cfg.timestamp_column],
            config=cfg,
            detector=self.name,
            types=schema,
        )
        results.append(dataset_result(self.name, results, share_threshold=cfg.share_threshold))
        return results
