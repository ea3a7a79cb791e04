"""Feast offline stores shipped with modelyard, named in ``feature_store.yaml`` by module path.

``offline_store: {type: modelyard.features.offline.asof.AsofDuckDBOfflineStore}`` selects the
DuckDB ASOF-join store of :mod:`modelyard.features.offline.asof`.
"""
