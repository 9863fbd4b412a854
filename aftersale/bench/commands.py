"""Commands per second, beside the very same statements run with the bare driver
(:mod:`aftersale.bench.recording`), beside a floor (a minimal schema's five statements a
command on SQLite), and the seller's approve beside the set-based raw baseline of the same work
(:mod:`aftersale.bench.raw`)."""

from __future__ import annotations

import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

from aftersale import AfterSale, VirtualClock, connect
from aftersale.bench import raw_postgres, raw_sqlite
from aftersale.bench.databases import analyze, bare_sqlite
from aftersale.bench.figure import Figure
from aftersale.bench.raw import seller_deadline_measure
from aftersale.bench.recording import same_statements
from aftersale.bench.seed import seed_due_cases

APPROVED_AT = datetime(2026, 3, 20, 12, tzinfo=UTC)  # every review deadline still ahead
PAGE = 1000


def commands(scale: dict[str, int], url: str) -> list[Figure]:
    """open + approve, one transaction each; then approve alone, beside both baselines."""
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
        *approve(count, url),
    ]


def approve(count: int, url: str) -> list[Figure]:
    """The seller approves ``count`` refund-only cases under review, one transaction each:
    ours, the same statements replayed, and the set-based raw baseline."""
    sqlite = url.startswith("sqlite")
    approvals: list[tuple[str, str]] = []  # (case id, shop id), as seeded
    measure: list[str] = []

    def seeded(url: str) -> AfterSale:
        engine = connect(url, clock=VirtualClock(APPROVED_AT))
        seed_due_cases(
            engine, count, APPROVED_AT, spread=-timedelta(hours=1), prefix="A", with_history=True
        )
        analyze(url)
        approvals[:] = _cases(engine)
        measure[:] = [seller_deadline_measure(engine)]
        return engine

    def ours(engine: AfterSale) -> None:
        for case_id, shop_id in approvals:
            engine.act(case_id, "approve", "seller", actor_id=shop_id)

    def raw(db: Any) -> None:
        driver = raw_sqlite if sqlite else raw_postgres
        driver.approve(db, approvals, APPROVED_AT, measure[0])

    run = same_statements(url, "approve", seeded, ours, raw=raw)
    assert run.raw_seconds is not None
    calls = run.executed / count
    shape = (
        "9 driver calls an approve in a transaction each (read joined, 6 writes)"
        if sqlite
        else "2 round trips an approve, pipelined and prepared (read joined; 6 writes, COMMIT)"
    )
    target = "≥ 0.5× set-based raw (SQLite)" if sqlite else "≥ 0.8× set-based raw (PostgreSQL)"
    return [
        Figure(
            "approve, same statements",
            "commands/s",
            count / run.seconds,
            count / run.bare_seconds,
            f"the same statements, bare {run.driver}",
            "— (what our statements cost alone)",
            detail=f"{count:,} seller approves of refund-only cases; {calls:.1f} statements "
            "an approve, recorded from our run and replayed on a database seeded alike",
        ),
        Figure(
            "approve, set-based raw",
            "commands/s",
            count / run.seconds,
            count / run.raw_seconds,
            f"the same work in the fewest statements, bare {run.driver}",
            target,
            detail=f"{shape}; the same rows left as ours (counted per table, state, measure)",
        ),
    ]


def _cases(engine: AfterSale) -> list[tuple[str, str]]:
    """Every case of a seeded engine with its shop, read through the public API."""
    found: list[tuple[str, str]] = []
    while page := engine.cases(limit=PAGE, after=found[-1][0] if found else None):
        found += [(case["case_id"], case["shop_id"]) for case in page]
        if len(page) < PAGE:
            break
    return found


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
