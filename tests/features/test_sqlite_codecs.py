"""pandas' process-wide sqlite3 codecs must not poison Feast's SQLite online store for other processes."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from example_settings import EXAMPLE_END

from modelyard.examples.repo import prepare_example_repo
from modelyard.yard import Yard

END = datetime.fromisoformat(EXAMPLE_END)

READ_IN_ANOTHER_PROCESS = """
import json, sys
from datetime import datetime
from modelyard.yard import Yard
yard = Yard.load(sys.argv[1])
frame = yard.features.online_vectors("trip_acceptance", json.loads(sys.argv[2]), as_of=datetime.fromisoformat(sys.argv[3]))
print(json.dumps(frame["conv_rate"].tolist()))
"""


def test_materialize_after_pandas_sqlite_use_stays_readable_by_another_process(
    example_repo_template, tmp_path: Path
) -> None:
    repo = prepare_example_repo(
        tmp_path / "repo",
        source=example_repo_template,
        generate=False,
        materialize_end=END - timedelta(days=2),
    )
    # what any pandas user may do in the same process: this registers ISO-string codecs process-wide
    with sqlite3.connect(tmp_path / "other.db") as conn:
        pd.DataFrame({"at": [datetime(2026, 1, 1, 12)]}).to_sql("t", conn, index=False)

    yard = Yard.load(repo)
    yard.features.materialize(END, progress=False)
    entities = pd.read_parquet(repo / "data" / "trip_acceptance_entities.parquet").head(5)
    keys = {k: [int(v) for v in entities[k]] for k in ("driver_id", "customer_id")}
    here = yard.features.online_vectors("trip_acceptance", keys, as_of=END)["conv_rate"].tolist()
    assert any(v == v for v in here)  # real values, not only NaN

    proc = subprocess.run(
        [sys.executable, "-c", READ_IN_ANOTHER_PROCESS, str(repo), json.dumps(keys), END.isoformat()],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == here
