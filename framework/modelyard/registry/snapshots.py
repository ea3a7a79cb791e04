"""Snapshots: training frames saved as versioned, content-addressed data.

A snapshot is the frame a model was trained on (Feast's point-in-time join), written as
Parquet deterministically (fixed writer settings, no timestamps in the file), so the
same frame always gives the same bytes, the same content hash and therefore the same
snapshot id. Beside it: the entity frame that produced it, the feature refs and schema
fingerprint of the FeatureService, the event-time range, the row count and the reference
:class:`~modelyard.monitoring.profile.Profile` drift detectors compare against.

Both Parquet files go into the artifact store (as two artifacts) and are verified on every
read, like model artifacts; the record goes to the registry backend.

::

    snap = registry.snapshot("trip_acceptance", frame, entities)
    again = registry.snapshot("trip_acceptance", frame, entities)    # same id, nothing rewritten
    registry.load_snapshot_frame(snap.id)                            # equal to frame, bit for bit
"""

from __future__ import annotations

import hashlib
import logging
import tempfile
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from modelyard.errors import RegistryError, SnapshotNotFound
from modelyard.registry.types import Snapshot

if TYPE_CHECKING:
    import pandas as pd

    from modelyard.monitoring.profile import Profile
    from modelyard.registry.service import Registry

logger = logging.getLogger(__name__)

FRAME_FILE = "frame.parquet"
ENTITIES_FILE = "entities.parquet"
TIMESTAMP_COLUMN = "event_timestamp"
ID_LENGTH = 16


def write_parquet(frame: pd.DataFrame, path: Path) -> None:
    """Write ``frame`` as Parquet with fixed settings: equal frames give equal bytes.

    The index is kept when it is not a plain RangeIndex, so a reload is identical.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pa.Table.from_pandas(frame, preserve_index=None)
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise RegistryError(
            f"cannot write the frame as Parquet: {exc}; give mixed-type object columns one type"
        ) from exc
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(
        table,
        path,
        compression="zstd",
        compression_level=3,
        version="2.6",
        use_dictionary=True,
        write_statistics=True,
        data_page_version="1.0",
    )


def read_parquet(path: Path) -> pd.DataFrame:
    """Read a Parquet file :func:`write_parquet` wrote, back into the same frame."""
    import pyarrow.parquet as pq

    return pq.read_table(path).to_pandas()


def snapshot_id(model: str, content_sha256: str, entities_sha256: str | None) -> str:
    """The id of a snapshot: a hash of the model name and both contents (same data -> same id)."""
    digest = hashlib.sha256(f"{model}\0{content_sha256}\0{entities_sha256 or ''}".encode()).hexdigest()
    return digest[:ID_LENGTH]


def time_range(
    *frames: pd.DataFrame, column: str = TIMESTAMP_COLUMN
) -> tuple[datetime | None, datetime | None]:
    """Earliest and latest ``column`` value of the first frame that has it, as UTC datetimes."""
    import pandas as pd

    for frame in frames:
        if frame is not None and column in frame.columns and len(frame):
            times = pd.to_datetime(frame[column], utc=True).dropna()
            if len(times):
                return times.min().to_pydatetime(), times.max().to_pydatetime()
    return None, None


def default_features(frame: pd.DataFrame, exclude: Sequence[str]) -> list[str]:
    """The columns of ``frame`` to profile when none are named: all but ``exclude`` and timestamps."""
    import pandas as pd

    skip = set(exclude) | {TIMESTAMP_COLUMN, "created", "created_timestamp"}
    return [
        c for c in frame.columns if c not in skip and not pd.api.types.is_datetime64_any_dtype(frame[c].dtype)
    ]


def take_snapshot(
    registry: Registry,
    model: str,
    frame: pd.DataFrame,
    entities: pd.DataFrame | None = None,
    *,
    features: Sequence[str] | None = None,
    feature_refs: Sequence[str] | None = None,
    schema_fingerprint: str | None = None,
    feature_service: str | None = None,
    categorical: Sequence[str] | None = None,
    holdout: float = 0.3,
    seed: int = 0,
) -> Snapshot:
    """Save ``frame`` (the training frame of ``model``) and ``entities`` as a snapshot.

    With a yard, feature names, refs, schema fingerprint and FeatureService come from the
    model's declaration; arguments given here override them. The reference profile covers
    ``features`` (default: the FeatureService's feature columns, else every column but
    entity keys, the label and timestamps). Saving the same data again returns the
    existing snapshot.
    """
    from modelyard.monitoring.profile import Profile

    exclude: list[str] = []
    yard = registry.yard
    if yard is not None:
        config = yard.model(model)
        feature_service = feature_service or config.feature_service
        exclude = [*config.entity_keys, config.label]
        if features is None:
            features = yard.features.feature_names(model)
        if feature_refs is None:
            feature_refs = yard.features.feature_refs(model)
        if schema_fingerprint is None:
            schema_fingerprint = yard.features.fingerprint(model)
    if len(frame) == 0:
        raise RegistryError(f"cannot snapshot an empty training frame of {model}")
    if features is None:
        features = default_features(frame, exclude)
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise RegistryError(
            f"cannot snapshot the training frame of {model}: it lacks feature columns {missing} "
            f"(it has {list(frame.columns)})"
        )
    if feature_refs is None:
        feature_refs = list(features)

    with tempfile.TemporaryDirectory(prefix="modelyard-snapshot-") as tmp:
        frame_dir = Path(tmp) / "frame"
        write_parquet(frame, frame_dir / FRAME_FILE)
        stored = registry.artifacts.put(frame_dir)
        stored_entities = None
        if entities is not None:
            entities_dir = Path(tmp) / "entities"
            write_parquet(entities, entities_dir / ENTITIES_FILE)
            stored_entities = registry.artifacts.put(entities_dir)

    sid = snapshot_id(model, stored.sha256, stored_entities.sha256 if stored_entities else None)
    try:
        existing = registry.backend.get_snapshot(sid)
    except SnapshotNotFound:
        existing = None
    if existing is not None:
        logger.info("snapshot %s of %s already stored", sid, model)
        return existing

    profile = Profile.from_frame(
        frame,
        features=list(features),
        categorical=list(categorical) if categorical is not None else None,
        holdout=holdout,
        seed=seed,
    )
    start, end = time_range(frame, entities) if entities is not None else time_range(frame)
    snapshot = Snapshot(
        id=sid,
        model=model,
        uri=stored.uri,
        content_sha256=stored.sha256,
        rows=len(frame),
        start=start,
        end=end,
        feature_refs=tuple(feature_refs),
        schema_fingerprint=schema_fingerprint,
        profile=profile.to_dict(),
        entities_uri=stored_entities.uri if stored_entities else None,
        created_at=datetime.now(timezone.utc),
        store=registry.artifacts.canonical_url,
        feature_service=feature_service or "",
        size=stored.size,
        entities_sha256=stored_entities.sha256 if stored_entities else None,
        entities_size=stored_entities.size if stored_entities else 0,
    )
    saved = registry.backend.add_snapshot(snapshot)
    logger.info("snapshot %s of %s: %d rows, %d bytes", sid, model, len(frame), stored.size)
    return saved


def _fetch(registry: Registry, uri: str, sha256: str, file: str, label: str) -> pd.DataFrame:
    with tempfile.TemporaryDirectory(prefix="modelyard-snapshot-") as tmp:
        local = registry.artifacts.get(uri, sha256, Path(tmp) / "data", label=label)
        return read_parquet(local / file)


def load_frame(registry: Registry, snapshot: Snapshot | str) -> pd.DataFrame:
    """The training frame of a snapshot, verified against its content hash, as it was saved."""
    snap = registry.backend.get_snapshot(snapshot) if isinstance(snapshot, str) else snapshot
    return _fetch(registry, snap.uri, snap.content_sha256, FRAME_FILE, f"snapshot {snap.id} of {snap.model}")


def load_entities(registry: Registry, snapshot: Snapshot | str) -> pd.DataFrame:
    """The entity frame a snapshot was taken from (verified); RegistryError if none was saved."""
    snap = registry.backend.get_snapshot(snapshot) if isinstance(snapshot, str) else snapshot
    if snap.entities_uri is None or snap.entities_sha256 is None:
        raise RegistryError(f"snapshot {snap.id} of {snap.model} was saved without its entity frame")
    return _fetch(
        registry, snap.entities_uri, snap.entities_sha256, ENTITIES_FILE, f"entities of snapshot {snap.id}"
    )


def reference_profile(registry: Registry, snapshot: Snapshot | str) -> Profile:
    """The reference profile stored with a snapshot."""
    from modelyard.monitoring.profile import Profile

    snap = registry.backend.get_snapshot(snapshot) if isinstance(snapshot, str) else snapshot
    if snap.profile is None:
        raise RegistryError(f"snapshot {snap.id} of {snap.model} has no reference profile")
    return Profile.from_dict(snap.profile)
