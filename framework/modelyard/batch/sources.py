"""Where batch scoring reads entity rows from: Parquet files or a SQL table, in bounded chunks.

A source never loads the whole input: Parquet is read batch by batch (row groups), SQL by a
server-side cursor. ``num_rows`` feeds the progress bar; ``arrow_schema`` (when known up
front) fixes the output schema so every chunk is written with the same column types.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from modelyard.errors import BadRequest

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    import pyarrow as pa


class EntitySource(ABC):
    """A table of entity rows (entity keys + a timestamp column + anything else)."""

    #: a human-readable description, for messages
    label: str

    @property
    @abstractmethod
    def num_rows(self) -> int | None:
        """How many rows (``None`` when unknown without reading everything)."""

    @property
    def arrow_schema(self) -> pa.Schema | None:
        """The Arrow schema of the rows, when the source knows it up front."""
        return None

    @abstractmethod
    def chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        """The rows in order, ``chunk_rows`` at a time (the last chunk may be shorter)."""


class ParquetSource(EntitySource):
    """A Parquet file, or a directory of Parquet files (read in name order)."""

    def __init__(self, path: str | Path) -> None:
        import pyarrow.dataset as ds

        self.path = Path(path)
        if not self.path.exists():
            raise BadRequest(f"entity file {self.path} does not exist")
        self.label = str(self.path)
        self._dataset = ds.dataset(str(self.path), format="parquet")

    @property
    def num_rows(self) -> int | None:
        return sum(f.metadata.num_rows for f in self._dataset.get_fragments())

    @property
    def arrow_schema(self) -> pa.Schema | None:
        return self._dataset.schema.remove_metadata()

    def chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        import pyarrow as pa

        pending: list[pa.RecordBatch] = []
        held = 0
        import pyarrow.dataset as ds

        # no read-ahead and no pre-buffering of whole files: memory follows the chunk size
        batches = self._dataset.to_batches(
            batch_size=chunk_rows,
            use_threads=False,
            batch_readahead=1,
            fragment_readahead=1,
            fragment_scan_options=ds.ParquetFragmentScanOptions(pre_buffer=False),
        )
        for batch in batches:
            pending.append(batch)
            held += batch.num_rows
            while held >= chunk_rows:
                table = pa.Table.from_batches(pending)
                yield table.slice(0, chunk_rows).to_pandas()
                rest = table.slice(chunk_rows)
                pending, held = rest.to_batches(), rest.num_rows
        if held:
            yield pa.Table.from_batches(pending, schema=self._dataset.schema).to_pandas()


class SqlSource(EntitySource):
    """A table (or view) in a SQLAlchemy database, streamed with a server-side cursor."""

    def __init__(self, url: str, table: str, *, schema: str | None = None) -> None:
        import sqlalchemy as sa

        self.engine = sa.create_engine(url)
        self.label = f"{table} in {sa.make_url(url).render_as_string(hide_password=True)}"
        try:
            self.table = sa.Table(table, sa.MetaData(), schema=schema, autoload_with=self.engine)
        except sa.exc.NoSuchTableError:
            raise BadRequest(f"no table {table!r} in {self.label.split(' in ', 1)[1]}") from None
        except sa.exc.OperationalError as exc:
            raise BadRequest(f"cannot read {self.label}: {exc.orig}") from None

    @property
    def num_rows(self) -> int | None:
        import sqlalchemy as sa

        with self.engine.connect() as conn:
            return int(conn.execute(sa.select(sa.func.count()).select_from(self.table)).scalar_one())

    def chunks(self, chunk_rows: int) -> Iterator[pd.DataFrame]:
        import pandas as pd
        import sqlalchemy as sa

        columns = [c.name for c in self.table.columns]
        with self.engine.connect() as conn:
            result = conn.execution_options(stream_results=True, yield_per=chunk_rows).execute(
                sa.select(self.table)
            )
            for partition in result.partitions(chunk_rows):
                yield pd.DataFrame.from_records([tuple(r) for r in partition], columns=columns)

    def close(self) -> None:
        self.engine.dispose()


def describe(source: Any) -> str:
    return getattr(source, "label", repr(source))
