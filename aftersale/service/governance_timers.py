"""The tickets' deadlines and the punishments' ends, taken by the same sweep as the cases'.

Each kind is claimed as cases are (oldest first, held by the claiming unit of work: ``FOR
UPDATE SKIP LOCKED`` on PostgreSQL) and taken at its own instant: an appeal window closes at
its deadline (``final``), a passed SLA records one ``ticket.reply_overdue``, a punishment ends
at its planned end. None of them starts another deadline or depends on another's, so taking
tickets and punishments in batches of their own gives the same history as one merged order.
A deadline that fails is quarantined with its error, as a case's is, and the sweep goes on.
"""

from __future__ import annotations

import logging
from datetime import datetime

from aftersale.clock import Clock
from aftersale.domain.tickets.points import end_punishment
from aftersale.domain.tickets.rules import TicketRules
from aftersale.service.policies import GovernanceBook, PolicyBook
from aftersale.service.ports import Storage

log = logging.getLogger("aftersale.timers")


class GovernanceTimers:
    def __init__(
        self,
        storage: Storage,
        policies: PolicyBook,
        governance: GovernanceBook,
        rules: TicketRules,
        clock: Clock,
    ) -> None:
        self.storage = storage
        self.policies = policies
        self.governance = governance
        self.rules = rules
        self.clock = clock

    def tickets(self, until: datetime, size: int) -> tuple[int, int, int]:
        """Claim up to ``size`` due tickets and take their deadlines: (taken, claimed,
        quarantined)."""
        with self.storage.unit_of_work() as uow:
            claimed = uow.tickets.claim_due(until, size)
            taken = quarantined = 0
            for ticket in claimed:
                try:
                    settings = self.governance.pinned(uow, ticket.policy_version)
                    market = self.policies.current.market(ticket.market)
                    taken += len(self.rules.catch_up(ticket, until, settings, market))
                except Exception as error:  # a bug or bad data: set this ticket aside, go on
                    log.error(
                        "deadline of ticket %s failed, quarantined: %r", ticket.ticket_id, error
                    )
                    uow.tickets.quarantine(ticket, self.clock.now(), _described(error))
                    quarantined += 1
            if claimed or uow.set_aside:
                uow.commit()
            return taken, len(claimed) + uow.set_aside, quarantined + uow.set_aside

    def punishments(self, until: datetime, size: int) -> tuple[int, int, int]:
        """Claim up to ``size`` running punishments past their planned end and end them."""
        with self.storage.unit_of_work() as uow:
            claimed = uow.punishments.claim_due(until, size)
            taken = quarantined = 0
            for punishment in claimed:
                try:
                    end_punishment(punishment)
                    taken += 1
                except Exception as error:
                    log.error(
                        "end of punishment %s failed, quarantined: %r",
                        punishment.punishment_id,
                        error,
                    )
                    uow.punishments.quarantine(punishment, self.clock.now(), _described(error))
                    quarantined += 1
            if claimed or uow.set_aside:
                uow.commit()
            return taken, len(claimed) + uow.set_aside, quarantined + uow.set_aside


def _described(error: Exception) -> str:
    return f"{type(error).__name__}: {error}"
