"""Creating and upgrading the registry database with Alembic, without an ``alembic.ini``.

:func:`upgrade` runs on every open: a new database is created at the newest revision, an
older one is upgraded in place, and one written by a newer modelyard (a revision this
code does not know) is refused with :class:`~modelyard.errors.DatabaseVersionError`.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import TYPE_CHECKING

import sqlalchemy as sa

from modelyard.errors import DatabaseVersionError

if TYPE_CHECKING:  # pragma: no cover
    from alembic.config import Config
    from alembic.script import ScriptDirectory

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
# A fixed key for PostgreSQL's advisory lock, so concurrent openers migrate one at a time.
_PG_LOCK_KEY = 0x6D6F64656C79  # "modely"
#: Connection execution option marking a writing transaction (SQLite: BEGIN IMMEDIATE).
WRITE_OPTION = "modelyard_write"


def alembic_config() -> Config:
    """An Alembic config pointing at the migrations shipped in this package."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str:
    """The newest revision this code knows."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(connection: sa.Connection) -> str | None:
    """The revision the database is at (``None`` for an empty database)."""
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


_REVISION = re.compile(r"^(down_)?revision\s*=\s*(?:[\"'](\w+)[\"']|None)\s*$", re.M)


def _head_from_files() -> str | None:
    """The head revision read from the migration files' ``revision`` / ``down_revision`` lines, or
    ``None`` unless that gives exactly one head (then Alembic decides)."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        for down, name in _REVISION.findall(path.read_text()):
            if name:
                (parents if down else revisions).add(name)
    heads = revisions - parents
    return next(iter(heads)) if len(heads) == 1 else None


def _at_head(engine: sa.Engine) -> bool:
    """Whether the database is already at the newest revision, checked without importing Alembic
    (a second or more of a command's start-up on a loaded machine)."""
    head = _head_from_files()
    if head is None:
        return False
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    except sa.exc.SQLAlchemyError:  # no table yet: a new database
        return False
    return versions == [head]


def upgrade(engine: sa.Engine, target: str = "head") -> None:
    """Bring the database at ``engine`` to ``target``; refuse a database newer than this code."""
    if target == "head" and _at_head(engine):
        return
    from alembic import command
    from alembic.script import ScriptDirectory

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
    from alembic.script.revision import RevisionError
    from alembic.util import CommandError

    try:
        return scripts.get_revision(revision) is None
    except (RevisionError, CommandError):
        return True
