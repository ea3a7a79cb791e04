"""A pipelined Redis connection on the serving worker's event loop.

The blocking :class:`~modelyard.features.online.redis.wire.RedisWire` holds the event loop for a
whole round trip: while Redis answers one request, no other request of the worker moves.
:class:`AsyncRedisWire` shares one connection per event loop between all requests in
flight. Each request queues its ``HMGET`` batch (no lock, no waiting for earlier answers)
and awaits its replies. The batches queued during one loop iteration leave in one socket
write (on loopback a ``send`` costs more than building the commands), and Redis answers
the commands of one connection in order, so replies are handed back first in, first out.
While a request waits, the loop parses, predicts and answers others.

Failures: a refused connection raises :class:`ConnectionRefusedError`; a connection that
drops, or a head request that waits longer than ``timeout``, fails every request waiting
on it with an :class:`OSError` (``ConnectionResetError`` / ``TimeoutError``) and closes the
connection, and the next request connects again, so a restarted Redis is picked up by
itself. Error replies (wrong type, auth) raise :class:`~modelyard.features.online.redis.wire.RedisWireError`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import hiredis

from modelyard.features.online.redis.wire import RedisEndpoint, RedisWireError, check_replies, check_setup

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class _Waiter:
    """One request's place in the reply queue."""

    future: asyncio.Future[list[Any]]
    expected: int
    sent_at: float
    replies: list[Any] = field(default_factory=list)


class _Connection(asyncio.Protocol):
    """One socket: writes go straight out, replies are dealt to waiters in order."""

    def __init__(self, loop: asyncio.AbstractEventLoop, timeout: float) -> None:
        self.loop = loop
        self.timeout = timeout
        self.transport: asyncio.Transport | None = None
        self.reader = hiredis.Reader()
        self.waiters: deque[_Waiter] = deque()
        self.closed = False
        self._watchdog: asyncio.TimerHandle | None = None
        self._outgoing: list[bytes] = []  # written together at the end of this loop iteration

    # -- asyncio.Protocol ----------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)
        waiters = self.waiters
        try:
            reply = self.reader.gets()
        except hiredis.ProtocolError as exc:
            self._fail(ConnectionResetError(f"Redis sent an unreadable reply: {exc}"))
            return
        while reply is not False:
            if not waiters:
                self._fail(ConnectionResetError("Redis sent a reply nobody asked for"))
                return
            head = waiters[0]
            head.replies.append(reply)
            if len(head.replies) == head.expected:
                waiters.popleft()
                if not head.future.done():
                    head.future.set_result(head.replies)
            reply = self.reader.gets()

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionResetError(f"Redis closed the connection{f': {exc}' if exc else ''}"))

    # -- requests ------------------------------------------------------------------------------

    def send(self, payload: bytes, n_replies: int) -> asyncio.Future[list[Any]]:
        """Write ``payload`` now; the future gets its ``n_replies`` replies."""
        future: asyncio.Future[list[Any]] = self.loop.create_future()
        if self.closed or self.transport is None:
            future.set_exception(ConnectionResetError("the Redis connection is closed"))
            return future
        self.waiters.append(_Waiter(future, n_replies, self.loop.time()))
        if not self._outgoing:
            self.loop.call_soon(self._write)
        self._outgoing.append(payload)
        if self._watchdog is None:
            self._watchdog = self.loop.call_later(self.timeout, self._check)
        return future

    def _write(self) -> None:
        """One socket write for every request that sent in this loop iteration (one syscall, not N)."""
        outgoing, self._outgoing = self._outgoing, []
        if not self.closed and self.transport is not None:
            self.transport.write(b"".join(outgoing))

    def _check(self) -> None:
        """Fail everything if the oldest request has waited longer than ``timeout``."""
        self._watchdog = None
        if not self.waiters or self.closed:
            return
        waited = self.loop.time() - self.waiters[0].sent_at
        if waited >= self.timeout:
            self._fail(TimeoutError(f"Redis did not answer within {self.timeout:g}s"))
            return
        self._watchdog = self.loop.call_later(self.timeout - waited, self._check)

    def _fail(self, exc: OSError) -> None:
        self.closed = True
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        while self.waiters:
            waiter = self.waiters.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def close(self) -> None:
        self._fail(ConnectionResetError("the Redis connection was closed"))


class AsyncRedisWire(RedisEndpoint):
    """Pipelined request/response over one connection per event loop (see the module docstring)."""

    def __init__(self, host: str, port: int, **endpoint: Any) -> None:
        super().__init__(host, port, **endpoint)
        self._connections: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Connection] = (
            weakref.WeakKeyDictionary()
        )
        self._connecting: weakref.WeakKeyDictionary[
            asyncio.AbstractEventLoop, asyncio.Future[_Connection]
        ] = weakref.WeakKeyDictionary()

    async def execute(self, payload: bytes, n_replies: int, *, error_replies: bool = False) -> list[Any]:
        """Send ``payload`` (RESP commands) and return its ``n_replies`` parsed replies.

        Raises OSError (including timeouts) when Redis cannot be reached or stops answering,
        :class:`RedisWireError` when it answers an error (unless ``error_replies``: then the
        error is returned in place, as by :meth:`RedisWire.execute`).
        """
        loop = asyncio.get_running_loop()
        connection = self._connections.get(loop)
        if connection is None or connection.closed:
            connection = await self._connection(loop)
        replies = await connection.send(payload, n_replies)
        if not error_replies:
            check_replies(replies)
        return replies

    async def _connection(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        """This loop's connection, opened now (one opening at a time per loop)."""
        pending = self._connecting.get(loop)
        if pending is not None:
            return await asyncio.shield(pending)
        pending = loop.create_future()
        self._connecting[loop] = pending
        try:
            connection = await self._open(loop)
        except BaseException as exc:
            pending.set_exception(exc)
            pending.exception()  # retrieved: only waiters that exist see it
            raise
        finally:
            self._connecting.pop(loop, None)
        self._connections[loop] = connection
        pending.set_result(connection)
        return connection

    async def _open(self, loop: asyncio.AbstractEventLoop) -> _Connection:
        connection = _Connection(loop, self.timeout)
        try:
            await asyncio.wait_for(
                loop.create_connection(lambda: connection, self.host, self.port), self.timeout
            )
        except asyncio.TimeoutError:
            raise TimeoutError(f"connecting to Redis at {self.host}:{self.port} timed out") from None
        setup = self.setup_commands()
        if setup:
            try:
                check_setup(await connection.send(b"".join(setup), len(setup)))
            except RedisWireError:
                connection.close()
                raise
        return connection

    def close(self) -> None:
        """Close every loop's connection (requests still waiting fail); callable from any thread."""
        try:
            running: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        for loop, connection in list(self._connections.items()):
            if loop is running:
                connection.close()
            elif not loop.is_closed():
                loop.call_soon_threadsafe(connection.close)
        self._connections.clear()
