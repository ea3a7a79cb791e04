"""Traffic routing: which version answers a request, which ones shadow it, and how that changes.

- :mod:`modelyard.routing.router`: the :class:`~modelyard.routing.router.Router` ABC and its value types.
- :mod:`modelyard.routing.hashing`: deterministic, salted bucketing for sticky assignment.
- :mod:`modelyard.routing.deployment`: deployment state read and written through the registry.
- :mod:`modelyard.routing.runtime`: :class:`~modelyard.routing.runtime.RoutingTable`, what the server calls.
- :mod:`modelyard.routing.guards`, :mod:`~modelyard.routing.canary`: guard checks and the canary ramp.

The control loop that moves deployments (guards, ramp and automatic rollback; operator changes)
is :mod:`modelyard.rollout.policy` and :mod:`modelyard.rollout.changes`; their old paths here
still import, with a DeprecationWarning.
"""

from modelyard import _moved

_moved.install()
