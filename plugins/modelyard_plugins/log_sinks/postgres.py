"""The ``postgres`` log sink: one table, batch inserts in a transaction, chunked reads.

Config (``serving.log``)::

    log:
      plugin: postgres
      settings:
        url: ${MODELYARD_LOG_URL}          # SQLAlchemy URL, e.g. postgresql+psycopg://user@host/db
        table: prediction_log

The table (columns = :data:`modelyard.predictions.records.ROW_COLUMNS`, indexed on model + time
and on request id) is created on first use, so a sink whose database is down at start-up
still builds; the logger spools until the database answers. Each batch is one
transaction: stored entirely or not at all. With the ``psycopg`` driver a batch goes in as one
``COPY ... FROM STDIN`` of CSV that Arrow writes from the batch's columns (no Python object per
value on the writer thread); other drivers get an ``INSERT`` of the rows. Data errors (a value out of range)
are :meth:`~PostgresSink.rejects`: the logger isolates those rows and dead-letters them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from pydantic import Field

from modelyard.predictions.log import LogSink, LogSinkSettings

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa
    import sqlalchemy as sa

    from modelyard.yard import Yard

logger = logging.getLogger(__name__)


class PostgresSinkConfig(LogSinkSettings):
    """Settings of the ``postgres`` log sink."""

    url: str = Field(description="SQLAlchemy URL of the database (use ${ENV} references for secrets)")
    table: str = Field("prediction_log", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")
    db_schema: str | None = Field(None, pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", description="PostgreSQL schema")
    connect_timeout: int = Field(5, ge=1, description="seconds to wait for a connection")


def log_table(metadata: sa.MetaData, name: str, schema: str | None = None) -> sa.Table:
    """The SQL table of log rows (also used for feedback's join)."""
    import sqlalchemy as sa

    from modelyard.predictions.records import ROW_COLUMNS

    types: dict[str, Any] = {
        "string": sa.Text,
        "json": sa.Text,
        "timestamp": sa.DateTime(timezone=True),
        "int": sa.BigInteger,
        "float": sa.Float(53),
        "bool": sa.Boolean,
    }
    columns = [sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True)]
    columns += [
        sa.Column(name, types[kind], nullable=name in {"prediction", "prediction_label", "score", "error"})
        for name, kind in ROW_COLUMNS.items()
    ]
    table = sa.Table(name, metadata, *columns, schema=schema)
    sa.Index(f"ix_{name}_model_ts", table.c.model, table.c.timestamp)
    sa.Index(f"ix_{name}_request_id", table.c.request_id)
    return table


class PostgresSink(LogSink):
    """Prediction log in a PostgreSQL (or any SQLAlchemy) table."""

    def __init__(self, config: PostgresSinkConfig, *, yard: Yard | None = None) -> None:
        import sqlalchemy as sa

        self.config = config
        connect_args: dict[str, Any] = {}
        if config.url.startswith("postgresql"):
            connect_args["connect_timeout"] = config.connect_timeout
        self.engine = sa.create_engine(config.url, pool_pre_ping=True, connect_args=connect_args)
        self.table = log_table(sa.MetaData(), config.table, config.db_schema)
        self._created = False

    def _ensure_table(self) -> None:
        if not self._created:
            self.table.metadata.create_all(self.engine, checkfirst=True)
            self._created = True

    def write(self, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        self._ensure_table()
        with self.engine.begin() as conn:
            conn.execute(self.table.insert(), rows)

    def write_table(self, table: pa.Table) -> None:
        if self.engine.dialect.driver != "psycopg":
            super().write_table(table)
            return
        if not table.num_rows:
            return
        import pyarrow as pa
        import pyarrow.csv as csv

        self._ensure_table()
        data = pa.BufferOutputStream()
        csv.write_csv(table, data, csv.WriteOptions(include_header=False))
        sql = self._copy_sql(table.column_names)
        with self.engine.begin() as conn:
            driver = conn.connection.driver_connection  # psycopg's own connection, in this transaction
            with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
                copy.write(data.getvalue().to_pybytes())

    def _copy_sql(self, columns: list[str]) -> str:
        quote = self.engine.dialect.identifier_preparer
        names = ", ".join(quote.quote(name) for name in columns)
        return f"COPY {quote.format_table(self.table)} ({names}) FROM STDIN WITH (FORMAT csv)"

    def rejects(self, exc: BaseException) -> bool:
        """Data and integrity errors (a value out of range, a NUL byte) are about the rows; a
        lost connection or a database that is down is not."""
        import sqlalchemy as sa

        if isinstance(exc, (sa.exc.DataError, sa.exc.IntegrityError)):
            return True
        dbapi = self.engine.dialect.loaded_dbapi  # errors of a COPY come from the driver itself
        if isinstance(exc, (dbapi.DataError, dbapi.IntegrityError)):
            return True
        if isinstance(exc, dbapi.Error):
            return False
        if isinstance(exc, sa.exc.DBAPIError):
            return False
        if isinstance(exc, sa.exc.StatementError):  # refused while binding the parameters
            return exc.orig is not None and super().rejects(exc.orig)
        return super().rejects(exc)

    def read(
        self,
        model: str,
        since: datetime | None = None,
        until: datetime | None = None,
        *,
        chunk_rows: int = 50_000,
    ) -> Iterator[pd.DataFrame]:
        import pandas as pd
        import sqlalchemy as sa

        from modelyard.predictions.records import ROW_COLUMNS

        self._ensure_table()
        t = self.table
        query = sa.select(*[t.c[name] for name in ROW_COLUMNS]).where(t.c.model == model)
        if since is not None:
            query = query.where(t.c.timestamp >= _aware(since))
        if until is not None:
            query = query.where(t.c.timestamp < _aware(until))
        query = query.order_by(t.c.timestamp, t.c.id)
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(query)
            for partition in result.partitions(chunk_rows):
                frame = pd.DataFrame.from_records(partition, columns=list(ROW_COLUMNS))
                frame["timestamp"] = pd.to_datetime(frame["timestamp"], utc=True)
                yield frame

    def close(self) -> None:
        self.engine.dispose()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=timezone.utc)
