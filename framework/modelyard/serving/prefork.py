"""``modelyard serve --workers N``: import the serving code once, then fork the workers from it.

A worker's start-up is mostly imports (scikit-learn and skops, Feast, the web stack: about
5 CPU seconds on a quiet machine). Started as fresh interpreters (uvicorn's ``--workers``),
N workers pay that N times, all at once. Here the parent process imports it once
(:func:`preload_serving`) and gunicorn forks the workers from it (uvicorn's HTTP stack in each,
:class:`ServingWorker`); a worker then only loads the yard's config, builds its app and, in
the app's lifespan, its state: models, online readers, registry poller, prediction log.

Fork safety: the parent imports code and reads the config; it opens no connection and starts
no thread that a child would inherit. Everything that does (the registry's engine, Redis
clients, the prediction-log writer, the model poller) is made by each worker after the fork.
:func:`preload_serving` refuses to fork from a process running other Python threads. The
native threads the imported libraries start (OpenBLAS's pools in numpy and scipy, jemalloc's in
Arrow) handle a fork themselves (``pthread_atfork``), as Feast's own pre-forking ``feast serve``
relies on too. A worker that
dies is replaced by a fresh fork of the parent, again without the imports.
"""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
import os
import signal
import threading
from typing import TYPE_CHECKING, Any, ClassVar

from gunicorn.app.base import BaseApplication
from uvicorn_worker import UvicornWorker

from modelyard.errors import ServingError

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)

#: what a worker's lifespan imports while it builds its state (the app's own modules come with it)
WORKER_MODULES = (
    "feast",
    "modelyard.serving.models",
    "modelyard.serving.pipeline",
    "modelyard.serving.metrics",
    "modelyard.features.online.reader",
    "modelyard.predictions.log",
)
#: seconds a worker may take from its fork to its first heartbeat (loading its models) or go
#: without one afterwards before gunicorn replaces it; generous, as large models load slowly
WORKER_TIMEOUT = 300
#: seconds a worker has to finish its requests on shutdown (as ``uvicorn --timeout-graceful-shutdown``)
GRACEFUL_SECONDS = 10


class ServingWorker(UvicornWorker):
    """gunicorn's worker running uvicorn, without an access log (modelyard counts requests itself)."""

    CONFIG_KWARGS: ClassVar[dict[str, Any]] = {
        **UvicornWorker.CONFIG_KWARGS,
        "access_log": False,
        "timeout_graceful_shutdown": GRACEFUL_SECONDS,
    }

    def _install_sigquit_handler(self) -> None:
        """SIGQUIT (what the arbiter sends its workers when it gets SIGINT) shuts down as SIGINT does.

        uvicorn-worker only marks the worker as no longer alive, which uvicorn never looks at: the
        worker would serve on until the arbiter's SIGKILL, its prediction log unflushed. Handing
        uvicorn a SIGINT finishes the requests in flight and runs the app's shutdown instead.
        """
        asyncio.get_running_loop().add_signal_handler(signal.SIGQUIT, os.kill, os.getpid(), signal.SIGINT)


def preload_serving(yard: Yard) -> None:
    """Import, in this process, what a serving worker of ``yard`` imports before its first answer.

    The flavors of its models first (:func:`~modelyard.serving.preload.preload_flavors`), then
    Feast and every module of the app (its protocols' routes included, by building an app that is
    thrown away: it loads no model and touches neither the registry nor the feature store).
    Then ``gc.freeze()``, so the children's collector leaves the shared pages alone. Raises
    ServingError if any thread but this one runs afterwards: forking would copy it half-done.
    """
    from modelyard.serving.preload import preload_flavors

    preload_flavors(yard)  # first: cheaper before the rest is imported
    for module in WORKER_MODULES:
        importlib.import_module(module)
    from modelyard.serving.app import create_app

    create_app(yard)
    others = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
    if others:
        raise ServingError(
            f"cannot fork serving workers from a process running threads ({', '.join(others)}); "
            "serve with --no-preload"
        )
    gc.collect()
    gc.freeze()


class PreforkServer(BaseApplication):
    """gunicorn's arbiter with :class:`ServingWorker` workers, each building the app after its fork."""

    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from modelyard.serving.app import app_from_env

        return app_from_env()


def _child_exit(server: Any, worker: Any) -> None:
    """gunicorn hook: a worker exited; its live gauges must leave the multiprocess metrics."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)


def run_prefork(yard: Yard, *, host: str, port: int, workers: int, log_level: str) -> None:
    """Serve ``yard`` on ``host:port`` with ``workers`` processes forked from this one, until SIGTERM/SIGINT."""
    preload_serving(yard)
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    PreforkServer(
        {
            "bind": [bind],
            "workers": workers,
            "worker_class": f"{__name__}.ServingWorker",
            "loglevel": log_level,
            "errorlog": "-",
            "accesslog": None,
            "timeout": WORKER_TIMEOUT,
            "graceful_timeout": GRACEFUL_SECONDS,
            "keepalive": 5,  # uvicorn's own default (--timeout-keep-alive)
            "child_exit": _child_exit,
            "proc_name": "modelyard-serve",
        }
    ).run()
