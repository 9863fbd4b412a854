"""The outbox relay's read rate: events a relay gets through ``events_after``, page by page,
beside the same pages read by ``seq`` alone (what ``events_after`` did before it was made
gap-free, and lost events committed late on PostgreSQL): what the cursor costs a relay."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

from aftersale.adapters.outbox import AFTER
from aftersale.adapters.rows import event_dict
from aftersale.bench.databases import own_database
from aftersale.bench.figure import Figure
from aftersale.bench.seed import seed_due_cases
from aftersale.bootstrap import connect
from aftersale.clock import VirtualClock
from aftersale.service.engine import AfterSale

PAGE = 1000
NOW = datetime(2026, 3, 20, tzinfo=UTC)


def relay_throughput(scale: dict[str, int], url: str) -> list[Figure]:
    with own_database(url, "outbox") as own:
        engine = connect(own, clock=VirtualClock(NOW), require_identity=False)
        seed_due_cases(engine, scale["timers"], NOW, spread=timedelta(days=1), with_history=True)
        engine.fire_due(NOW)  # a timeout each: three events a case in all
        ours = bare = float("inf")
        for _ in range(3):  # alternating rounds, the best of each
            seconds, relayed = _relayed(engine)
            ours, bare = min(ours, seconds), min(bare, _by_seq(engine))
        engine.storage.engine.dispose()  # type: ignore[attr-defined]
    return [
        Figure(
            "outbox relay",
            "events/s",
            relayed / ours,
            relayed / bare,
            "the same events read by seq alone (lossy under concurrent writers)",
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


def _by_seq(engine: AfterSale) -> float:
    """The reads a relay made before: by ``seq`` alone, each row made into the same dict."""
    query = AFTER["sqlite"]  # seq > :s ORDER BY seq, on either backend
    with engine.storage.engine.connect() as connection:  # type: ignore[attr-defined]
        started, seq = time.perf_counter(), 0
        while rows := query.rows(connection, {"s": seq, "n": PAGE}):
            page = [event_dict(row) for row in rows]
            seq = page[-1]["seq"]
    return time.perf_counter() - started
