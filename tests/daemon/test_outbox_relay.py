"""The outbox under the load it claims to hold under: a relay that follows its cursor sees every
committed event exactly once while writer processes and the daemon commit on PostgreSQL.

A daemon sweeps thousands of due deadlines in batches of hundreds of events a transaction,
three writer processes run orders and cases through the public API (each also firing timeouts
itself), and this process relays: poll ``events_after(cursor)``, keep the last event's
``cursor``. A cursor on ``seq`` alone lost 5 to 21 % of the events here: a batch takes its
seqs when it inserts and commits later, after the relay has read past them.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

import aftersale
from tests.daemon.helpers import Daemons, Db, seed_due_reviews
from tests.integration.test_verify_under_load import WRITER

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

DUE = 4000
WRITERS = ("ada", "ben", "cy")


def test_a_relay_following_its_cursor_sees_every_committed_event_once(
    pg_url: str, tmp_path: Path
) -> None:
    seed_due_reviews(pg_url, DUE)
    relay = aftersale.connect(pg_url, migrate=False)
    relayed: list[dict[str, Any]] = []
    cursor: str | int = 0

    def poll() -> int:
        nonlocal cursor
        page = relay.events_after(cursor, limit=500)
        relayed.extend(page)
        if page:
            cursor = page[-1]["cursor"]
        return len(page)

    while poll():  # the seeded events, before anything else moves
        pass
    stop = tmp_path / "stop"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, name, str(stop)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in WRITERS
    ]
    daemons, pg = Daemons(pg_url, tmp_path), Db(pg_url)
    try:
        daemon = daemons.start("--interval", "0.2", "--batch", "400")
        started = time.monotonic()
        while pg.transitions("review_timeout") < DUE and time.monotonic() - started < 120:
            poll()  # relaying while the daemon and the writers commit
        stop.touch()
        outcomes = [writer.communicate(timeout=60) for writer in writers]
        assert daemons.stop(daemon) == 0, daemons.log(daemon)
        assert daemons.tracebacks(daemon) == []
    finally:
        stop.touch()
        daemons.close()
        pg.close()
    assert [writer.returncode for writer in writers] == [0, 0, 0], [e for _, e in outcomes]
    pg = Db(pg_url)
    try:
        committed = [row.event_id for row in pg.execute("SELECT event_id FROM events")]
    finally:
        pg.close()
    # Another test's transaction on this server may hold the horizon back for a while: the
    # events behind it come late, never lost
    caught_up_by = time.monotonic() + 60
    while len(relayed) < len(committed) and time.monotonic() < caught_up_by:
        if not poll():
            time.sleep(0.05)
    poll()  # and nothing more comes after them
    seen = Counter(event["event_id"] for event in relayed)
    assert [event_id for event_id, n in seen.items() if n > 1] == [], "handed out twice"
    missed = set(committed) - set(seen)
    assert not missed, f"{len(missed)} of {len(committed)} committed events never relayed"
    assert len(relayed) == len(committed)
    timeouts = [e for e in relayed if e.get("action") == "review_timeout"]
    assert len(timeouts) >= DUE  # the daemon's batches, and the writers' own timeouts
