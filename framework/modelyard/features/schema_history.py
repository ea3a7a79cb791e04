"""Every feature schema a yard has seen, by fingerprint, so a version's trained types stay known.

A model version records only its schema's fingerprint. When ``modelyard apply --force`` then
changes the type of a feature that version reads, serving must say which feature changed and
from what: it looks the version's fingerprint up here. The record is a JSON file in the yard
(``data/.modelyard/schemas.json``, fingerprint -> ``[[name, value type], ...]``) that every
process computing a model's schema adds to (registering, applying, serving), written
atomically; a schema is never removed. A fingerprint it does not hold (a version registered
from another checkout) is unknown: serving then only checks that the features still exist.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from modelyard.features.schema import FeatureSchema

logger = logging.getLogger(__name__)


def _read(path: Path) -> dict[str, list[list[str]]]:
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable schema record %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


def remember(path: Path, schema: FeatureSchema) -> None:
    """Add ``schema`` to the record at ``path`` (nothing if it is there; a write error is logged)."""
    known = _read(path)
    if schema.fingerprint in known:
        return
    known[schema.fingerprint] = [list(f) for f in schema.fields]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(known, sort_keys=True, indent=1) + "\n")
        os.replace(tmp, path)
    except OSError as exc:
        logger.warning("could not record feature schema %s in %s: %s", schema.fingerprint[:12], path, exc)


def recall(path: Path, fingerprint: str) -> FeatureSchema | None:
    """The schema with ``fingerprint`` in the record at ``path``, or ``None`` if it is not there."""
    fields = _read(path).get(fingerprint)
    if not isinstance(fields, list):
        return None
    return FeatureSchema(tuple((str(name), str(value_type)) for name, value_type in fields))


def changed_types(trained: FeatureSchema, current: FeatureSchema, reads: list[str]) -> list[str]:
    """``"name (OLD -> NEW)"`` for each feature of ``reads`` whose type differs between the two."""
    old, new = dict(trained.fields), dict(current.fields)
    return [f"{n} ({old[n]} -> {new[n]})" for n in reads if n in old and n in new and old[n] != new[n]]
