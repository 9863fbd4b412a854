"""Commands per second, beside the very same statements run with the bare driver.

The baseline is not a guess at what a command needs: every statement our run sends to the
driver (with its parameters as the driver received them) and every commit is recorded, then
replayed with plain ``sqlite3`` or ``psycopg`` on a database seeded the same way (a copy of the
SQLite file; on PostgreSQL a schema seeded alike). The ratio is what our layers cost on top of
the reads and writes themselves: validation, the state machines, folding the health rollups,
SQLAlchemy. The connection pool's liveness ping on PostgreSQL is ours alone and not replayed.
A second baseline shows the floor: a minimal schema's five statements per command on SQLite.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Engine, event

from aftersale.adapters.store import SqlStore
from aftersale.bench.databases import own_database
from aftersale.bench.figure import Figure
from aftersale.bootstrap import connect
from aftersale.clock import VirtualClock
from aftersale.service.engine import AfterSale

Statement = tuple[str, Any, bool]  # SQL, parameters, executemany
COMMIT = "COMMIT"
_log: list[Statement] = []  # what the recording connections saw (one recording at a time)
_recording = False


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


class _RecordingConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _RecordingCursor) -> Any:
        return super().cursor(factory)

    def commit(self) -> None:
        _record(COMMIT, (), False)
        super().commit()


def commands(scale: dict[str, int], url: str) -> list[Figure]:
    """open + approve, one transaction each."""
    count = scale["commands"]
    tag = uuid.uuid4().hex[:6]
    if url.startswith("sqlite"):
        seconds, statements, same = _on_sqlite(count, tag)
        driver = "sqlite3"
    else:
        seconds, statements, same = _on_postgres(url, count, tag)
        driver = "psycopg"
    with tempfile.TemporaryDirectory() as folder:
        floor = _floor_sqlite(Path(folder) / "floor.db", count)
    per_command = len([s for s in statements if s[0] != COMMIT]) / (2 * count)
    return [
        Figure(
            "commands",
            "commands/s",
            2 * count / seconds,
            2 * count / same,
            f"the same statements, bare {driver}",
            "≥ 50 % of bare and ≥ 5,000/s on SQLite",
            detail=f"open and approve, one transaction each; {per_command:.1f} statements "
            "a command, recorded from our run and replayed on a database seeded alike",
        ),
        Figure(
            "commands (floor)",
            "commands/s",
            2 * count / seconds,
            2 * count / floor,
            "a minimal schema's 5 statements, bare sqlite3",
            "— (what a command could cost at the least)",
            detail="no events indexes, no health rollups",
        ),
    ]


def _on_sqlite(count: int, tag: str) -> tuple[float, list[Statement], float]:
    with tempfile.TemporaryDirectory() as folder:
        ours, bare = Path(folder) / "c.db", Path(folder) / "bare.db"
        engine = _seeded(f"sqlite:///{ours}", count, tag)
        _database(engine).dispose()  # closing the last connection checkpoints the WAL
        shutil.copy(ours, bare)

        @event.listens_for(_database(engine), "do_connect")
        def _recorded(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
            cparams["factory"] = _RecordingConnection

        engine.order(f"{tag}O0")  # connected (and its PRAGMAs run) before the recording
        seconds, statements = _run_ours(engine, tag, count)
        db = _bare_sqlite(bare)
        same = _replay(db, statements)
        db.close()
    return seconds, statements, same


def _on_postgres(url: str, count: int, tag: str) -> tuple[float, list[Statement], float]:
    import psycopg

    class RecordingCursor(psycopg.Cursor[Any]):
        def execute(self, query: Any, params: Any = None, **options: Any) -> Self:
            _record(query, params, False)
            return super().execute(query, params, **options)

        def executemany(self, query: Any, params_seq: Iterable[Any], **options: Any) -> None:
            rows = list(params_seq)
            _record(query, rows, True)
            super().executemany(query, rows, **options)

    class RecordingConnection(psycopg.Connection[Any]):
        def commit(self) -> None:
            _record(COMMIT, (), False)
            super().commit()

    with own_database(url, "commands") as ours_url, own_database(url, "bare") as bare_url:
        _database(_seeded(bare_url, count, tag)).dispose()
        engine = _seeded(ours_url, count, tag)
        _database(engine).dispose()
        ping = _database(engine).dialect._dialect_specific_select_one  # type: ignore[attr-defined]

        @event.listens_for(_database(engine), "do_connect")
        def _recorded(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
            return RecordingConnection.connect(*cargs, **cparams, cursor_factory=RecordingCursor)

        engine.order(f"{tag}O0")
        seconds, statements = _run_ours(engine, tag, count)
        _database(engine).dispose()
        replayed = [s for s in statements if s[0] != ping]
        with psycopg.connect(bare_url.replace("+psycopg", "")) as db:
            same = _replay(db, replayed)
    return seconds, replayed, same


def _seeded(url: str, count: int, tag: str) -> AfterSale:
    clock = VirtualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    engine = connect(url, clock=clock)
    for number in range(count):
        engine.order_paid(f"{tag}O{number}", "shop-a", "buyer-a", "US", "USD", "20.00")
        engine.order_shipped(f"{tag}O{number}")
    clock.move_to(clock.now() + timedelta(days=1))
    return engine


def _database(engine: AfterSale) -> Engine:
    assert isinstance(engine.store, SqlStore)
    return engine.store.engine


def _run_ours(engine: AfterSale, tag: str, count: int) -> tuple[float, list[Statement]]:
    with _recorded_statements() as statements:
        started = time.perf_counter()
        for number in range(count):
            engine.open_case(
                f"{tag}C{number}",
                f"{tag}O{number}",
                "refund_only",
                "buyer",
                "not_received",
                actor_id="buyer-a",
            )
            engine.act(f"{tag}C{number}", "approve", "seller", actor_id="shop-a")
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
        elif many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
            if cursor.description is not None:
                cursor.fetchall()
    seconds = time.perf_counter() - started
    cursor.close()
    return seconds


def _bare_sqlite(path: Path) -> sqlite3.Connection:
    """A plain sqlite3 connection set up as the engine sets up its own (adapters/db.py)."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    return db


def _floor_sqlite(path: Path, count: int) -> float:
    """Seconds for what a command costs at the least: read the order, write case and event."""
    db = _bare_sqlite(path)
    db.execute("CREATE TABLE orders (id TEXT PRIMARY KEY, amount TEXT, open_case TEXT, v INT)")
    db.execute("CREATE TABLE cases (id TEXT PRIMARY KEY, order_id TEXT, state TEXT, v INT)")
    db.execute("CREATE TABLE events (seq INTEGER PRIMARY KEY, case_id TEXT, data TEXT)")
    db.executemany(
        "INSERT INTO orders VALUES (?, '20.00', NULL, 1)", [(f"O{n}",) for n in range(count)]
    )
    started = time.perf_counter()
    for n in range(count):
        db.execute("BEGIN IMMEDIATE")
        db.execute("SELECT * FROM orders WHERE id = ?", (f"O{n}",)).fetchone()
        db.execute("INSERT INTO cases VALUES (?, ?, 'pending_review', 1)", (f"C{n}", f"O{n}"))
        db.execute(
            "UPDATE orders SET open_case = ?, v = v + 1 WHERE id = ? AND v = 1", (f"C{n}", f"O{n}")
        )
        db.execute("INSERT INTO events (case_id, data) VALUES (?, ?)", (f"C{n}", '{"a":1}'))
        db.execute("COMMIT")
        db.execute("BEGIN IMMEDIATE")
        db.execute("SELECT * FROM cases WHERE id = ?", (f"C{n}",)).fetchone()
        db.execute("SELECT * FROM orders WHERE id = ?", (f"O{n}",)).fetchone()
        db.execute(
            "UPDATE cases SET state = 'refunded', v = v + 1 WHERE id = ? AND v = 1", (f"C{n}",)
        )
        db.execute("UPDATE orders SET open_case = NULL, v = v + 1 WHERE id = ?", (f"O{n}",))
        db.execute("INSERT INTO events (case_id, data) VALUES (?, ?)", (f"C{n}", '{"a":2}'))
        db.execute("COMMIT")
    seconds = time.perf_counter() - started
    db.close()
    return seconds
