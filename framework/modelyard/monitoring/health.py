"""Serving health of a window of the prediction log (the ``health`` detector).

From the log's ``latency_ms`` and ``error`` columns: latency percentiles (p50, p95, p99) and the
error rate; from the running process (psutil): CPU and memory use. Each fails above its maximum.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from modelyard.monitoring.detector import Detector
from modelyard.monitoring.results import DetectorResult

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import Profile


class HealthConfig(BaseModel):
    """Maxima of the ``health`` detector (``None``: reported, never failing)."""

    model_config = ConfigDict(extra="forbid")

    max_p50_ms: float | None = Field(None, gt=0)
    max_p95_ms: float | None = Field(250.0, gt=0)
    max_p99_ms: float | None = Field(None, gt=0)
    max_error_rate: float | None = Field(0.01, ge=0, le=1)
    max_cpu_percent: float | None = Field(None, gt=0)
    max_memory_mb: float | None = Field(None, gt=0)
    system: bool = Field(False, description="measure CPU and memory of the whole machine, not this process")


class HealthDetector(Detector):
    """Latency percentiles, error rate, CPU and memory against maxima."""

    kind: ClassVar[str] = "health"
    name: ClassVar[str] = "health"

    def __init__(self, config: HealthConfig | None = None) -> None:
        super().__init__(config or HealthConfig())

    def fit(self, reference: Profile | None = None) -> HealthDetector:
        """Health needs no reference."""
        self._reference = reference
        return self

    def _result(
        self, statistic: str, value: float, maximum: float | None, n: int, **details: object
    ) -> DetectorResult:
        return DetectorResult(
            detector=self.name,
            feature=None,
            statistic=statistic,
            value=float(value),
            p_value=None,
            threshold=float("nan") if maximum is None else float(maximum),
            drifted=maximum is not None and bool(np.isfinite(value)) and value > maximum,
            n_reference=0,
            n_current=n,
            details=dict(details),
        )

    def score(self, current: pd.DataFrame, *, features: list[str] | None = None) -> list[DetectorResult]:
        import psutil

        cfg = self.config
        n = len(current)
        out = []
        if "latency_ms" in current.columns and n:
            lat = current["latency_ms"].dropna().to_numpy(np.float64)
            if lat.size:
                p50, p95, p99 = np.percentile(lat, [50, 95, 99])
                out.append(self._result("latency_p50_ms", p50, cfg.max_p50_ms, n))
                out.append(self._result("latency_p95_ms", p95, cfg.max_p95_ms, n))
                out.append(self._result("latency_p99_ms", p99, cfg.max_p99_ms, n))
        if "error" in current.columns and n:
            errors = current["error"].notna() & (current["error"].astype(str) != "")
            examples = current.loc[errors, "error"].astype(str).value_counts().head(5)
            out.append(
                self._result(
                    "error_rate",
                    float(errors.mean()),
                    cfg.max_error_rate,
                    n,
                    errors=int(errors.sum()),
                    examples={str(k): int(v) for k, v in examples.items()},
                )
            )
        if cfg.system:
            cpu = psutil.cpu_percent(interval=0.1)
            mem = (psutil.virtual_memory().total - psutil.virtual_memory().available) / 2**20
        else:
            proc = psutil.Process()
            proc.cpu_percent(None)
            cpu = proc.cpu_percent(interval=0.1)
            mem = proc.memory_info().rss / 2**20
        out.append(
            self._result(
                "cpu_percent", cpu, cfg.max_cpu_percent, n, scope="system" if cfg.system else "process"
            )
        )
        out.append(
            self._result("memory_mb", mem, cfg.max_memory_mb, n, scope="system" if cfg.system else "process")
        )
        return out
