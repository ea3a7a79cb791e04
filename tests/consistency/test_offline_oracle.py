"""The training frame of generated Feast repos equals an independent pandas point-in-time join."""

from __future__ import annotations

import pandas as pd
import pytest
from cons_generator import generate
from cons_oracle import EXPECTED_DTYPES, canonical, canonical_rows, diff, expected_frame

from modelyard.yard import Yard

SEEDS = [0, 1, 2, 3]


@pytest.mark.parametrize("seed", SEEDS)
def test_training_frame_equals_the_oracle(tmp_path, seed):
    repo = generate(tmp_path, seed)
    yard = Yard.load(repo.path)
    yard.features.apply()
    entities = repo.entities
    frame = yard.features.training_frame(repo.model, entities)

    types = repo.feature_types()
    assert list(frame.columns) == [*entities.columns, *types]
    assert frame.index.equals(entities.index) and len(frame) == len(entities)
    assert frame[list(entities.columns)].equals(entities)
    assert {n: str(frame[n].dtype) for n in types} == {n: EXPECTED_DTYPES[k] for n, k in types.items()}
    keys = list(zip(entities["rider_id"], entities["zone"], entities["event_timestamp"], strict=True))
    problems = diff(
        expected_frame(repo, entities), canonical_rows(frame[list(types)], types), "training", keys
    )
    assert not problems, "\n".join(problems[:20])


def test_the_join_never_takes_a_value_from_the_future_at_the_nanosecond(tmp_path):
    """A feature row 1 ns after the entity time is not joined; at the same nanosecond it is."""
    repo = generate(tmp_path, 11)
    yard = Yard.load(repo.path)
    yard.features.apply()
    rows = repo.rows["rider_stats"]
    first = rows.sort_values("event_ns").drop_duplicates("rider_id").iloc[0]
    event = int(first["event_ns"])
    entities = pd.DataFrame(
        {
            "rider_id": [int(first["rider_id"])] * 3,
            "zone": ["north"] * 3,
            "event_timestamp": pd.to_datetime([event - 1, event, event + 1], utc=True),
        }
    )
    frame = yard.features.training_frame(repo.model, entities)
    types = repo.feature_types()
    expected = expected_frame(repo, entities)
    assert all(v is None for v in (expected[0][n] for n, _ in repo.views[0].features))
    problems = diff(expected, canonical_rows(frame[list(types)], types), "training")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize(
    ("last", "files"), [("positive zero", 1), ("negative zero", 1), ("positive zero", 2)]
)
def test_of_rows_tying_on_event_and_created_time_the_last_in_the_source_wins(
    tmp_path, monkeypatch, last, files
):
    """Feast's file offline store keeps the last of rows sharing keys, event and created time; the
    join and the materialized online store take that row too, signed zeros told apart. With a
    directory of files, the last is in the last file by path."""
    from cons_generator import END_NS, _write_parquet

    from modelyard.features import expiry

    repo = generate(tmp_path, 12)
    view = repo.views[0]
    rows = repo.rows[view.name]
    fresh = rows[rows["event_ns"] == rows["event_ns"].max()].iloc[[0]]  # the latest row of one rider
    zeros = {"positive zero": 0.0, "negative zero": -0.0}
    tied = [fresh.assign(r_float64=value, r_string=name) for name, value in zeros.items() if name != last]
    tied.append(fresh.assign(r_float64=zeros[last], r_string=last))
    repo.rows[view.name] = pd.concat([rows, *tied], ignore_index=True)
    source = repo.path / "data" / f"{view.name}.parquet"
    if files == 1:
        _write_parquet(source, view, repo.rows[view.name])
    else:  # the winner alone in the later file, the rest in the earlier one
        source.unlink()
        parts = repo.path / "data" / view.name
        parts.mkdir()
        _write_parquet(parts / "part-0.parquet", view, repo.rows[view.name].iloc[:-1].reset_index(drop=True))
        _write_parquet(parts / "part-1.parquet", view, repo.rows[view.name].iloc[-1:].reset_index(drop=True))
        defs = repo.path / f"{repo.project}_defs.py"
        defs.write_text(defs.read_text().replace(f'"data/{view.name}.parquet"', f'"data/{view.name}"'))

    yard = Yard.load(repo.path)
    yard.features.apply()
    rider = int(fresh["rider_id"].iloc[0])
    entities = pd.DataFrame(
        {"rider_id": [rider], "zone": ["north"], "event_timestamp": pd.to_datetime([END_NS], utc=True)}
    )
    expected = expected_frame(repo, entities)
    assert expected[0]["r_string"] == ("str", last)
    assert expected[0]["r_float64"] == canonical(zeros[last], "Float64")
    types = repo.feature_types()
    training = yard.features.training_frame(repo.model, entities)
    assert not diff(expected, canonical_rows(training[list(types)], types), "training")

    yard.features.materialize(pd.Timestamp(END_NS, tz="UTC").to_pydatetime(), progress=False)
    monkeypatch.setattr(expiry, "now_ns", lambda: END_NS)
    online = yard.features.online_vectors(repo.model, {"rider_id": [rider], "zone": ["north"]})
    assert not diff(expected, canonical_rows(online[list(types)], types), "online")


def test_the_generated_repos_cover_every_scalar_type_of_the_installed_feast() -> None:
    """A Feast upgrade that adds a scalar type fails here until the generator covers it (or the
    exclusion says why it cannot: docs/features.md, "What is guaranteed")."""
    from cons_generator import SCALARS
    from feast.types import PRIMITIVE_FEAST_TYPES_TO_STRING

    not_scalars = {"Invalid", "Map", "ScalarMap"}  # no type, and maps
    cannot_serve = {"ZonedTimestamp"}  # Feast 0.67 cannot materialize it
    installed = set(PRIMITIVE_FEAST_TYPES_TO_STRING.values()) - not_scalars
    assert installed - cannot_serve == set(SCALARS)
