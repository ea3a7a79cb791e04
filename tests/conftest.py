"""Shared fixtures: real Redis and PostgreSQL servers, skipped locally when absent, required under CI=true."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from services import PG_ADMIN_DSN, PG_HOST, PG_PORT, REDIS_HOST, REDIS_PORT, need


@pytest.fixture
def redis_url() -> Iterator[str]:
    """URL of the real local Redis; the test should use its own key prefix."""
    need("Redis", REDIS_HOST, REDIS_PORT)
    yield f"redis://{REDIS_HOST}:{REDIS_PORT}/0"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """SQLAlchemy URL of a brand-new PostgreSQL database on the real local server, dropped afterwards."""
    need("PostgreSQL", PG_HOST, PG_PORT)
    import psycopg

    name = f"my_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    finally:
        with psycopg.connect(PG_ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- example feature repo (added by the features work) -----------------------------------

from example_settings import EXAMPLE_DATA, EXAMPLE_END  # noqa: E402


@pytest.fixture(autouse=True, scope="session")
def _online_clock_at_example_end() -> Iterator[None]:
    """Online reads judge each view's ttl as of the end of the example data (what every test
    materializes up to), not the wall clock, in this process and the servers it starts."""
    import os

    from modelyard.features.expiry import CLOCK_ENV

    saved = os.environ.get(CLOCK_ENV)
    os.environ[CLOCK_ENV] = EXAMPLE_END
    yield
    if saved is None:
        os.environ.pop(CLOCK_ENV, None)
    else:
        os.environ[CLOCK_ENV] = saved


@pytest.fixture(scope="session")
def example_repo_template(tmp_path_factory: pytest.TempPathFactory):
    """The example repo's definitions with generated data (no Feast state), made once per session."""
    from modelyard.examples.repo import copy_example_repo
    from modelyard.examples.rideshare import generate

    repo = copy_example_repo(tmp_path_factory.mktemp("example_repo_template") / "repo")
    generate(repo, end=EXAMPLE_END, **EXAMPLE_DATA)
    return repo


@pytest.fixture(scope="session")
def make_example_repo(example_repo_template):
    """A factory: ``make_example_repo(dest)`` is a fresh example repo in ``dest`` with the
    template's data, applied and materialized up to EXAMPLE_END (for module-scoped fixtures)."""
    from datetime import datetime

    from modelyard.examples.repo import prepare_example_repo

    def make(dest):
        return prepare_example_repo(
            dest,
            source=example_repo_template,
            generate=False,
            materialize_end=datetime.fromisoformat(EXAMPLE_END),
        )

    return make


@pytest.fixture
def example_repo(make_example_repo, tmp_path):
    """A fresh copy of feature_repo/ in tmp: data generated (ending at EXAMPLE_END), applied, materialized."""
    return make_example_repo(tmp_path / "repo")
