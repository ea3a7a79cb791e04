"""Batch scoring: point-in-time features for a table of entity rows, chunked predictions, Parquet out.

:func:`modelyard.batch.engine.score` runs locally or on Dask (``engine="dask"``); both
produce the same file. Import-light: submodules import pandas, pyarrow and dask when used.
"""
