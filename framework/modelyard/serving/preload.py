"""What a serving process imports before the rest: the model libraries its models' flavors load with.

A worker's start-up is mostly imports. Importing the flavors' libraries first is cheaper than
importing them when the first model loads: ``skops.io`` builds its trusted-type lists by
searching every module already imported, which costs about a second more of CPU after Feast
and the web stack are in. :func:`preload_flavors` runs each declared flavor's
:meth:`~modelyard.artifacts.flavor.Flavor.preload`; a flavor that cannot be imported is left
for the model load to report (that model then answers 503, the others serve).
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from modelyard.errors import ModelyardError

if TYPE_CHECKING:  # pragma: no cover
    from modelyard.yard import Yard

logger = logging.getLogger(__name__)


def preload_flavors(yard: Yard) -> list[str]:
    """Preload the flavors ``yard``'s models declare; returns those that preloaded."""
    from modelyard.artifacts.flavor import build_flavor

    done = []
    for name in sorted({model.flavor for model in yard.config.models.values()}):
        try:
            build_flavor(yard.host, name).preload()
        except (ImportError, ModelyardError) as exc:
            logger.debug("flavor %s not preloaded: %s", name, exc)
            continue
        done.append(name)
    return done
