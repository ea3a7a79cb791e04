"""The detector role: fit on a reference profile, score a window, return verdicts.

Detector plugins (``modelyard_detectors`` hook, :class:`~modelyard.plugins.specs.DetectorSpec`)
build subclasses of :class:`Detector` from their validated pydantic config::

    detector = yard.host.spec("detector", "drift").build({"correction": "bonferroni"})
    results = detector.fit(profile).score(window_frame)
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar

from modelyard.errors import MonitoringError

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import Profile
    from modelyard.monitoring.results import DetectorResult
    from modelyard.monitoring.window import WindowSummary

KINDS = ("drift", "quality", "performance", "skew", "health", "freshness")


class Detector(ABC):
    """Compares a current window with a reference and says, per feature, whether it changed.

    ``kind`` is one of :data:`KINDS`; ``name`` is the plugin name results are labelled with.
    ``fit`` keeps what the detector needs from the reference profile (and calibrates
    thresholds on its held-out part); ``score`` judges a window and must not change the
    detector, so one fitted detector can score many windows, from several threads.
    """

    kind: ClassVar[str] = "drift"
    name: ClassVar[str] = "detector"

    def __init__(self, config: Any = None) -> None:
        self.config = config
        self._reference: Profile | None = None

    def fit(self, reference: Profile) -> Detector:
        """Remember (and calibrate on) ``reference``; returns ``self``."""
        self._reference = reference
        self._fit(reference)
        return self

    def _fit(self, reference: Profile) -> None:  # noqa: B027 - optional hook for subclasses
        """Subclasses precompute from the reference here."""

    @property
    def reference(self) -> Profile:
        if self._reference is None:
            raise MonitoringError(f"detector {self.name!r} was not fitted: call fit(reference_profile) first")
        return self._reference

    @abstractmethod
    def score(self, current: pd.DataFrame, *, features: list[str] | None = None) -> list[DetectorResult]:
        """Verdicts for ``features`` (default: every profiled feature this detector handles)."""

    def _names(self, features: Sequence[str] | None, kinds: Sequence[str]) -> list[str]:
        """The features to judge: asked for (or all of ``kinds`` in the profile), of those kinds."""
        profile = self.reference
        if features is None:
            names = [n for n, f in profile.features.items() if f.kind in kinds]
        else:
            names = list(features)
            for n in names:
                kind = profile.feature(n).kind  # raises naming the profiled ones
                if kind not in kinds:
                    raise MonitoringError(
                        f"detector {self.name!r} judges {' and '.join(kinds)} features; {n!r} is {kind}"
                    )
        return names

    def _features(
        self, current: pd.DataFrame, features: Sequence[str] | None, kinds: Sequence[str]
    ) -> list[str]:
        """:meth:`_names`, each checked to be a column of ``current`` (raises naming the absent ones)."""
        names = self._names(features, kinds)
        absent = [n for n in names if n not in current.columns]
        if absent:
            raise MonitoringError(
                f"detector {self.name!r}: the current window has no column(s) {absent} "
                f"(it has {list(current.columns)})"
            )
        return names


class SummaryDetector(Detector):
    """A detector that judges a window from per-column summaries, so it can judge a window streamed in batches.

    ``score(frame)`` summarises the frame whole; the monitor runner instead feeds the window's
    batches to one :class:`~modelyard.monitoring.window.WindowSummary` and calls
    :meth:`score_summary`. A feature absent from the window gets a result saying so; the others
    are judged.
    """

    def kinds(self) -> tuple[str, ...]:
        """The feature kinds this detector judges."""
        return ("numeric", "categorical", "other")

    def score(self, current: pd.DataFrame, *, features: list[str] | None = None) -> list[DetectorResult]:
        from modelyard.monitoring.window import WindowSummary

        names = self._names(features, self.kinds())
        return self.score_summary(WindowSummary.from_frame(self.reference, current, names), features=features)

    @abstractmethod
    def score_summary(
        self, summary: WindowSummary, *, features: list[str] | None = None
    ) -> list[DetectorResult]:
        """Verdicts for ``features`` from a summarised window."""
