"""The daemon as operators run it: real processes on a real PostgreSQL, signals and cut links.

Every test seeds due review deadlines straight into the database, starts ``aftersale daemon``
processes, polls the tables until the work is done (no fixed sleeps), and then checks the event
log, which is the ground truth: one ``review_timeout`` per case, never two, never none.
"""

from __future__ import annotations

import signal
import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from tests.daemon.helpers import (
    Daemons,
    Db,
    assert_rollups_match_a_rebuild,
    seed_due_reviews,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _tagged(url: str) -> tuple[str, str]:
    """The URL with an ``application_name`` of its own, so a test finds its daemon's sessions
    (and only those, even with other tests running against the same server)."""
    tag = f"aftersale-daemon-test-{uuid.uuid4().hex[:8]}"
    return f"{url}&application_name={tag}", tag


def _exactly_once(pg: Db, case_ids: list[str]) -> None:
    per_case = pg.per_case("review_timeout")
    assert sorted(per_case) == sorted(case_ids)
    doubled = {case_id: n for case_id, n in per_case.items() if n != 1}
    assert doubled == {}
    assert pg.transitions() == len(case_ids)  # nothing else moved either
    assert pg.due() == 0


def _sessions(pg: Db, tag: str) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :tag"
    return int(pg.execute(query, tag=tag)[0][0])


def test_three_daemons_share_twenty_thousand_due_deadlines_and_fire_each_exactly_once(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    case_ids = seed_due_reviews(pg_url, 20_000)
    assert pg.due() == 20_000
    started = time.monotonic()
    workers = [daemons.start("--interval", "0.2") for _ in range(3)]
    wait_for(lambda: pg.due() == 0, timeout=90, what="no deadline left due")
    took = time.monotonic() - started
    assert [daemons.stop(worker) for worker in workers] == [0, 0, 0]
    assert [daemons.tracebacks(worker) for worker in workers] == [[], [], []]
    _exactly_once(pg, case_ids)
    assert pg.states() == {"refunded": 20_000}
    shares = [daemons.fired(worker) for worker in workers]
    assert sum(shares) == 20_000, shares  # what the logs claim is what the event log holds
    assert sum(1 for share in shares if share > 0) >= 2, shares  # SKIP LOCKED shared the work
    assert_rollups_match_a_rebuild(pg_url)  # three writers on seven shops' hourly sums
    print(f"3 daemons fired 20,000 deadlines in {took:.1f} s, shares {shares}")


def test_a_daemon_killed_mid_batch_loses_nothing_and_its_successor_doubles_nothing(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    case_ids = seed_due_reviews(pg_url, 5_000)
    url, tag = _tagged(pg_url)
    first = daemons.start("--interval", "0.1", "--batch", "50", url=url)
    wait_for(lambda: pg.transitions() >= 250, what="the first daemon some batches in")
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    # its server side ends too: the batch in flight is rolled back (or, if its COMMIT had
    # already been sent, committed) before anything is counted
    wait_for(lambda: _sessions(pg, tag) == 0, what="the killed daemon's sessions to end")
    fired_before = pg.transitions()
    assert 0 < fired_before < 5_000, "the kill must land part-way through the work"
    assert pg.states()["pending_review"] == 5_000 - fired_before  # no half-written batch
    second = daemons.start("--interval", "0.1", "--batch", "50")
    wait_for(lambda: pg.due() == 0, what="the second daemon to finish the rest")
    assert daemons.stop(second) == 0
    _exactly_once(pg, case_ids)
    assert "pending_review" not in pg.states()
    assert daemons.fired(second) == 5_000 - fired_before


def test_a_daemon_whose_connections_are_terminated_keeps_running_retries_and_fires_all_once(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    case_ids = seed_due_reviews(pg_url, 6_000)
    url, tag = _tagged(pg_url)  # so only its own connections are cut
    worker = daemons.start("--interval", "0.1", "--batch", "100", url=url)
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND pid <> pg_backend_pid() "
        "AND application_name = :tag"
    )
    cuts = attempts = 0
    while cuts < 2:  # a couple of cuts, each while the daemon is busy inside a sweep
        attempts += 1
        assert attempts <= 10 and pg.due() > 0, "could not cut the daemon while it worked"
        progress = pg.transitions()
        wait_for(lambda floor=progress: pg.transitions() > floor, what="the daemon firing")
        cuts += int(bool(pg.execute(terminate, tag=tag)))
        assert worker.poll() is None, daemons.log(worker)
    wait_for(lambda: pg.due() == 0, timeout=90, what="every deadline fired after the cuts")
    assert worker.poll() is None, daemons.log(worker)
    log = daemons.log(worker)
    assert log.count("database unavailable") >= 2 and "retrying in" in log, log[-3000:]
    # the log names the cause: libpq reports a terminated backend either by the server's own
    # message or, when the socket closes before that message is read, as a closed connection
    causes = (
        "terminating connection due to administrator command",
        "server closed the connection",
    )
    assert any(cause in log for cause in causes), log[-3000:]
    assert daemons.stop(worker) == 0
    _exactly_once(pg, case_ids)


def test_sigterm_during_a_sweep_commits_whole_batches_only_and_exits_0(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    batch = 1_000
    case_ids = seed_due_reviews(pg_url, 10_000)
    worker = daemons.start("--interval", "0.1", "--batch", str(batch))
    daemons.wait_started(worker)
    wait_for(lambda: pg.transitions() > 0, what="the first batch committed")
    assert daemons.stop(worker) == 0
    fired = pg.transitions()
    assert 0 < fired < 10_000, "SIGTERM should stop the sweep between batches"
    assert fired % batch == 0, fired  # whole batches: every claimed case was fired and committed
    assert daemons.fired(worker) == fired
    assert all(line["fired"] == line["claimed"] for line in daemons.sweeps(worker))
    # no case moved without its event, no event without its case moved
    per_case = pg.per_case("review_timeout")
    assert set(per_case.values()) <= {1}
    rows = pg.case_rows()
    moved = {case_id for case_id, row in rows.items() if row.state != "pending_review"}
    assert moved == set(per_case)
    assert {rows[case_id].state for case_id in moved} <= {"refunded"}
    untouched = [rows[case_id] for case_id in case_ids if case_id not in moved]
    assert all(row.deadline_action == "review_timeout" and row.version == 1 for row in untouched)
    # what was left is still owed, and a later run takes it: once each, overall
    assert pg.due() == 10_000 - fired
    finisher = daemons.start("--interval", "0.1", "--batch", str(batch))
    wait_for(lambda: pg.due() == 0, what="a second daemon to take the rest")
    assert daemons.stop(finisher) == 0
    _exactly_once(pg, case_ids)


def test_three_daemons_send_one_reminder_per_approaching_seller_deadline_and_fire_nothing_early(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    soon = datetime.now(UTC) + timedelta(minutes=20)
    case_ids = seed_due_reviews(pg_url, 3_000, first_deadline=soon, step=timedelta(seconds=0.2))
    workers = [daemons.start("--interval", "0.2", "--remind-before", "1h") for _ in range(3)]
    wait_for(lambda: sum(pg.reminders().values()) >= 3_000, what="every case reminded")
    # then every daemon sweeps and reminds at least twice more, finding nothing left to send
    seen = [len(daemons.sweeps(worker)) for worker in workers]
    wait_for(
        lambda: all(len(daemons.sweeps(w)) >= n + 2 for w, n in zip(workers, seen, strict=True)),
        what="two more passes of every daemon",
    )
    assert [daemons.stop(worker) for worker in workers] == [0, 0, 0]
    reminders = pg.reminders()
    assert sorted(reminders) == sorted(case_ids)
    assert set(reminders.values()) == {1}
    assert sum(line["reminded"] for w in workers for line in daemons.sweeps(w)) == 3_000
    assert pg.transitions() == 0 and pg.states() == {"pending_review": 3_000}
