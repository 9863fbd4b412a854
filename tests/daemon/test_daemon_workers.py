"""``aftersale daemon --workers N``: N sweeps at once in one process, each on a connection of its
own, still firing every deadline exactly once; one worker on SQLite; a bad N refused.

The PostgreSQL tests look at the server itself to see the workers overlap: a sweep's batch is
one transaction that claims its cases ``FOR UPDATE``, which holds a ``RowShareLock`` on
``cases`` until the batch commits, so two of the daemon's sessions holding it at one instant
(``pg_locks`` is one consistent snapshot) are two batches in flight at once. Workers that took
turns, however finely, would never show two.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.daemon.helpers import Daemons, Db, run_cli, seed_due_reviews, wait_for
from tests.daemon.test_daemon_processes import _exactly_once, _tagged

IN_A_BATCH = (
    "SELECT count(DISTINCT l.pid) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
    "WHERE a.application_name = :tag AND l.relation = 'cases'::regclass "
    "AND l.mode = 'RowShareLock'"
)


def _batches_in_flight(pg: Db, tag: str) -> int:
    """How many of the tagged daemon's sessions are inside a sweep's batch right now."""
    return int(pg.execute(IN_A_BATCH, tag=tag)[0][0])


@pytest.mark.postgres
@pytest.mark.slow
def test_one_daemon_with_three_workers_fires_each_deadline_once_sweeping_three_batches_at_once(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    case_ids = seed_due_reviews(pg_url, 3_000)
    url, tag = _tagged(pg_url)
    worker = daemons.start("--workers", "3", "--batch", "25", "--interval", "0.2", url=url)
    most_at_once, deadline = 0, time.monotonic() + 60
    while pg.due() > 0:  # look at the server as often as it answers while the work lasts
        assert time.monotonic() < deadline and worker.poll() is None, daemons.log(worker)[-3000:]
        most_at_once = max(most_at_once, _batches_in_flight(pg, tag))
    seen = len(daemons.sweeps(worker))  # then an idle tick, at debug level logged too
    wait_for(lambda: len(daemons.sweeps(worker)) > seen + 1, what="an idle sweep")
    assert daemons.stop(worker) == 0
    assert daemons.tracebacks(worker) == []
    _exactly_once(pg, case_ids)
    rows = pg.case_rows()
    assert {(row.state, row.version) for row in rows.values()} == {("refunded", 2)}  # moved once
    assert most_at_once >= 2, "the workers never had two batches in flight at once"
    records = daemons.records(worker)
    (started,) = [line for line in records if line["event"] == "daemon_started"]
    (stopped,) = [line for line in records if line["event"] == "daemon_stopped"]
    assert started["workers"] == 3 and "workers_reduced" not in {e["event"] for e in records}
    # one sweep record a tick (every tick logs at debug), with all three workers' totals
    sweeps = daemons.sweeps(worker)
    assert len(sweeps) == stopped["sweeps"]
    # as many workers as the backlog has batches: all three at first, one once idle
    assert sweeps[0]["workers"] == 3 and sweeps[-1]["workers"] == 1
    assert sum(line["fired"] for line in sweeps) == stopped["fired"] == 3_000
    assert sum(line["claimed"] for line in sweeps) == 3_000
    assert sum(line["batches"] for line in sweeps) >= 3_000 // 25
    assert max(line["workers_busy"] for line in sweeps) >= 2


@pytest.mark.postgres
@pytest.mark.slow
def test_sigterm_lets_each_of_three_workers_commit_its_batch_in_hand_and_take_no_other(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    batch = 150
    case_ids = seed_due_reviews(pg_url, 4_500)
    worker = daemons.start("--workers", "3", "--batch", str(batch), "--interval", "0.1")
    daemons.wait_started(worker)
    wait_for(lambda: pg.transitions() > 0, what="the first batch committed")
    assert daemons.stop(worker) == 0
    fired = pg.transitions()
    assert 0 < fired < 4_500, "SIGTERM should stop the workers between batches"
    assert fired % batch == 0, fired  # whole batches, every claimed case fired and committed
    assert daemons.fired(worker) == fired  # the last sweep record counts every worker's batches
    per_case = pg.per_case("review_timeout")
    assert set(per_case.values()) == {1}
    moved = {case_id for case_id, row in pg.case_rows().items() if row.state != "pending_review"}
    assert moved == set(per_case)
    assert pg.due() == 4_500 - fired  # and the rest is still owed: a later daemon takes it
    finisher = daemons.start("--workers", "3", "--interval", "0.1")
    wait_for(lambda: pg.due() == 0, what="a second daemon to take the rest")
    assert daemons.stop(finisher) == 0
    _exactly_once(pg, case_ids)


def test_on_sqlite_the_daemon_sweeps_with_one_worker_whatever_is_asked_and_says_so_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    case_ids = seed_due_reviews(url, 300)
    db, daemons = Db(url), Daemons(url, tmp_path)
    try:
        worker = daemons.start("--workers", "4", "--batch", "50", "--interval", "0.1")
        wait_for(lambda: db.due() == 0, what="every deadline fired")
        assert daemons.stop(worker) == 0
        assert sorted(db.per_case()) == case_ids and set(db.per_case().values()) == {1}
    finally:
        daemons.close()
        db.close()
    records = daemons.records(worker)
    assert [line["event"] for line in records[:2]] == ["daemon_started", "workers_reduced"]
    started, reduced = records[:2]
    assert started["workers"] == 1 and "workers 1" in started["message"]
    assert (reduced["level"], reduced["workers_asked"], reduced["workers"]) == ("info", 4, 1)
    assert "SQLite" in reduced["message"]
    assert [line["event"] for line in records].count("workers_reduced") == 1
    sweeps = daemons.sweeps(worker)
    assert {line["workers"] for line in sweeps} == {1}
    assert sum(line["fired"] for line in sweeps) == 300


@pytest.mark.parametrize("value", ["0", "-1", "33", "x"])
def test_workers_outside_one_to_thirty_two_is_a_usage_error_naming_the_option_writing_nothing(
    tmp_path: Path, value: str
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    seed_due_reviews(url, 3)
    db = Db(url)
    try:
        events_before = db.execute("SELECT count(*) FROM events")
        for once in (["--once"], []):  # cron's single pass and the long-running daemon alike
            done = run_cli("daemon", *once, "--db", url, "--workers", value, timeout=30)
            assert done.returncode == 2, (done.stdout, done.stderr)
            assert "Invalid value for '--workers'" in done.stderr
            assert "Usage:" in done.stderr and "Traceback" not in done.stderr
        assert db.states() == {"pending_review": 3} and db.transitions() == 0
        assert db.execute("SELECT count(*) FROM events") == events_before
    finally:
        db.close()
    missing = tmp_path / "typo.db"
    done = run_cli("daemon", "--db", f"sqlite:///{missing}", "--workers", value, timeout=30)
    assert done.returncode == 2 and "--workers" in done.stderr
    assert not missing.exists()
