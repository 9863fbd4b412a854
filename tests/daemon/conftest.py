"""Real daemon processes against a real database, and ways to look at what they did."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy

import aftersale
from aftersale.bench.seed import seed_due_cases


class Daemons:
    """Starts ``aftersale daemon`` processes and stops every one of them after the test."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, *options: str, url: str | None = None) -> subprocess.Popen[bytes]:
        log = (self.logs / f"daemon-{len(self.running)}.log").open("wb")
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "aftersale",
                "daemon",
                "--db",
                url or self.url,
                "--remind-before",
                "0",
                *options,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        self.running.append(process)
        return process

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 60) -> int:
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def log(self, index: int) -> str:
        return (self.logs / f"daemon-{index}.log").read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


@pytest.fixture
def daemons(pg_url: str, tmp_path: Path) -> Iterator[Daemons]:
    keeper = Daemons(pg_url, tmp_path)
    yield keeper
    keeper.close()


def seeded(url: str, count: int, *, prefix: str = "D") -> aftersale.AfterSale:
    """An engine over ``url`` with ``count`` refund-only cases whose review deadline passed."""
    engine = aftersale.connect(url)
    seed_due_cases(engine, count, datetime.now(UTC), spread=timedelta(minutes=30), prefix=prefix)
    return engine


def wait_for(condition: Callable[[], bool], timeout: float = 90, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}")
        time.sleep(0.1)


def _counts(url: str, query: str) -> dict[str, int]:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as connection:
            return dict(connection.exec_driver_sql(query).all())  # type: ignore[arg-type]
    finally:
        engine.dispose()


def timeout_counts(url: str) -> dict[str, int]:
    """How many review_timeout events each case has, from the event log itself."""
    return _counts(
        url,
        "SELECT case_id, count(*) FROM events WHERE type = 'case.transition' "
        "AND data->>'action' = 'review_timeout' GROUP BY case_id",
    )


def states(url: str) -> dict[str, int]:
    """How many cases are in each state."""
    return _counts(url, "SELECT state, count(*) FROM cases GROUP BY state")
