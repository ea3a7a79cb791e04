"""Pipelined reads from a Redis Cluster: commands grouped by node, one round trip per node.

Feast's ``redis`` online store in cluster mode (``redis_type: redis_cluster``) writes the same
hashes as on one server, spread over the cluster's 16384 hash slots by key. A read of many
entities touches keys on every node, so :class:`RedisClusterWire` groups the ``HMGET``
commands by the node serving each key's slot, writes every node's pipeline before reading
any answer (the nodes work at the same time), and hands back the replies in the commands'
order, so the reader decodes them exactly as for one server.

The topology comes from redis-py's cluster client (:mod:`redis.cluster`): its slot map, built
from ``CLUSTER SLOTS`` on first use and rebuilt when the cluster says it changed; the slot of
a key is redis-py's ``key_slot`` (CRC16 with hash tags). Redirections are handled as the
cluster specification says:

* ``MOVED <slot> <host:port>``: the slot has a new owner; the map is refreshed and the
  command sent again to the new owner;
* ``ASK <slot> <host:port>``: the slot is being migrated and this key already moved; the
  command is sent once to that node, preceded by ``ASKING``, the map left as it is;
* ``TRYAGAIN`` (a multi-key command during migration) and ``CLUSTERDOWN``: sent again
  after a short pause.

After :attr:`RedisClusterWire.max_redirects` rounds the read fails with
:class:`~modelyard.features.online.redis.wire.RedisWireError`. A node that cannot be reached
refreshes the map (a replica may have been promoted) and the read is tried once more
before the ``OSError`` is raised.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import hiredis

from modelyard.features.online.redis.wire import RedisWire, RedisWireError

if TYPE_CHECKING:  # pragma: no cover
    from redis.cluster import RedisCluster

    from modelyard.features.online.redis.async_wire import AsyncRedisWire

Address = tuple[str, int]

_ASKING = b"*1\r\n$6\r\nASKING\r\n"
_SLOTS = 16384
_RETRY_PAUSE = 0.05  # seconds before sending again after TRYAGAIN / CLUSTERDOWN


def key_slots(keys: Sequence[bytes]) -> list[int]:
    """The cluster hash slot of each key (redis-py's ``key_slot``: CRC16, hash tags honoured)."""
    from redis.crc import key_slot

    return [key_slot(k) for k in keys]


class _Round:
    """One attempt at some of the commands: what goes to which node."""

    def __init__(
        self,
        owners: list[Address],
        todo: list[int],
        slots: list[int],
        commands: Sequence[bytes],
        asking: dict[int, Address],
    ) -> None:
        self.asking = asking
        groups: dict[Address, list[int]] = {}
        for i in todo:
            groups.setdefault(asking.get(i) or owners[slots[i]], []).append(i)
        self.groups = groups
        self.payloads: dict[Address, tuple[bytes, int]] = {}
        for address, indices in groups.items():
            parts = []
            for i in indices:
                if i in asking:
                    parts.append(_ASKING)
                parts.append(commands[i])
            self.payloads[address] = (b"".join(parts), len(parts))


class _Outcome:
    """What a round's answers say to do next."""

    def __init__(self) -> None:
        self.again: list[int] = []  # command indices to send again
        self.asking: dict[int, Address] = {}  # ... of which these go to a node with ASKING
        self.moved: dict[int, Address] = {}  # slot -> its new owner, as a MOVED reply said
        self.moved_commands = 0  # commands answered MOVED
        self.pause = False  # TRYAGAIN / CLUSTERDOWN: wait a little first


class RedisClusterWire:
    """Pipelined commands over the nodes of a Redis Cluster (see the module docstring).

    ``execute(keys, commands)`` takes each command's key (for its slot) and the RESP bytes
    of the command; it returns one reply per command, in order. Thread-safe: each node is a
    :class:`RedisWire` (one socket per thread) and the slot map is replaced whole.
    """

    #: rounds of redirections (MOVED / ASK / TRYAGAIN) before a read gives up
    max_redirects = 5

    def __init__(
        self,
        nodes: Sequence[Address],
        *,
        username: str | None = None,
        password: str | None = None,
        timeout: float = 1.0,
    ) -> None:
        if not nodes:
            raise ValueError("a Redis Cluster needs at least one startup node")
        self.startup_nodes = [(str(h), int(p)) for h, p in nodes]
        self.username = username
        self.password = password
        self.timeout = timeout
        self._client: RedisCluster | None = None
        self._owners: list[Address] | None = None  # slot -> primary, replaced whole
        self._wires: dict[Address, RedisWire] = {}
        self._async_wires: dict[Address, AsyncRedisWire] = {}
        self._lock = threading.Lock()
        self.refreshes = 0  # slot-map rebuilds after the first (for tests and metrics)
        #: commands sent again because a node answered MOVED / ASK / TRYAGAIN or CLUSTERDOWN
        self.redirections = {"moved": 0, "ask": 0, "retry": 0}

    @property
    def label(self) -> str:
        return "redis cluster " + ",".join(f"{h}:{p}" for h, p in self.startup_nodes)

    # -- topology ------------------------------------------------------------------------

    def owners(self) -> list[Address]:
        """Slot -> address of its primary (built on first use)."""
        owners = self._owners
        if owners is None:
            owners = self.refresh(first=True)
        return owners

    def refresh(self, *, first: bool = False) -> list[Address]:
        """Rebuild the slot map from the cluster (redis-py's ``CLUSTER SLOTS`` discovery)."""
        from redis.exceptions import RedisClusterException, RedisError

        with self._lock:
            try:
                if self._client is None:
                    self._client = self._new_client()
                else:
                    self._client.nodes_manager.initialize()
                cache = self._client.nodes_manager.slots_cache
            except (RedisClusterException, RedisError) as exc:
                raise ConnectionError(f"the Redis Cluster's slot map could not be read: {exc}") from None
            owners: list[Address] = []
            for slot in range(_SLOTS):
                nodes = cache.get(slot)
                if not nodes:
                    raise RedisWireError(f"hash slot {slot} is not served by any node of the Redis Cluster")
                owners.append((nodes[0].host, int(nodes[0].port)))
            self._owners = owners
            if not first:
                self.refreshes += 1
            return owners

    def _new_client(self) -> RedisCluster:
        from redis.cluster import ClusterNode, RedisCluster

        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in self.startup_nodes],
            username=self.username,
            password=self.password,
            socket_timeout=self.timeout,
            socket_connect_timeout=self.timeout,
        )

    def _wire(self, address: Address) -> RedisWire:
        wire = self._wires.get(address)
        if wire is None:
            wire = self._wires.setdefault(address, RedisWire(*address, **self._endpoint()))
        return wire

    def _async_wire(self, address: Address) -> AsyncRedisWire:
        from modelyard.features.online.redis.async_wire import AsyncRedisWire

        wire = self._async_wires.get(address)
        if wire is None:
            wire = self._async_wires.setdefault(address, AsyncRedisWire(*address, **self._endpoint()))
        return wire

    def _endpoint(self) -> dict[str, Any]:
        """How every node is opened (the settings of the cluster's startup nodes)."""
        return {"username": self.username, "password": self.password, "timeout": self.timeout}

    # -- reads ---------------------------------------------------------------------------

    def execute(self, keys: Sequence[bytes], commands: Sequence[bytes]) -> list[Any]:
        """One reply per command, in order; each node's commands in one pipelined round trip."""
        slots = key_slots(keys)
        replies: list[Any] = [None] * len(commands)
        todo, asking = list(range(len(commands))), dict[int, Address]()
        retried_connection = False
        for _ in range(self.max_redirects + 1):
            work = _Round(self.owners(), todo, slots, commands, asking)
            try:
                sent = [(a, self._wire(a).send(payload), n) for a, (payload, n) in work.payloads.items()]
                answers = {a: self._wire(a).receive(sock, n) for a, sock, n in sent}
            except OSError:
                if retried_connection:
                    raise
                retried_connection = True
                self.refresh()
                continue
            outcome = _absorb(work, answers, replies)
            if not outcome.again:
                return replies
            self._count(outcome)
            if outcome.moved:
                self._moved(outcome.moved)
            if outcome.pause:
                time.sleep(_RETRY_PAUSE)
            todo, asking = outcome.again, outcome.asking
        raise RedisWireError(f"the Redis Cluster kept redirecting after {self.max_redirects} attempts")

    async def execute_async(self, keys: Sequence[bytes], commands: Sequence[bytes]) -> list[Any]:
        """:meth:`execute` on the event loop: every node's pipeline in flight at once."""
        loop = asyncio.get_running_loop()
        slots = key_slots(keys)
        replies: list[Any] = [None] * len(commands)
        todo, asking = list(range(len(commands))), dict[int, Address]()
        retried_connection = False
        for _ in range(self.max_redirects + 1):
            owners = self._owners if self._owners else await loop.run_in_executor(None, self.owners)
            work = _Round(owners, todo, slots, commands, asking)
            addresses = list(work.payloads)
            try:
                results = await asyncio.gather(
                    *(self._async_wire(a).execute(*work.payloads[a], error_replies=True) for a in addresses)
                )
            except OSError:
                if retried_connection:
                    raise
                retried_connection = True
                await loop.run_in_executor(None, self.refresh)
                continue
            outcome = _absorb(work, dict(zip(addresses, results, strict=True)), replies)
            if not outcome.again:
                return replies
            self._count(outcome)
            if outcome.moved:
                await loop.run_in_executor(None, self._moved, outcome.moved)
            if outcome.pause:
                await asyncio.sleep(_RETRY_PAUSE)
            todo, asking = outcome.again, outcome.asking
        raise RedisWireError(f"the Redis Cluster kept redirecting after {self.max_redirects} attempts")

    def _count(self, outcome: _Outcome) -> None:
        asked = len(outcome.asking)
        self.redirections["ask"] += asked
        self.redirections["moved"] += outcome.moved_commands
        self.redirections["retry"] += len(outcome.again) - asked - outcome.moved_commands

    def _moved(self, moved: dict[int, Address]) -> None:
        """Slots changed owner: rebuild the map, and trust the nodes' own word for these slots
        (a node asked for the map may not know of the move yet)."""
        owners = self.refresh()
        for slot, address in moved.items():
            owners[slot] = address

    def close(self) -> None:
        for wire in list(self._wires.values()):
            wire.close()
        for async_wire in list(self._async_wires.values()):
            async_wire.close()
        if self._client is not None:
            self._client.close()


def _absorb(work: _Round, answers: dict[Address, list[Any]], replies: list[Any]) -> _Outcome:
    """Put each answer of ``work`` in place in ``replies``; what the redirections ask for."""
    outcome = _Outcome()
    for address, indices in work.groups.items():
        answer = iter(answers[address])
        for i in indices:
            if i in work.asking:
                ok = next(answer)
                if isinstance(ok, hiredis.ReplyError):
                    raise RedisWireError(f"ASKING refused by {address[0]}:{address[1]}: {ok}")
            reply = next(answer)
            if not isinstance(reply, hiredis.ReplyError):
                replies[i] = reply
                continue
            kind, _, rest = str(reply).partition(" ")
            if kind == "MOVED":
                slot, _, target = rest.partition(" ")
                outcome.moved[int(slot)] = _address(target)
                outcome.moved_commands += 1
            elif kind == "ASK":
                outcome.asking[i] = _address(rest.partition(" ")[2])
            elif kind in ("TRYAGAIN", "CLUSTERDOWN"):
                outcome.pause = True
            else:
                raise RedisWireError(str(reply))
            outcome.again.append(i)
    return outcome


def _address(target: str) -> Address:
    """``"<host>:<port>"`` of a MOVED / ASK error -> (host, port)."""
    host, _, port = target.rpartition(":")
    return host, int(port)
