"""The daemon's sweeping workers: ``--workers`` sweeps at once in one process.

Each worker is a thread running ``AfterSale.sweep``, which claims a batch, takes its timeouts
and commits, batch after batch, on a pooled connection of its own; on PostgreSQL the claim is
``FOR UPDATE SKIP LOCKED``, so the workers share the due cases exactly as several daemon
processes do. Threads suffice: while one worker waits on the database the others run Python.

One APScheduler job dispatches a tick to every worker and waits for them all, rather than one
job per worker, because the tick is where the workers' results meet: one ``sweep`` record with
their totals, one backlog query before and one reminder pass after, one place where a stop
request has every worker finish and commit its batch before the scheduler is shut down, and an
executor of APScheduler's that need not grow with ``--workers``. The price is small: a worker
that runs out of due cases waits for the others' last batch before the next tick. A tick
wakes only as many workers as the backlog has batches, so an idle daemon asks the database
whether anything is due once a tick, not once a worker.

The tick's own thread is the first worker, so ``--workers 1`` runs no thread of its own.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field

from aftersale.service.timers import SweepReport

MAX_WORKERS = 32
# Besides one connection per worker (the tick's backlog query and reminders run on the first
# worker's thread, before and after its sweep), the snapshots job and the heartbeat hold one
# each at most.
OTHER_CONNECTIONS = 2


def connections(workers: int) -> int:
    """How many database connections a daemon sweeping with ``workers`` may hold at once."""
    return workers + OTHER_CONNECTIONS


@dataclass
class Swept:
    """What the workers of one tick did together."""

    report: SweepReport = field(default_factory=SweepReport)  # the workers' totals
    workers: int = 1  # how many swept this tick
    busy: int = 0  # how many claimed anything
    error: Exception | None = None  # the first a worker raised, once all had finished


class SweepWorkers:
    """``count`` workers, each running the sweep it is given until it finds nothing to claim."""

    def __init__(self, count: int) -> None:
        self.count = count
        self._pool: ThreadPoolExecutor | None = None

    def sweep(self, sweep: Callable[[], SweepReport], batches: int | None = None) -> Swept:
        """Run ``sweep`` on the workers at once, as many as there are ``batches`` due (all when
        not known; one at least, for what fell due since they were counted), and add up their
        reports. Returns when every one has returned, so the totals count them all and a stop
        finds none running; an error one raised is handed back, with what the others did."""
        count = self.count if batches is None else max(1, min(self.count, batches))
        if count > 1 and self._pool is None:
            self._pool = ThreadPoolExecutor(self.count - 1, thread_name_prefix="aftersale-sweep")
        pool = self._pool
        others: list[Future[SweepReport | Exception]] = (
            [] if pool is None else [pool.submit(_outcome, sweep) for _ in range(count - 1)]
        )
        outcomes = [_outcome(sweep), *(future.result() for future in others)]
        swept = Swept(workers=count)
        for outcome in outcomes:
            if isinstance(outcome, Exception):
                swept.error = swept.error or outcome
                continue
            total = swept.report
            total.fired += outcome.fired
            total.claimed += outcome.claimed
            total.quarantined += outcome.quarantined
            total.batches += outcome.batches
            swept.busy += 1 if outcome.claimed else 0
        return swept

    def close(self) -> None:
        """Let the worker threads end (after the sweeps in hand, if any)."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None


def _outcome(sweep: Callable[[], SweepReport]) -> SweepReport | Exception:
    """The sweep's report, or what it raised: every worker is waited for before either counts."""
    try:
        return sweep()
    except Exception as error:
        return error
