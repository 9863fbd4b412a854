"""A seller approving at the very moment the daemon fires the review timeout: one of them wins.

tests/integration/test_races.py races the two inside one process on a virtual clock. Here the
timer is a real ``aftersale daemon`` process sweeping a real PostgreSQL every 50 ms, the seller
is a few threads of this test on the wall clock, and every seller click lands within a few tens
of milliseconds of its case's deadline, before or after.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

import aftersale
from aftersale import CommandRefused
from tests.daemon.helpers import (
    Daemons,
    Db,
    assert_rollups_match_a_rebuild,
    seed_due_reviews,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CASES = 200
SELLERS = 4
SPACING = timedelta(milliseconds=20)  # between two cases' deadlines
LEAD = timedelta(seconds=1)  # from setting the deadlines to the first of them


def test_a_seller_approving_as_the_daemon_fires_the_timeout_leaves_exactly_one_winner(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    later = datetime.now(UTC) + timedelta(days=1)
    case_ids = seed_due_reviews(pg_url, CASES, first_deadline=later, step=SPACING, prefix="R")
    worker = daemons.start("--interval", "0.05", "--batch", "20")
    daemons.wait_started(worker)
    # with the daemon sweeping, bring every deadline to within a few seconds from now
    first = datetime.now(UTC) + LEAD
    pg.execute("UPDATE cases SET deadline_at = deadline_at - :shift", shift=later - first)
    deadlines = {case_id: first + SPACING * i for i, case_id in enumerate(case_ids)}

    results: dict[str, str] = {}
    rng = random.Random(20260302)
    jitter = {case_id: rng.uniform(-0.04, 0.06) for case_id in case_ids}

    def seller(mine: list[str]) -> None:
        engine = aftersale.connect(pg_url, migrate=False, require_identity=False)
        try:
            for case_id in mine:
                click = deadlines[case_id].timestamp() + jitter[case_id]
                time.sleep(max(0.0, click - time.time()))  # the seller clicks at that instant
                try:
                    engine.act(case_id, "approve", "seller")
                    results[case_id] = "approved"
                except CommandRefused as refused:
                    results[case_id] = refused.code
        finally:
            engine.storage.engine.dispose()  # type: ignore[attr-defined]

    threads = [
        threading.Thread(target=seller, args=(case_ids[n::SELLERS],)) for n in range(SELLERS)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == CASES
    wait_for(lambda: pg.due() == 0, what="every timeout the seller did not beat")
    assert daemons.stop(worker) == 0
    assert daemons.tracebacks(worker) == []

    history = pg.history()
    rows, orders = pg.case_rows(), pg.order_rows()
    for case_id in case_ids:
        steps = history.get(case_id, [])
        assert len(steps) == 1, (case_id, steps)  # one transition: never both, never none
        if results[case_id] == "approved":
            assert steps == [("approve", "seller", "refunded")], (case_id, steps)
        else:
            assert results[case_id] in ("conflict", "not_allowed"), (case_id, results[case_id])
            assert steps == [("review_timeout", "system", "refunded")], (case_id, steps)
        assert rows[case_id].state == "refunded" and rows[case_id].version == 2
        order = orders[rows[case_id].order_id]
        assert Decimal(order.refunded_total) == Decimal(order.amount)  # paid once, not twice
        assert order.open_case_id is None

    outcomes = Counter(results.values())
    by_daemon = daemons.fired(worker)
    timeouts = CASES - outcomes["approved"]
    print(f"seller outcomes {dict(outcomes)}; the daemon fired {by_daemon} of {timeouts}")
    assert outcomes["approved"] > 0 and timeouts > 0, outcomes  # both sides won some
    assert 0 < by_daemon <= timeouts
    # a timeout the daemon did not fire was taken by the seller's own catch-up, then refused
    assert timeouts - by_daemon <= outcomes["not_allowed"]
    assert_rollups_match_a_rebuild(pg_url)  # sellers and the daemon on the same orders
