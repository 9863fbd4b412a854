"""The scheduler daemon: a clock that asks the database what is due (daemon.md).

APScheduler only keeps time, with its jobs in memory (processes must never share a job store):
a sweep every ``interval`` (``max_instances=1``, ``coalesce=True``, ``misfire_grace_time=None``)
and a reminder pass. The database is the timer store and the lock, so any number of daemons can
run against one PostgreSQL database. Signal handlers only set a flag; the sweep finishes the
batch in hand, commits it, and the scheduler is shut down from the job.
"""

from __future__ import annotations

import gc
import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any

from apscheduler.schedulers.blocking import BlockingScheduler

from aftersale.errors import SchemaMissing, SchemaNewer, SchemaOutdated, StorageError
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
    ) -> None:
        """``ready`` is the start-up check (the schema is this release's, ``daemon_engine``),
        run before the first sweep."""
        self.engine = engine
        self.options = options or DaemonOptions()
        self.ready = ready
        self.stop_requested = False
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
            delay = self.backoff.failed()
            log.warning("database unavailable (%s); retrying in %.0f s", error, delay)
            return None
        self.backoff.succeeded()
        return line

    def run_once(self) -> dict[str, Any]:
        """``--once``: a full sweep, the reminders and any snapshot due; database errors raise
        (``--once`` exits 3 on them, for cron to see)."""
        self.ready()
        line = self.sweep_once()
        self.snapshot_once()
        self.prune_once()
        return line

    def sweep_once(self) -> dict[str, Any]:
        """One full sweep and reminder pass, logged as one JSON line."""
        started = time.monotonic()
        backlog = self.engine.status(snapshots=False)
        report = self.engine.sweep(self.options.batch, lambda: self.stop_requested)
        reminded = 0
        if self.options.remind_before is not None and not self.stop_requested:
            reminded = self.engine.remind(self.options.remind_before, self.options.batch)
        line = {
            "sweep": "done",
            "fired": report.fired,
            "claimed": report.claimed,
            "quarantined": report.quarantined,
            "reminded": reminded,
            "lag_seconds": round(backlog["oldest_lag_seconds"], 3),
            "overdue_before": backlog["overdue"],
            "seconds": round(time.monotonic() - started, 3),
        }
        log.info(json.dumps(line))
        return line

    def snapshot_once(self) -> int:
        """Take the health snapshots of every local midnight that has passed."""
        taken = self.engine.take_snapshots(refresh=True, should_stop=lambda: self.stop_requested)
        if taken:
            log.info(json.dumps({"snapshots": "done", "taken": taken}))
        return taken

    def prune_once(self) -> dict[str, Any]:
        """Delete the health rollups' rows older than they are kept (a no-op when none are)."""
        pruned = self.engine.prune_health(
            self.options.keep_rollup_days, should_stop=lambda: self.stop_requested
        )
        self._next_prune = time.monotonic() + PRUNE_EVERY_SECONDS
        if pruned["items"] or pruned["hours"]:
            log.info(json.dumps({"prune": "done", **pruned}))
        return pruned

    def run(self) -> None:
        """Tick every ``interval`` until SIGTERM or SIGINT; then finish the batch and return."""
        scheduler = BlockingScheduler(
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": None}
        )
        self._scheduler = scheduler
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
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, self._request_stop)
        if not self._wait_until_ready():
            return
        log.info(
            "daemon started: interval %.3f s, batch %d", self.options.interval, self.options.batch
        )
        scheduler.start()
        log.info("daemon stopped")

    def _wait_until_ready(self) -> bool:
        """The start-up check, retried like a sweep while the database is unreachable; a
        schema that is missing or another release's raises (exit 3). False: stopped first."""
        while not self.stop_requested:
            try:
                self.ready()
            except (SchemaMissing, SchemaOutdated, SchemaNewer):
                raise
            except StorageError as error:
                delay = self.backoff.failed()
                log.warning("database unavailable (%s); retrying in %.0f s", error, delay)
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
            log.warning("database unavailable for snapshots (%s); trying again later", error)

    def _request_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stop_requested = True
