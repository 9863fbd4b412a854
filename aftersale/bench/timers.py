"""Deadlines fired per second: our sweep (1 or 2 processes) against one APScheduler date job per
deadline in ``SQLAlchemyJobStore``, the alternative a user would build instead, on the same
database in the same run."""

from __future__ import annotations

import multiprocessing
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from aftersale.bench.recording import SameStatements, same_statements
from aftersale.bench.seed import seed_due_cases
from aftersale.bootstrap import connect
from aftersale.service.engine import AfterSale

_fired = 0
_fired_lock = threading.Lock()


def ours(url: str, count: int, processes: int, batch: int = 1000) -> dict[str, Any]:
    """Seed ``count`` due deadlines, then time ``processes`` sweeping processes firing them."""
    now = datetime.now(UTC)
    engine = connect(url)
    seed_due_cases(
        engine, count, now, spread=timedelta(hours=1), prefix=f"T{processes}-", with_history=True
    )
    context = multiprocessing.get_context("spawn")
    ready = context.Barrier(processes + 1)
    workers = [
        context.Process(target=_sweeper, args=(url, batch, ready)) for _ in range(processes)
    ]
    for worker in workers:
        worker.start()
    ready.wait()
    started = time.perf_counter()
    for worker in workers:
        worker.join()
    seconds = time.perf_counter() - started
    left = engine.status()["overdue"]
    return {"fired": count - left, "seconds": seconds, "per_second": (count - left) / seconds}


def in_process(url: str, count: int, batch: int = 1000) -> SameStatements:
    """One sweep of ``count`` due deadlines in this process, beside the same statements sent
    with the bare driver: what the database work alone allows."""
    now = datetime.now(UTC)

    def seeded(url: str) -> AfterSale:
        engine = connect(url)
        seed_due_cases(
            engine, count, now, spread=timedelta(hours=1), prefix="S-", with_history=True
        )
        return engine

    return same_statements(url, "sweep", seeded, lambda engine: _swept(engine, batch, count))


def _swept(engine: AfterSale, batch: int, count: int) -> None:
    fired = engine.sweep(batch).fired
    if fired != count:
        raise RuntimeError(f"the sweep fired {fired} of {count} due deadlines")


def _sweeper(url: str, batch: int, ready: Any) -> None:
    engine = connect(url, migrate=False)
    engine.status()  # connect before the clock starts
    ready.wait()
    engine.sweep(batch)


def job_per_deadline(url: str, count: int) -> dict[str, Any]:
    """APScheduler 3 with one date job per deadline in a SQLAlchemyJobStore, all already due."""
    from apscheduler.executors.pool import ThreadPoolExecutor
    from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
    from apscheduler.schedulers.background import BackgroundScheduler

    global _fired
    _fired = 0
    store = SQLAlchemyJobStore(url=url, tablename="bench_apscheduler_jobs")
    scheduler = BackgroundScheduler(
        jobstores={"default": store},
        executors={"default": ThreadPoolExecutor(4)},
        job_defaults={"misfire_grace_time": None, "coalesce": False, "max_instances": 1},
        timezone=UTC,
    )
    scheduler.start(paused=True)
    due = datetime.now(UTC) - timedelta(seconds=1)
    for number in range(count):
        scheduler.add_job(_fire, "date", run_date=due, id=f"deadline-{number}")
    started = time.perf_counter()
    scheduler.resume()
    while _fired < count and time.perf_counter() - started < 600:
        time.sleep(0.01)
    seconds = time.perf_counter() - started
    scheduler.shutdown(wait=True)
    store.remove_all_jobs()
    return {"fired": _fired, "seconds": seconds, "per_second": _fired / seconds}


def _fire() -> None:
    global _fired
    with _fired_lock:
        _fired += 1
