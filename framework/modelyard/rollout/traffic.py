"""Reading windows of the prediction log (and its feedback) for rollout decisions and reports."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.predictions.log import LogSink
    from modelyard.yard import Yard


def open_log_sink(yard: Yard) -> LogSink:
    """The log sink ``serving.log`` of ``yard`` names, built for reading."""
    from modelyard.predictions.log import open_log_sink as _open

    return _open(yard)


def read_window(
    sink: LogSink, model: str, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """Every logged row of ``model`` in ``[since, until)`` as one frame (possibly empty)."""
    return sink.read_frame(model, since, until)


def read_labels(
    yard: Yard, model: str, since: datetime | None = None, until: datetime | None = None
) -> pd.DataFrame:
    """``request_id`` and ``label`` of the logged requests in the window that have feedback."""
    from modelyard.predictions.feedback import join_feedback

    joined = join_feedback(yard, model, since, until, labelled_only=True)
    return joined[["request_id", "label"]].drop_duplicates("request_id", keep="last")
