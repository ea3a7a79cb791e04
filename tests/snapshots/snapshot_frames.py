"""Frames shaped like a training frame, for the snapshot and training tests."""

from __future__ import annotations

import numpy as np
import pandas as pd


def training_like(n: int = 300, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """An entity frame and a training frame shaped like Feast's point-in-time join output."""
    rng = np.random.default_rng(seed)
    times = pd.Timestamp("2026-01-01", tz="UTC") + pd.to_timedelta(
        rng.integers(0, 30 * 24 * 3600, n), unit="s"
    )
    entities = pd.DataFrame(
        {
            "driver_id": rng.integers(1000, 1050, n).astype("int64"),
            "customer_id": rng.integers(1, 200, n).astype("int64"),
            "event_timestamp": times,
            "accepted": rng.integers(0, 2, n).astype("int64"),
        }
    )
    frame = entities.copy()
    frame["conv_rate"] = rng.random(n)
    frame.loc[::13, "conv_rate"] = np.nan
    frame["avg_daily_trips"] = rng.integers(0, 40, n).astype("int64")
    frame["vehicle_type"] = pd.Series(rng.choice(["sedan", "suv", "van"], n), dtype=object)
    frame.loc[::11, "vehicle_type"] = None
    frame["is_premium"] = rng.random(n) > 0.7
    return entities, frame
