"""Creating and upgrading the registry database with Alembic, without an ``alembic.ini``.

:func:`upgrade` runs on every open: a new database is created at the newest revision, an
older one is upgraded in place, and one written by a newer modelyard (a revision this
code does not know) is refused with :class:`~modelyard.errors.DatabaseVersionError`.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.script.revision import RevisionError
from alembic.util import CommandError

from modelyard.errors import DatabaseVersionError

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# A fixed key for PostgreSQL's advisory lock, so concurrent openers migrate one at a time.
_PG_LOCK_KEY = 0x6D6F64656C79  # "modely"
#: Connection execution option marking a writing transaction (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "modelyard_write"


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped in this package."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    return MigrationContext.configure(connection).get_current_revision()


def upgrade(engine: sa.Engine, target: str = "head") -> None:
    """Bring the database at ``engine`` to ``target``; refuse a database newer than this code."""
    config = alembic_config()
    scripts = ScriptDirectory.from_config(config)
    head = scripts.get_current_head()
    with engine.connect() as connection, connection.execution_options(**{WRITE_OPTION: True}).begin():
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_LOCK_KEY})
        current = current_revision(connection)
        if current is not None and _unknown(scripts, current):
            raise DatabaseVersionError(
                f"the registry database {engine.url.render_as_string(hide_password=True)} is at schema "
                f"revision {current}, newer than this modelyard knows (newest: {head}); "
                "upgrade modelyard, or point the registry at another database"
            )
        wanted = head if target == "head" else target
        if current == wanted:
            return
        logger.info("migrating registry database from %s to %s", current or "empty", wanted)
        config.attributes["connection"] = connection
        command.upgrade(config, target)


def _unknown(scripts: ScriptDirectory, revision: str) -> bool:
    try:
        return scripts.get_revision(revision) is None
    except (RevisionError, CommandError):
        return True
