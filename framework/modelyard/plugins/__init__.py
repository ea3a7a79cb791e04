"""The plugin system: hook specs, typed spec objects and the host that loads them.

Plugin authors need two names from here::

    from modelyard.plugins import hookimpl
    from modelyard.plugins.specs import DetectorSpec
"""

from __future__ import annotations

from modelyard.plugins.hookspecs import hookimpl, hookspec

__all__ = ["hookimpl", "hookspec"]
