"""Gathering an experiment's inputs from a yard and building its report.

The experiment is the current deployment's: its rows are the prediction log since the
first stored revision with the same salt (the start of this experiment) unless a window
is given, its configured weights over time come from the deployment history (for the
sample-ratio check), and its labels from the feedback store.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from modelyard.rollout.analysis import ExperimentReport, build_report, periods_from_history

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
    sink = open_log_sink(yard)
    try:
        log = read_window(sink, model, since, until)
    finally:
        sink.close()
    labels = read_labels(yard, model, since, until) if len(log) else None
    return build_report(
        log,
        deployment=deployment,
        task=yard.model(model).task,
        periods=periods or None,
        feedback=labels,
        label="label",
        alpha=alpha,
        since=since,
        until=until,
        shadow_tolerance=shadow_tolerance,
    )
