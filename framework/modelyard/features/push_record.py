"""When each feature view was last pushed to, kept where every serving worker can see it.

Freshness (``modelyard features status``, ``/metrics``, the ``freshness`` detector) needs the
time of each view's last push, whichever worker or machine pushed. The record lives beside the
online store the pushes went to:

* Redis online store: one hash per Feast project, ``modelyard:pushes:<project>`` (view -> ISO
  time), written with ``HSET`` (atomic; every worker of every machine reads the same hash);
* any other online store (SQLite, local): a JSON file in the yard, updated under a file lock
  and replaced atomically, so concurrent pushes on one machine never lose each other's times.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from modelyard.errors import OnlineStoreUnavailable

if TYPE_CHECKING:  # pragma: no cover
    from feast import FeatureStore

logger = logging.getLogger(__name__)


class PushRecord(Protocol):
    """Where the last push time of each view is kept."""

    def record(self, views: Iterable[str], at: datetime) -> None:
        """Note that ``views`` were pushed to at ``at``."""

    def times(self) -> dict[str, str]:
        """View -> ISO time of its last recorded push."""


class FilePushRecord:
    """A JSON file (view -> ISO time), for online stores local to one machine."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path.with_suffix(".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def record(self, views: Iterable[str], at: datetime) -> None:
        with self._locked():
            times = self.times()
            for view in views:
                times[view] = at.isoformat()
            fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".pushes-", suffix=".tmp")
            try:
                with os.fdopen(fd, "w") as out:
                    json.dump(times, out, indent=1, sort_keys=True)
                os.replace(tmp, self.path)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)
                raise

    def times(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            return {}
        return {str(k): str(v) for k, v in data.items()} if isinstance(data, dict) else {}


class RedisPushRecord:
    """A Redis hash ``modelyard:pushes:<project>`` in the online store's Redis (shared by every worker)."""

    def __init__(self, client: Any, project: str) -> None:
        self.client = client
        self.key = f"modelyard:pushes:{project}"

    def record(self, views: Iterable[str], at: datetime) -> None:
        import redis

        mapping = {view: at.isoformat() for view in views}
        if not mapping:
            return
        try:
            self.client.hset(self.key, mapping=mapping)
        except redis.RedisError as exc:  # the rows are written; only the freshness note is lost
            logger.warning("pushed, but could not note the push time in %s: %s", self.key, exc)

    def times(self) -> dict[str, str]:
        import redis

        try:
            raw = self.client.hgetall(self.key)
        except redis.RedisError as exc:
            raise OnlineStoreUnavailable(
                f"cannot read the last push times ({self.key}) from the online store's Redis: {exc}"
            ) from None
        return {_text(k): _text(v) for k, v in raw.items()}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def online_redis_client(store: FeatureStore) -> Any | None:
    """A redis-py client of ``store``'s Redis online store (cluster-aware), or None for other stores.

    It fails fast: one-second timeouts and no retry with backoff, so a store that is down is
    reported at once (push refusals, /metrics, status) rather than after seconds of retries.
    """
    online = store.config.online_store
    if getattr(online, "type", None) != "redis":
        return None
    import redis
    from feast.infra.online_stores.redis import RedisOnlineStore
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    nodes, params = RedisOnlineStore._parse_connection_string(online.connection_string)
    kwargs: dict[str, Any] = {k: v for k, v in params.items() if k in ("password", "username", "db", "ssl")}
    kwargs.update(socket_connect_timeout=1, socket_timeout=1, retry=Retry(NoBackoff(), 0))
    if str(getattr(online, "redis_type", "redis")).endswith("redis_cluster"):
        from redis.cluster import ClusterNode, RedisCluster

        startup = [ClusterNode(str(n["host"]), int(str(n["port"]))) for n in nodes]
        kwargs.pop("db", None)
        return RedisCluster(startup_nodes=startup, **kwargs)
    node: dict[str, Any] = nodes[0] if nodes else {"host": "localhost", "port": 6379}
    return redis.Redis(host=str(node["host"]), port=int(node["port"]), **kwargs)


def push_record(store: FeatureStore, local: Path) -> PushRecord:
    """The record for ``store``'s online store: its Redis when it is Redis, else the file ``local``."""
    client = online_redis_client(store)
    if client is None:
        return FilePushRecord(local)
    return RedisPushRecord(client, store.config.project)
