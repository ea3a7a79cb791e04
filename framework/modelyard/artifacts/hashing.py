"""Content hashes of files and directory trees: what artifact and snapshot ids are made of.

The sha256 of a directory is the sha256 over its files' sorted ``(relative path, file
sha256)`` pairs, so it depends on names and bytes only (not on timestamps, permissions or
the order a filesystem lists entries in). The same function hashes a tree on local disk
and one in any fsspec filesystem, so a stored copy can be checked against the original.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path
from typing import BinaryIO

CHUNK = 1 << 20


def stream_sha256(stream: BinaryIO) -> str:
    """sha256 hex digest of everything left in a binary stream, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    for chunk in iter(lambda: stream.read(CHUNK), b""):
        digest.update(chunk)
    return digest.hexdigest()


def file_sha256(path: str | os.PathLike[str]) -> str:
    """sha256 hex digest of one file's bytes."""
    with open(path, "rb") as stream:
        return stream_sha256(stream)


def bytes_sha256(data: bytes) -> str:
    """sha256 hex digest of ``data``."""
    return hashlib.sha256(data).hexdigest()


def combine_pairs(pairs: Iterable[tuple[str, str]]) -> str:
    """The tree hash of ``(relative posix path, file sha256)`` pairs (sorted here)."""
    digest = hashlib.sha256()
    for rel, file_hash in sorted(pairs):
        digest.update(rel.encode("utf-8"))
        digest.update(b"\0")
        digest.update(file_hash.encode("ascii"))
        digest.update(b"\n")
    return digest.hexdigest()


def tree_files(directory: str | os.PathLike[str]) -> list[tuple[str, Path]]:
    """Every regular file under ``directory`` as ``(relative posix path, absolute path)``, sorted."""
    root = Path(directory)
    files = [
        (p.relative_to(root).as_posix(), p) for p in root.rglob("*") if p.is_file() and not p.is_symlink()
    ]
    return sorted(files)


def tree_sha256(directory: str | os.PathLike[str]) -> str:
    """sha256 of a local directory: over its sorted (relative path, file sha256) pairs.

    A path that is a single file hashes as a tree holding just that file, under its name.
    """
    root = Path(directory)
    if root.is_file():
        return combine_pairs([(root.name, file_sha256(root))])
    return combine_pairs((rel, file_sha256(path)) for rel, path in tree_files(root))
