"""Deadlines fired per second: our sweep (1 or 2 processes) against one APScheduler date job per
deadline in ``SQLAlchemyJobStore``, the alternative a user would build instead, on the same
database in the same run."""

from __future__ import annotations

import multiprocessing
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from aftersale import AfterSale, connect
from aftersale.bench import raw_postgres, raw_sqlite
from aftersale.bench.databases import analyze, core_engine
from aftersale.bench.raw import seller_deadline_measure
from aftersale.bench.recording import SameStatements, same_statements
from aftersale.bench.seed import seed_due_cases, seed_key
from aftersale.daemon import Daemon, DaemonOptions, settle_memory

_fired = 0
_failed: list[str] = []  # what a job raised (APScheduler would only log it)
_fired_lock = threading.Lock()
_engines: dict[str, AfterSale] = {}  # one engine per database for the APScheduler jobs


def ours(
    url: str, count: int, processes: int, batch: int = 1000, workers: int = 1
) -> dict[str, Any]:
    """Seed ``count`` due deadlines, then time ``processes`` daemon processes sweeping them,
    each with ``workers`` sweeping threads: from the moment all are ready to the moment the
    last sweep has committed (starting and stopping a process is not firing deadlines)."""
    now = datetime.now(UTC)
    engine = connect(url)
    seed_due_cases(
        engine, count, now, spread=timedelta(hours=1), prefix=f"T{processes}-", with_history=True
    )
    analyze(url)  # as autovacuum would have, long before: the claim is planned for the rows
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(processes + 1)
    finished = context.Queue()
    daemons = [
        context.Process(target=_sweeper, args=(url, batch, workers, ready, finished))
        for _ in range(processes)
    ]
    for daemon in daemons:
        daemon.start()
    ready.wait()
    started = time.monotonic()  # system-wide, so comparable with the daemons' readings
    last = max(finished.get(timeout=900) for _ in daemons)
    for daemon in daemons:
        daemon.join()
    seconds = last - started
    left = engine.status()["overdue"]
    engine.close()
    return {"fired": count - left, "seconds": seconds, "per_second": (count - left) / seconds}


def in_process(url: str, count: int, batch: int = 1000, lines: bool = False) -> SameStatements:
    """One sweep of ``count`` due deadlines in this process, beside the same statements sent
    with the bare driver (what the database work alone allows) and beside the set-based raw
    baseline (the same work in the fewest statements a batch: :mod:`aftersale.bench.raw`);
    with ``lines``, of cases over one line of 3-line orders (:func:`seed_due_cases`)."""
    now = datetime.now(UTC)
    measure: list[str] = []

    def seeded(url: str) -> AfterSale:
        engine = connect(url)
        seed_due_cases(
            engine,
            count,
            now,
            spread=timedelta(hours=1),
            prefix="S-",
            with_history=True,
            lines=lines,
        )
        analyze(url)
        measure[:] = [seller_deadline_measure(engine)]
        return engine

    def raw(db: Any) -> None:
        driver = raw_sqlite if url.startswith("sqlite") else raw_postgres
        fired = driver.sweep(db, datetime.now(UTC), batch, measure[0])
        if fired != count:
            raise RuntimeError(f"the raw sweep fired {fired} of {count} due deadlines")

    return same_statements(
        url, "sweep", seeded, lambda engine: _swept(engine, batch, count), raw=raw
    )


def _swept(engine: AfterSale, batch: int, count: int) -> None:
    fired = engine.sweep(batch).fired
    if fired != count:
        raise RuntimeError(f"the sweep fired {fired} of {count} due deadlines")


def _sweeper(url: str, batch: int, workers: int, ready: Any, finished: Any) -> None:
    """One daemon process's sweep, as ``aftersale daemon`` runs it (memory settled first)."""
    engine = connect(url, migrate=False)
    engine.status()  # connect before the clock starts
    daemon = Daemon(engine, DaemonOptions(batch=batch, remind_before=None, workers=workers))
    settle_memory()
    ready.wait()
    daemon.sweep_once()
    finished.put(time.monotonic())
    daemon.workers.close()


def job_per_deadline(url: str, count: int, work: bool = True) -> dict[str, Any]:
    """APScheduler 3 with one date job per deadline in a SQLAlchemyJobStore, all already due.

    With ``work``, each job takes its case's timeout through ``AfterSale.catch_up`` (the
    same rules and writes as the sweep, one case a transaction): what a user who schedules each
    deadline would run. Without it the jobs do nothing: APScheduler's own cost alone.
    """
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    global _fired
    _fired = 0
    _failed.clear()
    now = datetime.now(UTC)
    if work:
        _engines[url] = connect(url)
        seed_due_cases(
            _engines[url], count, now, spread=timedelta(hours=1), prefix="J-", with_history=True
        )
        analyze(url)
    # with our settings (WAL, synchronous=NORMAL on SQLite), on an engine of the bench's own
    jobs_engine = core_engine(url)
    store = SQLAlchemyJobStore(engine=jobs_engine, tablename="bench_apscheduler_jobs")
    scheduler = BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone=UTC,
    )
    scheduler.start(paused=True)
    due = now - timedelta(seconds=1)
    job: Callable[..., None] = _take_timeout if work else _fire
    for number in range(count):
        args = (url, f"C{seed_key('J-', number)}") if work else ()
        scheduler.add_job(job, "date", run_date=due, id=f"deadline-{number}", args=args)
    started = time.perf_counter()
    scheduler.resume()
    while _fired + len(_failed) < count and time.perf_counter() - started < 600:
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    scheduler.shutdown(wait=True)
    store.remove_all_jobs()
    jobs_engine.dispose()
    fired = _fired
    if _failed:
        raise RuntimeError(f"{len(_failed)} APScheduler jobs failed, the first: {_failed[0]}")
    if work:
        engine = _engines.pop(url)
        left = engine.status()["overdue"]
        engine.close()
        if left != count - fired:
            raise RuntimeError(f"{fired} jobs ran but {count - left} deadlines were taken")
    return {"fired": fired, "seconds": seconds, "per_second": fired / seconds}


def _take_timeout(url: str, case_id: str) -> None:
    """One job: take the case's timeout, as a job-per-deadline host would."""
    try:
        moved = _engines[url].catch_up(case_id)["state"] != "pending_review"
    except Exception as error:  # reported by the figure, not lost in APScheduler's log
        moved, reason = False, f"{case_id}: {error!r}"
    else:
        reason = f"{case_id}: nothing was due"
    if moved:
        _fire()
    else:
        with _fired_lock:
            _failed.append(reason)


def _fire() -> None:
    global _fired
    with _fired_lock:
        _fired += 1
