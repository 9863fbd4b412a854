"""Commands per second, beside the very same statements run with the bare sqlite3 driver.

The baseline is not a guess at what a command needs: every statement our run sends to the
driver (with its parameters as the driver received them) and every commit is recorded, and
then replayed with plain ``sqlite3`` on a copy of the database as it was before the run. The
ratio is what our layers (validation, the state machines, the health rollups' folding,
SQLAlchemy) cost on top of the reads and writes themselves. A second, smaller baseline shows
the floor: a minimal schema's five statements per command.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Self

from sqlalchemy import Engine, event

from aftersale.adapters.store import SqlStore
from aftersale.bench.figure import Figure
from aftersale.bootstrap import connect
from aftersale.clock import VirtualClock
from aftersale.service.engine import AfterSale

Statement = tuple[str, Any, bool]  # SQL, parameters, executemany
_log: list[Statement] = []  # what the recording connection saw (one recording at a time)
_recording = False


class _RecordingCursor(sqlite3.Cursor):
    def execute(self, sql: str, parameters: Any = (), /) -> Self:
        if _recording:
            _log.append((sql, parameters, False))
        return super().execute(sql, parameters)

    def executemany(self, sql: str, parameters: Iterable[Any], /) -> Self:
        rows = list(parameters)
        if _recording:
            _log.append((sql, rows, True))
        return super().executemany(sql, rows)


class _RecordingConnection(sqlite3.Connection):
    def cursor(self, factory: Any = _RecordingCursor) -> Any:
        return super().cursor(factory)

    def commit(self) -> None:
        if _recording:
            _log.append(("COMMIT", (), False))
        super().commit()


def commands(scale: dict[str, int], url: str) -> list[Figure]:
    """open + approve, one transaction each; baselines always on SQLite files."""
    count = scale["commands"]
    sqlite = url.startswith("sqlite")
    with tempfile.TemporaryDirectory() as folder:
        ours_path = Path(folder) / "c.db"
        engine, tag = _seeded(f"sqlite:///{ours_path}" if sqlite else url, count, sqlite)
        if sqlite:
            _database(engine).dispose()  # closing the last connection checkpoints the WAL
            shutil.copy(ours_path, Path(folder) / "bare.db")
            engine.order(f"{tag}O0")  # connected (and its PRAGMAs run) before the recording
        seconds, statements = _run_ours(engine, tag, count)
        same = _replay_bare(Path(folder) / "bare.db", statements) if sqlite else None
        floor = _floor_sqlite(Path(folder) / "floor.db", count)
    ours = 2 * count / seconds
    per_command = len([s for s in statements if s[0] != "COMMIT"]) / (2 * count)
    return [
        Figure(
            "commands",
            "commands/s",
            ours,
            None if same is None else 2 * count / same,
            "the same statements, bare sqlite3",
            "≥ 50 % of bare and ≥ 5,000/s on SQLite",
            detail=f"open and approve, one transaction each; {per_command:.1f} statements "
            "a command, recorded from our run and replayed on a copy of the database",
        ),
        Figure(
            "commands (floor)",
            "commands/s",
            ours,
            2 * count / floor,
            "a minimal schema's 5 statements, bare sqlite3",
            "— (what a command could cost at the least)",
            detail="no events indexes, no health rollups",
        ),
    ]


def _seeded(url: str, count: int, sqlite: bool) -> tuple[AfterSale, str]:
    clock = VirtualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    engine = connect(url, clock=clock)
    if sqlite:

        @event.listens_for(_database(engine), "do_connect")
        def _recorded(dialect: Any, record: Any, cargs: Any, cparams: dict[str, Any]) -> None:
            cparams["factory"] = _RecordingConnection

    tag = uuid.uuid4().hex[:6]
    for number in range(count):
        engine.order_paid(f"{tag}O{number}", "shop-a", "buyer-a", "US", "USD", "20.00")
        engine.order_shipped(f"{tag}O{number}")
    clock.move_to(clock.now() + timedelta(days=1))
    return engine, tag


def _database(engine: AfterSale) -> Engine:
    assert isinstance(engine.store, SqlStore)
    return engine.store.engine


def _run_ours(engine: AfterSale, tag: str, count: int) -> tuple[float, list[Statement]]:
    global _recording
    _log.clear()
    _recording = True
    try:
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
    finally:
        _recording = False
    return seconds, list(_log)


def _replay_bare(path: Path, statements: list[Statement]) -> float:
    """Seconds bare sqlite3 takes to send the same statements and commits."""
    db = _bare_connection(path)
    started = time.perf_counter()
    for sql, parameters, many in statements:
        if sql == "COMMIT":
            db.commit()
        elif many:
            db.executemany(sql, parameters)
        else:
            db.execute(sql, parameters).fetchall()
    seconds = time.perf_counter() - started
    db.close()
    return seconds


def _bare_connection(path: Path) -> sqlite3.Connection:
    """Set up as the engine sets up its own connections (aftersale.adapters.db)."""
    db = sqlite3.connect(path, isolation_level=None)
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "foreign_keys=ON"):
        db.execute(f"PRAGMA {pragma}")
    return db


def _floor_sqlite(path: Path, count: int) -> float:
    """Seconds for what a command costs at the least: read the order, write case and event."""
    db = _bare_connection(path)
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
