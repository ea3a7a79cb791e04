# Types of the compiled row decoder (_redis_rows.c), for mypy and editors.
from collections.abc import Sequence
from typing import Any

def decode_rows(
    rows: Sequence[Sequence[bytes | None]], types: Sequence[int], fresh_from: int | None = ..., /
) -> list[list[Any] | None] | None:
    """One list per column (``None``: a column the Python decoders must take); with
    ``fresh_from``, each row ends with its event time and stale rows decode to ``None``."""
