"""Concurrent writers on one case: exactly one wins, the loser is refused and writes nothing.

Each contender has its own engine (its own connection pool), as separate processes would, and
they start together at a barrier. Runs on an SQLite file, in memory and on a real PostgreSQL.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

import aftersale
from aftersale import CommandRefused, VirtualClock
from tests.conftest import AFTER_EVERY_INSTANT, MONDAY_9AM

ROUNDS = 12
SHOP = "shop-lumen-audio"
SHIPPED = MONDAY_9AM + timedelta(days=1)
AFTER_THE_OPENINGS = SHIPPED + timedelta(hours=1)  # and before their review deadlines


@pytest.fixture
def clock() -> VirtualClock:
    """The engine's clock runs after every instant these tests report, as for a host that
    records facts once they have happened (an ``at`` ahead of the clock is refused:
    tests/integration/test_engine_clock.py)."""
    return VirtualClock(AFTER_EVERY_INSTANT)


def _race(*contenders: Callable[[], Any]) -> list[Any]:
    """Run the contenders at once; each result is its return value or the error it raised."""
    barrier = threading.Barrier(len(contenders))
    results: list[Any] = [None] * len(contenders)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = contenders[index]()
        except CommandRefused as refused:
            results[index] = refused

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(contenders))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results


def _open_cases(engine: aftersale.AfterSale) -> list[tuple[str, datetime]]:
    opened = []
    for number in range(ROUNDS):
        order_id = f"US-{200 + number}"
        engine.order_paid(
            order_id, "shop-lumen-audio", "buyer-ada", "US", "USD", "40.00", at=MONDAY_9AM
        )
        engine.order_shipped(order_id, at=SHIPPED)
        view = engine.open_case(
            f"RF-{number}",
            order_id,
            "refund_only",
            "buyer",
            "not_received",
            at=SHIPPED + timedelta(minutes=number),
            actor_id="buyer-ada",
        )
        opened.append((view["case_id"], datetime.fromisoformat(view["deadline_at"])))
    return opened


@pytest.mark.parametrize("timer", ["sweep", "catch_up"])
def test_a_seller_approval_racing_its_own_timeout_has_exactly_one_winner(
    db_url: str, clock: VirtualClock, timer: str
) -> None:
    """The timeout taken by the daemon's sweep, or by a host's own job per deadline
    (``catch_up``), at the instant the seller approves: one transition, never two."""
    setup = aftersale.connect(db_url, clock=clock)
    seller = aftersale.connect(db_url, clock=clock, migrate=False)
    daemon = aftersale.connect(db_url, clock=clock, migrate=False)
    for case_id, deadline in _open_cases(setup):
        approve_at = deadline - timedelta(milliseconds=1)
        take_timeout = (
            (lambda d=deadline: daemon.fire_due(d))
            if timer == "sweep"
            else (lambda c=case_id, d=deadline: daemon.catch_up(c, at=d))
        )
        seller_result, taken = _race(
            lambda c=case_id, a=approve_at: seller.act(
                c, "approve", "seller", at=a, actor_id=SHOP
            ),
            take_timeout,
        )
        actions = [step["action"] for step in setup.case(case_id)["history"]]
        assert actions in (["open", "approve"], ["open", "review_timeout"]), actions
        if actions[-1] == "approve":
            assert isinstance(seller_result, dict)
            if timer == "sweep":
                assert taken == 0
            else:  # nothing was due, or it lost the compare-and-set and wrote nothing
                assert isinstance(taken, dict) or taken.code == "conflict", taken
        else:
            assert isinstance(seller_result, CommandRefused), seller_result
            assert seller_result.code in ("conflict", "not_allowed", "out_of_order")
            if timer == "catch_up":
                assert isinstance(taken, dict) and taken["state"] == "refunded"
    events = setup.log()
    assert len({(e["case_id"], e["action"]) for e in events if e["case_id"]}) == len(
        [e for e in events if e["case_id"]]
    )


def test_two_seller_clicks_at_once_approve_and_reject_only_one_lands(
    db_url: str, clock: VirtualClock
) -> None:
    setup = aftersale.connect(db_url, clock=clock)
    first = aftersale.connect(db_url, clock=clock, migrate=False)
    second = aftersale.connect(db_url, clock=clock, migrate=False)
    for case_id, deadline in _open_cases(setup):
        at = deadline - timedelta(hours=1)
        results = _race(
            lambda c=case_id, a=at: first.act(c, "approve", "seller", at=a, actor_id=SHOP),
            lambda c=case_id, a=at: second.act(
                c, "reject", "seller", at=a, reject_reason="delivered_per_carrier", actor_id=SHOP
            ),
        )
        winners = [r for r in results if isinstance(r, dict)]
        losers = [r for r in results if isinstance(r, CommandRefused)]
        assert len(winners) == 1 and len(losers) == 1, results
        assert losers[0].code in ("conflict", "not_allowed")
        history = setup.case(case_id)["history"]
        assert len(history) == 2
        assert history[-1]["to"] == winners[0]["state"]


def _while_another_writer_holds_sqlite(url: str, reads: Callable[[], Any]) -> list[Any]:
    """Run ``reads`` while another connection holds SQLite's one write lock; what it returned
    (nothing if it was still waiting after 5 s: the lock's busy timeout is 30 s)."""
    writer = sqlite3.connect(url.removeprefix("sqlite:///"), isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        done: list[Any] = []
        reading = threading.Thread(target=lambda: done.append(reads()))
        reading.start()
        reading.join(timeout=5)
        return done
    finally:
        writer.execute("ROLLBACK")
        writer.close()


def test_an_idle_sweep_on_sqlite_does_not_wait_for_another_writer(sqlite_url: str) -> None:
    """A daemon with nothing due takes no write lock: a host writing at that moment (here, a
    transaction holding SQLite's one write lock) neither waits for it nor makes it wait."""
    clock = VirtualClock(AFTER_THE_OPENINGS)
    engine = aftersale.connect(sqlite_url, clock=clock)
    opened = _open_cases(engine)
    assert _while_another_writer_holds_sqlite(sqlite_url, engine.fire_due) == [0]
    # once deadlines are due, the sweep takes them (under the write lock)
    clock.move_to(max(deadline for _, deadline in opened))
    assert engine.fire_due() == ROUNDS


def test_reads_on_sqlite_do_not_wait_for_another_writer(sqlite_url: str) -> None:
    """Status (every sweep's log line), case views, the outbox and health reports read without
    the write lock, so they never queue behind a sweep, a snapshot or a command."""
    engine = aftersale.connect(sqlite_url, clock=VirtualClock(AFTER_THE_OPENINGS))
    (case_id, _), *_ = _open_cases(engine)

    def reads() -> tuple[Any, ...]:
        return (
            engine.status()["overdue"],
            engine.case(case_id)["state"],
            len(engine.events_after(0)) > 0,
            engine.health(SHOP)["shop_id"],
            engine.cases(shop_id=SHOP)[0]["case_id"],
        )

    done = _while_another_writer_holds_sqlite(sqlite_url, reads)
    assert done == [(0, "pending_review", True, SHOP, case_id)], "a read waited for the lock"
