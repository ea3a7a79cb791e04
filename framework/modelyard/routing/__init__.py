"""Traffic routing: which version answers a request, which ones shadow it, and how that changes.

- :mod:`modelyard.routing.router`: the :class:`~modelyard.routing.router.Router` ABC and its value types.
- :mod:`modelyard.routing.hashing`: deterministic, salted bucketing for sticky assignment.
- :mod:`modelyard.routing.deployment`: deployment state read and written through the registry.
- :mod:`modelyard.routing.runtime`: :class:`~modelyard.routing.runtime.RoutingTable`, what the server calls.
- :mod:`modelyard.routing.guards`, :mod:`~modelyard.routing.canary`, :mod:`~modelyard.routing.policy`:
  guard checks, the canary ramp and automatic rollback.
"""
