"""Analysis by the randomisation unit: unit keys, per-unit sums, the delta method and CUPED.

Assignment is sticky per unit (the request's routing key, else its entity keys, see
:meth:`modelyard.routing.router.RouteRequest.sticky_key`), so one unit's requests are not
independent observations: a user with a high base rate who sends many requests lands all
of them in one arm. Treating requests as independent underestimates the variance (an A/A
test then "finds" effects far more often than alpha). Every per-request metric is therefore
analysed as a ratio of per-unit sums, ``R = sum(Y_u) / sum(N_u)`` (``Y_u`` the unit's sum of
the metric, ``N_u`` its number of requests), with the delta-method variance

    var(R) = var(L) / n,   L_u = (Y_u - R * N_u) / mean(N)

over the ``n`` units of the arm (Deng, Knoblich and Lu 2018, "Applying the delta method in
metric analytics"). This equals the cluster-robust (sandwich) variance of a regression on
the arm indicator with the unit as cluster, up to the ``n / (n - 1)`` factor.

CUPED (Deng, Xu, Kohavi and Walker 2013) subtracts ``theta * (X_u - mean(X))`` from the
linearised values, where ``X_u`` is the same metric of the unit before the experiment
started, linearised the same way over the pre-period (``(Y_pre - R_pre N_pre) / mean(N_pre)``,
so a heavy user weighs as much before as during), and ``theta = cov(L, X) / var(X)`` is
pooled within arms. Units without pre-period requests have ``X_u = 0`` (the mean). The
estimate stays unbiased because ``X`` cannot be affected by the assignment; its variance
shrinks by the squared correlation of ``L`` and ``X``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

#: Fewer units with a pre-period value than this (per arm) and CUPED is not applied.
CUPED_MIN_UNITS = 20


def unit_keys(frame: pd.DataFrame) -> tuple[pd.Series, str]:
    """One unit key per row, and the name of the unit ("entity (driver_id)", or "request").

    The key is built as the router builds its sticky key from the entity keys
    (``k=v`` pairs sorted by key, joined by ``&``); rows without entity keys fall back to
    their request id, as the router does.
    """
    import pandas as pd

    if frame.empty or "entities" not in frame.columns:
        return pd.Series([], dtype=object), "request"
    codes, uniques = pd.factorize(frame["entities"].astype(str), sort=False)
    names: set[str] = set()
    keys: list[str | None] = []
    for text in uniques:
        try:
            ents = json.loads(text) if text and text != "None" else {}
        except ValueError:
            ents = {}
        if isinstance(ents, dict) and ents:
            names.update(str(k) for k in ents)
            keys.append("&".join(f"{k}={ents[k]}" for k in sorted(ents)))
        else:
            keys.append(None)
    out = pd.Series([keys[c] if c >= 0 else None for c in codes], index=frame.index, dtype=object)
    missing = out.isna()
    if missing.any():
        out[missing] = "request:" + frame.loc[missing, "request_id"].astype(str)
    unit = f"entity ({', '.join(sorted(names))})" if names else "request"
    return out, unit


@dataclass(frozen=True)
class UnitSums:
    """Per-unit sums of one metric in one arm: ``num`` (sum of Y), ``den`` (requests), ``pre``."""

    keys: np.ndarray
    num: np.ndarray
    den: np.ndarray
    pre: np.ndarray | None = None

    @property
    def units(self) -> int:
        return len(self.keys)

    @property
    def requests(self) -> int:
        return int(self.den.sum())

    def ratio(self) -> float:
        total = float(self.den.sum())
        return float(self.num.sum()) / total if total else float("nan")

    def linearised(self) -> np.ndarray:
        """``L_u = (Y_u - R N_u) / mean(N)``: its mean is 0 and ``var(L) / n`` is ``var(R)``."""
        r = self.ratio()
        return (self.num - r * self.den) / float(self.den.mean())


def unit_sums(units: pd.Series, values: pd.Series, *, pre: dict[str, float] | None = None) -> UnitSums:
    """Group ``values`` (one per request, NaN rows left out) by ``units`` into :class:`UnitSums`."""
    import numpy as np
    import pandas as pd

    mask = values.notna()
    frame = pd.DataFrame({"u": units[mask].to_numpy(), "y": values[mask].astype(float).to_numpy()})
    grouped = frame.groupby("u", sort=True)["y"].agg(["sum", "count"])
    keys = grouped.index.to_numpy()
    pre_values = None
    if pre:
        pre_values = np.array([pre.get(k, np.nan) for k in keys], dtype=float)
    return UnitSums(
        keys,
        grouped["sum"].to_numpy(dtype=float),
        grouped["count"].to_numpy(dtype=float),
        pre_values,
    )


@dataclass(frozen=True)
class ArmEstimate:
    """The ratio of one arm, its variance, and what CUPED did."""

    value: float
    variance: float
    units: int


def delta_estimates(c: UnitSums, t: UnitSums) -> tuple[ArmEstimate, ArmEstimate]:
    """Ratio and delta-method variance of each arm (no adjustment)."""
    return _arm(c, c.linearised(), 0.0), _arm(t, t.linearised(), 0.0)


def _arm(s: UnitSums, lin: np.ndarray, shift: float) -> ArmEstimate:
    n = s.units
    var = float(lin.var(ddof=1)) / n if n > 1 else float("nan")
    return ArmEstimate(s.ratio() - shift, var, n)


@dataclass(frozen=True)
class CupedResult:
    """The adjusted arm estimates, theta, and how many units had a pre-period value."""

    control: ArmEstimate
    treatment: ArmEstimate
    theta: float
    covered: tuple[int, int]


def cuped(c: UnitSums, t: UnitSums) -> CupedResult | None:
    """CUPED-adjusted arm estimates (see the module docstring); None without enough pre data."""
    import numpy as np

    if c.pre is None or t.pre is None:
        return None
    covered = (int(np.isfinite(c.pre).sum()), int(np.isfinite(t.pre).sum()))
    if min(covered) < CUPED_MIN_UNITS:
        return None
    centre = 0.0  # the mean of the linearised values over the pre-period's units
    xc = np.where(np.isfinite(c.pre), c.pre, centre)
    xt = np.where(np.isfinite(t.pre), t.pre, centre)
    centre = float(np.concatenate([xc, xt]).mean())
    lc, lt = c.linearised(), t.linearised()
    # theta pooled within arms: both arms centred on their own means
    dx = np.concatenate([xc - xc.mean(), xt - xt.mean()])
    dl = np.concatenate([lc - lc.mean(), lt - lt.mean()])
    sxx = float((dx * dx).sum())
    if sxx <= 0:
        return None
    theta = float((dx * dl).sum()) / sxx
    ac = _arm(c, lc - theta * (xc - centre), theta * float(xc.mean() - centre))
    at = _arm(t, lt - theta * (xt - centre), theta * float(xt.mean() - centre))
    return CupedResult(ac, at, theta, covered)


def pre_period_values(units: pd.Series, values: pd.Series) -> dict[str, float]:
    """Each unit's linearised pre-experiment value of a metric (``values``: one per request, NaN left out)."""
    if not values.notna().any():
        return {}
    pre = unit_sums(units, values)
    return {str(k): float(v) for k, v in zip(pre.keys, pre.linearised(), strict=True)}


def harmonic_units(n1: int, n2: int) -> float:
    """The per-arm unit count of a balanced design with the same variance: ``2 / (1/n1 + 1/n2)``."""
    return 2.0 / (1.0 / max(n1, 1) + 1.0 / max(n2, 1))
