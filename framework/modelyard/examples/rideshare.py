"""Seeded generator of the rideshare example data (``feature_repo/data/``), with optional drift.

The domain: drivers accept or decline ride requests from customers, and customers tip. Three
Feast sources are written as Parquet, plus one labelled entity frame per example model:

* ``driver_stats.parquet``      one row per driver per day: ``conv_rate``, ``acc_rate``,
  ``avg_daily_trips``, ``vehicle_type`` (categorical), ``rating`` (some missing). About 1% of
  rows are corrections: same driver and event time, later ``created`` time, other values.
* ``customer_profile.parquet``  one row per customer per week: ``customer_tier`` and
  ``payment_method`` (categorical, some missing), ``avg_rating_given``, ``lifetime_trips``.
* ``customer_activity.parquet`` most customers on most days: ``trips_last_7d``, ``cancel_rate``.
* ``driver_status.parquet``     over the last two days, each driver every two hours:
  ``last_trip_at`` (a timestamp with a fraction of a second, which Feast serves as whole
  seconds) and ``online_minutes``; its view's ttl is one hour, so at most times about half the
  drivers have no fresh status (the rules of docs/features.md "What is guaranteed" at work).
* ``trip_acceptance_entities.parquet`` / ``tip_amount_entities.parquet``: ``driver_id``,
  ``customer_id``, ``event_timestamp`` and the label (``accepted`` / ``tip_amount``).
* ``driver_live.parquet``       the push source's history: hourly ``live_acceptance_rate`` per
  driver over the last day (fresh values arrive by ``modelyard push``).
* ``trip_acceptance_live_entities.parquet``: the acceptance rows plus ``trip_distance_km``, the
  request data of the ``trip_context`` on-demand view.

Labels depend on hidden per-driver and per-customer traits that the features reflect, so a
model trained on the features learns something. ``drift_from`` changes the driver features
from that time on, the way the monitoring tests and the demo expect (see :data:`DRIFT_EFFECTS`).

Run ``python -m modelyard.examples.rideshare --repo feature_repo [--drift-from 2026-01-20]``.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

logger = logging.getLogger(__name__)

DATA_DIR = "data"
VEHICLE_TYPES = ("sedan", "suv", "hatchback", "van", "electric")
VEHICLE_WEIGHTS = (0.4, 0.2, 0.2, 0.1, 0.1)
TIERS = ("bronze", "silver", "gold", "platinum")
PAYMENT_METHODS = ("card", "cash", "wallet")

# What ``drift_from`` does to driver_stats rows at or after that time.
DRIFT_SHIFT_CONV_RATE = 0.25
DRIFT_UNSEEN_VEHICLE = "autonomous"
DRIFT_UNSEEN_SHARE = 0.3
BASE_RATING_MISSING = 0.05
DRIFT_RATING_MISSING = 0.4
DRIFT_EFFECTS = {
    "driver_stats:conv_rate": f"+{DRIFT_SHIFT_CONV_RATE} (clipped to 1)",
    "driver_stats:vehicle_type": f"{DRIFT_UNSEEN_SHARE:.0%} of rows become the unseen {DRIFT_UNSEEN_VEHICLE!r}",
    "driver_stats:rating": f"missing rate {BASE_RATING_MISSING:.0%} -> {DRIFT_RATING_MISSING:.0%}",
}


@dataclass(frozen=True)
class GeneratedData:
    """What :func:`generate` wrote: file paths by name, row counts, and the time range covered."""

    files: dict[str, Path]
    rows: dict[str, int]
    start: datetime
    end: datetime
    drift_from: datetime | None = None
    seed: int = 0
    effects: dict[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        """One line for people: rows per file and the time range (the repr keeps every field)."""
        rows = ", ".join(f"{name} {count:,} rows" for name, count in self.rows.items())
        span = f"{self.start:%Y-%m-%d %H:%M} to {self.end:%Y-%m-%d %H:%M} UTC"
        drift = f", drift from {self.drift_from:%Y-%m-%d %H:%M}" if self.drift_from else ""
        return f"{rows}; {span}{drift}"


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def default_end() -> datetime:
    """The current UTC time floored to the hour: the data ends "now", so Feast's ttl windows cover it."""
    return datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    import numpy as np

    return 1.0 / (1.0 + np.exp(-x))


def _timestamps(base: datetime, seconds: np.ndarray) -> pd.Series:
    import pandas as pd

    return pd.Series(pd.Timestamp(base) + pd.to_timedelta(seconds, unit="s")).astype("datetime64[ns, UTC]")


def _driver_stats(
    rng: np.random.Generator, quality: np.ndarray, vehicles: np.ndarray, start: datetime, days: int
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    n = len(quality)
    driver_idx = np.tile(np.arange(n), days)
    day = np.repeat(np.arange(days), n)
    offset = rng.integers(0, 86_400, size=n)  # each driver's daily update time
    seconds = day * 86_400 + offset[driver_idx]
    q = quality[driver_idx]
    rating = np.round(np.clip(4.5 + 0.25 * q + rng.normal(0, 0.2, len(q)), 1.0, 5.0), 2)
    rating[rng.random(len(q)) < BASE_RATING_MISSING] = np.nan
    frame = pd.DataFrame(
        {
            "driver_id": (1000 + driver_idx).astype("int64"),
            "event_timestamp": _timestamps(start, seconds),
            "conv_rate": _sigmoid(0.8 * q + rng.normal(0, 0.3, len(q))),
            "acc_rate": _sigmoid(0.5 * q + 1.0 + rng.normal(0, 0.3, len(q))),
            "avg_daily_trips": rng.poisson(10 + 8 * _sigmoid(q)).astype("int64"),
            "vehicle_type": vehicles[driver_idx].astype(object),
            "rating": rating,
        }
    )
    frame["created"] = frame["event_timestamp"] + pd.to_timedelta(rng.integers(60, 900, len(frame)), unit="s")
    # Corrections: a later-created row for the same driver and event time replaces the first.
    fix = frame.sample(frac=0.01, random_state=int(rng.integers(0, 2**31))).copy()
    fix["conv_rate"] = _sigmoid(rng.normal(0, 1, len(fix)))
    fix["created"] = fix["created"] + pd.Timedelta(hours=1)
    return pd.concat([frame, fix], ignore_index=True)


def _customer_profile(
    rng: np.random.Generator, generosity: np.ndarray, start: datetime, days: int
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    n = len(generosity)
    weeks = days // 7 + 1
    cust_idx = np.tile(np.arange(n), weeks)
    week = np.repeat(np.arange(weeks), n)
    seconds = np.minimum(week * 7 * 86_400 + rng.integers(0, 86_400, n)[cust_idx], days * 86_400 - 1)
    g = generosity[cust_idx]
    tier_idx = np.clip(np.digitize(g + rng.normal(0, 0.3, len(g)), [-0.7, 0.3, 1.2]), 0, len(TIERS) - 1)
    payment = np.asarray(PAYMENT_METHODS, dtype=object)[rng.integers(0, len(PAYMENT_METHODS), n)][cust_idx]
    payment[rng.random(len(g)) < 0.08] = None
    base_trips = rng.integers(0, 400, n)[cust_idx]
    return pd.DataFrame(
        {
            "customer_id": (50_000 + cust_idx).astype("int64"),
            "event_timestamp": _timestamps(start, seconds),
            "customer_tier": np.asarray(TIERS, dtype=object)[tier_idx],
            "avg_rating_given": np.round(np.clip(4.2 + 0.3 * g + rng.normal(0, 0.3, len(g)), 1, 5), 2),
            "lifetime_trips": (base_trips + week * rng.integers(0, 15, len(g))).astype("int64"),
            "payment_method": payment,
            "created": _timestamps(start, seconds + 30),
        }
    )


def _customer_activity(
    rng: np.random.Generator, generosity: np.ndarray, start: datetime, days: int
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    n = len(generosity)
    cust_idx = np.tile(np.arange(n), days)
    day = np.repeat(np.arange(days), n)
    keep = rng.random(len(cust_idx)) < 0.6
    cust_idx, day = cust_idx[keep], day[keep]
    g = generosity[cust_idx]
    cancel = _sigmoid(-2.0 - 0.5 * g + rng.normal(0, 0.4, len(g)))
    cancel[rng.random(len(g)) < 0.03] = np.nan
    return pd.DataFrame(
        {
            "customer_id": (50_000 + cust_idx).astype("int64"),
            "event_timestamp": _timestamps(start, day * 86_400 + rng.integers(0, 86_400, len(g))),
            "trips_last_7d": rng.poisson(3 + 2 * _sigmoid(g)).astype("int64"),
            "cancel_rate": cancel,
        }
    )


def _driver_status(seed: int, drivers: int, end: datetime) -> pd.DataFrame:
    """Each driver every two hours over the two days before ``end`` (its own random stream, so
    the other files stay what they were before this source existed)."""
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng([seed, 1])
    slots = 24
    driver_idx = np.tile(np.arange(drivers), slots)
    slot = np.repeat(np.arange(slots), drivers)
    seconds = -(slot * 7200 + rng.integers(1, 7200, len(slot)))  # before end, never at it
    events = _timestamps(end, seconds)
    since_trip = pd.to_timedelta(rng.integers(0, 3600 * 10**6, len(slot)), unit="us")
    return pd.DataFrame(
        {
            "driver_id": (1000 + driver_idx).astype("int64"),
            "event_timestamp": events,
            "last_trip_at": events - since_trip,
            "online_minutes": rng.integers(0, 600, len(slot)).astype("int64"),
        }
    )


def _apply_drift(rng: np.random.Generator, stats: pd.DataFrame, drift_from: datetime) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    stats = stats.copy()
    after = (stats["event_timestamp"] >= pd.Timestamp(drift_from)).to_numpy()
    n = int(after.sum())
    stats.loc[after, "conv_rate"] = np.clip(stats.loc[after, "conv_rate"] + DRIFT_SHIFT_CONV_RATE, 0.0, 1.0)
    unseen = after.copy()
    unseen[after] = rng.random(n) < DRIFT_UNSEEN_SHARE
    stats.loc[unseen, "vehicle_type"] = DRIFT_UNSEEN_VEHICLE
    missing = after.copy()
    missing[after] = rng.random(n) < DRIFT_RATING_MISSING
    stats.loc[missing, "rating"] = np.nan
    return stats


def _trips(
    rng: np.random.Generator,
    quality: np.ndarray,
    vehicles: np.ndarray,
    generosity: np.ndarray,
    start: datetime,
    days: int,
    count: int,
) -> pd.DataFrame:
    import numpy as np
    import pandas as pd

    d = rng.integers(0, len(quality), count)
    c = rng.integers(0, len(generosity), count)
    seconds = np.sort(rng.integers(86_400, days * 86_400, count))
    accept_logit = 1.3 * quality[d] + 0.6 * generosity[c] + 0.4 + rng.normal(0, 0.5, count)
    premium = np.where(np.isin(vehicles[d], ("suv", "van")), 1.0, 0.0)
    tip = np.round(
        np.maximum(0.0, 2.0 + 1.5 * generosity[c] + 0.6 * quality[d] + premium + rng.normal(0, 0.7, count)), 2
    )
    return pd.DataFrame(
        {
            "driver_id": (1000 + d).astype("int64"),
            "customer_id": (50_000 + c).astype("int64"),
            "event_timestamp": _timestamps(start, seconds),
            "accepted": (rng.random(count) < _sigmoid(accept_logit)).astype("int64"),
            "tip_amount": tip,
        }
    )


def _real_time(
    rng: np.random.Generator, quality: np.ndarray, accepted: pd.DataFrame, end: datetime
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The push source's history (hourly live acceptance rates over the last day) and the live
    model's entity rows: the acceptance rows with each trip's distance (request data).

    A separate random stream, so the other files stay byte-identical to earlier versions.
    """
    import numpy as np
    import pandas as pd

    hours = 24
    drivers = np.repeat(np.arange(len(quality)), hours)
    at = np.tile(np.arange(hours, 0, -1), len(quality))
    rate = np.clip(_sigmoid(1.3 * quality[drivers] + 0.4) + rng.normal(0, 0.05, len(drivers)), 0.0, 1.0)
    live = pd.DataFrame(
        {
            "driver_id": (1000 + drivers).astype("int64"),
            "live_acceptance_rate": np.round(rate, 4),
            "event_timestamp": pd.to_datetime([end - timedelta(hours=int(h)) for h in at], utc=True),
        }
    )
    entities = accepted.reset_index(drop=True).copy()
    entities.insert(3, "trip_distance_km", np.round(rng.gamma(2.0, 3.0, len(entities)), 2))
    return live, entities


def generate(
    repo_path: str | Path,
    *,
    seed: int = 7,
    drivers: int = 200,
    customers: int = 1000,
    days: int = 28,
    trips: int = 20_000,
    end: datetime | str | None = None,
    drift_from: datetime | str | None = None,
) -> GeneratedData:
    """Write the example data under ``repo_path/data`` and return what was written.

    The same ``seed`` and ``end`` give byte-identical values. ``end`` defaults to the current hour
    (UTC) so that Feast's ttl windows reach the data; ``days`` of history end there.
    ``drift_from`` (a time in that range) shifts ``conv_rate``, adds an unseen ``vehicle_type``
    and raises ``rating``'s missing rate for driver rows from then on.
    """
    import numpy as np

    if min(drivers, customers, days, trips) < 1:
        raise ValueError("drivers, customers, days and trips must all be at least 1")
    end_at = _utc(end) if end is not None else default_end()
    start = end_at - timedelta(days=days)
    drift_at = _utc(drift_from) if drift_from is not None else None
    if drift_at is not None and not start <= drift_at <= end_at:
        raise ValueError(f"drift_from {drift_at.isoformat()} is outside the data's range {start} .. {end_at}")

    rng = np.random.default_rng(seed)
    quality = rng.normal(0, 1, drivers)
    vehicles = np.asarray(VEHICLE_TYPES, dtype=object)[
        rng.choice(len(VEHICLE_TYPES), drivers, p=VEHICLE_WEIGHTS)
    ]
    generosity = rng.normal(0, 1, customers)

    stats = _driver_stats(rng, quality, vehicles, start, days)
    if drift_at is not None:
        stats = _apply_drift(rng, stats, drift_at)
    profile = _customer_profile(rng, generosity, start, days)
    activity = _customer_activity(rng, generosity, start, days)
    trip_frame = _trips(rng, quality, vehicles, generosity, start, days, trips)
    status = _driver_status(seed, drivers, end_at)
    accepted = trip_frame[["driver_id", "customer_id", "event_timestamp", "accepted"]]
    tipped = trip_frame.loc[
        trip_frame["accepted"] == 1, ["driver_id", "customer_id", "event_timestamp", "tip_amount"]
    ]

    live, live_entities = _real_time(np.random.default_rng(seed + 1), quality, accepted, end_at)

    out = Path(repo_path) / DATA_DIR
    out.mkdir(parents=True, exist_ok=True)
    frames = {
        "driver_stats": stats,
        "customer_profile": profile,
        "customer_activity": activity,
        "driver_status": status,
        "trip_acceptance_entities": accepted.reset_index(drop=True),
        "tip_amount_entities": tipped.reset_index(drop=True),
        "driver_live": live,
        "trip_acceptance_live_entities": live_entities,
    }
    files: dict[str, Path] = {}
    for name, frame in frames.items():
        path = out / f"{name}.parquet"
        frame.to_parquet(path, index=False)
        files[name] = path
        logger.info("wrote %s (%d rows)", path, len(frame))
    return GeneratedData(
        files=files,
        rows={name: len(frame) for name, frame in frames.items()},
        start=start,
        end=end_at,
        drift_from=drift_at,
        seed=seed,
        effects=dict(DRIFT_EFFECTS) if drift_at is not None else {},
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: ``python -m modelyard.examples.rideshare --repo PATH [--drift-from DATE]``."""
    parser = argparse.ArgumentParser(description="Generate the rideshare example data for a feature repo.")
    parser.add_argument("--repo", default=".", help="feature repo directory (data goes to REPO/data)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--drivers", type=int, default=200)
    parser.add_argument("--customers", type=int, default=1000)
    parser.add_argument("--days", type=int, default=28)
    parser.add_argument("--trips", type=int, default=20_000)
    parser.add_argument("--end", help="last time covered, ISO 8601 (default: this hour, UTC)")
    parser.add_argument("--drift-from", help="inject drift into driver features from this ISO 8601 time on")
    args = parser.parse_args(argv)
    try:
        result = generate(
            args.repo,
            seed=args.seed,
            drivers=args.drivers,
            customers=args.customers,
            days=args.days,
            trips=args.trips,
            end=args.end,
            drift_from=args.drift_from,
        )
    except ValueError as exc:
        parser.error(str(exc))
    for name, rows in result.rows.items():
        print(f"{result.files[name]}: {rows} rows")
    print(f"time range: {result.start.isoformat()} .. {result.end.isoformat()}")
    for feature, effect in result.effects.items():
        print(f"drift from {result.drift_from.isoformat() if result.drift_from else ''}: {feature} {effect}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
