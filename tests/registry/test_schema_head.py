"""Opening a registry that is already at the newest schema revision does not need Alembic."""

from __future__ import annotations

import subprocess
import sys


def test_the_head_read_from_the_migration_files_is_alembics():
    from modelyard_plugins.registry_sqlalchemy import schema

    assert schema._head_from_files() == schema.head_revision()


def test_opening_a_registry_at_head_does_not_import_alembic(tmp_path):
    from modelyard_plugins.registry_sqlalchemy.backend import SqlAlchemyBackend  # noqa: F401

    code = (
        "import sys\n"
        "import sqlalchemy as sa\n"
        "from modelyard_plugins.registry_sqlalchemy import schema\n"
        f"engine = sa.create_engine('sqlite:///{tmp_path / 'r.db'}')\n"
        "schema.upgrade(engine)\n"
        "assert 'alembic' in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    again = (
        "import sys\n"
        "import sqlalchemy as sa\n"
        "from modelyard_plugins.registry_sqlalchemy import schema\n"
        f"schema.upgrade(sa.create_engine('sqlite:///{tmp_path / 'r.db'}'))\n"
        "assert 'alembic' not in sys.modules, 'alembic was imported'\n"
    )
    done = subprocess.run([sys.executable, "-c", again], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
