"""Run the serving app on uvicorn: one process, or N worker processes on one port.

Each worker builds its own app (``modelyard.serving.app:app_from_env``): it loads the yard
named by ``$MODELYARD_REPO``, its models, its cache and its prediction log, and polls the
registry by itself, so workers are stateless and interchangeable. With more than one
worker, Prometheus multiprocess mode is switched on (a fresh directory in
``$PROMETHEUS_MULTIPROC_DIR``) so a scrape of any worker reports all of them, and by default
the workers are forked from this process once it has imported their code
(:mod:`modelyard.serving.prefork`); ``preload=False`` starts each as a fresh interpreter
(uvicorn's own ``--workers``), which then imports everything by itself.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile

from modelyard.serving.app import REPO_ENV

logger = logging.getLogger(__name__)

APP_FACTORY = "modelyard.serving.app:app_from_env"


def serve(
    repo: str,
    *,
    host: str | None = None,
    port: int | None = None,
    workers: int = 1,
    log_level: str = "warning",
    insecure: bool = False,
    preload: bool = True,
) -> None:
    """Serve the yard at ``repo`` until interrupted (Ctrl-C / SIGTERM shut down gracefully).

    ``host`` and ``port`` default to ``serving.host`` / ``serving.port`` of modelyard.yaml
    (``127.0.0.1:8000``: nothing outside this machine can reach it unless you say so). On any
    other address it refuses to start without bearer tokens (:mod:`modelyard.serving.auth`)
    unless ``insecure``. With ``workers > 1`` and ``preload`` (on POSIX), the workers are forked
    from this process after it imported their code (one import cost, not one per worker).
    """
    import uvicorn

    from modelyard.serving.auth import Tokens, check_bind
    from modelyard.yard import Yard

    yard = Yard.load(repo)  # fail here, in the parent, on a bad config
    host = host or yard.config.serving.host
    port = port or yard.config.serving.port
    tokens = Tokens.load(yard.config.serving.auth)
    check_bind(host, tokens, insecure=insecure)
    if not tokens.enabled:
        logger.warning("serving on %s without authentication (no tokens configured)", host)
    os.environ[REPO_ENV] = str(yard.path)
    metrics_dir = None
    if workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        metrics_dir = tempfile.mkdtemp(prefix="modelyard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        os.environ["PROMETHEUS_MULTIPROCESS_DIR"] = metrics_dir
    logger.info("serving %s on http://%s:%s with %d worker(s)", yard.path, host, port, workers)
    try:
        if workers > 1 and preload and os.name == "posix":  # gunicorn forks: POSIX only
            from modelyard.serving.prefork import run_prefork

            run_prefork(yard, host=host, port=port, workers=workers, log_level=log_level)
            return
        uvicorn.run(
            APP_FACTORY,
            factory=True,
            host=host,
            port=port,
            workers=workers,
            access_log=False,
            log_level=log_level,
            timeout_graceful_shutdown=10,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)
