"""Helpers for plugin authors' tests (like pytest's ``pytester``).

::

    from modelyard.plugins.testing import make_host
    import my_plugin

    def test_my_detector_is_found():
        host = make_host(my_plugin)
        assert "mean-shift" in host.detectors()

``make_host`` builds an isolated host: modelyard's own built-in plugins (from their entry
points) plus the plugin objects given, and nothing else that happens to be installed,
whatever ``MODELYARD_LOAD_PLUGINS`` / ``MODELYARD_DISABLE_PLUGIN_AUTOLOAD`` say.
"""

from __future__ import annotations

from typing import Any

from modelyard.plugins.manager import PluginHost


def make_host(*plugins: Any, builtins: bool = True) -> PluginHost:
    """A fresh :class:`PluginHost` with the built-ins (unless ``builtins=False``) and ``plugins``."""
    host = PluginHost()
    if builtins:
        host.load_entry_points(autoload=False, use_env=False)
    for plugin in plugins:
        host.register(plugin)
    return host
