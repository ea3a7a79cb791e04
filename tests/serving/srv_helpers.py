"""Helpers of the serving tests: a served example yard with real trained models, and a real server."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
from example_models import CATEGORICAL, NUMERIC, TIP_CATEGORICAL, TIP_NUMERIC
from example_models import pipeline as _pipeline


def entities(repo: Path, model: str = "trip_acceptance", n: int | None = None) -> pd.DataFrame:
    frame = pd.read_parquet(repo / "data" / f"{model}_entities.parquet")
    return frame if n is None else frame.head(n).reset_index(drop=True)


def train(yard: Any, model: str = "trip_acceptance", *, n: int = 400, c: float = 1.0) -> Any:
    """A fitted pipeline for ``model`` on its first ``n`` labelled rows (``c`` varies the classifier)."""
    from sklearn.linear_model import LogisticRegression, Ridge

    ents = entities(yard.path, model, n)
    label = yard.model(model).label
    frame = yard.features.training_frame(model, ents.drop(columns=[label]))
    if model == "trip_acceptance":
        pipe = _pipeline(NUMERIC, CATEGORICAL, LogisticRegression(C=c, max_iter=500))
        cols = NUMERIC + CATEGORICAL
    else:
        pipe = _pipeline(TIP_NUMERIC, TIP_CATEGORICAL, Ridge(alpha=c))
        cols = TIP_NUMERIC + TIP_CATEGORICAL
    return pipe.fit(frame[cols], ents[label]), cols


def register(yard: Any, model: str = "trip_acceptance", *, promote: bool = True, c: float = 1.0) -> Any:
    """Train, register (and promote to production) a version of ``model``; returns the ModelVersion."""
    estimator, cols = train(yard, model, c=c)
    version = yard.registry.register(model, estimator, feature_names=cols)
    if promote:
        yard.registry.promote(model, version.version, reason="serving tests")
    return version


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def running_server(app: Any, port: int | None = None) -> Iterator[str]:
    """Run ``app`` on a real uvicorn server in a thread; yields its base URL."""
    import uvicorn

    port = port or free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the test server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@contextmanager
def served_example(
    make_example_repo: Any, directory: Path, *, config_extra: str = ""
) -> Iterator[tuple[Any, str, Any]]:
    """(yard, base URL, state) of a real server over a fresh example repo, both models in production.

    ``config_extra`` is appended to the repo's modelyard.yaml first (a ``serving:`` section...).
    """
    from modelyard.serving.app import build_state, create_app
    from modelyard.yard import Yard

    repo = make_example_repo(directory / "repo")
    if config_extra:
        config = repo / "modelyard.yaml"
        config.write_text(config.read_text() + "\n" + config_extra)
    yard = Yard.load(repo)
    register(yard, "trip_acceptance")
    register(yard, "tip_amount")
    state = build_state(yard)
    try:
        with running_server(create_app(state=state)) as url:
            yield yard, url, state
    finally:
        state.close()
