"""A database of its own for each figure, so a figure can run again on the same server, and the
bare driver connections the baselines run on (plain ``sqlite3`` and ``psycopg``, nothing of
ours between them and the database)."""

from __future__ import annotations

import sqlite3
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url

# as the engine sets up its SQLite files: the write-ahead log, no fsync at every commit
SQLITE_PRAGMAS = (
    "journal_mode=WAL",
    "synchronous=NORMAL",
    "foreign_keys=ON",
    "busy_timeout=30000",
)

SEEDED_TABLES = ("cases", "orders", "events", "health_subjects", "health_items", "health_hours")


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


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///PATH`` URL."""
    database = make_url(url).database
    if not database:
        raise ValueError(f"not a SQLite file: {url}")
    return Path(database)


def libpq(url: str) -> str:
    """A PostgreSQL URL as libpq (``psycopg.connect``) takes it: no SQLAlchemy driver name."""
    parsed = make_url(url)
    return parsed.set(drivername="postgresql").render_as_string(hide_password=False)


def bare_sqlite(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection set up as the engine sets up its own."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in SQLITE_PRAGMAS:
        db.execute(f"PRAGMA {pragma}")
    return db


def bare_postgres(url: str) -> Any:
    """A plain psycopg connection (not autocommit: a transaction begins with a statement)."""
    import psycopg

    return psycopg.connect(libpq(url))


def bare(url: str) -> Any:
    """A bare driver connection to ``url``: sqlite3 or psycopg."""
    return bare_sqlite(sqlite_path(url)) if is_sqlite(url) else bare_postgres(url)


def analyze(url: str, tables: tuple[str, ...] = SEEDED_TABLES) -> None:
    """Have PostgreSQL gather statistics on freshly seeded tables, as autovacuum would have
    done long before on a database in use: else a claim by deadline, planned for empty tables,
    reads and sorts every due case of every batch (100 ms a batch of 500 at 5,000 due)."""
    if not is_sqlite(url):  # the tables of the URL's schema, not every one of the database
        _run_sql(url, f"ANALYZE {', '.join(tables)}")


def clone(source: str, target: str) -> None:
    """Make the database at ``target`` a copy of the one at ``source``, both from
    :func:`own_database` (on PostgreSQL, two schemas of one database): seeded once, measured
    twice. SQLite copies the file with the backup API (``target`` must not be open yet);
    PostgreSQL copies every table's rows into ``target``'s own tables (made by the engine's
    migrations beforehand: there are no foreign keys to order them by), then moves its
    sequences past the copied keys."""
    if is_sqlite(source):
        from_db, to_db = bare_sqlite(sqlite_path(source)), bare_sqlite(sqlite_path(target))
        try:
            from_db.backup(to_db)
        finally:
            from_db.close()
            to_db.close()
        return
    import psycopg

    from_schema, to_schema = (_schema_of(url) for url in (source, target))
    with psycopg.connect(libpq(source)) as db:
        tables = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s "
            "AND table_type = 'BASE TABLE'",
            (to_schema,),
        ).fetchall()
        for (table,) in tables:
            columns = ", ".join(
                f'"{column}"'
                for (column,) in db.execute(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_schema = %s AND table_name = %s",
                    (to_schema, table),
                )
            )
            db.execute(f'DELETE FROM {to_schema}."{table}"')
            db.execute(
                f'INSERT INTO {to_schema}."{table}" ({columns}) '
                f'SELECT {columns} FROM {from_schema}."{table}"'
            )
        sequences = db.execute(
            "SELECT table_name, column_name FROM information_schema.columns "
            "WHERE table_schema = %s AND column_default LIKE 'nextval%%'",
            (to_schema,),
        ).fetchall()
        for table, column in sequences:
            db.execute(
                f"SELECT setval(pg_get_serial_sequence('{to_schema}.{table}', '{column}'), "
                f'(SELECT coalesce(max("{column}"), 0) + 1 FROM {to_schema}."{table}"), false)'
            )


def _schema_of(url: str) -> str:
    """The schema an :func:`own_database` URL sets as its search_path."""
    options = str(make_url(url).query.get("options", ""))
    if not options.startswith("-csearch_path="):
        raise ValueError(f"not a URL of own_database: {url}")
    return options.removeprefix("-csearch_path=")


def core_engine(url: str) -> Engine:
    """A SQLAlchemy Core engine of the bench's own on ``url`` (for APScheduler's job store),
    set up as the engine sets up its databases (WAL and synchronous=NORMAL on SQLite)."""
    if is_sqlite(url):
        engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})

        @event.listens_for(engine, "connect")
        def _pragmas(dbapi_connection: Any, _record: Any) -> None:
            for pragma in SQLITE_PRAGMAS:
                dbapi_connection.execute(f"PRAGMA {pragma}")

        return engine
    return create_engine(make_url(url).set(drivername="postgresql+psycopg"))


def _run_sql(url: str, statement: str) -> None:
    import psycopg

    with psycopg.connect(libpq(url), autocommit=True) as db:
        db.execute(statement)
