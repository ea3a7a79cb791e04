"""How commands print results: a rich table for people, ``--json`` for scripts.

Commands build plain rows (lists of dicts) and hand them to :func:`emit`; nothing else in
the CLI formats output, so every list command looks and behaves the same.

Every cell, header and title is user or data text (model names, promote reasons,
categories...), never Rich markup: :func:`print_table` hands Rich ``Text`` objects, so
``share[hatchback]`` or ``fix [/x]`` print as written, and control characters (ANSI
escapes, carriage returns) are shown as ``\\x1b``-style escapes instead of reaching the
terminal. Lines printed with ``click.echo`` that carry user text go through :func:`plain`.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def json_option(func: F) -> F:
    """The ``--json`` flag every listing command takes (passed as ``as_json``)."""
    return click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")(func)


def _default(value: Any) -> Any:
    """JSON encoding for what commands commonly print (timestamps, paths, bytes, numpy scalars)."""
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, bytes):  # Bytes features: base64, as the HTTP API sends them
        return base64.b64encode(value).decode("ascii")
    if hasattr(value, "item"):  # numpy / pandas scalars
        return value.item()
    if isinstance(value, (set, frozenset, tuple)):
        return list(value)
    return str(value)


def to_json(data: Any) -> str:
    """``data`` as indented JSON; values JSON cannot hold are converted, NaN becomes null."""
    return json.dumps(_nan_to_none(data), indent=2, default=_default, allow_nan=False)


def _nan_to_none(value: Any) -> Any:
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, Mapping):
        return {k: _nan_to_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_to_none(v) for v in value]
    return value


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def plain(value: Any) -> str:
    """``value`` as text safe to print: control characters (but newline and tab) escaped."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}", str(value))


def format_number(value: float) -> str:
    """A float for people: four significant digits (``0.3704``, ``12.35``), no decimals from 1000 up
    (``1235``), e-notation only for the very small or very large. ``--json`` keeps the full value."""
    if value == 0 or value != value or value in (float("inf"), float("-inf")):
        return "0" if value == 0 else str(value)
    size = abs(value)
    if size < 1e-4 or size >= 1e15:
        return f"{value:.3g}"
    if size >= 1000:
        return f"{value:.0f}"
    return f"{value:.4g}"


def format_cell(value: Any) -> str:
    """One table cell: missing values as ``-``, floats to four significant digits, lists joined,
    mappings as ``k: v`` lines."""
    if value is None or (isinstance(value, float) and value != value):
        return "-"
    if isinstance(value, Mapping):
        return "\n".join(f"{k}: {format_cell(v)}" for k, v in value.items()) or "-"
    if isinstance(value, (list, tuple, set, frozenset)):
        return ", ".join(format_cell(v) for v in value) or "-"
    if isinstance(value, float) or (
        hasattr(value, "dtype") and getattr(value.dtype, "kind", "") == "f" and not hasattr(value, "__len__")
    ):
        return format_number(float(value))
    return str(value)


def print_table(
    rows: Sequence[Mapping[str, Any]], columns: Sequence[str], *, title: str | None = None
) -> None:
    """Print ``rows`` as a table of ``columns``, in that order, with ``title`` on its own line above.

    No header is broken inside a word: each column is at least as wide as its header's longest
    word. When the columns cannot fit the width that way (a narrow terminal, or 80 columns when
    the output is piped), each row is printed as a block of ``column: value`` lines instead.
    ``--json`` carries the full values either way.
    """
    from rich import box
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    console = Console()
    headers = [plain(column) for column in columns]
    cells = [[plain(format_cell(row.get(column))) for column in columns] for row in rows]
    if title is not None:
        console.print(Text(plain(title), style="bold"))
    widths = [max([len(w) for w in header.split()] or [1]) for header in headers]
    if sum(w + 3 for w in widths) + 1 > console.width:
        _print_blocks(console, headers, cells)
        return
    table = Table(box=box.HEAVY_HEAD, show_lines=False)
    for header, width in zip(headers, widths, strict=True):
        table.add_column(Text(header), overflow="fold", min_width=width)
    for row_cells in cells:
        table.add_row(*(Text(cell) for cell in row_cells))
    console.print(table)


def _print_blocks(console: Any, headers: list[str], cells: list[list[str]]) -> None:
    """The narrow layout: one block of ``header: value`` lines per row."""
    from rich.text import Text

    pad = max((len(h) for h in headers), default=0)
    for i, row_cells in enumerate(cells):
        if i:
            console.print()
        for header, cell in zip(headers, row_cells, strict=True):
            console.print(Text(f"{header:<{pad}}  ", style="bold") + Text(cell))


def emit(
    data: Any,
    *,
    as_json: bool,
    columns: Sequence[str] | None = None,
    title: str | None = None,
) -> None:
    """Print ``data`` as JSON, or as a table of ``columns`` (a list of row dicts, or one dict)."""
    if as_json:
        click.echo(to_json(data))
        return
    rows: Sequence[Mapping[str, Any]] = [data] if isinstance(data, Mapping) else data
    if columns is None:
        columns = list(rows[0]) if rows else []
    print_table(rows, columns, title=title)
