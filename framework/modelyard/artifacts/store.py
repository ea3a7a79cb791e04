"""The artifact store: content-addressed files of model versions and snapshots.

An artifact is a directory of files (a model's ``.skops`` and metadata, a snapshot's
Parquet files). :meth:`ArtifactStore.put` computes its tree sha256
(:func:`modelyard.artifacts.hashing.tree_sha256`) and stores the files under that hash::

    <url>/objects/ab/abcdef.../<files>        the files, under their relative paths
    <url>/objects/ab/abcdef....json           manifest, written last: the artifact is complete

so the same content is stored once and its URI is derived from its hash. In a local store the
URI recorded is relative to the store (``objects/ab/abcdef...``), so a yard copied or moved
with ``cp -r`` / ``mv`` (or checked out elsewhere over the same registry and a copy of the
store) still finds every version; an absolute path recorded by an older modelyard is resolved
by its content hash in the configured store the same way. Remote stores (``s3://``...) record
absolute URIs.
:meth:`ArtifactStore.get` copies an artifact into a local directory and hashes the bytes
it copies: if they differ from the sha256 the registry recorded, the copy is deleted and
:class:`~modelyard.errors.ArtifactIntegrityError` names the artifact and both hashes.
Flavors only ever read the verified local copy, never the store itself.

``url`` is a local directory (the default, ``.modelyard/artifacts`` in a yard) or any
fsspec URL (``s3://bucket/prefix``, ``gs://...``, ``memory://...``), with the filesystem's
options passed as keyword arguments.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import urllib.parse
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from modelyard.artifacts.hashing import CHUNK, combine_pairs, file_sha256, tree_files
from modelyard.errors import ArtifactIntegrityError, ArtifactNotFound, RegistryError

logger = logging.getLogger(__name__)

OBJECTS = "objects"
MANIFEST_SUFFIX = ".json"
_OBJECT_URI = re.compile(
    rf"^(?:(?P<store>.*?)/)?{OBJECTS}/(?P<prefix>[0-9a-f]{{2}})/(?P<sha>[0-9a-f]{{64}})/?$"
)


def normalise_store_url(url: str | os.PathLike[str]) -> str:
    """One spelling per store location, so two spellings of one store compare equal.

    A local store may be written ``/data/store``, ``/data/store/``, ``~/store``, a
    relative path, ``file:///data/store`` or ``file://localhost/data/store``: all become
    the absolute, symlink-resolved path. Other URLs keep their scheme (lower-cased) and
    lose a trailing slash (``s3://bucket/prefix``).
    """
    text = os.fspath(url).strip()
    if text.lower().startswith("file://"):
        parsed = urllib.parse.urlsplit(text)
        if parsed.netloc not in ("", "localhost"):
            raise RegistryError(
                f"cannot read the store URL {text!r}: file URLs on another host are not supported"
            )
        text = urllib.parse.unquote(parsed.path)
    if "://" not in text:
        return str(Path(text).expanduser().resolve())
    scheme, _, rest = text.partition("://")
    return f"{scheme.lower()}://{rest.rstrip('/')}"


@dataclass(frozen=True)
class ArtifactAddress:
    """An artifact URI taken apart: the store it names (normalised) and the content hash.

    ``store`` is ``None`` for a URI relative to the store (``objects/ab/abcd...``).
    """

    store: str | None
    sha256: str


def parse_artifact_uri(uri: str) -> ArtifactAddress | None:
    """The store and content hash an artifact URI names, or ``None`` if it is not one of ours.

    Our URIs end in ``objects/<2 hex>/<64 hex>`` (see :meth:`ArtifactStore.uri_for`);
    whatever precedes that is the store's URL, in whichever spelling wrote it.
    """
    match = _OBJECT_URI.match(uri.strip())
    if match is None or match["sha"][:2] != match["prefix"]:
        return None
    store = match["store"]
    return ArtifactAddress(store=normalise_store_url(store) if store else None, sha256=match["sha"])


def recorded_address(uri: str, store: str | None) -> ArtifactAddress | None:
    """The store and content hash a registry record names, or ``None`` if ``uri`` is not ours.

    A relative URI (``objects/ab/...``) is placed in ``store``, the store URL recorded beside
    it; an absolute one names its store itself. The store stays ``None`` only for a relative
    URI recorded before modelyard kept the store beside it.
    """
    address = parse_artifact_uri(uri)
    if address is not None and address.store is None and store:
        return ArtifactAddress(store=normalise_store_url(store), sha256=address.sha256)
    return address


@dataclass(frozen=True)
class StoredArtifact:
    """Where :meth:`ArtifactStore.put` stored an artifact, its tree sha256 and its size in bytes."""

    uri: str
    sha256: str
    size: int


class ArtifactStore:
    """Content-addressed artifact storage on a local directory or any fsspec filesystem."""

    def __init__(self, url: str | os.PathLike[str], **storage_options: Any) -> None:
        from fsspec.core import url_to_fs

        text = os.fspath(url)
        if "://" not in text:
            text = str(Path(text).expanduser().resolve())
        self.url = text.rstrip("/")
        self.storage_options = storage_options
        self.fs, self._root = url_to_fs(self.url, **storage_options)
        self._root = self._root.rstrip("/")
        self._local = "://" not in self.url or self.url.startswith("file://")

    def __repr__(self) -> str:
        return f"ArtifactStore({self.url!r})"

    @property
    def canonical_url(self) -> str:
        """This store's URL in the one spelling :func:`normalise_store_url` gives."""
        return normalise_store_url(self.url)

    def owns(self, address: ArtifactAddress) -> bool:
        """Whether ``address`` names content in this store (relative addresses always do)."""
        return address.store is None or address.store == self.canonical_url

    def reconciles(self, address: ArtifactAddress) -> bool:
        """Whether the content ``address`` names is this store's to judge: the address is in this
        store (any spelling of it), or, written under another or an unrecorded store URL (a yard
        since copied or moved, another mount of one store), its content hash is stored here."""
        if address.store is not None and address.store == self.canonical_url:
            return True
        return self.exists(self.uri_for(address.sha256))

    # -- addresses -------------------------------------------------------------------------

    def uri_for(self, sha256: str) -> str:
        """The URI content with tree hash ``sha256`` is (or would be) recorded under.

        Relative to the store for a local store (``objects/ab/<sha256>``), absolute for a remote one.
        """
        relative = f"{OBJECTS}/{sha256[:2]}/{sha256}"
        return relative if self._local else f"{self.url}/{relative}"

    def normalize(self, uri: str) -> str:
        """``uri`` as this store records it now: a content-addressed URI (relative, or an absolute
        path from an older modelyard or another location of a local store) becomes
        :meth:`uri_for` of its hash; other URIs, and other remote stores', are unchanged."""
        address = parse_artifact_uri(uri)
        if address is None:
            return uri.rstrip("/")
        if address.store is not None and "://" in address.store and not self.owns(address):
            return uri.rstrip("/")  # another remote store: never re-pointed by hash
        return self.uri_for(address.sha256)

    def _path(self, uri: str) -> str:
        """The filesystem path of ``uri`` (see :meth:`normalize`); refuses URIs outside this store."""
        uri = self.normalize(uri)
        if self._local and "://" not in uri and not uri.startswith("/"):
            return f"{self._root}/{uri}"
        if not uri.startswith(self.url + "/"):
            raise RegistryError(
                f"artifact {uri!r} is not in the store at {self.url!r}; "
                "open the store it was written to (artifacts.url in modelyard.yaml)"
            )
        return self._root + uri[len(self.url) :]

    def _manifest(self, uri: str) -> str:
        return self._path(uri) + MANIFEST_SUFFIX

    # -- writing ---------------------------------------------------------------------------

    def put(self, local_dir: Path) -> StoredArtifact:
        """Store the files of ``local_dir`` (or one file) under their content hash.

        Storing content that is already there rewrites nothing and returns the same URI.
        """
        local_dir = Path(local_dir)
        if local_dir.is_file():
            files = [(local_dir.name, local_dir)]
        elif local_dir.is_dir():
            files = tree_files(local_dir)
        else:
            raise ArtifactNotFound(f"cannot store {local_dir}: no such file or directory")
        if not files:
            raise RegistryError(f"cannot store {local_dir}: the directory holds no files")
        entries: dict[str, dict[str, Any]] = {
            rel: {"sha256": file_sha256(path), "size": path.stat().st_size} for rel, path in files
        }
        sha256 = combine_pairs((rel, e["sha256"]) for rel, e in entries.items())
        size = sum(e["size"] for e in entries.values())
        uri = self.uri_for(sha256)
        if self.exists(uri):
            logger.debug("artifact %s already stored", sha256)
            return StoredArtifact(uri=uri, sha256=sha256, size=size)
        target = self._path(uri)
        if self._local:
            self._put_local(files, target)
        else:
            for rel, path in files:
                self.fs.put_file(str(path), f"{target}/{rel}")
        manifest = {"sha256": sha256, "size": size, "files": entries}
        with self.fs.open(self._manifest(uri), "w") as out:
            out.write(json.dumps(manifest, sort_keys=True, indent=1))
        logger.info("stored artifact %s (%d files, %d bytes) at %s", sha256[:12], len(files), size, uri)
        return StoredArtifact(uri=uri, sha256=sha256, size=size)

    def _put_local(self, files: list[tuple[str, Path]], target: str) -> None:
        """Copy into a temporary sibling, then rename: a reader never sees half an artifact."""
        final = Path(target)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.parent / f".tmp-{uuid.uuid4().hex}"
        try:
            for rel, path in files:
                dest = tmp / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, dest)
            if not final.exists():
                try:
                    os.replace(tmp, final)
                except OSError:
                    if not final.is_dir():
                        raise
                    # another process stored the same content between the check and the rename
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)

    # -- reading ---------------------------------------------------------------------------

    def get(self, uri: str, sha256: str, dest_dir: Path, *, label: str) -> Path:
        """Copy the artifact at ``uri`` into ``dest_dir`` and verify it against ``sha256``.

        ``dest_dir`` must be missing or empty. The hash is computed over the bytes as they
        are copied; on a mismatch the copy is removed and ArtifactIntegrityError names
        ``label`` (e.g. ``"trip_acceptance v3"``), the expected and the actual hash.
        """
        dest_dir = Path(dest_dir)
        if dest_dir.exists() and any(dest_dir.iterdir()):
            raise RegistryError(f"cannot fetch {label} into {dest_dir}: the directory is not empty")
        if not self.exists(uri):
            raise ArtifactNotFound(
                f"the artifact of {label} is missing from the store: nothing at {uri} "
                "(deleted by gc, or artifacts.url changed?)"
            )
        base = self._path(uri)
        remote_files = sorted(self.fs.find(base, detail=False))
        pairs = []
        dest_dir.mkdir(parents=True, exist_ok=True)
        try:
            for remote in remote_files:
                rel = remote[len(base) :].lstrip("/")
                dest = dest_dir / rel
                dest.parent.mkdir(parents=True, exist_ok=True)
                digest = hashlib.sha256()
                with self.fs.open(remote, "rb") as src, open(dest, "wb") as out:
                    for chunk in iter(partial(src.read, CHUNK), b""):
                        digest.update(chunk)
                        out.write(chunk)
                pairs.append((rel, digest.hexdigest()))
            actual = combine_pairs(pairs)
            if actual != sha256:
                raise ArtifactIntegrityError(
                    f"the artifact of {label} at {uri} has changed since it was registered: "
                    f"expected sha256 {sha256}, found {actual}; refusing to load it "
                    "(restore the original files or register a new version)"
                )
        except BaseException:
            shutil.rmtree(dest_dir, ignore_errors=True)
            raise
        return dest_dir

    def read_text(self, uri: str, name: str) -> str:
        """One file of the artifact at ``uri``, unverified (for metadata such as feature names;
        loading a model goes through :meth:`get`, which checks the hash)."""
        try:
            with self.fs.open(f"{self._path(uri)}/{name}", "r") as stream:
                return str(stream.read())
        except FileNotFoundError:
            raise ArtifactNotFound(f"no file {name!r} in the artifact at {uri}") from None

    def exists(self, uri: str) -> bool:
        """Whether a complete artifact is stored at ``uri`` (its manifest is written last)."""
        return bool(self.fs.exists(self._manifest(uri)))

    def size(self, uri: str) -> int:
        """Bytes the artifact at ``uri`` takes, as recorded when it was stored."""
        return int(self.manifest(uri)["size"])

    def manifest(self, uri: str) -> dict[str, Any]:
        """The manifest written by :meth:`put`: sha256, size and per-file hashes and sizes."""
        try:
            with self.fs.open(self._manifest(uri), "r") as stream:
                return dict(json.loads(stream.read()))
        except FileNotFoundError:
            raise ArtifactNotFound(f"no artifact stored at {uri}") from None

    def delete(self, uri: str) -> None:
        """Remove the artifact at ``uri`` (manifest first, so it reads as gone at once)."""
        manifest = self._manifest(uri)
        if self.fs.exists(manifest):
            self.fs.rm(manifest)
        path = self._path(uri)
        if self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def stored_at(self, uri: str) -> datetime | None:
        """When the artifact at ``uri`` was completed (its manifest's time), if the filesystem says."""
        try:
            modified = self.fs.modified(self._manifest(uri))
        except (NotImplementedError, FileNotFoundError, OSError):
            return None
        if not isinstance(modified, datetime):
            return None
        return modified if modified.tzinfo else modified.replace(tzinfo=timezone.utc)

    def uris(self) -> Iterator[StoredArtifact]:
        """Every complete artifact in the store (for garbage collection and usage reports)."""
        objects = f"{self._root}/{OBJECTS}"
        if not self.fs.exists(objects):
            return
        for path in sorted(self.fs.glob(f"{objects}/*/*{MANIFEST_SUFFIX}")):
            sha256 = path.rsplit("/", 1)[-1][: -len(MANIFEST_SUFFIX)]
            uri = self.uri_for(sha256)
            try:
                size = self.size(uri)
            except ArtifactNotFound:  # deleted while listing
                continue
            yield StoredArtifact(uri=uri, sha256=sha256, size=size)
