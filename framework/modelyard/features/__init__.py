"""Feast at the centre: the feature facade (``store``), feature schemas and fingerprints (``schema``),
repo parsing and model checks (``definitions``) and modelyard's Feast offline stores (``offline``).

Only ``feast_checks`` (standard library only) is imported by ``import modelyard``; Feast itself is imported only where used.
"""
