"""`verify` on a healthy PostgreSQL database that writers keep changing finds nothing: it reads
one snapshot, so a command committed between two of its reads is wholly in it or wholly out.

Three writer processes open, approve and cancel cases and fire timeouts through the public API
while this process runs ``verify`` ten times. Read in separate transactions, events, cases and
orders disagree whenever a command commits between the reads (refunded money with no refunded
case, a case with no event for its state).
"""

from __future__ import annotations

import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy

import aftersale
from aftersale import VirtualClock

WRITER = """
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aftersale
from aftersale import CommandRefused, VirtualClock

url, name, stop = sys.argv[1], sys.argv[2], Path(sys.argv[3])
clock = VirtualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
engine = aftersale.connect(url, clock=clock, require_identity=False, migrate=False)


def later(hours):
    clock.move_to(clock.now() + timedelta(hours=hours))


def attempt(command, *args, **fields):
    try:
        command(*args, **fields)
    except CommandRefused:  # another writer moved the case first (a conflict, not allowed)
        pass


n = 0
while not stop.exists():
    order = f"{name}-{n}"
    engine.order_paid(order, f"shop-{name}", f"buyer-{n}", "US", "USD", "20.00")
    later(2)
    if n % 2 == 0:  # a cancellation the shipment closes, or the seller grants
        attempt(engine.open_case, f"CX-{order}", order, "cancellation", "buyer", "changed_mind")
        if n % 4 == 0:
            attempt(engine.act, f"CX-{order}", "approve", "seller")
            n += 1
            continue
    later(1)
    attempt(engine.order_shipped, order, f"T-{order}")
    later(1)
    attempt(engine.open_case, f"RO-{order}", order, "refund_only", "buyer", "not_received")
    if n % 3 == 0:
        attempt(engine.act, f"RO-{order}", "approve", "seller")
    later(4)
    attempt(engine.fire_due, clock.now())  # others' cases too, each at its own deadline
    n += 1
print(n)
"""


def _events(url: str) -> int:
    engine = sqlalchemy.create_engine(url)
    with engine.connect() as connection:
        count = int(connection.exec_driver_sql("SELECT count(*) FROM events").scalar_one())
    engine.dispose()
    return count


def test_verify_finds_nothing_while_three_writers_change_the_database(
    pg_url: str, tmp_path: Path
) -> None:
    engine = aftersale.connect(pg_url)  # creates the schema the writers use
    stop = tmp_path / "stop"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, name, str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("ada", "ben", "cy")
    ]
    try:
        deadline = time.monotonic() + 30
        while _events(pg_url) < 300 and time.monotonic() < deadline:
            time.sleep(0.1)
        before = _events(pg_url)
        runs = [engine.verify() for _ in range(10)]
        during = _events(pg_url) - before
    finally:
        stop.touch()
        outcomes = [writer.communicate(timeout=60) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0], [err for _, err in outcomes]
    assert during > 0, "the writers must have written while verify ran"
    assert [run for run in runs if run] == []
    assert engine.verify() == []  # and once they are done


def test_rows_committed_after_the_read_began_are_not_in_it(db_url: str) -> None:
    engine = aftersale.connect(db_url, clock=VirtualClock(datetime(2026, 3, 2, 9, tzinfo=UTC)))
    engine.order_paid("US-1", "shop-lumen", "buyer-ada", "US", "USD", "10.00")
    rows = engine.storage.reads.verification_rows(page=1)  # one row a page: a query per row
    first = next(rows)
    engine.order_paid("US-2", "shop-lumen", "buyer-ben", "US", "USD", "10.00")
    seen = [first, *rows]
    assert [row["order_id"] for table, row in seen if table == "orders"] == ["US-1"]
    assert [row["type"] for table, row in seen if table == "events"] == ["order.paid"]
