"""What changed in the training data between two snapshots, row by row.

Rows are matched by the model's entity keys and ``event_timestamp`` (a key seen twice in
one frame is matched by its order of appearance). :func:`diff_frames` reports:

- rows added (only in B), removed (only in A), changed (same key, some feature or the
  label differs; NaN equals NaN) and unchanged;
- the label's distribution in A and B (class shares, or mean/std/quantiles for a
  regression label) and how many matched rows changed their label;
- every feature ranked by how much it moved, largest first: ``movement`` is the
  standardised difference of means (numeric) or the total variation distance between the
  category shares (categorical), with the number and share of matched rows whose value
  changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

TIMESTAMP_COLUMN = "event_timestamp"
_OCCURRENCE = "__occurrence__"


@dataclass(frozen=True)
class FeatureMovement:
    """How much one feature moved between the two frames."""

    feature: str
    kind: str
    movement: float
    rows_changed: int
    share_changed: float | None
    a: str
    b: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "kind": self.kind,
            "movement": self.movement,
            "rows_changed": self.rows_changed,
            "share_changed": self.share_changed,
            "a": self.a,
            "b": self.b,
        }


@dataclass(frozen=True)
class DataDiff:
    """Row-level differences between two training frames (see the module docstring)."""

    keys: list[str]
    rows_a: int
    rows_b: int
    added: int
    removed: int
    changed: int
    unchanged: int
    label: str | None = None
    label_kind: str = ""
    label_a: dict[str, float] = field(default_factory=dict)
    label_b: dict[str, float] = field(default_factory=dict)
    labels_changed: int = 0
    features: list[FeatureMovement] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "keys": list(self.keys),
            "rows": {
                "a": self.rows_a,
                "b": self.rows_b,
                "added": self.added,
                "removed": self.removed,
                "changed": self.changed,
                "unchanged": self.unchanged,
            },
            "label": {
                "name": self.label,
                "kind": self.label_kind,
                "a": dict(self.label_a),
                "b": dict(self.label_b),
                "changed_rows": self.labels_changed,
            },
            "features": [f.to_dict() for f in self.features],
        }


def diff_frames(
    a: pd.DataFrame,
    b: pd.DataFrame,
    *,
    keys: list[str],
    label: str | None,
    features: list[str] | None = None,
) -> DataDiff:
    """Compare training frames ``a`` and ``b`` matched on ``keys`` (+ ``event_timestamp`` if present)."""
    import pandas as pd

    keys = [k for k in [*keys, TIMESTAMP_COLUMN] if k in a.columns and k in b.columns]
    keys = list(dict.fromkeys(keys))
    if features is None:
        features = [c for c in a.columns if c in b.columns and c not in keys and c != label]
    ka, kb = _keyed(a, keys), _keyed(b, keys)
    match = [*keys, _OCCURRENCE]
    merged = ka.merge(kb, on=match, how="outer", suffixes=("__a", "__b"), indicator=True)
    both = merged[merged["_merge"] == "both"]
    compared = [c for c in [*features, *([label] if label else [])] if c in a.columns and c in b.columns]
    differs = {c: _differs(both[f"{c}__a"], both[f"{c}__b"]) for c in compared}
    any_change = pd.Series(False, index=both.index)
    for mask in differs.values():
        any_change |= mask
    label_kind, label_a, label_b = "", dict[str, float](), dict[str, float]()
    if label and label in a.columns and label in b.columns:
        label_kind, label_a, label_b = _label_distributions(a[label], b[label])
    movements = [
        _movement(name, a[name], b[name], int(differs[name].sum()), len(both))
        for name in features
        if name in differs
    ]
    movements.sort(key=lambda m: (-m.movement, -m.rows_changed, m.feature))
    return DataDiff(
        keys=keys,
        rows_a=len(a),
        rows_b=len(b),
        added=int((merged["_merge"] == "right_only").sum()),
        removed=int((merged["_merge"] == "left_only").sum()),
        changed=int(any_change.sum()),
        unchanged=int(len(both) - any_change.sum()),
        label=label,
        label_kind=label_kind,
        label_a=label_a,
        label_b=label_b,
        labels_changed=int(differs[label].sum()) if label in differs else 0,
        features=movements,
    )


def _keyed(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    out = frame.reset_index(drop=True).copy()
    if TIMESTAMP_COLUMN in keys:
        import pandas as pd

        out[TIMESTAMP_COLUMN] = pd.to_datetime(out[TIMESTAMP_COLUMN], utc=True)
    out[_OCCURRENCE] = out.groupby(keys, dropna=False).cumcount() if keys else range(len(out))
    return out


def _differs(x: pd.Series, y: pd.Series) -> pd.Series:
    both_missing = x.isna() & y.isna()
    try:
        equal = x.eq(y)
    except TypeError:
        equal = x.astype(str).eq(y.astype(str))
    return ~(equal | both_missing)


def _is_numeric(series: pd.Series) -> bool:
    import pandas as pd

    return bool(pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series))


def _shares(series: pd.Series) -> dict[str, float]:
    counts = series.astype("string").fillna("<missing>").value_counts(normalize=True)
    return {str(k): float(v) for k, v in sorted(counts.items())}


def _label_distributions(a: pd.Series, b: pd.Series) -> tuple[str, dict[str, float], dict[str, float]]:
    if _is_numeric(a) and _is_numeric(b) and (a.nunique() > 10 or b.nunique() > 10):
        return "numeric", _summary(a), _summary(b)
    return "categorical", _shares(a), _shares(b)


def _summary(series: pd.Series) -> dict[str, float]:
    values = series.astype(float).dropna()
    if values.empty:
        return {}
    return {
        "mean": float(values.mean()),
        "std": float(values.std(ddof=0)),
        "p05": float(values.quantile(0.05)),
        "p50": float(values.quantile(0.5)),
        "p95": float(values.quantile(0.95)),
    }


def _movement(name: str, a: pd.Series, b: pd.Series, rows_changed: int, matched: int) -> FeatureMovement:
    share = rows_changed / matched if matched else None
    if _is_numeric(a) and _is_numeric(b):
        sa, sb = _summary(a), _summary(b)
        if not sa or not sb:
            return FeatureMovement(name, "numeric", 0.0, rows_changed, share, "-", "-")
        spread = sa["std"] or abs(sa["mean"]) or 1.0
        moved = abs(sb["mean"] - sa["mean"]) / spread
        return FeatureMovement(
            name,
            "numeric",
            float(moved),
            rows_changed,
            share,
            f"mean {sa['mean']:.4g}, std {sa['std']:.4g}",
            f"mean {sb['mean']:.4g}, std {sb['std']:.4g}",
        )
    pa, pb = _shares(a), _shares(b)
    tvd = 0.5 * sum(abs(pa.get(k, 0.0) - pb.get(k, 0.0)) for k in set(pa) | set(pb))
    top = sorted(set(pa) | set(pb), key=lambda k: -abs(pa.get(k, 0.0) - pb.get(k, 0.0)))[:3]
    return FeatureMovement(
        name,
        "categorical",
        float(tvd),
        rows_changed,
        share,
        ", ".join(f"{k}: {pa.get(k, 0.0):.1%}" for k in top),
        ", ".join(f"{k}: {pb.get(k, 0.0):.1%}" for k in top),
    )
