"""A minimal pipelined Redis connection for the online read hot path.

redis-py's pipeline costs several microseconds of Python per command (command objects,
response callbacks), which at 100 entities x 3 feature views is more than Redis itself
takes. Reads of online features only ever send ``HMGET`` batches, so this connection
writes the RESP bytes itself (the per-view field list is encoded once) and parses replies
with hiredis' C reader. One socket per thread; a failed socket is dropped and the next
call reconnects, so a restarted Redis is picked up without restarting the worker.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Sequence
from typing import Any

import hiredis


class RedisWireError(Exception):
    """Redis answered with an error reply (wrong type, auth...)."""


def encode_fields(fields: Sequence[bytes]) -> tuple[bytes, int]:
    """RESP encoding of an HMGET's field arguments, and how many there are."""
    return b"".join(b"$%d\r\n%s\r\n" % (len(f), f) for f in fields), len(fields)


def hmget_command(key: bytes, encoded_fields: bytes, n_fields: int) -> bytes:
    """The RESP bytes of ``HMGET key <fields>`` given the pre-encoded field list."""
    return b"*%d\r\n$5\r\nHMGET\r\n$%d\r\n%s\r\n%s" % (n_fields + 2, len(key), key, encoded_fields)


class RedisEndpoint:
    """Where a Redis server is and how to open a session on it (shared by both wires)."""

    def __init__(
        self,
        host: str,
        port: int,
        *,
        db: int = 0,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 1.0,
    ) -> None:
        self.host = host
        self.port = port
        self.db = int(db)
        self.username = username
        self.password = password
        self.timeout = timeout

    def setup_commands(self) -> list[bytes]:
        """The RESP commands a new connection sends first (AUTH, SELECT), possibly none."""
        setup: list[bytes] = []
        if self.password is not None:
            args: tuple[Any, ...] = ("AUTH", self.password)
            if self.username is not None:
                args = ("AUTH", self.username, self.password)
            setup.append(hiredis.pack_command(args))
        if self.db:
            select: tuple[Any, ...] = ("SELECT", str(self.db))
            setup.append(hiredis.pack_command(select))
        return setup


def check_setup(replies: list[Any]) -> None:
    """Raise :class:`RedisWireError` if Redis refused a connection's setup commands."""
    for reply in replies:
        if isinstance(reply, hiredis.ReplyError):
            raise RedisWireError(f"Redis refused the connection setup: {reply}")


def check_replies(replies: list[Any]) -> None:
    """Raise :class:`RedisWireError` for the first error reply among ``replies``."""
    for reply in replies:
        if isinstance(reply, hiredis.ReplyError):
            raise RedisWireError(str(reply))


class RedisWire(RedisEndpoint):
    """Pipelined request/response over a plain TCP socket (one per thread)."""

    def __init__(self, host: str, port: int, **endpoint: Any) -> None:
        super().__init__(host, port, **endpoint)
        self._local = threading.local()

    def _connect(self) -> socket.socket:
        sock = socket.create_connection((self.host, self.port), timeout=self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._local.sock = sock
        setup = self.setup_commands()
        if setup:
            try:
                check_setup(self._roundtrip(sock, b"".join(setup), len(setup)))
            except RedisWireError:
                self.close()
                raise
        return sock

    def execute(self, payload: bytes, n_replies: int, *, error_replies: bool = False) -> list[Any]:
        """Send ``payload`` (RESP commands) and return ``n_replies`` parsed replies.

        Raises OSError (incl. timeouts) when Redis cannot be reached; the socket is then
        discarded so the next call reconnects. An error reply raises :class:`RedisWireError`,
        unless ``error_replies``: then it is returned in place (a ``hiredis.ReplyError``), for
        callers that act on some (a cluster's ``MOVED`` / ``ASK``).
        """
        replies = self.receive(self.send(payload), n_replies)
        if not error_replies:
            check_replies(replies)
        return replies

    def send(self, payload: bytes) -> socket.socket:
        """Write ``payload`` on this thread's socket (connecting first if needed); the socket."""
        sock = getattr(self._local, "sock", None)
        if sock is None:
            sock = self._connect()
        try:
            sock.sendall(payload)
        except OSError:
            self.close()
            raise
        return sock

    def receive(self, sock: socket.socket, n_replies: int) -> list[Any]:
        """The next ``n_replies`` replies on ``sock`` (as :meth:`send` returned it)."""
        try:
            return self._read(sock, n_replies)
        except OSError:
            self.close()
            raise

    def _roundtrip(self, sock: socket.socket, payload: bytes, n_replies: int) -> list[Any]:
        sock.sendall(payload)
        return self._read(sock, n_replies)

    @staticmethod
    def _read(sock: socket.socket, n_replies: int) -> list[Any]:
        reader = hiredis.Reader()
        replies: list[Any] = []
        recv = sock.recv
        gets = reader.gets
        while len(replies) < n_replies:
            data = recv(262144)
            if not data:
                raise ConnectionResetError("Redis closed the connection")
            reader.feed(data)
            reply = gets()
            while reply is not False:
                replies.append(reply)
                reply = gets()
        return replies

    def close(self) -> None:
        """Close this thread's socket (others close when their threads end)."""
        sock = getattr(self._local, "sock", None)
        self._local.sock = None
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.close()
