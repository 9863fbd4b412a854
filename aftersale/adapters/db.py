"""Engines, migrations and the one place database errors become aftersale errors."""

from __future__ import annotations

import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from functools import lru_cache
from importlib.resources import files
from pathlib import Path
from typing import Any

import orjson
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, IntegrityError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from aftersale.adapters.checkpoint import WRITER_AUTOCHECKPOINT_PAGES, Checkpointer
from aftersale.adapters.prepared import Prepared
from aftersale.errors import Conflict, SchemaMissing, SchemaNewer, SchemaOutdated, StorageError

# Every command begins with one of these on SQLite: run on the driver (see prepared.py).
BEGIN_READ = Prepared(text("BEGIN"))
BEGIN_WRITE = Prepared(text("BEGIN IMMEDIATE"))

DEFAULT_URL = "sqlite:///aftersale.db"
MEMORY_URL = "sqlite://"
READ_ONLY = "aftersale_read_only"  # execution option: this transaction only reads
# What PaaS hosts (Heroku, Render) and libpq call PostgreSQL; SQLAlchemy knows only the second.
POSTGRES_NAMES = ("postgres", "postgresql")
POSTGRES_EXTRA = "pip install 'aftersale[postgres]'"
VERSION_TABLE = "alembic_version"  # alembic's default, which migrations/env.py keeps


def _dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


# JSON columns (every event's data, every health record) are encoded with every command:
# orjson does it several times faster than the standard library.
JSON_CODEC: dict[str, Any] = {"json_serializer": _dumps, "json_deserializer": orjson.loads}


def safe_url(url: str) -> str:
    """The URL with its password hidden, for logs and messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return "(unparseable database URL)"


POOL_SIZE = 5  # connections a pool keeps open; up to MAX_OVERFLOW more open under a burst
MAX_OVERFLOW = 5


def make_engine(url: str, connections: int = POOL_SIZE) -> Engine:
    """An engine tuned for the engine's short write transactions; on PostgreSQL its pool keeps
    ``connections`` open (a daemon's workers and jobs each hold one at once), at least
    :data:`POOL_SIZE`. SQLite's pool is SQLAlchemy's default."""
    try:
        parsed = make_url(url)
    except ArgumentError:
        raise StorageError(f"not a database URL: {safe_url(url)}") from None
    if parsed.drivername in POSTGRES_NAMES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed.render_as_string(hide_password=False))
    try:
        return create_engine(
            parsed,
            pool_pre_ping=True,
            pool_size=max(POOL_SIZE, connections),
            max_overflow=MAX_OVERFLOW,
            **JSON_CODEC,
        )
    except ImportError as error:
        if parsed.get_backend_name() == "postgresql":
            raise StorageError(
                f"cannot use {safe_url(url)}: the PostgreSQL driver is not installed "
                f"({error}); install the PostgreSQL extra: {POSTGRES_EXTRA}"
            ) from None
        raise StorageError(f"cannot use {safe_url(url)}: {error}") from None
    except ArgumentError as error:
        raise StorageError(f"cannot use {safe_url(url)}: {error}") from None


def _sqlite_engine(url: str) -> Engine:
    in_memory = make_url(url).database in (None, "", ":memory:")
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False, "timeout": 30}}
    if in_memory:
        options["poolclass"] = StaticPool
    engine = create_engine(url, **options, **JSON_CODEC)
    checkpoints = None if in_memory else _checkpoints(engine)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin (pysqlite's own
        # handling defers BEGIN and breaks SAVEPOINT and locking).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        if checkpoints is not None:
            mode = cursor.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            cursor.execute("PRAGMA synchronous=NORMAL")
            # checkpoints off the commit path; this is the writers' safety net (checkpoint.py)
            cursor.execute(f"PRAGMA wal_autocheckpoint={WRITER_AUTOCHECKPOINT_PAGES}")
            if mode == "wal" and checkpoints.database is None:
                files = {row[1]: row[2] for row in cursor.execute("PRAGMA database_list")}
                if files.get("main"):  # not a memory database named by a URI
                    checkpoints.watch(files["main"])
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # One writer at a time, decided at BEGIN: a transaction never fails half-way because
        # another process took the write lock after it read (SQLite's deferred-lock upgrade).
        # Reads take no lock at all (WAL readers never block the writer).
        reading = connection.get_execution_options().get(READ_ONLY, False)
        (BEGIN_READ if reading else BEGIN_WRITE).run(connection)

    return engine


def _checkpoints(engine: Engine) -> Checkpointer:
    """The file's background checkpoints (checkpoint.py): stopped when the engine is disposed
    or collected, started again at the next checkout (after a dispose, or in a forked child)."""
    checkpoints = Checkpointer()
    weakref.finalize(engine, checkpoints.stop)
    event.listen(engine, "engine_disposed", lambda _engine: checkpoints.stop())
    event.listen(engine, "checkout", lambda *_: checkpoints.ensure_running())
    return checkpoints


def _alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(files("aftersale.adapters") / "migrations"))
    return config


@lru_cache(maxsize=1)
def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(_alembic_config())


def head_revision() -> str | None:
    return _scripts().get_current_head()


def current_revision(engine: Engine) -> str | None:
    """The schema's alembic revision; None when there is no version table (no aftersale
    schema). Read directly, not through alembic's MigrationContext, which logs at INFO."""
    with translate_errors(engine), engine.connect() as connection:
        if not inspect(connection).has_table(VERSION_TABLE):
            return None
        found = connection.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalar()
        return None if found is None else str(found)


def require_schema(engine: Engine) -> None:
    """Nothing when the schema is this release's; otherwise SchemaMissing, SchemaOutdated or
    SchemaNewer. It creates nothing: a missing SQLite file stays missing."""
    where = safe_url(str(engine.url))
    if _no_sqlite_file(engine):
        raise SchemaMissing(where, no_file=True)
    found, head = current_revision(engine), head_revision()
    if found != head:
        _refuse(where, found, head or "")


def _refuse(where: str, found: str | None, head: str) -> None:
    """The error for a schema at ``found`` where this release's is ``head``."""
    if found is None:
        raise SchemaMissing(where)
    if found in {script.revision for script in _scripts().walk_revisions()}:
        raise SchemaOutdated(where, found, head)
    if len(found) == len(head) and found.isdigit() and found > head:  # ours are 0001, 0002 ...
        raise SchemaNewer(where, found, head)
    raise SchemaMissing(where, foreign_revision=found)


def _no_sqlite_file(engine: Engine) -> bool:
    url = engine.url
    if url.get_backend_name() != "sqlite" or url.query.get("uri"):
        return False
    return url.database not in (None, "", ":memory:") and not Path(url.database).exists()


def upgrade(engine: Engine, to: str = "head") -> bool:
    """Bring the schema to the newest revision (or ``to``); True when anything was applied.
    A schema of a later release, or another application's, is refused, never downgraded."""
    found, head = current_revision(engine), head_revision() or ""
    target = head if to == "head" else to
    if found == target:
        return False
    if found is not None and found not in {s.revision for s in _scripts().walk_revisions()}:
        _refuse(safe_url(str(engine.url)), found, head)
    config = _alembic_config()
    with translate_errors(engine), engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, to)
    return True


@contextmanager
def translate_errors(engine: Engine | None = None) -> Iterator[None]:
    """Database errors become StorageError (or Conflict), with credentials never shown."""
    try:
        yield
    except IntegrityError as error:
        raise Conflict(f"the database refused a duplicate: {_first_line(error)}") from None
    except DBAPIError as error:
        where = safe_url(str(engine.url)) if engine is not None else "the database"
        raise StorageError(f"{where}: {_first_line(error)}") from None
    except SQLAlchemyError as error:
        raise StorageError(_first_line(error)) from None


def _first_line(error: Exception) -> str:
    original = getattr(error, "orig", None) or error
    return (
        str(original).strip().splitlines()[0][:300]
        if str(original).strip()
        else type(original).__name__
    )
