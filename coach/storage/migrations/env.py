"""Alembic environment for the coach's database.

Run only through `coach.storage.database.upgrade`, which hands over an open connection
in `config.attributes["connection"]` (inside its transaction): there is no alembic.ini
and no URL here, so a migration can never reach a database other than the one the
app opened.
"""

from __future__ import annotations

from alembic import context

from coach.storage.schema import metadata

connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations through coach.storage.database.upgrade(engine)")

context.configure(connection=connection, target_metadata=metadata, compare_type=True)
with context.begin_transaction():
    context.run_migrations()
