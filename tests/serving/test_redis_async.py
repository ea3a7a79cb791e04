"""AsyncRedisWire against real Redis servers: pipelining, errors, timeouts, restarts."""

from __future__ import annotations

import asyncio
import time
import uuid
from pathlib import Path

import hiredis
import pytest
import redis
from srv_helpers import free_port
from srv_servers import PrivateRedis

from modelyard.features.online.redis.async_wire import AsyncRedisWire
from modelyard.features.online.redis.wire import RedisWireError


def _get(*keys: str) -> bytes:
    return b"".join(hiredis.pack_command(("GET", k)) for k in keys)


def test_concurrent_requests_share_one_connection_and_get_their_own_replies(redis_url) -> None:
    client = redis.Redis.from_url(redis_url)
    prefix = f"modelyard-test-{uuid.uuid4().hex[:8]}"
    keys = [f"{prefix}:{i}" for i in range(300)]
    client.mset({k: str(i) for i, k in enumerate(keys)})
    host, port = (
        client.connection_pool.connection_kwargs["host"],
        client.connection_pool.connection_kwargs["port"],
    )
    wire = AsyncRedisWire(host, port)

    async def main() -> tuple[list[list[bytes]], list[list[str]]]:
        # requests of 1, 2 and 3 commands interleave on the wire; each must get exactly its own
        batches = [keys[i : i + 1 + i % 3] for i in range(0, 297, 3)]
        replies = await asyncio.gather(*(wire.execute(_get(*b), len(b)) for b in batches))
        assert len(wire._connections) == 1  # one connection for all of them
        return [list(r) for r in replies], batches

    try:
        replies, batches = asyncio.run(main())
        for batch, reply in zip(batches, replies, strict=True):
            assert reply == [str(keys.index(k)).encode() for k in batch]
    finally:
        client.delete(*keys)
        wire.close()


def test_error_reply_raises_redis_wire_error(redis_url) -> None:
    client = redis.Redis.from_url(redis_url)
    key = f"modelyard-test-{uuid.uuid4().hex[:8]}"
    client.set(key, "a string, not a hash")
    kwargs = client.connection_pool.connection_kwargs
    wire = AsyncRedisWire(kwargs["host"], kwargs["port"])

    async def main() -> None:
        with pytest.raises(RedisWireError, match="WRONGTYPE"):
            await wire.execute(hiredis.pack_command(("HMGET", key, "f")), 1)
        # the connection stays usable after an error reply
        assert await wire.execute(_get(key), 1) == [b"a string, not a hash"]

    try:
        asyncio.run(main())
    finally:
        client.delete(key)


def test_nothing_listening_is_an_os_error() -> None:
    wire = AsyncRedisWire("127.0.0.1", free_port(), timeout=0.5)
    with pytest.raises(OSError):
        asyncio.run(wire.execute(_get("k"), 1))


def test_a_silent_server_times_out_every_waiter_then_reconnects() -> None:
    accepted: list[int] = []

    async def main() -> float:
        async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            accepted.append(1)
            await reader.read(1 << 20)  # reads the commands, never answers
            await asyncio.sleep(30)

        server = await asyncio.start_server(silent, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        wire = AsyncRedisWire("127.0.0.1", port, timeout=0.3)
        start = time.monotonic()
        results = await asyncio.gather(
            *(wire.execute(_get("k"), 1) for _ in range(5)), return_exceptions=True
        )
        elapsed = time.monotonic() - start
        assert all(isinstance(r, TimeoutError) for r in results), results
        with pytest.raises(TimeoutError):
            await wire.execute(_get("k"), 1)  # a new connection, timed out again
        server.close()
        return elapsed

    elapsed = asyncio.run(main())
    assert 0.25 <= elapsed < 3
    assert len(accepted) == 2  # the timed-out connection was dropped and a new one opened


def test_recovers_by_itself_when_redis_comes_back(tmp_path: Path) -> None:
    try:
        server = PrivateRedis(tmp_path / "redis")
    except FileNotFoundError as exc:  # redis-server comes with the machine's Redis
        pytest.fail(f"cannot start a private Redis for this test: {exc}")
    server.start()
    wire = AsyncRedisWire("127.0.0.1", server.port, timeout=1.0)
    redis.Redis(port=server.port).set("k", "v")

    async def get() -> list[bytes]:
        return await wire.execute(_get("k"), 1)

    loop = asyncio.new_event_loop()
    try:
        assert loop.run_until_complete(get()) == [b"v"]
        server.stop()
        with pytest.raises(OSError):
            loop.run_until_complete(get())
        with pytest.raises(OSError):  # refused while down, not hanging
            loop.run_until_complete(get())
        server.start()
        assert loop.run_until_complete(get()) == [b"v"]
    finally:
        wire.close()
        loop.close()
        if server.proc is not None and server.proc.poll() is None:
            server.proc.terminate()
            server.proc.wait(timeout=30)


def test_selects_the_configured_database(redis_url) -> None:
    key = f"modelyard-test-{uuid.uuid4().hex[:8]}"
    other = redis.Redis(host="127.0.0.1", port=6379, db=3)
    other.set(key, "in db 3")
    wire = AsyncRedisWire("127.0.0.1", 6379, db=3)
    try:
        assert asyncio.run(wire.execute(_get(key), 1)) == [b"in db 3"]
    finally:
        other.delete(key)
