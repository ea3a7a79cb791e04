"""Telling "the store does not answer" (retry later, 503) from every other failure (a bug or bad data)."""

from __future__ import annotations

import sqlite3


def is_connection_error(exc: BaseException) -> bool:
    """True when ``exc`` means an online or offline store could not be reached or was busy.

    Covers Redis connection and timeout errors (when redis is installed), the OS's connection
    errors, and SQLite's OperationalError (a locked or missing database file).
    """
    if isinstance(exc, (ConnectionError, sqlite3.OperationalError)):
        return True
    try:
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeoutError
    except ImportError:  # redis is optional for Feast
        return False
    return isinstance(exc, (RedisConnectionError, RedisTimeoutError))
