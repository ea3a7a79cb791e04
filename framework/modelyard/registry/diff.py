"""Why does version B behave differently from version A? A structured answer.

:func:`diff_versions` compares two versions of a model on everything the registry knows:
parameters, validation metrics, flavor and artifact, feature service and schema, the
feature set and the training data (rows, time range and per-feature statistics from the
two snapshots' reference profiles, and row by row: see :mod:`modelyard.registry.data_diff`),
the code commit and the training code's and config's hashes, Python and library versions.
Only what differs is listed (and the code identity of both, always);
:meth:`VersionDiff.to_dict` gives it to scripts, ``modelyard models diff`` renders it as
tables or (``--html``) as a self-contained page, the same body the web UI shows
(:func:`modelyard.monitoring.report.build.render_diff_html`).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from modelyard.errors import SnapshotNotFound

if TYPE_CHECKING:
    from modelyard.monitoring.profile import FeatureProfile
    from modelyard.registry.data_diff import DataDiff
    from modelyard.registry.service import Registry
    from modelyard.registry.types import ModelVersion, Snapshot

#: Percentiles compared for numeric features (index into the profile's 0..100 quantiles).
COMPARED_PERCENTILES = (5, 50, 95)
#: Categorical features: how many categories with the largest share change are listed.
TOP_CATEGORY_CHANGES = 5


def _json(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


@dataclass(frozen=True)
class Change:
    """One named value that differs: ``a`` in the first version, ``b`` in the second.

    ``None`` on one side means absent there (added or removed).
    """

    name: str
    a: Any
    b: Any

    @property
    def status(self) -> str:
        if self.a is None:
            return "added"
        if self.b is None:
            return "removed"
        return "changed"

    @property
    def delta(self) -> float | None:
        """``b - a`` for two numbers, else ``None``."""
        numbers = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (self.a, self.b))
        if numbers:
            return float(self.b) - float(self.a)
        return None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "a": _json(self.a),
            "b": _json(self.b),
            "status": self.status,
            "delta": _json(self.delta),
        }


@dataclass(frozen=True)
class FeatureStatChange:
    """A statistic of one training feature that moved between the two snapshots.

    ``shift`` puts a numeric move on the scale of the feature's spread in snapshot A
    (difference of means in standard deviations, say), so features can be ranked.
    """

    feature: str
    statistic: str
    a: float | str | None
    b: float | str | None
    shift: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "feature": self.feature,
            "statistic": self.statistic,
            "a": _json(self.a),
            "b": _json(self.b),
            "shift": _json(self.shift),
        }


@dataclass(frozen=True)
class VersionDiff:
    """Everything that differs between versions ``a`` and ``b`` of ``model``."""

    model: str
    a: int
    b: int
    params: list[Change] = field(default_factory=list)
    metrics: list[Change] = field(default_factory=list)
    lineage: list[Change] = field(default_factory=list)
    libraries: list[Change] = field(default_factory=list)
    features_added: list[str] = field(default_factory=list)
    features_removed: list[str] = field(default_factory=list)
    snapshot: list[Change] = field(default_factory=list)
    feature_stats: list[FeatureStatChange] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    data: DataDiff | None = None
    """Row-level data diff of the two snapshots (``None``: same snapshot, or not computable)."""
    code: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The code identity of both versions, equal or not: ``{"a": {...}, "b": {...}}`` with
    ``code_sha256``, ``config_sha256``, ``git_commit`` and ``git_dirty``."""

    @property
    def identical(self) -> bool:
        """Whether nothing at all differs (same artifact, data, code and settings)."""
        return not any(
            (
                self.params,
                self.metrics,
                self.lineage,
                self.libraries,
                self.features_added,
                self.features_removed,
                self.snapshot,
                self.feature_stats,
            )
        )

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable dict of every section."""
        return {
            "model": self.model,
            "a": self.a,
            "b": self.b,
            "identical": self.identical,
            "params": [c.to_dict() for c in self.params],
            "metrics": [c.to_dict() for c in self.metrics],
            "lineage": [c.to_dict() for c in self.lineage],
            "libraries": [c.to_dict() for c in self.libraries],
            "features": {"added": list(self.features_added), "removed": list(self.features_removed)},
            "snapshot": [c.to_dict() for c in self.snapshot],
            "feature_stats": [c.to_dict() for c in self.feature_stats],
            "data": self.data.to_dict() if self.data is not None else None,
            "code": {side: dict(values) for side, values in self.code.items()},
            "notes": list(self.notes),
        }


def diff_versions(registry: Registry, model: str, a: int, b: int) -> VersionDiff:
    """Compare versions ``a`` and ``b`` of ``model`` (VersionNotFound if either is missing)."""
    va = registry.get_version(model, a)
    vb = registry.get_version(model, b)
    notes: list[str] = []
    sa_, sb = _snapshot(registry, va, notes), _snapshot(registry, vb, notes)
    added, removed = _feature_set(sa_, sb)
    return VersionDiff(
        model=model,
        a=va.version,
        b=vb.version,
        params=compare_mappings(va.params, vb.params),
        metrics=compare_mappings(va.metrics, vb.metrics),
        lineage=compare_mappings(_lineage(va), _lineage(vb), ordered=True),
        libraries=compare_mappings(va.libraries, vb.libraries),
        features_added=added,
        features_removed=removed,
        snapshot=compare_mappings(_snapshot_facts(sa_), _snapshot_facts(sb), ordered=True),
        feature_stats=compare_profiles(
            sa_.profile if sa_ is not None else None, sb.profile if sb is not None else None
        ),
        data=_data_diff(registry, model, sa_, sb, notes),
        notes=notes,
        code={"a": _code(va), "b": _code(vb)},
    )


def _code(v: ModelVersion) -> dict[str, Any]:
    return {
        "code_sha256": v.code_sha256,
        "config_sha256": v.config_sha256,
        "git_commit": v.git_commit,
        "git_dirty": v.git_dirty,
    }


def _data_diff(
    registry: Registry, model: str, a: Snapshot | None, b: Snapshot | None, notes: list[str]
) -> DataDiff | None:
    """Rows added/removed/changed between the two snapshots, when both exist and differ."""
    from modelyard.registry.data_diff import diff_frames

    if a is None or b is None or a.id == b.id:
        return None
    yard = registry.yard
    if yard is None or model not in yard.config.models:
        notes.append(
            f"{model} is not declared in this yard: entity keys and label unknown, no row-level diff"
        )
        return None
    config = yard.model(model)
    frame_a, frame_b = registry.load_snapshot_frame(a.id), registry.load_snapshot_frame(b.id)
    profiled = [f.get("name") for f in (b.profile or {}).get("features", [])]
    features = [f for f in profiled if f in frame_a.columns and f in frame_b.columns] or None
    return diff_frames(frame_a, frame_b, keys=list(config.entity_keys), label=config.label, features=features)


def compare_mappings(a: Mapping[str, Any], b: Mapping[str, Any], *, ordered: bool = False) -> list[Change]:
    """The keys whose values differ between ``a`` and ``b`` (NaN equals NaN)."""
    keys: Iterable[str] = list(dict.fromkeys([*a, *b])) if ordered else sorted(set(a) | set(b))
    return [Change(k, a.get(k), b.get(k)) for k in keys if not _same(a.get(k), b.get(k))]


def _same(x: Any, y: Any) -> bool:
    if isinstance(x, float) and isinstance(y, float) and math.isnan(x) and math.isnan(y):
        return True
    return bool(x == y)


def _lineage(v: ModelVersion) -> dict[str, Any]:
    return {
        "flavor": v.flavor,
        "artifact_sha256": v.artifact_sha256,
        "feature_service": v.feature_service,
        "schema_fingerprint": v.schema_fingerprint,
        "snapshot_id": v.snapshot_id,
        "git_commit": v.git_commit,
        "git_dirty": v.git_dirty,
        "code_sha256": v.code_sha256,
        "config_sha256": v.config_sha256,
        "python_version": v.python_version,
        "created_by": v.created_by,
    }


def _snapshot(registry: Registry, version: ModelVersion, notes: list[str]) -> Snapshot | None:
    if version.snapshot_id is None:
        notes.append(f"{version.label} was registered without a snapshot: no training-data comparison")
        return None
    try:
        return registry.get_snapshot(version.snapshot_id)
    except SnapshotNotFound:
        notes.append(f"the snapshot {version.snapshot_id} of {version.label} is gone (garbage-collected?)")
        return None


def _snapshot_facts(s: Snapshot | None) -> dict[str, Any]:
    if s is None:
        return {}
    return {"rows": s.rows, "start": s.start, "end": s.end, "content_sha256": s.content_sha256}


def _feature_set(a: Snapshot | None, b: Snapshot | None) -> tuple[list[str], list[str]]:
    if a is None or b is None:
        return [], []
    fa, fb = list(a.feature_refs), list(b.feature_refs)
    return [f for f in fb if f not in fa], [f for f in fa if f not in fb]


def compare_profiles(a: Mapping[str, Any] | None, b: Mapping[str, Any] | None) -> list[FeatureStatChange]:
    """Per-feature statistic changes between two reference profiles (``Profile.to_dict`` form)."""
    if not a or not b:
        return []
    from modelyard.monitoring.profile import Profile

    pa, pb = Profile.from_dict(a), Profile.from_dict(b)
    changes: list[FeatureStatChange] = []
    for name, fa in pa.features.items():
        fb = pb.features.get(name)
        if fb is None:
            continue
        if fa.dtype != fb.dtype or fa.kind != fb.kind:
            changes.append(FeatureStatChange(name, "dtype", f"{fa.kind}:{fa.dtype}", f"{fb.kind}:{fb.dtype}"))
            continue
        if fa.missing_rate != fb.missing_rate:
            changes.append(FeatureStatChange(name, "missing_rate", fa.missing_rate, fb.missing_rate))
        if fa.kind == "numeric":
            changes.extend(_numeric_changes(name, fa, fb))
        elif fa.kind == "categorical":
            changes.extend(_categorical_changes(name, fa, fb))
    return changes


def _numeric_changes(name: str, fa: FeatureProfile, fb: FeatureProfile) -> list[FeatureStatChange]:
    spread = fa.spread
    values: list[tuple[str, float | None, float | None]] = [
        ("mean", fa.mean, fb.mean),
        ("std", fa.std, fb.std),
        ("min", fa.min, fb.min),
        ("max", fa.max, fb.max),
    ]
    if len(fa.quantiles) > max(COMPARED_PERCENTILES) and len(fb.quantiles) > max(COMPARED_PERCENTILES):
        values += [(f"p{p:02d}", fa.quantiles[p], fb.quantiles[p]) for p in COMPARED_PERCENTILES]
    out = []
    for stat, x, y in values:
        if x is None or y is None or _same(float(x), float(y)):
            continue
        out.append(FeatureStatChange(name, stat, float(x), float(y), shift=(float(y) - float(x)) / spread))
    return out


def _categorical_changes(name: str, fa: FeatureProfile, fb: FeatureProfile) -> list[FeatureStatChange]:
    ta, tb = sum(fa.frequencies.values()), sum(fb.frequencies.values())
    if not ta or not tb:
        return []
    from modelyard.monitoring.categories import is_tail_cell

    # hashed tail buckets of two profiles need not line up (their number depends on the data)
    shares = {
        cat: (fa.frequencies.get(cat, 0) / ta, fb.frequencies.get(cat, 0) / tb)
        for cat in set(fa.frequencies) | set(fb.frequencies)
        if not is_tail_cell(cat)
    }
    moved = sorted(
        ((cat, x, y) for cat, (x, y) in shares.items() if x != y),
        key=lambda item: (-abs(item[2] - item[1]), item[0]),
    )
    return [
        FeatureStatChange(name, f"share[{cat}]", x, y, shift=y - x)
        for cat, x, y in moved[:TOP_CATEGORY_CHANGES]
    ]
