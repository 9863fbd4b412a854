"""Alembic environment: always run on a connection handed over by aftersale.adapters.db."""

from alembic import context

from aftersale.adapters.schema import metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, render_as_batch=True)
with context.begin_transaction():
    context.run_migrations()
