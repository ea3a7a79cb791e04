"""Serving: flavors that load artifacts into predictors, and what answers requests.

Import-light on purpose: submodules import pandas, numpy and the runtimes they need.
"""
