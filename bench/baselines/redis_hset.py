"""Baseline for bench_materialize: write the same hashes into Redis with a pipelined HSET, nothing else.

Imports nothing from modelyard or Feast. The hashes (key -> {field: bytes}) are the exact bytes a
materialization writes, dumped once beforehand to a pickle; this script loads them and writes them:

* ``--mode redispy``: redis-py, ``pipeline(transaction=False)``, one ``HSET key mapping`` per
  entity, executed every ``--batch`` commands (what a hand-written loader does);
* ``--mode resp``: the RESP bytes of every ``HSET`` written straight to a socket in batches and
  the replies counted with hiredis (the floor: Redis's own work plus the wire).

    python bench/baselines/redis_hset.py --dump hashes.pkl --port 6379 --db 9 [--mode redispy|resp]
"""

from __future__ import annotations

import argparse
import pickle
import socket
import time


def load(path: str) -> list[tuple[bytes, dict[bytes, bytes]]]:
    with open(path, "rb") as f:
        return pickle.load(f)


def write_redispy(
    hashes: list[tuple[bytes, dict[bytes, bytes]]], host: str, port: int, db: int, batch: int
) -> None:
    import redis

    client = redis.Redis(host=host, port=port, db=db)
    pipe = client.pipeline(transaction=False)
    for i, (key, mapping) in enumerate(hashes, 1):
        pipe.hset(key, mapping=mapping)
        if i % batch == 0:
            pipe.execute()
    pipe.execute()
    client.close()


def write_resp(
    hashes: list[tuple[bytes, dict[bytes, bytes]]], host: str, port: int, db: int, batch: int
) -> None:
    import hiredis

    sock = socket.create_connection((host, port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    reader = hiredis.Reader()

    def replies(n: int) -> None:
        got = 0
        while got < n:
            reply = reader.gets()
            while reply is False:
                reader.feed(sock.recv(1 << 20))
                reply = reader.gets()
            got += 1

    sock.sendall(b"*2\r\n$6\r\nSELECT\r\n$%d\r\n%d\r\n" % (len(str(db)), db))
    replies(1)
    for start in range(0, len(hashes), batch):
        parts = []
        for key, mapping in hashes[start : start + batch]:
            parts.append(b"*%d\r\n$4\r\nHSET\r\n$%d\r\n%s\r\n" % (2 + 2 * len(mapping), len(key), key))
            for field, value in mapping.items():
                parts.append(b"$%d\r\n%s\r\n$%d\r\n%s\r\n" % (len(field), field, len(value), value))
        sock.sendall(b"".join(parts))
        replies(len(hashes[start : start + batch]))
    sock.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dump", required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=6379)
    parser.add_argument("--db", type=int, required=True)
    parser.add_argument("--mode", choices=["redispy", "resp"], default="redispy")
    parser.add_argument("--batch", type=int, default=5000)
    args = parser.parse_args()
    started = time.perf_counter()
    hashes = load(args.dump)
    write = write_redispy if args.mode == "redispy" else write_resp
    write(hashes, args.host, args.port, args.db, args.batch)
    print(f"{len(hashes)} hashes in {time.perf_counter() - started:.2f} s")


if __name__ == "__main__":
    main()
