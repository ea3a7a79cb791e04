"""Serving: the request path and the HTTP surface of a worker.

Import-light on purpose: submodules import pandas, numpy and the runtimes they need. What the
request path reads and writes lives below it: online features in :mod:`modelyard.features.online`,
the flavor contract in :mod:`modelyard.artifacts.flavor`, records, the prediction log, feedback
and the prediction cache in :mod:`modelyard.predictions`. Their old paths under
``modelyard.serving`` still import, with a DeprecationWarning (:mod:`modelyard._moved`).
"""

from modelyard import _moved

_moved.install()
