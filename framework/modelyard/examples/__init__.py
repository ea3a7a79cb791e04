"""Example data for the example feature repo (``feature_repo/``): seeded generators, no downloads."""
