"""The Dask worker plugin of batch scoring: each worker loads the yard and the model once, when it joins.

Without it every worker paid its imports, the registry read and the model load inside its
first task, on the clock of the run. Registered by the Dask engine
(:func:`modelyard.batch.engine.score`) before the first chunk is submitted; a worker that joins
later runs it too. Imported only when the Dask engine runs (it imports ``distributed``).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

logger = logging.getLogger(__name__)


class ScorerPreload(WorkerPlugin):
    """Loads :func:`modelyard.batch.scorer.preload` for one (repo, model, version) in each worker."""

    def __init__(self, repo: str, model: str, version: int, timestamp: str) -> None:
        self.repo, self.model, self.version, self.timestamp = repo, model, version, timestamp
        self.name = f"modelyard-score-{model}-v{version}"

    async def setup(self, worker: Any) -> None:
        from modelyard.features.feast_checks import skip_feast_typechecks

        skip_feast_typechecks()  # this worker scores from an applied registry (feast_checks says why)
        from modelyard.batch.scorer import preload

        # off the worker's event loop, so it keeps answering the scheduler while the model loads
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, preload, self.repo, self.model, self.version, self.timestamp)
        logger.debug("worker %s preloaded %s v%d", getattr(worker, "address", "?"), self.model, self.version)
