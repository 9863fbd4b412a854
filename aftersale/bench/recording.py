"""Our run beside the very same statements sent with the bare driver, and beside a set-based
raw baseline of the same work.

The same statements: every statement our run sends to the driver (with its parameters as the
driver received them) and every commit is recorded, then replayed with plain ``sqlite3`` or
``psycopg`` on a database seeded the same way (a copy of the SQLite file; on PostgreSQL a
schema seeded alike). The ratio is what our layers cost on top of those reads and writes. The
connection pool's liveness ping on PostgreSQL is ours alone and not replayed.

The recording needs nothing of the engine's insides: while our run is timed, a listener on
SQLAlchemy's ``Engine`` class (its public ``do_connect`` event) hands every new connection to
our database (recognised by its file or its schema) a recording driver connection; the engine
is closed first (``AfterSale.close``), so it connects afresh.

The set-based raw baseline (:mod:`aftersale.bench.raw`) does the same logical work in the
fewest statements the bare driver allows, on a third database seeded alike. After the runs each
baseline's database must hold the same rows as ours (:mod:`aftersale.bench.census`), or the
figure fails: a baseline that did less work would flatter us.
"""

from __future__ import annotations

import shutil
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Self

from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from aftersale import AfterSale
from aftersale.bench.census import check_same_rows
from aftersale.bench.databases import bare, bare_postgres, bare_sqlite, own_database, sqlite_path

Statement = tuple[str, Any, bool]  # SQL, parameters, executemany
COMMIT, ROLLBACK = "COMMIT", "ROLLBACK"
ENDS = (COMMIT, ROLLBACK)
PINGS = (";", "SELECT 1")  # the pool's liveness check (pool_pre_ping), ours alone
Raw = Callable[[Any], None]  # the set-based raw baseline's work, on a bare driver connection
_log: list[Statement] = []  # what the recording connections saw (one recording at a time)
_recording = False


@dataclass
class SameStatements:
    seconds: float  # our run
    statements: list[Statement]  # what it sent to the driver, commits included
    bare_seconds: float  # the same statements and commits, bare driver
    driver: str
    raw_seconds: float | None = None  # the set-based raw baseline, when one was given

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
    url: str,
    name: str,
    seed: Callable[[str], AfterSale],
    work: Callable[[AfterSale], None],
    raw: Raw | None = None,
) -> SameStatements:
    """Time ``work`` on a database ``seed`` fills, recording what reaches the driver, then
    replay that with the bare driver on a second database seeded alike; with ``raw``, time it
    too, on a third. Each baseline must leave the rows ours left."""
    if url.startswith("sqlite"):
        return _on_sqlite(name, seed, work, raw)
    return _on_postgres(url, name, seed, work, raw)


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
    name: str, seed: Callable[[str], AfterSale], work: Callable[[AfterSale], None], raw: Raw | None
) -> SameStatements:
    with own_database("sqlite://", name) as url:
        ours = sqlite_path(url)
        copies = {side: ours.with_name(f"{name}-{side}.db") for side in ("bare", "raw")}
        engine = seed(url)
        engine.close()  # closing the last connection checkpoints the WAL
        for copy in copies.values():
            shutil.copy(ours, copy)

        def factory(cargs: Any, cparams: dict[str, Any]) -> None:
            cparams["factory"] = _RecordingConnection

        with _recording_connections(str(ours), factory):
            seconds, statements = _timed(engine, work)
        db = bare_sqlite(copies["bare"])
        bare_seconds = _replay(db, statements)
        db.close()
        raw_seconds = _raw_seconds(f"sqlite:///{copies['raw']}", raw)
        check_same_rows(url, f"sqlite:///{copies['bare']}", "the bare replay")
        if raw is not None:
            check_same_rows(url, f"sqlite:///{copies['raw']}", "the set-based raw baseline")
    return SameStatements(seconds, statements, bare_seconds, "sqlite3", raw_seconds)


def _on_postgres(
    url: str,
    name: str,
    seed: Callable[[str], AfterSale],
    work: Callable[[AfterSale], None],
    raw: Raw | None,
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

    def factory(cargs: Any, cparams: dict[str, Any]) -> Any:
        return RecordingConnection.connect(*cargs, **cparams, cursor_factory=RecordingCursor)

    with (
        own_database(url, name) as ours_url,
        own_database(url, f"{name}_bare") as bare_url,
        own_database(url, f"{name}_raw") as raw_url,
    ):
        seed(bare_url).close()
        if raw is not None:
            seed(raw_url).close()
        engine = seed(ours_url)
        engine.close()
        with _recording_connections(_schema_of(ours_url), factory):
            seconds, statements = _timed(engine, work)
        replayed = [s for s in statements if s[0] not in PINGS]
        with bare_postgres(bare_url) as db:
            bare_seconds = _replay(db, replayed)
        raw_seconds = _raw_seconds(raw_url, raw)
        check_same_rows(ours_url, bare_url, "the bare replay")
        if raw is not None:
            check_same_rows(ours_url, raw_url, "the set-based raw baseline")
    return SameStatements(seconds, replayed, bare_seconds, "psycopg", raw_seconds)


def _schema_of(url: str) -> str:
    """The schema :func:`own_database` made for a figure (in the URL's search_path)."""
    options = str(make_url(url).query.get("options", ""))
    return options.split("search_path=", 1)[-1]


@contextmanager
def _recording_connections(
    marker: str, factory: Callable[[Any, dict[str, Any]], Any]
) -> Iterator[None]:
    """While in the block, new SQLAlchemy connections to the database named by ``marker`` (a
    SQLite file, a PostgreSQL schema) are made by ``factory``: recording ones."""

    def connect(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
        named = [str(arg) for arg in cargs] + [str(cparams.get("options", ""))]
        if any(marker == name or f"search_path={marker}" in name for name in named):
            return factory(cargs, cparams)
        return None

    event.listen(Engine, "do_connect", connect)
    try:
        yield
    finally:
        event.remove(Engine, "do_connect", connect)


def _timed(engine: AfterSale, work: Callable[[AfterSale], None]) -> tuple[float, list[Statement]]:
    engine.status()  # connected (and its PRAGMAs run) before the recording starts
    with _recorded_statements() as statements:
        started = time.perf_counter()
        work(engine)
        seconds = time.perf_counter() - started
    engine.close()  # no recording connection outlives the recording
    return seconds, statements


def _raw_seconds(url: str, raw: Raw | None) -> float | None:
    """Seconds the set-based raw baseline takes on a connection opened beforehand."""
    if raw is None:
        return None
    db = bare(url)
    try:
        started = time.perf_counter()
        raw(db)
        return time.perf_counter() - started
    finally:
        db.close()


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
