"""The scheduler daemon: a clock that asks the database what is due (daemon.md).

APScheduler only keeps time, with its jobs in memory (processes must never share a job store):
a sweep every ``interval`` (``max_instances=1``, ``coalesce=True``, ``misfire_grace_time=None``)
by ``workers`` threads at once (:mod:`aftersale.daemon_workers`; one on SQLite, which takes one
writer at a time) and a reminder pass. The database is the timer store and the lock, so any
number of daemons can run against one PostgreSQL database. Signal handlers only set a flag;
every worker finishes the batch in hand, commits it, and the scheduler is shut down from the job.

The log (:mod:`aftersale.daemon_log`): a sweep that did work is one ``sweep`` record, an idle
one says nothing (at debug level it does); a ``heartbeat`` record every ``heartbeat`` seconds
gives the backlog, so a quiet daemon is still seen to be alive.
"""

from __future__ import annotations

import gc
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler

from aftersale.daemon_log import record
from aftersale.daemon_workers import MAX_WORKERS, SweepWorkers
from aftersale.errors import (
    InvalidInput,
    SchemaMissing,
    SchemaNewer,
    SchemaOutdated,
    StorageError,
)
from aftersale.service.engine import AfterSale

log = logging.getLogger("aftersale.daemon")
MAX_BACKOFF_SECONDS = 30.0
SNAPSHOT_CHECK_SECONDS = 60.0  # how often the daemon looks for shops whose midnight passed
PRUNE_EVERY_SECONDS = 24 * 3600.0  # the health rollups' old rows, once a day
# New objects between two young-generation collections (Python's default is 700): a sweep
# batch makes tens of thousands that die with it. With 10,000 and the start-up objects frozen
# a daemon fired about 13 % more deadlines a second than with neither (medians of three
# alternating runs); 100,000 did no better.
GC_YOUNG_THRESHOLD = 10_000


@dataclass
class DaemonOptions:
    interval: float = 1.0
    batch: int = 500
    remind_before: timedelta | None = timedelta(hours=12)
    keep_rollup_days: int | None = None  # None: health.toml's longest window and 30 days
    heartbeat: float = 60.0  # seconds between two heartbeat records
    workers: int = 2  # sweeps at once, 1 to MAX_WORKERS (one on SQLite, whatever is asked)


@dataclass
class _Backoff:
    """After a database failure, wait 1, 2, 4 ... up to 30 s before the next attempt."""

    failures: int = 0
    retry_at: float = 0.0
    clock: Callable[[], float] = field(default=time.monotonic)

    def ready(self) -> bool:
        return self.clock() >= self.retry_at

    def failed(self) -> float:
        self.failures += 1
        delay = min(MAX_BACKOFF_SECONDS, 2.0 ** (self.failures - 1))
        self.retry_at = self.clock() + delay
        return delay

    def succeeded(self) -> None:
        self.failures = 0
        self.retry_at = 0.0


def settle_memory() -> None:
    """Take what start-up allocated out of the garbage collector's sight and let it collect
    less often. A sweep allocates and drops thousands of objects a batch; without this every
    full collection walks the modules, SQLAlchemy's metadata and the compiled statements
    again."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(GC_YOUNG_THRESHOLD, *gc.get_threshold()[1:])


class Daemon:
    def __init__(
        self,
        engine: AfterSale,
        options: DaemonOptions | None = None,
        ready: Callable[[], None] = lambda: None,
        database: str = "",
    ) -> None:
        """``ready`` is the start-up check (the schema is this release's, ``daemon_engine``),
        run before the first sweep; ``database`` names the database in the start record (its
        password masked: ``bootstrap.shown_url``)."""
        self.engine = engine
        self.options = options or DaemonOptions()
        asked = self.options.workers
        if type(asked) is not int or not 1 <= asked <= MAX_WORKERS:
            raise InvalidInput(f"workers must be a whole number, 1 to {MAX_WORKERS}: {asked!r}")
        self.workers = SweepWorkers(engine.concurrent_sweeps(asked))
        self.ready = ready
        self.database = database
        self.stop_requested = False
        self.stop_signal: str | None = None
        self.sweeps = self.fired = 0  # since start, for the heartbeat and the stop record
        self.backoff = _Backoff()
        self._scheduler: BlockingScheduler | None = None
        self._next_prune = 0.0  # time.monotonic() of the next prune: the first at once

    def tick(self) -> dict[str, Any] | None:
        """One sweep and one reminder pass; None when waiting out a database failure."""
        if not self.backoff.ready():
            return None
        try:
            line = self.sweep_once()
        except StorageError as error:
            self._unavailable(error, self.backoff.failed())
            return None
        self.backoff.succeeded()
        return line

    def run_once(self) -> dict[str, Any]:
        """``--once``: a full sweep, the reminders and any snapshot due; database errors raise
        (``--once`` exits 3 on them, for cron to see)."""
        self.ready()
        try:
            line = self.sweep_once(report_idle=True)  # cron's record of the run, even of nothing
            self.snapshot_once()
            self.prune_once()
        finally:
            self.workers.close()
        return line

    def sweep_once(self, report_idle: bool = False) -> dict[str, Any]:
        """One full sweep by every worker and a reminder pass, logged as one ``sweep`` record
        of the workers' totals when it did work or ``report_idle`` (at debug level otherwise).
        A worker's error is raised once the others have finished and their work is logged."""
        started = time.monotonic()
        backlog = self.engine.status(snapshots=False)
        swept = self.workers.sweep(
            lambda: self.engine.sweep(self.options.batch, lambda: self.stop_requested),
            batches=-(-backlog["overdue"] // self.options.batch),  # rounded up
        )
        report = swept.report
        if swept.error is not None and not report.claimed:
            raise swept.error
        reminded, before = 0, self.options.remind_before
        if before is not None and swept.error is None and not self.stop_requested:
            reminded = self.engine.remind(before, self.options.batch)
        line = {
            "sweep": "done",
            "fired": report.fired,
            "claimed": report.claimed,
            "quarantined": report.quarantined,
            "batches": report.batches,
            "reminded": reminded,
            "workers": swept.workers,
            "workers_busy": swept.busy,
            "lag_seconds": round(backlog["oldest_lag_seconds"], 3),
            "overdue_before": backlog["overdue"],
            "seconds": round(time.monotonic() - started, 3),
        }
        self.sweeps, self.fired = self.sweeps + 1, self.fired + report.fired
        worked = report.fired or report.claimed or report.quarantined or reminded
        level = logging.INFO if worked or report_idle else logging.DEBUG
        log.log(level, "sweep done", extra=record("sweep", line))
        if swept.error is not None:
            raise swept.error
        return line

    def snapshot_once(self) -> int:
        """Take the health snapshots of every local midnight that has passed."""
        taken = self.engine.take_snapshots(refresh=True, should_stop=lambda: self.stop_requested)
        if taken:
            fields = {"snapshots": "done", "taken": taken}
            log.info("health snapshots taken", extra=record("snapshots", fields))
        return taken

    def prune_once(self) -> dict[str, Any]:
        """Delete the health rollups' rows older than they are kept (a no-op when none are)."""
        pruned = self.engine.prune_health(
            self.options.keep_rollup_days, should_stop=lambda: self.stop_requested
        )
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        if pruned["items"] or pruned["hours"]:
            fields = {"prune": "done", **pruned}
            log.info("health rollups pruned", extra=record("prune", fields))
        return pruned

    def run(self) -> None:
        """Tick every ``interval`` until SIGTERM or SIGINT; then finish the batch and return."""
        scheduler = BlockingScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        self._scheduler = scheduler
        # One job for every worker: each tick hands the sweep to them and waits for all, so its
        # record has their totals and a stop finds none running (see daemon_workers).
        scheduler.add_job(
            self._scheduled_tick,
            "interval",
            seconds=self.options.interval,
            id="sweep",
            next_run_time=self.engine.clock.now(),  # the first tick at once
        )
        # Snapshots run as a job of their own, so a long night of them never delays a deadline.
        scheduler.add_job(
            self._scheduled_snapshots,
            "interval",
            seconds=SNAPSHOT_CHECK_SECONDS,
            id="snapshots",
            next_run_time=self.engine.clock.now(),
        )
        scheduler.add_job(
            self._scheduled_heartbeat, "interval", seconds=self.options.heartbeat, id="heartbeat"
        )
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request_stop)
        try:
            if self._wait_until_ready():
                self._log_start()
                scheduler.start()
        finally:
            self.workers.close()
        fields = {"signal": self.stop_signal, "sweeps": self.sweeps, "fired": self.fired}
        stopped = f"daemon stopped ({self.stop_signal or 'scheduler ended'})"
        log.info(stopped, extra=record("daemon_stopped", fields))

    def _log_start(self) -> None:
        import aftersale  # its version is read from the package metadata when asked for

        options = self.options
        health = self.engine.health_settings
        fields = {
            "database": self.database,
            "policy_version": self.engine.policy.version,
            "health_version": None if health is None else health[1],
            "interval_seconds": options.interval,
            "batch": options.batch,
            "remind_before_seconds": (
                None if options.remind_before is None else options.remind_before.total_seconds()
            ),
            "heartbeat_seconds": options.heartbeat,
            "workers": self.workers.count,
            "pid": os.getpid(),
            "aftersale_version": aftersale.__version__,
        }
        message = (
            f"daemon started: {self.database or 'database'}, policy {fields['policy_version']}, "
            f"interval {options.interval:g} s, batch {options.batch}, "
            f"workers {self.workers.count}"
        )
        log.info(message, extra=record("daemon_started", fields))
        if self.workers.count < options.workers:
            fields = {"workers_asked": options.workers, "workers": self.workers.count}
            message = (
                f"sweeping with {self.workers.count} worker, not {options.workers}: the "
                "database takes one writer at a time (SQLite), so more would only queue"
            )
            log.info(message, extra=record("workers_reduced", fields))

    def heartbeat(self) -> dict[str, Any]:
        """The daemon is alive: the backlog as the database has it now, and the work done
        since start (``overdue`` and ``lag_seconds`` are None while the database is down)."""
        fields: dict[str, Any] = {"sweeps": self.sweeps, "fired": self.fired}
        try:
            backlog = self.engine.status(snapshots=False)
        except StorageError as error:
            fields.update(overdue=None, lag_seconds=None, error=str(error))
            log.warning(
                f"alive; backlog unknown, database unavailable ({error})",
                extra=record("heartbeat", fields),
            )
            return fields
        fields = {
            "overdue": backlog["overdue"],
            "lag_seconds": round(backlog["oldest_lag_seconds"], 3),
            "quarantined": len(backlog["quarantined"])
            + len(backlog["quarantined_tickets"])
            + len(backlog["quarantined_punishments"]),
            "next_deadline_at": backlog["next_deadline_at"],
            "overdue_replies": backlog["overdue_replies"],  # the platform's, not the timers'
            **fields,
        }
        log.info("alive", extra=record("heartbeat", fields))
        return fields

    def _wait_until_ready(self) -> bool:
        """The start-up check, retried like a sweep while the database is unreachable; a
        schema that is missing or another release's raises (exit 3). False: stopped first."""
        while not self.stop_requested:
            try:
                self.ready()
            except (SchemaMissing, SchemaOutdated, SchemaNewer):
                raise
            except StorageError as error:
                self._unavailable(error, self.backoff.failed())
                while not self.stop_requested and not self.backoff.ready():
                    time.sleep(0.1)  # the signal handler only sets the flag: look again soon
                continue
            self.backoff.succeeded()
            return True
        return False

    def _scheduled_tick(self) -> None:
        if not self.stop_requested:
            self.tick()
        if self.stop_requested and self._scheduler is not None:
            self._scheduler.shutdown(wait=False)

    def _scheduled_snapshots(self) -> None:
        """The snapshots due, then the day's prune: housekeeping, kept off the sweep's job."""
        if self.stop_requested:
            return
        try:
            self.snapshot_once()
            if time.monotonic() >= self._next_prune and not self.stop_requested:
                self.prune_once()
        except StorageError as error:
            log.warning(
                f"database unavailable for snapshots ({error}); trying again later",
                extra=record("database_unavailable", {"job": "snapshots", "error": str(error)}),
            )

    def _scheduled_heartbeat(self) -> None:
        if not self.stop_requested:
            self.heartbeat()

    @staticmethod
    def _unavailable(error: StorageError, delay: float) -> None:
        fields = {"job": "sweep", "error": str(error), "retry_in_seconds": delay}
        log.warning(
            f"database unavailable ({error}); retrying in {delay:.0f} s",
            extra=record("database_unavailable", fields),
        )

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_requested = True  # only flags: logging here could deadlock on its lock
        self.stop_signal = signal.Signals(signum).name
