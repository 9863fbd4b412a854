"""Real daemon processes, fast seeding of due deadlines, and ways to look at what was done.

Everything here talks to the database the way an operator's tools would: the daemons are real
``python -m aftersale daemon`` processes, the seed goes through the store's own transactions, and
the checks read the tables directly (the event log is the ground truth of what fired).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy
from sqlalchemy import func, select

import aftersale
from aftersale.adapters.db import make_engine
from aftersale.adapters.rollups import Rollups
from aftersale.adapters.schema import cases, events, orders
from aftersale.adapters.storage import SqlStorage
from aftersale.config import read_document
from aftersale.domain.events import Event
from aftersale.domain.lines import whole_order
from aftersale.domain.model import Action, Actor, Case, Kind, Order, Responsibility, State
from aftersale.health_config import load_health
from tests.conftest import rollup_rows

PROJECT = Path(__file__).resolve().parents[2]  # so ``-m aftersale`` imports this checkout
SEED_CHUNK = 2500  # rows per seeding transaction
SEED_WORKERS = 2
POLL_SECONDS = 0.05


# -- waiting ---------------------------------------------------------------------------------


def wait_for(condition: Callable[[], bool], timeout: float = 60, what: str = "") -> None:
    """Poll ``condition`` until it holds; fail after ``timeout`` seconds saying what it awaited."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out after {timeout:.0f} s waiting for {what or condition}"
            )
        time.sleep(POLL_SECONDS)


# -- processes -------------------------------------------------------------------------------


def aftersale_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "aftersale", *args]


def run_cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    """One ``aftersale`` command run to its end, as an operator types it."""
    return subprocess.run(
        aftersale_command(*args),
        cwd=PROJECT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        check=False,
        timeout=timeout,
    )


class Daemons:
    """Starts ``aftersale daemon`` processes, each logging to a file; kills leftovers after."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.running: list[subprocess.Popen[bytes]] = []
        self._paths: list[Path] = []

    def start(self, *options: str, url: str | None = None) -> subprocess.Popen[bytes]:
        """``aftersale daemon --db URL --remind-before 0 --log-level debug OPTIONS`` (later
        options win): at debug level every sweep logs its line, idle ones too, so a test can
        count the passes a daemon made."""
        path = self.logs / f"daemon-{len(self.running)}.log"
        defaults = ("--remind-before", "0", "--log-level", "debug")
        with path.open("wb") as log:
            process = subprocess.Popen(
                aftersale_command("daemon", "--db", url or self.url, *defaults, *options),
                cwd=PROJECT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self.running.append(process)
        self._paths.append(path)
        return process

    def index(self, process: subprocess.Popen[bytes]) -> int:
        return self.running.index(process)

    def log(self, which: int | subprocess.Popen[bytes]) -> str:
        index = which if isinstance(which, int) else self.index(which)
        return self._paths[index].read_text(encoding="utf-8", errors="replace")

    def wait_started(self, process: subprocess.Popen[bytes], timeout: float = 60) -> None:
        """Until the daemon has installed its signal handlers and started its scheduler."""
        wait_for(
            lambda: "daemon started" in self.log(process) or process.poll() is not None,
            timeout,
            "the daemon to start",
        )
        assert process.poll() is None, self.log(process)

    def records(self, which: int | subprocess.Popen[bytes]) -> list[dict[str, Any]]:
        """Every JSON line that daemon logged (the default ``--log-format json``); a last
        line still being written is left for the next look."""
        found = []
        for line in self.log(which).splitlines():
            try:
                found.append(json.loads(line))
            except ValueError:
                continue
        return [entry for entry in found if isinstance(entry, dict)]

    def sweeps(self, which: int | subprocess.Popen[bytes]) -> list[dict[str, Any]]:
        """The record each sweep of that daemon logged (``fired``, ``claimed``...)."""
        return [entry for entry in self.records(which) if entry.get("event") == "sweep"]

    def fired(self, which: int | subprocess.Popen[bytes]) -> int:
        return sum(line["fired"] for line in self.sweeps(which))

    def tracebacks(self, which: int | subprocess.Popen[bytes]) -> list[str]:
        """Log lines that show an unexpected error in that daemon."""
        return [
            line
            for line in self.log(which).splitlines()
            if "Traceback" in line or "raised an exception" in line
        ]

    def stop(self, process: subprocess.Popen[bytes], timeout: float = 60) -> int:
        """SIGTERM, then the exit status once the batch in hand is committed."""
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=timeout)

    def close(self) -> None:
        for process in self.running:
            if process.poll() is None:
                process.kill()
                process.wait(timeout=30)


# -- seeding ---------------------------------------------------------------------------------


def seed_due_reviews(
    url: str,
    count: int,
    *,
    first_deadline: datetime | None = None,
    step: timedelta | None = None,
    prefix: str = "D",
    kind: Kind = Kind.refund_only,
    amount: str = "42.50",
) -> list[str]:
    """``count`` orders, each with one case in ``pending_review`` timing out with review_timeout.

    Written straight through units of work of :data:`SEED_CHUNK` rows (no
    command per case), under the policy the daemon will load. Deadline ``i`` is
    ``first_deadline + i * step``: by default spread over the last 30 minutes, all due.
    Returns the case ids, in deadline order.
    """
    now = datetime.now(UTC)
    if first_deadline is None:
        first_deadline = now - timedelta(minutes=30)
    if step is None:
        step = timedelta(minutes=30) / max(1, count)
    engine = aftersale.connect(url)  # brings the schema up to date; tells the policy version
    engine.storage.engine.dispose()  # type: ignore[attr-defined]
    document = read_document()
    version = engine.policy.version
    storage = SqlStorage(make_engine(url), None, lambda: now)
    try:
        with storage.unit_of_work() as uow:
            if uow.policies.get(version) is None:
                uow.policies.add(version, document, now)
            uow.commit()
    finally:
        storage.engine.dispose()
    chunks = [
        _Chunk(url, prefix, start, min(count, start + SEED_CHUNK), first_deadline, step, version)
        for start in range(0, count, SEED_CHUNK)
    ]
    for chunk in chunks:
        chunk.kind, chunk.amount = kind, Decimal(amount)
    # The time goes in the client's per-row work and round trips: a few processes share it.
    if len(chunks) == 1:
        return chunks[0].write()
    with ProcessPoolExecutor(SEED_WORKERS, mp_context=multiprocessing.get_context("fork")) as pool:
        return [case_id for part in pool.map(_write, chunks) for case_id in part]


@dataclass
class _Chunk:
    url: str
    prefix: str
    start: int
    stop: int
    first_deadline: datetime
    step: timedelta
    version: str
    kind: Kind = Kind.refund_only
    amount: Decimal = Decimal("42.50")

    def write(self) -> list[str]:
        """One unit of work adding the orders, their ``order.paid`` events (kept in the health
        rollups, as the engine keeps them) and their cases."""
        storage = SqlStorage(make_engine(self.url), Rollups(*load_health()), _now)
        written = []
        try:
            with storage.unit_of_work() as uow:
                for number in range(self.start, self.stop):
                    order, case = _due_pair(
                        f"{self.prefix}{number:06d}",
                        self.first_deadline + self.step * number,
                        self.version,
                        self.kind,
                        self.amount,
                    )
                    order.recorded.append(_paid(order))
                    uow.orders.add(order)
                    uow.cases.add(case)
                    written.append(case.case_id)
                uow.commit()
        finally:
            storage.engine.dispose()
        return written


def _now() -> datetime:
    return datetime.now(UTC)


def _paid(order: Order) -> Event:
    data = {"buyer_id": order.buyer_id, "market": order.market, "currency": order.currency}
    data |= {"amount": str(order.amount), "dispatch_by": None}
    return Event("order.paid", order.paid_at, order.order_id, order.shop_id, data=data)


def assert_rollups_match_a_rebuild(url: str) -> None:
    """The health rollups the processes kept, concurrently, are the ones the log gives."""
    engine = aftersale.connect(url, migrate=False)
    try:
        kept = rollup_rows(engine)
        assert kept["health_items"], "the timeouts and approvals were counted"
        engine.rebuild_health()
        assert rollup_rows(engine) == kept
    finally:
        engine.storage.engine.dispose()  # type: ignore[attr-defined]


def _write(chunk: _Chunk) -> list[str]:
    return chunk.write()


def _due_pair(
    key: str, deadline: datetime, version: str, kind: Kind, amount: Decimal
) -> tuple[Order, Case]:
    opened = deadline - timedelta(hours=48)
    shop = f"shop-{int(key[-2:]) % 7}"
    buyer = f"buyer-{key}"
    order = Order(
        order_id=f"O{key}",
        shop_id=shop,
        buyer_id=buyer,
        market="US",
        currency="USD",
        amount=amount,
        paid_at=opened - timedelta(days=4),
        shipped_at=opened - timedelta(days=3),
        delivered_at=opened - timedelta(days=2),
        open_case_id=f"C{key}",
        lines=[{**line, "open_case_id": f"C{key}"} for line in whole_order(amount)],
    )
    reason = "not_received" if kind is Kind.refund_only else "damaged"
    case = Case(
        case_id=f"C{key}",
        order_id=order.order_id,
        shop_id=shop,
        buyer_id=buyer,
        market="US",
        kind=kind,
        state=State.pending_review,
        reason=reason,
        responsibility=(
            Responsibility.logistics if kind is Kind.refund_only else Responsibility.seller
        ),
        amount=amount,
        currency="USD",
        opened_by=Actor.buyer,
        opened_at=opened,
        updated_at=opened,
        policy_version=version,
        request={
            "order_id": order.order_id,
            "kind": kind.value,
            "actor": "buyer",
            "actor_id": None,
            "reason": reason,
        },
        deadline_at=deadline,
        deadline_action=Action.review_timeout,
        lines=[{"line_id": "1", "quantity": 1}],
        covers_rest=True,
    )
    return order, case


# -- looking at the database -----------------------------------------------------------------


class Db:
    """Direct reads of the tables, over one connection pool kept for the whole test."""

    def __init__(self, url: str) -> None:
        self.engine = make_engine(url)

    def close(self) -> None:
        self.engine.dispose()

    def execute(self, sql: str, **params: Any) -> list[Any]:
        """One SQL statement in its own transaction; the rows it returned, if any."""
        with self.engine.begin() as connection:
            result = connection.execute(sqlalchemy.text(sql), params)
            return list(result.all()) if result.returns_rows else []

    def _all(self, query: Any) -> Sequence[Any]:
        with self.engine.connect() as connection:
            return connection.execute(query).all()

    def due(self) -> int:
        """Cases whose deadline is at or before now, quarantined or not."""
        query = select(func.count()).where(cases.c.deadline_at <= datetime.now(UTC))
        return int(self._all(query)[0][0])

    def transitions(self, action: str | None = None) -> int:
        query = select(func.count()).where(events.c.type == "case.transition")
        if action is not None:
            query = query.where(events.c.data["action"].as_string() == action)
        return int(self._all(query)[0][0])

    def per_case(self, action: str = "review_timeout") -> dict[str, int]:
        """How many ``action`` transitions each case has, from the event log itself."""
        query = (
            select(events.c.case_id, func.count())
            .where(
                events.c.type == "case.transition",
                events.c.data["action"].as_string() == action,
            )
            .group_by(events.c.case_id)
        )
        return {case_id: int(n) for case_id, n in self._all(query)}

    def reminders(self) -> dict[str, int]:
        """How many ``deadline.approaching`` events each case has."""
        query = (
            select(events.c.case_id, func.count())
            .where(events.c.type == "deadline.approaching")
            .group_by(events.c.case_id)
        )
        return {case_id: int(n) for case_id, n in self._all(query)}

    def history(self) -> dict[str, list[tuple[str, str, str]]]:
        """Each case's transitions as (action, actor, to_state), in event order."""
        query = (
            select(events.c.case_id, events.c.data)
            .where(events.c.type == "case.transition")
            .order_by(events.c.seq)
        )
        out: dict[str, list[tuple[str, str, str]]] = {}
        for case_id, data in self._all(query):
            out.setdefault(case_id, []).append((data["action"], data["actor"], data["to_state"]))
        return out

    def states(self) -> dict[str, int]:
        query = select(cases.c.state, func.count()).group_by(cases.c.state)
        return {state: int(n) for state, n in self._all(query)}

    def case_rows(self) -> dict[str, Any]:
        return {row.case_id: row for row in self._all(select(cases))}

    def order_rows(self) -> dict[str, Any]:
        return {row.order_id: row for row in self._all(select(orders))}
