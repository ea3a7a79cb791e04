"""The artifact store: content addresses, verified reads, local directories and fsspec URLs."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from modelyard.artifacts.hashing import combine_pairs, file_sha256, tree_sha256
from modelyard.artifacts.store import ArtifactStore
from modelyard.errors import ArtifactIntegrityError, ArtifactNotFound, RegistryError


@pytest.fixture(params=["local", "memory"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ArtifactStore]:
    if request.param == "local":
        yield ArtifactStore(tmp_path / "store")
        return
    url = f"memory://modelyard-test-{uuid.uuid4().hex}"
    s = ArtifactStore(url)
    yield s
    s.fs.rm(s._root, recursive=True)


def make_tree(root: Path, content: bytes = b"weights") -> Path:
    (root / "sub").mkdir(parents=True)
    (root / "model.bin").write_bytes(content)
    (root / "sub" / "meta.json").write_text('{"a": 1}')
    return root


def test_tree_hash_is_over_sorted_relative_paths_and_file_hashes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "a")
    expected = combine_pairs(
        [
            ("sub/meta.json", file_sha256(root / "sub" / "meta.json")),
            ("model.bin", file_sha256(root / "model.bin")),
        ]
    )
    assert tree_sha256(root) == expected
    os.utime(root / "model.bin", (0, 0))  # times do not count
    assert tree_sha256(root) == expected
    (root / "model.bin").rename(root / "renamed.bin")  # names do
    assert tree_sha256(root) != expected
    assert tree_sha256(root / "sub" / "meta.json") == combine_pairs(
        [("meta.json", file_sha256(root / "sub" / "meta.json"))]
    )


def test_put_get_round_trip(store: ArtifactStore, tmp_path: Path) -> None:
    src = make_tree(tmp_path / "src")
    stored = store.put(src)
    assert stored.sha256 == tree_sha256(src)
    assert stored.uri == store.uri_for(stored.sha256) and stored.sha256 in stored.uri
    assert stored.size == len(b"weights") + len('{"a": 1}')
    assert store.exists(stored.uri) and store.size(stored.uri) == stored.size
    out = store.get(stored.uri, stored.sha256, tmp_path / "out", label="m v1")
    assert (out / "model.bin").read_bytes() == b"weights"
    assert tree_sha256(out) == stored.sha256
    assert [a.sha256 for a in store.uris()] == [stored.sha256]


def test_same_content_is_stored_once(store: ArtifactStore, tmp_path: Path) -> None:
    first = store.put(make_tree(tmp_path / "one"))
    second = store.put(make_tree(tmp_path / "two"))
    assert first == second
    other = store.put(make_tree(tmp_path / "three", content=b"other weights"))
    assert other.uri != first.uri
    assert sorted(a.sha256 for a in store.uris()) == sorted([first.sha256, other.sha256])
    store.delete(first.uri)
    assert not store.exists(first.uri) and store.exists(other.uri)
    with pytest.raises(ArtifactNotFound, match="m v1"):
        store.get(first.uri, first.sha256, tmp_path / "gone", label="m v1")


def test_concurrent_puts_of_the_same_content(tmp_path: Path) -> None:
    store = ArtifactStore(tmp_path / "store")
    sources = [make_tree(tmp_path / f"s{i}") for i in range(8)]
    with ThreadPoolExecutor(8) as pool:
        results = set(pool.map(store.put, sources))
    assert len(results) == 1
    (only,) = results
    assert tree_sha256(store.get(only.uri, only.sha256, tmp_path / "out", label="x")) == only.sha256
    assert not [p for p in (tmp_path / "store").rglob(".tmp-*")]


@pytest.mark.parametrize("tamper", ["change", "add", "remove"])
def test_a_tampered_artifact_is_refused_and_not_left_behind(
    store: ArtifactStore, tmp_path: Path, tamper: str
) -> None:
    stored = store.put(make_tree(tmp_path / "src"))
    base = store._path(stored.uri)
    if tamper == "change":
        with store.fs.open(f"{base}/model.bin", "wb") as f:
            f.write(b"weightz")
    elif tamper == "add":
        with store.fs.open(f"{base}/extra.py", "wb") as f:
            f.write(b"import os")
    else:
        store.fs.rm(f"{base}/sub/meta.json")
    dest = tmp_path / "out"
    with pytest.raises(ArtifactIntegrityError) as info:
        store.get(stored.uri, stored.sha256, dest, label="trip_acceptance v3")
    message = str(info.value)
    assert "trip_acceptance v3" in message and stored.sha256 in message
    actual = message.split("found ")[1].split(";")[0]
    assert len(actual) == 64 and actual != stored.sha256
    assert not dest.exists()


def test_misuse_is_reported(store: ArtifactStore, tmp_path: Path) -> None:
    stored = store.put(make_tree(tmp_path / "src"))
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "x").write_text("x")
    with pytest.raises(RegistryError, match="not empty"):
        store.get(stored.uri, stored.sha256, tmp_path / "busy", label="m v1")
    with pytest.raises(RegistryError, match="is not in the store"):
        store.get("memory://elsewhere/objects/aa/aa", stored.sha256, tmp_path / "o", label="m v1")
    with pytest.raises(ArtifactNotFound):
        store.put(tmp_path / "missing")
    (tmp_path / "empty").mkdir()
    with pytest.raises(RegistryError, match="no files"):
        store.put(tmp_path / "empty")
    single = store.put(tmp_path / "src" / "model.bin")
    assert single.sha256 == tree_sha256(tmp_path / "src" / "model.bin")
