"""A database of its own for each figure, so a figure can run again on the same server."""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy.engine import make_url

from aftersale.adapters.db import make_engine


@contextmanager
def own_database(url: str, name: str) -> Iterator[str]:
    """The URL of a fresh, empty database, dropped afterwards: a SQLite file in a temporary
    folder, or a schema of its own in the PostgreSQL database at ``url``."""
    with tempfile.TemporaryDirectory() as folder:
        if url.startswith("sqlite"):
            yield f"sqlite:///{Path(folder) / f'{name}.db'}"
            return
        schema = f"bench_{name}_{uuid.uuid4().hex[:10]}"
        _run_sql(url, f"CREATE SCHEMA {schema}")
        try:  # the schema replaces any search_path the URL gave
            own = make_url(url).update_query_dict({"options": f"-csearch_path={schema}"})
            yield own.render_as_string(hide_password=False)
        finally:
            _run_sql(url, f"DROP SCHEMA {schema} CASCADE")


def _run_sql(url: str, statement: str) -> None:
    admin = make_engine(url)
    with admin.begin() as connection:
        connection.exec_driver_sql(statement)
    admin.dispose()
