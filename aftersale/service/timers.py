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
from dataclasses import dataclass, fields
from datetime import datetime, timedelta
from typing import Any

from aftersale.clock import Clock
from aftersale.domain.cases import CaseRules
from aftersale.domain.events import approaching
from aftersale.domain.model import SELLER_WAITING_STATES, Case, Order
from aftersale.service.governance_timers import GovernanceTimers
from aftersale.service.policies import PolicyBook
from aftersale.service.ports import Storage, UnitOfWork

log = logging.getLogger("aftersale.timers")


@dataclass
class SweepReport:
    fired: int = 0
    claimed: int = 0
    quarantined: int = 0
    batches: int = 0


class TimerSweep:
    def __init__(
        self,
        storage: Storage,
        policies: PolicyBook,
        rules: CaseRules,
        clock: Clock,
        governance: GovernanceTimers | None = None,
    ) -> None:
        self.storage = storage
        self.policies = policies
        self.rules = rules
        self.clock = clock
        self.governance = governance

    def sweep(
        self, until: datetime, batch: int, should_stop: Callable[[], bool] = lambda: False
    ) -> SweepReport:
        """Take every timeout due at or before ``until``, batch after batch.

        ``should_stop`` is asked between batches (never inside one): a daemon told to stop
        finishes the batch in hand and commits it.
        """
        report = SweepReport()
        batches = [self._batch]
        if self.governance is not None:  # then tickets' deadlines and punishments' ends
            batches += [self.governance.tickets, self.governance.punishments]
        while not should_stop() and self._any_due(until):
            any_claimed = False
            for take in batches:
                taken, claimed, quarantined = take(until, max(1, batch))
                report.fired += taken
                report.claimed += claimed
                report.quarantined += quarantined
                report.batches += 1 if claimed else 0
                any_claimed = any_claimed or claimed > 0
            if not any_claimed:
                break
        return report

    def remind(self, now: datetime, before: timedelta, batch: int) -> int:
        """A ``deadline.approaching`` event once per seller deadline within ``before``."""
        sent = 0
        states = sorted(state.value for state in SELLER_WAITING_STATES)
        while True:
            with self.storage.unit_of_work() as uow:
                due = uow.cases.claim_reminders(now, now + before, states, max(1, batch))
                for case in due:
                    approaching(case, _reminder_at(case, before))
                    uow.cases.reminded(case)
                uow.commit()
            sent += len(due)
            if len(due) < batch:
                return sent

    def _any_due(self, until: datetime) -> bool:
        """Whether a claim could find anything, asked without a write lock: on SQLite a claim
        takes the database's one write lock, which an idle daemon (or a replay, before every
        line) would otherwise take for nothing."""
        return self.storage.reads.any_due(until)

    def _batch(self, until: datetime, size: int) -> tuple[int, int, int]:
        """Claim up to ``size`` due cases and time them out in memory, in one unit of work.

        Claimed cases come in (deadline, case_id) order and every unclaimed due case sorts
        after the last one claimed, so a deadline a timeout starts is taken in this batch when
        it sorts before that last one, and left for the next batch otherwise.
        """
        with self.storage.unit_of_work() as uow:
            claimed = uow.cases.claim_due(until, size)
            if not claimed:
                return _set_aside(uow)
            by_order = uow.orders.get_many(sorted({case.order_id for case in claimed}))
            horizon = _key(claimed[-1])
            queue = [(_key(case), index) for index, case in enumerate(claimed)]
            heapq.heapify(queue)
            fired: dict[str, int] = {}  # timeouts taken, by case
            quarantined = 0
            while queue:
                _, index = heapq.heappop(queue)
                case = claimed[index]
                order = by_order.get(case.order_id)
                before = None if order is None else _state_of(order)
                try:
                    self._time_out(uow, case, order)
                except Exception as error:  # a bug or bad data: set this case aside, go on
                    self._quarantine(uow, case, order, before, error)
                    fired.pop(case.case_id, None)
                    quarantined += 1
                    continue
                fired[case.case_id] = fired.get(case.case_id, 0) + 1
                chained = case.deadline_at is not None and case.deadline_at <= until
                if chained and _key(case) <= horizon:
                    heapq.heappush(queue, (_key(case), index))
            uow.commit()
            aside = uow.set_aside
            return sum(fired.values()), len(claimed) + aside, quarantined + aside

    def _time_out(self, uow: UnitOfWork, case: Case, order: Order | None) -> None:
        if order is None:
            raise LookupError(f"order {case.order_id} of case {case.case_id} is missing")
        policy = self.policies.pinned(uow, case.policy_version)
        self.rules.time_out(case, order, policy)

    def _quarantine(
        self,
        uow: UnitOfWork,
        case: Case,
        order: Order | None,
        before: dict[str, Any] | None,
        error: Exception,
    ) -> None:
        """Set the case aside with its error; nothing of its timeout, or of its order's
        change, is written. The order goes back to what it was before this timeout, not to
        what was read: another case of the order (on other lines) may have moved in this
        batch, and its change to the order is kept."""
        log.error("timeout of case %s failed, quarantined: %r", case.case_id, error)
        uow.cases.quarantine(case, self.clock.now(), f"{type(error).__name__}: {error}")
        if order is not None and before is not None:
            for name, value in before.items():
                setattr(order, name, value)


def _set_aside(uow: UnitOfWork) -> tuple[int, int, int]:
    """A claim that found only rows it could not read: their quarantine committed, and
    counted as claimed, so the sweep goes on to the rows behind them."""
    if not uow.set_aside:
        return 0, 0, 0
    uow.commit()
    return 0, uow.set_aside, uow.set_aside


def _state_of(order: Order) -> dict[str, Any]:
    """The order's fields as they are now (its lines are never changed in place, only
    replaced, so a shallow copy keeps them; the list of recorded events is copied)."""
    state = {field.name: getattr(order, field.name) for field in fields(order)}
    state["recorded"] = list(order.recorded)
    return state


def _reminder_at(case: Case, before: timedelta) -> datetime:
    assert case.deadline_at is not None
    return case.deadline_at - before


def _key(case: Case) -> tuple[datetime, str]:
    assert case.deadline_at is not None
    return case.deadline_at, case.case_id
