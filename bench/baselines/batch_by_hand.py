"""Batch scoring written by hand, without modelyard or Feast: the baseline of ``bench_batch.py``.

What a user would write for the rideshare example's ``trip_acceptance_v1`` service: read the
entity rows and the three feature views' Parquet files, join each view with ``pd.merge_asof``
(by join key, backward, tolerance = the view's ttl, ties on event time resolved by the latest
created timestamp), predict with onnxruntime and write the rows plus prediction and score.
It imports nothing from modelyard, so it times only pandas, pyarrow and onnxruntime.

    python bench/baselines/batch_by_hand.py --repo REPO --entities IN.parquet --model model.onnx --out OUT.parquet
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd

# (file, join key, ttl, created column or None, features) of each view the service reads
VIEWS = [
    (
        "data/driver_stats.parquet",
        "driver_id",
        pd.Timedelta(days=2),
        "created",
        ["conv_rate", "acc_rate", "avg_daily_trips", "vehicle_type", "rating"],
    ),
    (
        "data/customer_profile.parquet",
        "customer_id",
        pd.Timedelta(days=10),
        "created",
        ["customer_tier", "avg_rating_given"],
    ),
    (
        "data/customer_activity.parquet",
        "customer_id",
        pd.Timedelta(days=3),
        None,
        ["trips_last_7d", "cancel_rate"],
    ),
]
TS = "event_timestamp"


def join(repo: Path, entities: pd.DataFrame) -> pd.DataFrame:
    """The entity rows (in their order) with every view's features as of each row's time."""
    left = entities.copy()
    left["__row"] = np.arange(len(left))
    left["__ts"] = pd.to_datetime(left[TS], utc=True).astype("datetime64[us, UTC]")
    left = left.sort_values("__ts", kind="stable")
    for path, key, ttl, created, features in VIEWS:
        cols = [key, TS, *features] + ([created] if created else [])
        right = pd.read_parquet(repo / path, columns=cols)
        right["__ts"] = pd.to_datetime(right[TS], utc=True).astype("datetime64[us, UTC]")
        order = ["__ts", created] if created else ["__ts"]
        right = right.sort_values(order, kind="stable").drop_duplicates([key, "__ts"], keep="last")
        left = pd.merge_asof(
            left,
            right[[key, "__ts", *features]],
            on="__ts",
            by=key,
            direction="backward",
            tolerance=ttl,
            allow_exact_matches=True,
        )
    return left.sort_values("__row").drop(columns=["__row", "__ts"]).reset_index(drop=True)


def predict(session: ort.InferenceSession, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Labels and P(class 1) from an ONNX graph with one input per feature column."""
    feeds = {}
    for node in session.get_inputs():
        column = frame[node.name]
        if node.type == "tensor(string)":
            values = column.astype(object).where(column.notna(), "").astype(str).to_numpy(dtype=object)
        else:
            values = column.to_numpy(dtype=np.float32, na_value=np.nan)
        feeds[node.name] = values.reshape(-1, 1)
    outputs = [o.name for o in session.get_outputs()]
    label, proba = session.run(outputs[:2], feeds)
    return np.asarray(label).ravel(), np.asarray(proba, dtype=float)[:, 1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repo", type=Path, required=True)
    parser.add_argument("--entities", type=Path, required=True)
    parser.add_argument("--model", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    started = time.perf_counter()
    entities = pd.read_parquet(args.entities)
    session = ort.InferenceSession(str(args.model), providers=["CPUExecutionProvider"])
    joined = join(args.repo, entities)
    out = entities.copy()
    out["prediction"], out["score"] = predict(session, joined)
    out.to_parquet(args.out, index=False)
    print(f"{len(out)} rows in {time.perf_counter() - started:.2f}s")


if __name__ == "__main__":
    main()
