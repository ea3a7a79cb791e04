"""Gathering an experiment's inputs from a yard and building its report.

The experiment is the current deployment's: its rows are the prediction log since the
first stored revision with the same salt (the start of this experiment) unless a window
is given, its configured weights over time come from the deployment history (for the
sample-ratio check), and its labels from the feedback store. The rows and labels of the
``pre_days`` before its start (at most as long as the experiment so far) give each unit's
pre-experiment values, the CUPED covariates.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from modelyard.rollout.analysis import ExperimentReport, build_report, periods_from_history
from modelyard.rollout.sequential import DEFAULT_PLANNED_UNITS, Design, Plan

if TYPE_CHECKING:
    from modelyard.routing.deployment import DeploymentStore
    from modelyard.yard import Yard


def experiment_report(
    yard: Yard,
    model: str,
    *,
    store: DeploymentStore | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    alpha: float = 0.05,
    shadow_tolerance: float = 0.0,
    design: Design = "sequential",
    planned_units: int = DEFAULT_PLANNED_UNITS,
    primary: str | None = None,
    pre_days: float = 14.0,
) -> ExperimentReport:
    """The :class:`~modelyard.rollout.analysis.ExperimentReport` of ``model``'s current experiment."""
    from modelyard.rollout.traffic import open_log_sink, read_labels, read_window
    from modelyard.routing.deployment import DeploymentStore

    store = store or DeploymentStore.for_yard(yard)
    deployment = store.current(model)
    history = [c for c in store.history(model) if c.deployment.salt == deployment.salt]
    periods = periods_from_history(history)
    if since is None and periods:
        since = periods[0][0]
    until = until or datetime.now(timezone.utc)
    # the pre-period ends where the experiment started, never inside it (a covariate the
    # treatment could move would bias CUPED), whatever window was asked for
    start = periods[0][0] if periods else since
    pre_since = None
    if start is not None and pre_days > 0:
        pre_since = start - min(timedelta(days=pre_days), max(until - start, timedelta(0)))
    sink = open_log_sink(yard)
    try:
        log = read_window(sink, model, since, until)
        pre_log = read_window(sink, model, pre_since, start) if pre_since is not None and len(log) else None
    finally:
        sink.close()
    labels = read_labels(yard, model, since, until) if len(log) else None
    pre_labels = read_labels(yard, model, pre_since, start) if pre_log is not None and len(pre_log) else None
    return build_report(
        log,
        deployment=deployment,
        task=yard.model(model).task,
        periods=periods or None,
        feedback=labels,
        label="label",
        alpha=alpha,
        plan=Plan(design=design, planned_units=planned_units, alpha=alpha),
        primary=primary,
        pre_log=pre_log,
        pre_feedback=pre_labels,
        since=since,
        until=until,
        shadow_tolerance=shadow_tolerance,
    )
