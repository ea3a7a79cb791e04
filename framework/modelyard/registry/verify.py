"""Is a version reproducible? Retrain it from its snapshot and compare predictions on the snapshot.

:func:`verify_version` loads version N's artifact, then either retrains N in memory (its
stored snapshot, its recorded split, params and training function; Feast is not read)
or loads another registered version (``against``, e.g. the one ``modelyard train
--from-version N`` registered), and predicts every row of N's snapshot with both.

The verdict is **bit-identical** when labels and probabilities are equal bit for bit
(what a deterministic flavor such as ``sklearn`` or ``python`` gives), else **within
tolerance** when every probability (or regression output) differs by at most the stated
tolerance and the labels agree, else **different**. The default tolerance is 0 for
every flavor but ``onnx`` (float32 arithmetic: 1e-6); give one to override.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import ReproductionError

if TYPE_CHECKING:
    import numpy as np

    from modelyard.registry.service import Registry
    from modelyard.yard import Yard

#: Flavors whose outputs may differ in the last bits between two equal models.
FLAVOR_TOLERANCE = {"onnx": 1e-6}


@dataclass(frozen=True)
class Verification:
    """The verdict of :func:`verify_version`, with what it rests on."""

    model: str
    version: int
    against: str
    rows: int
    verdict: str
    identical: bool
    labels_equal: bool
    max_abs_diff: float
    tolerance: float
    artifact_identical: bool
    code_sha256: str | None
    code_sha256_now: str | None
    config_sha256: str | None
    config_sha256_now: str | None

    @property
    def ok(self) -> bool:
        return self.verdict in ("bit-identical", "within tolerance")

    @property
    def code_changed(self) -> bool | None:
        if self.code_sha256 is None or self.code_sha256_now is None:
            return None
        return self.code_sha256 != self.code_sha256_now

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "version": self.version,
            "against": self.against,
            "rows": self.rows,
            "verdict": self.verdict,
            "ok": self.ok,
            "identical": self.identical,
            "labels_equal": self.labels_equal,
            "max_abs_diff": self.max_abs_diff,
            "tolerance": self.tolerance,
            "artifact_identical": self.artifact_identical,
            "code_sha256": self.code_sha256,
            "code_sha256_now": self.code_sha256_now,
            "code_changed": self.code_changed,
            "config_sha256": self.config_sha256,
            "config_sha256_now": self.config_sha256_now,
        }


def verify_version(
    yard: Yard,
    model: str,
    version: int,
    *,
    against: int | None = None,
    tolerance: float | None = None,
    registry: Registry | None = None,
) -> Verification:
    """Compare version ``version``'s predictions on its snapshot with a retrained (or ``against``) model."""
    from modelyard.artifacts.hashing import tree_sha256
    from modelyard.registry import lineage
    from modelyard.registry.training import TrainingRecipe, _prepare, fit, source_sha256

    registry = registry or yard.registry
    original = registry.get_version(model, version)
    if original.snapshot_id is None:
        raise ReproductionError(f"{original.label} was registered without a snapshot: nothing to verify on")
    frame = registry.load_snapshot_frame(original.snapshot_id)
    recorded = registry.load_predictor(original)
    code_now: str | None
    if against is not None:
        other = registry.get_version(model, against)
        if other.snapshot_id != original.snapshot_id:
            raise ReproductionError(
                f"{other.label} was trained on snapshot {other.snapshot_id}, {original.label} on "
                f"{original.snapshot_id}: not a reproduction"
            )
        candidate = registry.load_predictor(other)
        artifact_identical = other.artifact_sha256 == original.artifact_sha256
        code_now, config_now, label = other.code_sha256, other.config_sha256, other.label
    else:
        recipe = TrainingRecipe.recorded(original)
        function, context = _prepare(yard, model, recipe)
        with tempfile.TemporaryDirectory(prefix="modelyard-verify-") as tmp:
            fitted = fit(yard, model, frame, recipe, function, context, Path(tmp))
            candidate = fitted.predictor
            artifact_identical = tree_sha256(fitted.artifact) == original.artifact_sha256
        code_now, config_now = source_sha256(function), lineage.config_sha256(yard.config_file)
        label = "a retrain from the snapshot"
    if tolerance is None:
        tolerance = FLAVOR_TOLERANCE.get(original.flavor, 0.0)
    labels_a, labels_b = recorded.predict(frame), candidate.predict(frame)
    scores_a, scores_b = recorded.predict_proba(frame), candidate.predict_proba(frame)
    labels_equal = _equal(labels_a, labels_b)
    identical = labels_equal and _equal(scores_a, scores_b)
    numeric = (scores_a, scores_b) if scores_a is not None and scores_b is not None else (labels_a, labels_b)
    diff = _max_abs_diff(*numeric)
    if identical:
        verdict = "bit-identical"
    elif (labels_equal or _is_float(labels_a)) and diff <= tolerance:
        verdict = "within tolerance"
    else:
        verdict = "different"
    return Verification(
        model=model,
        version=original.version,
        against=label,
        rows=len(frame),
        verdict=verdict,
        identical=identical,
        labels_equal=labels_equal,
        max_abs_diff=diff,
        tolerance=float(tolerance),
        artifact_identical=artifact_identical,
        code_sha256=original.code_sha256,
        code_sha256_now=code_now,
        config_sha256=original.config_sha256,
        config_sha256_now=config_now,
    )


def _equal(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    import numpy as np

    if a is None or b is None:
        return a is None and b is None
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return False
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return a.dtype == b.dtype and bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.array_equal(a, b))


def _is_float(values: np.ndarray) -> bool:
    import numpy as np

    return np.asarray(values).dtype.kind == "f"


def _max_abs_diff(a: np.ndarray, b: np.ndarray) -> float:
    import numpy as np

    try:
        x, y = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    except (TypeError, ValueError):
        return 0.0 if _equal(a, b) else float("inf")
    if x.shape != y.shape:
        return float("inf")
    if x.size == 0:
        return 0.0
    gap = np.abs(x - y)
    gap[np.isnan(x) & np.isnan(y)] = 0.0
    return float("inf") if np.isnan(gap).any() else float(gap.max())
