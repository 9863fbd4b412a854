"""The outbox relay's read rate: events a relay gets through ``events_after``, page by page,
beside the same pages read by ``seq`` alone with the bare driver, each row made into the same
dict (what ``events_after`` did before it was made gap-free, and lost events committed late on
PostgreSQL): what the cursor costs a relay."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from aftersale import AfterSale, VirtualClock, connect
from aftersale.bench.databases import bare, is_sqlite, own_database
from aftersale.bench.figure import Figure
from aftersale.bench.seed import seed_due_cases
from aftersale.clock import iso

PAGE = 1000
NOW = datetime(2026, 3, 20, tzinfo=UTC)
BY_SEQ = (
    "SELECT seq, event_id, type, at, recorded_at, case_id, order_id, shop_id, data "
    "FROM events WHERE seq > {0} ORDER BY seq LIMIT {0}"
)


def relay_throughput(scale: dict[str, int], url: str) -> list[Figure]:
    with own_database(url, "outbox") as own:
        engine = connect(own, clock=VirtualClock(NOW), require_identity=False)
        seed_due_cases(engine, scale["timers"], NOW, spread=timedelta(days=1), with_history=True)
        engine.fire_due(NOW)  # a timeout each: three events a case in all
        ours = by_seq = float("inf")
        for _ in range(3):  # alternating rounds, the best of each
            seconds, relayed = _relayed(engine)
            ours, by_seq = min(ours, seconds), min(by_seq, _by_seq(own))
        engine.close()
    return [
        Figure(
            "outbox relay",
            "events/s",
            relayed / ours,
            relayed / by_seq,
            "the same events read by seq alone, bare driver (lossy under concurrent writers)",
            "—",
            detail=f"{relayed} events in pages of {PAGE}, each with its cursor",
        )
    ]


def _relayed(engine: AfterSale) -> tuple[float, int]:
    started, cursor, count = time.perf_counter(), "0", 0
    while page := engine.events_after(cursor, PAGE):
        count += len(page)
        cursor = page[-1]["cursor"]
    return time.perf_counter() - started, count


def _by_seq(url: str) -> float:
    """The reads a relay made before: by ``seq`` alone, each row made into the same dict."""
    sqlite = is_sqlite(url)
    query = BY_SEQ.format("?" if sqlite else "%s")
    db = bare(url)
    try:
        started, seq = time.perf_counter(), 0
        while rows := db.execute(query, (seq, PAGE)).fetchall():
            page = [_event(row, sqlite) for row in rows]
            seq = page[-1]["seq"]
        seconds = time.perf_counter() - started
    finally:
        db.close()
    return seconds


def _event(row: Any, sqlite: bool) -> dict[str, Any]:
    """An event as hosts see it (the envelope, then its own fields) from a bare driver's row:
    on SQLite instants are text and the data JSON text; psycopg decodes both."""
    seq, event_id, kind, at, recorded_at, case_id, order_id, shop_id, data = row
    if sqlite:
        at = datetime.fromisoformat(at).replace(tzinfo=UTC)
        recorded_at = datetime.fromisoformat(recorded_at).replace(tzinfo=UTC)
        data = orjson.loads(data)
    return {
        "seq": seq,
        "event_id": event_id,
        "type": kind,
        "at": iso(at),
        "recorded_at": iso(recorded_at),
        "case_id": case_id,
        "order_id": order_id,
        "shop_id": shop_id,
        **data,
    }
