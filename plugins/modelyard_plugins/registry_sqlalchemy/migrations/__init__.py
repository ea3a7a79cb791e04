"""Alembic migrations of the registry database, run programmatically by :mod:`..schema`."""
