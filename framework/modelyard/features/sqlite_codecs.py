"""Keep Feast's SQLite online-store codecs in force in this process.

Feast's SQLite online store registers process-wide ``sqlite3`` adapters and converters:
datetimes are written as Unix epoch integers and read back with an epoch converter. pandas,
whenever ``to_sql``/``read_sql`` runs on a raw ``sqlite3`` connection, registers its own
process-wide ones (ISO strings). After that, a materialization in the same process writes ISO
strings that Feast in every other process (a serving worker) fails to read with
"invalid literal for int()", and the online store is silently poisoned. Calling
:func:`restore_feast_sqlite_codecs` before each Feast read or write against SQLite keeps the
file in Feast's own format whatever else the process has done.
"""

from __future__ import annotations

from typing import Any


def uses_sqlite_online_store(store: Any) -> bool:
    """Whether a ``feast.FeatureStore`` keeps its online store in SQLite."""
    return getattr(store.config.online_store, "type", None) == "sqlite"


def restore_feast_sqlite_codecs() -> None:
    """Register Feast's SQLite adapters and converters again (cheap: a few dict writes)."""
    import sqlite3
    from datetime import date, datetime

    from feast.infra.online_stores import sqlite as feast_sqlite

    sqlite3.register_adapter(date, feast_sqlite.adapt_date_iso)
    sqlite3.register_adapter(datetime, feast_sqlite.adapt_datetime_epoch)
    sqlite3.register_converter("date", feast_sqlite.convert_date)
    sqlite3.register_converter("datetime", feast_sqlite.convert_datetime)
    sqlite3.register_converter("timestamp", feast_sqlite.convert_timestamp)


def guard_sqlite_codecs(store: Any) -> None:
    """Restore Feast's codecs if ``store``'s online store is SQLite; do nothing otherwise."""
    if uses_sqlite_online_store(store):
        restore_feast_sqlite_codecs()
