"""The first Feast read of a SQLite online store skips Feast's import of every other store module.

Feast answers "does this online store support versioned reads?" by importing the modules of
Redis, PostgreSQL, MySQL, FAISS, DynamoDB and Milvus to test ``isinstance``; modelyard's Feast
reader gives a SQLite store the answer Feast itself finds, so a serving worker's first answer
does not pay for those imports. The values read are Feast's own either way.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pandas as pd

READ = r"""
import json, sys
from modelyard.features.online.reader import online_reader
from modelyard.yard import Yard

yard = Yard.load(sys.argv[1])
reader = online_reader(yard.feature_store, yard.model("trip_acceptance").feature_service)
columns = reader.read(json.loads(sys.argv[2]))
online = yard.feature_store._get_provider().online_store
probed = [m for m in sys.modules if m.startswith("feast.infra.online_stores.postgres_online_store")]
print(json.dumps({
    "store": type(online).__name__,
    "cached": online._versioned_read_supported,
    "feast_says": type(online)._is_versioned_read_supported(online),
    "probed_before_feast": probed,
    "values": {k: [None if v != v else v for v in vs] for k, vs in columns.items()},
}, default=str))
"""


def test_sqlite_store_is_answered_as_feast_would_without_the_probe(make_example_repo, tmp_path) -> None:
    repo = make_example_repo(tmp_path / "repo")
    rows = pd.read_parquet(repo / "data" / "trip_acceptance_entities.parquet").head(3)
    keys = {k: [int(v) for v in rows[k]] for k in ("driver_id", "customer_id")}
    done = subprocess.run(
        [sys.executable, "-c", READ, str(repo), json.dumps(keys)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    assert seen["store"] == "SqliteOnlineStore"
    assert seen["cached"] is True and seen["feast_says"] is True
    assert seen["probed_before_feast"] == []  # Feast's own check (run after the read) imports them
    assert any(v is not None for v in seen["values"]["conv_rate"])  # real values were read
