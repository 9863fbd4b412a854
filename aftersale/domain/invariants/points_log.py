"""A shop's active points as the event log tells them, position by position.

Each ticket's life is read off its events: issued at one position of the log, ``(instant,
seq)``, maybe withdrawn (overturned or revoked) at a later one. At any position the tickets
stand as they stood then, and :func:`aftersale.domain.tickets.points.points_around` counts them
as the engine did when it compared the points just before and just after a change: two tickets
of one instant are counted in the order they were recorded.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from aftersale.domain.invariants.ticket_rows import UNTOLD_PREFIX, GovernanceRows, TicketStep
from aftersale.domain.tickets.model import WITHDRAWN_STATES, Ticket, TicketAction, TicketState
from aftersale.domain.tickets.points import points_around

Position = tuple[datetime, int]


@dataclass(frozen=True)
class Life:
    """A ticket's points as its events tell them: issued at one position, maybe withdrawn
    (overturned or revoked) at a later one."""

    ticket: Ticket
    issued: Position
    points: int
    withdrawn: Position | None
    withdrawn_into: TicketState | None

    def as_of(self, position: Position) -> Ticket:
        """The ticket as it stood at ``position``, for points.py to count."""
        gone = self.withdrawn is not None and self.withdrawn <= position
        return replace(
            self.ticket,
            points=self.points,
            issued_at=self.issued[0],
            state=self.withdrawn_into if gone and self.withdrawn_into else TicketState.issued,
            updated_at=self.withdrawn[0] if gone and self.withdrawn else self.issued[0],
        )


def lives(
    rows: GovernanceRows, skipped: set[str], broken: set[str]
) -> tuple[dict[str, Life], set[str]]:
    """Each readable ticket's life, and the shops whose points cannot be told: one of their
    tickets is unreadable, lacks its row or its issue, or its events do not hold together
    (``broken``: reported on the ticket already)."""
    found: dict[str, Life] = {}
    untold = {
        subject.removeprefix(UNTOLD_PREFIX)
        for subject in skipped
        if subject.startswith(UNTOLD_PREFIX)
    }
    for ticket_id in sorted(rows.tickets.keys() | rows.entries.keys()):
        ticket = rows.tickets.get(ticket_id)
        steps = [e for e in rows.entries.get(ticket_id, ()) if isinstance(e, TicketStep)]
        shops = {e.shop_id for e in rows.entries.get(ticket_id, ()) if e.shop_id is not None}
        if ticket is not None:
            shops.add(ticket.shop_id)
        if (
            ticket is None
            or f"ticket {ticket_id}" in skipped
            or ticket_id in broken
            or not steps
            or steps[0].action is not TicketAction.issue
        ):
            untold |= shops
            continue
        withdrawal = next((s for s in steps if s.target in WITHDRAWN_STATES), None)
        found[ticket_id] = Life(
            ticket=ticket,
            issued=(steps[0].at, steps[0].seq),
            points=steps[0].points,
            withdrawn=None if withdrawal is None else (withdrawal.at, withdrawal.seq),
            withdrawn_into=None if withdrawal is None else withdrawal.target,
        )
    return found, untold


def around(
    shop: Sequence[Life], changed: Life, position: Position, window: timedelta
) -> tuple[int, int]:
    """(just before, just after) ``changed`` moved at ``position``, as the engine counts."""
    tickets = [life.as_of(position) for life in shop if life.issued <= position]
    return points_around(tickets, changed.as_of(position), position[0], window)
