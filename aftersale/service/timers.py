"""Taking due timeouts, exactly once, in deadline order, each at its own deadline instant.

A sweep claims a batch of due cases (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several
daemons share the work; one writer at a time on SQLite) and takes one timeout per case. When a
timeout starts a new deadline that comes before the next claimed one, the batch is cut there and
claimed again, so deadlines are always taken in (deadline, case_id) order and a case's history
is the same whether the sweep runs every second or once a week.

A case whose timeout fails is quarantined with its error (no poison pill): later sweeps skip it
until an operator retries it, and the other cases go on.
"""

from __future__ import annotations

import logging
from datetime import datetime

from aftersale.clock import Clock
from aftersale.domain.cases import CaseRules
from aftersale.domain.model import Case
from aftersale.errors import StorageError
from aftersale.service.policies import PolicyBook
from aftersale.service.ports import Store, Transaction

log = logging.getLogger("aftersale.timers")


class TimerSweep:
    def __init__(self, store: Store, policies: PolicyBook, rules: CaseRules, clock: Clock) -> None:
        self.store = store
        self.policies = policies
        self.rules = rules
        self.clock = clock

    def fire_due(self, until: datetime, batch: int) -> int:
        """Take every timeout due at or before ``until``; how many were taken."""
        fired = 0
        while True:
            taken, more = self._batch(until, max(1, batch))
            fired += taken
            if not more:
                return fired

    def _batch(self, until: datetime, size: int) -> tuple[int, bool]:
        with self.store.transaction() as tx:
            claimed = tx.claim_due(until, size)
            if not claimed:
                return 0, False
            taken = 0
            for position, case in enumerate(claimed):
                if self._take(tx, case):
                    taken += 1
                after = claimed[position + 1] if position + 1 < len(claimed) else None
                if _chained_first(case, after, until):
                    break
            return taken, True

    def _take(self, tx: Transaction, case: Case) -> bool:
        order = tx.order(case.order_id)
        try:
            with tx.savepoint():
                if order is None:
                    raise LookupError(f"order {case.order_id} of case {case.case_id} is missing")
                policy = self.policies.pinned(tx, case.policy_version)
                event = self.rules.time_out(case, order, policy)
                tx.save_case(case)
                tx.save_order(order)
                tx.append([event], self.clock.now())
        except StorageError:
            raise
        except Exception as error:  # a bug or bad data: set this case aside, keep going
            log.exception("timeout of case %s failed; quarantined", case.case_id)
            tx.quarantine(case.case_id, self.clock.now(), f"{type(error).__name__}: {error}")
            case.deadline_at = None
            return False
        return True


def _chained_first(case: Case, after: Case | None, until: datetime) -> bool:
    """True when the deadline ``case`` just started must be taken before ``after``."""
    if case.deadline_at is None or case.deadline_at > until:
        return False
    if after is None or after.deadline_at is None:
        return True
    return (case.deadline_at, case.case_id) < (after.deadline_at, after.case_id)
