"""modelyard's first-party plugins.

Each subpackage is one plugin module, published in the ``modelyard`` entry-point group of
modelyard's own distribution (see ``pyproject.toml``): the core never imports these
directly, it finds them exactly as it finds a third-party plugin. Each ``__init__`` holds
only cheap ``@hookimpl`` functions; the implementations load when a plugin is used.
"""
