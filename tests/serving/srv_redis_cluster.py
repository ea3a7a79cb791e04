"""A real three-node Redis Cluster on local ports, started and stopped by a test (or a benchmark).

Three ``redis-server --cluster-enabled yes`` processes in a temporary directory (no
persistence), joined with ``redis-cli --cluster create ... --cluster-replicas 0``. Ports come
from ``MODELYARD_TEST_REDIS_CLUSTER_PORTS`` (six comma-separated ports: three client ports,
then their three cluster-bus ports) or, without it, from the operating system's free ports.
Also the slot migration steps a resharding goes through, to provoke ``ASK`` and ``MOVED``.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


def tools_missing() -> str | None:
    """Why a local cluster cannot be started here (a missing program), or None."""
    for tool in ("redis-server", "redis-cli"):
        if shutil.which(tool) is None:
            return f"{tool} is not installed"
    return None


def free_ports(n: int) -> list[int]:
    sockets = []
    for _ in range(n):
        s = socket.socket()
        s.bind((HOST, 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


class LocalCluster:
    """Three primaries, 16384 slots between them (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        configured = os.environ.get("MODELYARD_TEST_REDIS_CLUSTER_PORTS")
        ports = [int(p) for p in configured.split(",")] if configured else free_ports(6)
        if len(ports) != 6:
            raise ValueError("MODELYARD_TEST_REDIS_CLUSTER_PORTS needs six ports: three nodes, three buses")
        self.ports, self.bus_ports = ports[:3], ports[3:]
        self.directory = directory
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def connection_string(self) -> str:
        """Feast's ``connection_string`` for the cluster."""
        return ",".join(f"{HOST}:{p}" for p in self.ports)

    def start(self) -> LocalCluster:
        self.directory.mkdir(parents=True, exist_ok=True)
        for port, bus in zip(self.ports, self.bus_ports, strict=True):
            args = ["--port", str(port), "--bind", HOST, "--cluster-enabled", "yes"]
            args += [
                "--cluster-port",
                str(bus),
                "--cluster-config-file",
                str(self.directory / f"nodes-{port}.conf"),
            ]
            args += ["--dir", str(self.directory), "--save", "", "--appendonly", "no"]
            args += ["--logfile", str(self.directory / f"redis-{port}.log")]
            self.processes.append(
                subprocess.Popen(
                    ["redis-server", *args], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
                )
            )
        try:
            for port in self.ports:
                self._wait(lambda p=port: self.client(p).ping(), f"node {port} to start")
            subprocess.run(
                [
                    "redis-cli",
                    "--cluster",
                    "create",
                    *(f"{HOST}:{p}" for p in self.ports),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                check=True,
                capture_output=True,
                timeout=60,
            )
            for port in self.ports:
                self._wait(lambda p=port: self.state(p) == "ok", f"node {port} to see the cluster ok")
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.processes = []

    def __enter__(self) -> LocalCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- inspecting and resharding ---------------------------------------------------------

    def client(self, port: int) -> Any:
        """A plain (non-cluster) redis-py client of one node."""
        import redis

        return redis.Redis(host=HOST, port=port, socket_timeout=5)

    def state(self, port: int) -> str:
        info = self.client(port).execute_command("CLUSTER", "INFO").decode()
        return dict(line.split(":", 1) for line in info.split("\r\n") if ":" in line)["cluster_state"]

    def node_id(self, port: int) -> str:
        return self.client(port).execute_command("CLUSTER", "MYID").decode()

    def owner(self, slot: int) -> int:
        """The port of the node serving ``slot`` (as the first node sees it)."""
        for start, end, primary, *_ in self.client(self.ports[0]).execute_command("CLUSTER", "SLOTS"):
            if start <= slot <= end:
                return int(primary[1])
        raise LookupError(f"slot {slot} is not served")

    def begin_migration(self, slot: int, target: int) -> int:
        """Mark ``slot`` migrating from its owner to ``target`` (keys not moved yet); the source port."""
        source = self.owner(slot)
        self.client(target).execute_command("CLUSTER", "SETSLOT", slot, "IMPORTING", self.node_id(source))
        self.client(source).execute_command("CLUSTER", "SETSLOT", slot, "MIGRATING", self.node_id(target))
        return source

    def move_keys(self, source: int, target: int, keys: list[bytes]) -> None:
        """``MIGRATE`` ``keys`` from ``source`` to ``target`` (the slot must be migrating)."""
        self.client(source).execute_command("MIGRATE", HOST, target, "", 0, 5000, "KEYS", *keys)

    def keys_in(self, port: int, slot: int) -> list[bytes]:
        return list(self.client(port).execute_command("CLUSTER", "GETKEYSINSLOT", slot, 1000))

    def finish_migration(self, slot: int, source: int, target: int) -> None:
        """Move the slot's remaining keys and give ``slot`` to ``target`` on every node."""
        left = self.keys_in(source, slot)
        if left:
            self.move_keys(source, target, left)
        target_id = self.node_id(target)
        for port in (target, source, *[p for p in self.ports if p not in (source, target)]):
            self.client(port).execute_command("CLUSTER", "SETSLOT", slot, "NODE", target_id)

    def _wait(self, check: Any, what: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        last: Exception | None = None
        while time.monotonic() < deadline:
            try:
                if check():
                    return
            except Exception as exc:  # noqa: BLE001 - not up yet; try again until the deadline
                last = exc
            time.sleep(0.1)
        raise TimeoutError(f"timed out waiting for {what} ({last})")
