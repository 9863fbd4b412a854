"""Commands per second, beside the very same statements run with the bare driver
(:mod:`aftersale.bench.recording`), and beside a floor: a minimal schema's five statements a
command on SQLite."""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from aftersale.bench.figure import Figure
from aftersale.bench.recording import bare_sqlite, same_statements
from aftersale.bootstrap import connect
from aftersale.clock import VirtualClock
from aftersale.service.engine import AfterSale


def commands(scale: dict[str, int], url: str) -> list[Figure]:
    """open + approve, one transaction each."""
    count = scale["commands"]
    tag = uuid.uuid4().hex[:6]
    run = same_statements(
        url,
        "commands",
        partial(_seeded, count=count, tag=tag),
        partial(_work, tag=tag, count=count),
    )
    with tempfile.TemporaryDirectory() as folder:
        floor = _floor_sqlite(Path(folder) / "floor.db", count)
    per_command = run.executed / (2 * count)
    return [
        Figure(
            "commands",
            "commands/s",
            2 * count / run.seconds,
            2 * count / run.bare_seconds,
            f"the same statements, bare {run.driver}",
            "≥ 50 % of bare and ≥ 5,000/s on SQLite",
            detail=f"open and approve, one transaction each; {per_command:.1f} statements "
            "a command, recorded from our run and replayed on a database seeded alike",
        ),
        Figure(
            "commands (floor)",
            "commands/s",
            2 * count / run.seconds,
            2 * count / floor,
            "a minimal schema's 5 statements, bare sqlite3",
            "— (what a command could cost at the least)",
            detail="no events indexes, no health rollups",
        ),
    ]


def _seeded(url: str, count: int, tag: str) -> AfterSale:
    """``count`` paid and shipped orders, a day before the commands run."""
    clock = VirtualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    engine = connect(url, clock=clock)
    for number in range(count):
        engine.order_paid(f"{tag}O{number}", "shop-a", "buyer-a", "US", "USD", "20.00")
        engine.order_shipped(f"{tag}O{number}")
    clock.move_to(clock.now() + timedelta(days=1))
    return engine


def _work(engine: AfterSale, tag: str, count: int) -> None:
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


def _floor_sqlite(path: Path, count: int) -> float:
    """Seconds for what a command costs at the least: read the order, write case and event."""
    db = bare_sqlite(path)
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
