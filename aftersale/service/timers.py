"""Taking due timeouts, exactly once, in deadline order, each at its own deadline instant.

A sweep claims a batch of due cases (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
daemons share the work; one writer at a time on SQLite), takes their timeouts in memory in
(deadline, case_id) order, chained deadlines included, and writes cases, orders and events in
a few bulk statements. A case's history is the same whether the sweep runs every second or
once a week: each timeout takes effect at its own deadline.

A case whose timeout fails is quarantined with its error (no poison pill): later sweeps skip it
until an operator retries it, and the other cases go on.
"""

from __future__ import annotations

import heapq
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from aftersale.clock import Clock
from aftersale.domain.cases import CaseRules
from aftersale.domain.events import Event, approaching
from aftersale.domain.model import SELLER_WAITING_STATES, Case, Order
from aftersale.service.policies import PolicyBook
from aftersale.service.ports import Store, Transaction

log = logging.getLogger("aftersale.timers")


@dataclass
class SweepReport:
    fired: int = 0
    claimed: int = 0
    quarantined: int = 0
    batches: int = 0


class TimerSweep:
    def __init__(self, store: Store, policies: PolicyBook, rules: CaseRules, clock: Clock) -> None:
        self.store = store
        self.policies = policies
        self.rules = rules
        self.clock = clock

    def sweep(
        self, until: datetime, batch: int, should_stop: Callable[[], bool] = lambda: False
    ) -> SweepReport:
        """Take every timeout due at or before ``until``, batch after batch.

        ``should_stop`` is asked between batches (never inside one): a daemon told to stop
        finishes the batch in hand and commits it.
        """
        report = SweepReport()
        while not should_stop() and self._any_due(until):
            taken, claimed, quarantined = self._batch(until, max(1, batch))
            report.fired += taken
            report.claimed += claimed
            report.quarantined += quarantined
            report.batches += 1 if claimed else 0
            if not claimed:
                break
        return report

    def remind(self, now: datetime, before: timedelta, batch: int) -> int:
        """A ``deadline.approaching`` event once per seller deadline within ``before``."""
        sent = 0
        states = sorted(state.value for state in SELLER_WAITING_STATES)
        while True:
            with self.store.transaction() as tx:
                due = tx.claim_reminders(now, now + before, states, max(1, batch))
                tx.append(
                    [approaching(case, _reminder_at(case, before)) for case in due],
                    self.clock.now(),
                )
                tx.mark_reminded(due)
            sent += len(due)
            if len(due) < batch:
                return sent

    def _any_due(self, until: datetime) -> bool:
        """Whether a claim could find anything, asked without a write lock: on SQLite a claim
        takes the database's one write lock, which an idle daemon (or a replay, before every
        line) would otherwise take for nothing."""
        with self.store.read() as tx:
            return tx.any_due(until)

    def _batch(self, until: datetime, size: int) -> tuple[int, int, int]:
        """Claim up to ``size`` due cases and time them out in memory; write it all at once.

        Claimed cases come in (deadline, case_id) order and every unclaimed due case sorts
        after the last one claimed, so a deadline a timeout starts is taken in this batch when
        it sorts before that last one, and left for the next batch otherwise.
        """
        with self.store.transaction() as tx:
            claimed = tx.claim_due(until, size)
            if not claimed:
                return 0, 0, 0
            quarantined = 0
            by_order = tx.orders(sorted({case.order_id for case in claimed}))
            horizon = _key(claimed[-1])
            queue = [(_key(case), index) for index, case in enumerate(claimed)]
            heapq.heapify(queue)
            events: list[Event] = []
            moved: dict[str, Case] = {}
            changed_orders: dict[str, Order] = {}
            while queue:
                _, index = heapq.heappop(queue)
                case = claimed[index]
                order = by_order.get(case.order_id)
                try:
                    before = _money(order)
                    events.append(self._time_out(tx, case, order))
                except Exception as error:  # a bug or bad data: set this case aside, go on
                    self._quarantine(tx, case, error)
                    quarantined += 1
                    moved.pop(case.case_id, None)
                    changed_orders.pop(case.order_id, None)
                    events = [event for event in events if event.case_id != case.case_id]
                    continue
                moved[case.case_id] = case
                if order is not None and _money(order) != before:
                    changed_orders[order.order_id] = order
                chained = case.deadline_at is not None and case.deadline_at <= until
                if chained and _key(case) <= horizon:
                    heapq.heappush(queue, (_key(case), index))
            tx.save_cases(list(moved.values()))
            tx.save_orders(list(changed_orders.values()))
            tx.append(events, self.clock.now())
            return len(events), len(claimed), quarantined

    def _time_out(self, tx: Transaction, case: Case, order: Order | None) -> Event:
        if order is None:
            raise LookupError(f"order {case.order_id} of case {case.case_id} is missing")
        policy = self.policies.pinned(tx, case.policy_version)
        return self.rules.time_out(case, order, policy)

    def _quarantine(self, tx: Transaction, case: Case, error: Exception) -> None:
        log.error("timeout of case %s failed, quarantined: %r", case.case_id, error)
        tx.quarantine(case.case_id, self.clock.now(), f"{type(error).__name__}: {error}")


def _reminder_at(case: Case, before: timedelta) -> datetime:
    assert case.deadline_at is not None
    return case.deadline_at - before


def _key(case: Case) -> tuple[datetime, str]:
    assert case.deadline_at is not None
    return case.deadline_at, case.case_id


def _money(order: Order | None) -> tuple[object, ...]:
    """What a timeout can change on an order."""
    if order is None:
        return ()
    return order.open_case_id, order.refunded_total, order.cancelled_at
