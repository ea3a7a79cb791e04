"""Artifacts: content-addressed storage of model files and snapshots, verified on every load.

Import-light on purpose: :mod:`modelyard.artifacts.store` imports fsspec when used.
"""
