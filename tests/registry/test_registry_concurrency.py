"""Concurrent writers in separate processes leave a consistent registry and a complete history."""

from __future__ import annotations

import itertools
import multiprocessing as mp

from modelyard.registry.types import VersionDraft
from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend, SqlAlchemyBackendConfig

MOVES = 15


def _promote_many(url: str, worker: int, versions: list[int], barrier: object) -> None:
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=url))
    barrier.wait()  # type: ignore[attr-defined]
    for i in range(MOVES):
        version = versions[(i + worker) % len(versions)]
        backend.move_alias(
            "m", "production", action="promote", to_version=version, actor=f"w{worker}", reason=str(i)
        )
    backend.close()


def _register_many(url: str, worker: int, barrier: object) -> None:
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=url))
    barrier.wait()  # type: ignore[attr-defined]
    for _ in range(MOVES):
        backend.add_version(
            VersionDraft(model="m", flavor="python", artifact_uri=f"w{worker}", artifact_sha256="0" * 64)
        )
    backend.close()


def _run(target: object, url: str, extra: tuple[object, ...], workers: int = 2) -> None:
    ctx = mp.get_context("spawn")
    barrier = ctx.Barrier(workers)
    procs = [ctx.Process(target=target, args=(url, w, *extra, barrier)) for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0, f"worker exited with {p.exitcode}"


def test_two_processes_promoting_at_once(db_url: str) -> None:
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url))
    for _ in range(3):
        backend.add_version(
            VersionDraft(model="m", flavor="python", artifact_uri="u", artifact_sha256="0" * 64)
        )
    _run(_promote_many, db_url, ([1, 2, 3],))
    history = backend.alias_history("m", "production")
    assert len(history) == 2 * MOVES
    # each move starts where the previous one ended: no lost or interleaved update
    assert history[0].from_version is None
    for before, after in itertools.pairwise(history):
        assert after.from_version == before.to_version
    assert [e.revision for e in history] == list(range(1, 2 * MOVES + 1))
    assert backend.alias_revision() == 2 * MOVES
    assert backend.aliases("m") == {"production": history[-1].to_version}
    assert sorted(e.actor for e in history) == ["w0"] * MOVES + ["w1"] * MOVES
    backend.close()


def test_two_processes_registering_at_once_get_distinct_numbers(db_url: str) -> None:
    SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url)).close()
    _run(_register_many, db_url, ())
    backend = SqlAlchemyBackend(SqlAlchemyBackendConfig(url=db_url))
    versions = backend.list_versions("m")
    assert [v.version for v in versions] == list(range(1, 2 * MOVES + 1))
    assert sorted(v.artifact_uri for v in versions) == ["w0"] * MOVES + ["w1"] * MOVES
    backend.close()
