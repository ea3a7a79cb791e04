"""What a materialization remembers between runs beside Feast's registry: each view's created watermark.

Feast records where each view's last materialization ended; a late row is one whose event
time is before that end. To find late rows by their created timestamp, the next run needs
the latest created time the previous run saw (the *watermark*): every row created after it
was written after that run read the source. It is kept per Feast project and view in a small
JSON file next to the push record (``data/.modelyard/materialized.json``). Without an entry
(a store materialized by ``feast materialize``, or a fresh checkout) the previous end time
stands in for it, which picks up at least the same late rows.
"""

from __future__ import annotations

import json
from pathlib import Path


def watermarks(path: Path, project: str) -> dict[str, int]:
    """View -> watermark (Unix nanoseconds) recorded at ``path`` for Feast ``project``; empty when none."""
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    views = data.get(project) if isinstance(data, dict) else None
    if not isinstance(views, dict):
        return {}
    return {str(view): int(entry["created_watermark_ns"]) for view, entry in views.items() if _valid(entry)}


def record_watermarks(path: Path, project: str, marks: dict[str, int]) -> None:
    """Store ``marks`` (view -> watermark ns) for ``project`` at ``path``, keeping every other entry."""
    if not marks:
        return
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        data = {}
    if not isinstance(data, dict):
        data = {}
    views = data.setdefault(project, {})
    for view, mark in marks.items():
        views[view] = {"created_watermark_ns": int(mark)}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    tmp.replace(path)


def _valid(entry: object) -> bool:
    return isinstance(entry, dict) and isinstance(entry.get("created_watermark_ns"), int)
