"""The web UI of a yard: server-rendered pages (Jinja2, autoescaped, inline SVG, no scripts).

Mounted under ``/ui`` by ``modelyard serve`` (with what the worker has loaded) and served on its
own by ``modelyard ui`` (no model loaded). :mod:`modelyard.ui.routes` lists the pages.
"""
