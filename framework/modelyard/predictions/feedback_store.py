"""Where ground-truth feedback is kept: Parquet files (default) or a SQL table.

Rows have fixed columns (:data:`FEEDBACK_COLUMNS`): the request id *or* the entity keys (as
JSON text) and the time of the prediction the label belongs to, the label (numeric in
``label``, text in ``label_text``), when it was received and where from. Files are
append-only, each written to a temporary name and renamed, so a reader never sees half a
batch. :func:`feedback_store` picks the store a yard uses: the PostgreSQL database of the
``postgres`` log sink when that is configured, else ``yard.home/feedback/<model>/``.
"""

from __future__ import annotations

import os
import time
import uuid
from abc import ABC, abstractmethod
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa
    import sqlalchemy as sa

    from modelyard.yard import Yard

#: column -> logical type (same vocabulary as :data:`modelyard.predictions.records.ROW_COLUMNS`)
FEEDBACK_COLUMNS: dict[str, str] = {
    "model": "string",
    "request_id": "string",
    "entities": "json",
    "event_timestamp": "timestamp",
    "label": "float",
    "label_text": "string",
    "received_at": "timestamp",
    "source": "string",
}


def _arrow_schema() -> pa.Schema:
    import pyarrow as pa

    types = {
        "string": pa.string(),
        "json": pa.string(),
        "timestamp": pa.timestamp("us", tz="UTC"),
        "float": pa.float64(),
    }
    return pa.schema([pa.field(n, types[k]) for n, k in FEEDBACK_COLUMNS.items()])


class FeedbackStore(ABC):
    """Appends feedback rows of one model and reads them all back."""

    @abstractmethod
    def append(self, rows: list[dict[str, Any]]) -> None:
        """Store rows with :data:`FEEDBACK_COLUMNS` keys, all or nothing."""

    @abstractmethod
    def read(self) -> pd.DataFrame:
        """Every stored row, columns :data:`FEEDBACK_COLUMNS`."""

    def close(self) -> None:  # noqa: B027 - optional
        """Release connections."""


class ParquetFeedbackStore(FeedbackStore):
    """One complete Parquet file per appended batch under ``directory``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def append(self, rows: list[dict[str, Any]]) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        schema = _arrow_schema()
        table = pa.Table.from_pydict({n: [r.get(n) for r in rows] for n in schema.names}, schema=schema)
        self.directory.mkdir(parents=True, exist_ok=True)
        name = f"feedback-{time.time_ns():020d}-{uuid.uuid4().hex[:8]}.parquet"
        tmp = self.directory / f".{name}.tmp"
        pq.write_table(table, tmp)
        os.replace(tmp, self.directory / name)

    def read(self) -> pd.DataFrame:
        import pyarrow as pa
        import pyarrow.parquet as pq

        files = sorted(self.directory.glob("feedback-*.parquet")) if self.directory.is_dir() else []
        tables = [pq.read_table(f, schema=_arrow_schema()) for f in files]
        return (pa.concat_tables(tables) if tables else _arrow_schema().empty_table()).to_pandas()


class SqlFeedbackStore(FeedbackStore):
    """A ``feedback`` table (one for all models) in a SQLAlchemy database."""

    def __init__(self, url: str, model: str, *, table: str = "feedback", schema: str | None = None) -> None:
        import sqlalchemy as sa

        self.model = model
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        self.table = _feedback_table(sa.MetaData(), table, schema)
        self._created = False

    def _ensure(self) -> None:
        if not self._created:
            self.table.metadata.create_all(self.engine, checkfirst=True)
            self._created = True

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Insert the rows in one transaction; a refusal is a BadRequest, a database down a ServingError."""
        import sqlalchemy as sa

        from modelyard.errors import BadRequest, ServingError

        try:
            self._ensure()
            with self.engine.begin() as conn:
                conn.execute(self.table.insert(), [{n: r.get(n) for n in FEEDBACK_COLUMNS} for r in rows])
        except (sa.exc.DataError, sa.exc.IntegrityError) as exc:
            raise BadRequest(f"the feedback store refused these rows: {_first_line(exc.orig)}") from None
        except sa.exc.SQLAlchemyError as exc:
            raise ServingError(f"the feedback store is unavailable: {_first_line(exc)}") from None

    def read(self) -> pd.DataFrame:
        import pandas as pd
        import sqlalchemy as sa

        self._ensure()
        t = self.table
        query = sa.select(*[t.c[n] for n in FEEDBACK_COLUMNS]).where(t.c.model == self.model).order_by(t.c.id)
        with self.engine.connect() as conn:
            frame = pd.DataFrame(conn.execute(query).all(), columns=list(FEEDBACK_COLUMNS))
        for column in ("event_timestamp", "received_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        frame["label"] = frame["label"].astype("float64")
        return frame

    def close(self) -> None:
        self.engine.dispose()


def _first_line(exc: BaseException | None) -> str:
    return str(exc).strip().splitlines()[0] if exc is not None and str(exc).strip() else type(exc).__name__


def _feedback_table(metadata: sa.MetaData, name: str, schema: str | None) -> sa.Table:
    import sqlalchemy as sa

    types: dict[str, Any] = {
        "string": sa.Text,
        "json": sa.Text,
        "timestamp": sa.DateTime(timezone=True),
        "float": sa.Float(53),
    }
    table = sa.Table(
        name,
        metadata,
        sa.Column("id", sa.BigInteger, sa.Identity(), primary_key=True),
        *[sa.Column(n, types[k], nullable=n != "model") for n, k in FEEDBACK_COLUMNS.items()],
        schema=schema,
    )
    sa.Index(f"ix_{name}_model_request", table.c.model, table.c.request_id)
    return table


def feedback_store(yard: Yard, model: str) -> FeedbackStore:
    """The feedback store of ``model`` in this yard (see the module docstring)."""
    choice = yard.config.serving.log
    if choice.plugin == "postgres" and choice.settings.get("url"):
        return SqlFeedbackStore(str(choice.settings["url"]), model, schema=choice.settings.get("db_schema"))
    return ParquetFeedbackStore(yard.home / "feedback" / model)
