"""Store URLs in their many spellings, and artifact URIs taken apart into store and content hash."""

from __future__ import annotations

from pathlib import Path

import pytest

from modelyard.artifacts.store import ArtifactStore, normalise_store_url, parse_artifact_uri
from modelyard.errors import RegistryError

SHA = "ab" + "0" * 62


def test_every_spelling_of_a_local_store_is_one_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = tmp_path / "store"
    real.mkdir()
    link = tmp_path / "link"
    link.symlink_to(real)
    spellings = [str(real), f"{real}/", f"file://{real}", f"file://localhost{real}/", str(link)]
    assert {normalise_store_url(s) for s in spellings} == {str(real.resolve())}
    monkeypatch.chdir(tmp_path)
    assert normalise_store_url("store") == str(real.resolve())
    assert normalise_store_url("S3://bucket/prefix/") == "s3://bucket/prefix"
    with pytest.raises(RegistryError, match="another host"):
        normalise_store_url("file://nas/share")


def test_artifact_uris_name_store_and_hash(tmp_path: Path) -> None:
    store = ArtifactStore(f"file://{tmp_path}")
    address = parse_artifact_uri(f"{tmp_path}/objects/ab/{SHA}")
    assert address is not None and address.sha256 == SHA and store.owns(address)
    assert store.owns(parse_artifact_uri(f"objects/ab/{SHA}"))  # relative to the store
    other = parse_artifact_uri(f"s3://b/objects/ab/{SHA}")
    assert other is not None and not store.owns(other)
    assert parse_artifact_uri(f"{tmp_path}/objects/cd/{SHA}") is None  # prefix does not match the hash
    assert parse_artifact_uri("memory://somewhere/else") is None
