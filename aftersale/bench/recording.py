"""Our run beside the very same statements sent with the bare driver.

A baseline that is not a guess at what the work needs: every statement our run sends to the
driver (with its parameters as the driver received them) and every commit is recorded, then
replayed with plain ``sqlite3`` or ``psycopg`` on a database seeded the same way (a copy of the
SQLite file; on PostgreSQL a schema seeded alike). The ratio is what our layers cost on top of
the reads and writes themselves. The connection pool's liveness ping on PostgreSQL is ours
alone and not replayed. After the replay both databases must hold the same rows (counted per
table, cases per state), or the figure fails: a baseline that did less work would flatter us.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Engine, event, func, select
from sqlalchemy.engine import make_url

from aftersale.adapters.db import make_engine
from aftersale.adapters.schema import cases, metadata
from aftersale.adapters.storage import SqlStorage
from aftersale.bench.databases import own_database
from aftersale.service.engine import AfterSale

Statement = tuple[str, Any, bool]  # SQL, parameters, executemany
COMMIT, ROLLBACK = "COMMIT", "ROLLBACK"
ENDS = (COMMIT, ROLLBACK)
_log: list[Statement] = []  # what the recording connections saw (one recording at a time)
_recording = False


@dataclass
class SameStatements:
    seconds: float  # our run
    statements: list[Statement]  # what it sent to the driver, commits included
    bare_seconds: float  # the same statements and commits, bare driver
    driver: str

    @property
    def executed(self) -> int:
        """Driver calls (an ``executemany`` is one)."""
        return len([s for s in self.statements if s[0] not in ENDS])

    @property
    def runs(self) -> int:
        """Statements the database ran (an ``executemany`` runs one per row)."""
        return sum(len(p) if many else 1 for sql, p, many in self.statements if sql not in ENDS)

    @property
    def commits(self) -> int:
        return len([s for s in self.statements if s[0] == COMMIT])


def same_statements(
    url: str, name: str, seed: Callable[[str], AfterSale], work: Callable[[AfterSale], None]
) -> SameStatements:
    """Time ``work`` on a database ``seed`` fills, recording what reaches the driver, then
    replay that with the bare driver on a second database seeded alike."""
    if url.startswith("sqlite"):
        return _on_sqlite(name, seed, work)
    return _on_postgres(url, name, seed, work)


def same_statements_in_memory(work: Callable[[], int]) -> SameStatements:
    """Time ``work``, which makes its own in-memory SQLite database and returns how many events
    it holds; run it again recording every statement from its first (the schema's, too) and
    replay them on a bare ``sqlite3`` in-memory database, which must then hold as many events.
    (Ours is timed unrecorded: recording costs it a few percent.)"""

    def recorded(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
        if dialect.name == "sqlite":
            cparams["factory"] = _RecordingConnection

    started = time.perf_counter()
    events = work()
    seconds = time.perf_counter() - started
    event.listen(Engine, "do_connect", recorded)
    try:
        with _recorded_statements() as statements:
            work()
    finally:
        event.remove(Engine, "do_connect", recorded)
    db = sqlite3.connect(":memory:", isolation_level=None)
    bare_seconds = _replay(db, statements)
    bare_events = db.execute("SELECT count(*) FROM events").fetchone()[0]
    db.close()
    if bare_events != events:
        raise RuntimeError(f"the bare replay did not do the same work: {bare_events} events")
    return SameStatements(seconds, statements, bare_seconds, "sqlite3")


def database(engine: AfterSale) -> Engine:
    assert isinstance(engine.storage, SqlStorage)
    return engine.storage.engine


def bare_sqlite(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection set up as the engine sets up its own (adapters/db.py)."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    return db


def _record(sql: str, parameters: Any, many: bool) -> None:
    if _recording:
        _log.append((sql, parameters, many))


class _RecordingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        _record(sql, parameters, False)
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Self:
        rows = list(parameters)
        _record(sql, rows, True)
        return super().executemany(sql, rows)


class _RecordingEnds:
    """Records a driver connection's commits and rollbacks (mixed in before the driver's)."""

    def commit(self) -> None:
        _record(COMMIT, (), False)
        super().commit()  # type: ignore[misc]

    def rollback(self) -> None:
        _record(ROLLBACK, (), False)
        super().rollback()  # type: ignore[misc]


class _RecordingConnection(_RecordingEnds, sqlite3.Connection):
    def cursor(self, factory: Any = _RecordingCursor) -> Any:
        return super().cursor(factory)


def _on_sqlite(
    name: str, seed: Callable[[str], AfterSale], work: Callable[[AfterSale], None]
) -> SameStatements:
    with own_database("sqlite://", name) as url:
        ours = Path(str(make_url(url).database))
        bare = ours.with_name(f"{name}-bare.db")
        engine = seed(url)
        database(engine).dispose()  # closing the last connection checkpoints the WAL
        shutil.copy(ours, bare)

        @event.listens_for(database(engine), "do_connect")
        def _recorded(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
            cparams["factory"] = _RecordingConnection

        seconds, statements = _timed(engine, work)
        database(engine).dispose()
        db = bare_sqlite(bare)
        bare_seconds = _replay(db, statements)
        db.close()
        _check_same_rows(url, f"sqlite:///{bare}")
    return SameStatements(seconds, statements, bare_seconds, "sqlite3")


def _on_postgres(
    url: str, name: str, seed: Callable[[str], AfterSale], work: Callable[[AfterSale], None]
) -> SameStatements:
    import psycopg

    class RecordingCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **options: Any) -> Self:
            _record(query, params, False)
            return super().execute(query, params, **options)

        def executemany(self, query: Any, params_seq: Iterable[Any], **options: Any) -> None:
            rows = list(params_seq)
            _record(query, rows, True)
            super().executemany(query, rows, **options)

    class RecordingConnection(_RecordingEnds, psycopg.Connection[Any]):
        pass

    with own_database(url, name) as ours_url, own_database(url, f"{name}_bare") as bare_url:
        database(seed(bare_url)).dispose()
        engine = seed(ours_url)
        database(engine).dispose()
        ping = database(engine).dialect._dialect_specific_select_one  # type: ignore[attr-defined]

        @event.listens_for(database(engine), "do_connect")
        def _recorded(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
            return RecordingConnection.connect(*cargs, **cparams, cursor_factory=RecordingCursor)

        seconds, statements = _timed(engine, work)
        database(engine).dispose()
        replayed = [s for s in statements if s[0] != ping]
        with psycopg.connect(bare_url.replace("+psycopg", "")) as db:
            bare_seconds = _replay(db, replayed)
        _check_same_rows(ours_url, bare_url)
    return SameStatements(seconds, replayed, bare_seconds, "psycopg")


def _check_same_rows(ours: str, bare: str) -> None:
    """Both databases hold as many rows in every table and as many cases in every state."""
    found = [_census(ours), _census(bare)]
    if found[0] != found[1]:
        differ = sorted(
            k for k in found[0].keys() | found[1].keys() if found[0].get(k) != found[1].get(k)
        )
        raise RuntimeError(f"the bare replay did not do the same work: {differ} differ")


def _census(url: str) -> dict[str, int]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            found = {
                table.name: connection.execute(
                    select(func.count()).select_from(table)
                ).scalar_one()
                for table in metadata.sorted_tables
            }
            by_state = select(cases.c.state, func.count()).group_by(cases.c.state)
            found |= {f"cases {state}": n for state, n in connection.execute(by_state)}
    finally:
        engine.dispose()
    return found


def _timed(engine: AfterSale, work: Callable[[AfterSale], None]) -> tuple[float, list[Statement]]:
    engine.status()  # connected (and its PRAGMAs run) before the recording starts
    with _recorded_statements() as statements:
        started = time.perf_counter()
        work(engine)
        seconds = time.perf_counter() - started
    return seconds, statements


@contextmanager
def _recorded_statements() -> Iterator[list[Statement]]:
    global _recording
    _log.clear()
    recorded: list[Statement] = []
    _recording = True
    try:
        yield recorded
    finally:
        _recording = False
        recorded.extend(_log)
        _log.clear()


def _replay(db: Any, statements: list[Statement]) -> float:
    """Seconds a bare driver connection takes to send the same statements and commits."""
    cursor = db.cursor()
    started = time.perf_counter()
    for sql, parameters, many in statements:
        if sql == COMMIT:
            db.commit()
        elif sql == ROLLBACK:
            db.rollback()
        elif many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
            if cursor.description is not None:
                cursor.fetchall()
    seconds = time.perf_counter() - started
    cursor.close()
    return seconds
