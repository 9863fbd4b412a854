"""The daemon's sweeping workers without a database: they sweep at the same time, their reports
add up to one, and one worker's failure waits for the others and keeps their work."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from aftersale.daemon import Daemon, DaemonOptions
from aftersale.daemon_workers import SweepWorkers, connections
from aftersale.errors import InvalidInput, StorageError
from aftersale.service.timers import SweepReport

LOST_LINK = StorageError("postgresql://db.internal/shop: server closed the connection")


def test_three_workers_sweep_at_the_same_time_and_their_reports_add_up() -> None:
    # each sweep waits until all three are inside one: workers taking turns would time out
    all_in = threading.Barrier(3, timeout=10)
    threads: set[str] = set()

    def sweep() -> SweepReport:
        all_in.wait()
        threads.add(threading.current_thread().name)
        return SweepReport(fired=40, claimed=41, quarantined=1, batches=2)

    workers = SweepWorkers(3)
    try:
        swept = workers.sweep(sweep)
    finally:
        workers.close()
    assert swept.error is None and (swept.workers, swept.busy) == (3, 3)
    assert swept.report == SweepReport(fired=120, claimed=123, quarantined=3, batches=6)
    assert len(threads) == 3 and threading.current_thread().name in threads


def test_one_worker_sweeps_on_the_calling_thread_alone() -> None:
    seen: list[threading.Thread] = []

    def sweep() -> SweepReport:
        seen.append(threading.current_thread())
        return SweepReport()

    swept = SweepWorkers(1).sweep(sweep)
    assert seen == [threading.current_thread()]
    assert (swept.workers, swept.busy, swept.report) == (1, 0, SweepReport())


def test_a_tick_wakes_as_many_workers_as_there_are_batches_due_and_one_at_least() -> None:
    threads: set[str] = set()
    lock = threading.Lock()

    def sweep() -> SweepReport:
        with lock:
            threads.add(threading.current_thread().name)
        return SweepReport()

    workers = SweepWorkers(4)
    try:
        woken = [workers.sweep(sweep, batches=n).workers for n in (0, 1, 2, 9, None)]
    finally:
        workers.close()
    assert woken == [1, 1, 2, 4, 4]
    assert len(threads) <= 4


def test_a_failing_worker_is_reported_once_the_others_have_finished_with_their_work() -> None:
    calls, finished = [0], [0]
    lock = threading.Lock()

    def sweep() -> SweepReport:
        with lock:
            calls[0] += 1
            first = calls[0] == 1
        if first:
            raise LOST_LINK
        threading.Event().wait(0.2)  # still committing its batch when the first one failed
        with lock:
            finished[0] += 1
        return SweepReport(fired=500, claimed=500, batches=1)

    workers = SweepWorkers(3)
    try:
        swept = workers.sweep(sweep)
    finally:
        workers.close()
    assert finished == [2] and swept.error is LOST_LINK
    assert (swept.report.fired, swept.report.batches, swept.busy) == (1000, 2, 2)


def test_the_pool_holds_a_connection_per_worker_and_for_the_daemons_other_jobs() -> None:
    assert [connections(n) for n in (1, 2, 32)] == [3, 4, 34]


class _Engine:
    """What the daemon asks of the façade, on a database that allows concurrent writers."""

    def __init__(self, sweep: Callable[[], SweepReport], one_writer: bool = False) -> None:
        self._sweep, self.one_writer, self.reminded = sweep, one_writer, 0

    def concurrent_sweeps(self, asked: int) -> int:
        return 1 if self.one_writer else asked

    def status(self, snapshots: bool = True) -> dict[str, Any]:
        return {"oldest_lag_seconds": 3.0, "overdue": 1500}

    def sweep(self, batch: int, should_stop: Callable[[], bool]) -> SweepReport:
        return self._sweep()

    def remind(self, before: timedelta, batch: int) -> int:
        self.reminded += 1
        return 0


def test_a_worker_that_loses_the_database_fails_the_tick_after_one_record_of_the_others_work(
    caplog: pytest.LogCaptureFixture,
) -> None:
    calls = [0]
    lock = threading.Lock()

    def sweep() -> SweepReport:
        with lock:
            calls[0] += 1
            if calls[0] == 2:
                raise LOST_LINK
        return SweepReport(fired=500, claimed=500, batches=1)

    engine = _Engine(sweep)
    daemon = Daemon(engine, DaemonOptions(workers=3))  # type: ignore[arg-type]
    try:
        with caplog.at_level("INFO", logger="aftersale.daemon"):
            assert daemon.tick() is None  # waiting out the failure (the backoff)
    finally:
        daemon.workers.close()
    (line,) = [entry for entry in caplog.records if getattr(entry, "event", "") == "sweep"]
    fields: dict[str, Any] = line.fields  # type: ignore[attr-defined]
    assert (fields["fired"], fields["batches"], fields["workers"]) == (1000, 2, 3)
    assert fields["workers_busy"] == 2 and daemon.fired == 1000
    assert engine.reminded == 0  # no reminder pass on a database that just failed
    assert daemon.backoff.failures == 1


def test_the_daemon_refuses_workers_out_of_range_and_takes_one_on_a_one_writer_database() -> None:
    for wrong in (0, -1, 33, True, 2.0):
        with pytest.raises(InvalidInput, match="workers"):
            Daemon(_Engine(SweepReport), DaemonOptions(workers=wrong))  # type: ignore[arg-type]
    daemon = Daemon(_Engine(SweepReport, one_writer=True), DaemonOptions(workers=8))  # type: ignore[arg-type]
    assert daemon.workers.count == 1
