"""A violation ticket (governance.md): issued, appealed at most twice, upheld or overturned."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aftersale.domain.model import Actor
from aftersale.domain.tickets.model import TICKET_TERMINAL, TicketAction, TicketState
from aftersale.domain.workflows.base import Transition, Workflow

A, S = TicketAction, TicketState
T = Transition[TicketState, TicketAction]


def first_round(fields: Mapping[str, Any], ticket: Any) -> str | None:
    return None if ticket.appeals == 1 else "this is not the first appeal"


def second_round(fields: Mapping[str, Any], ticket: Any) -> str | None:
    return None if ticket.appeals == 2 else "this is not the second appeal"


STATES = (S.issued, S.under_review, S.upheld, S.final, S.overturned, S.revoked)

TICKET = Workflow[TicketState, TicketAction](
    kind="ticket",
    states=STATES,
    transitions=(
        T(A.appeal, S.issued, S.under_review),
        T(A.appeal, S.upheld, S.under_review),
        T(A.uphold, S.under_review, S.upheld, first_round),
        T(A.uphold, S.under_review, S.final, second_round),
        T(A.overturn, S.under_review, S.overturned),
        *(T(A.revoke, s, S.revoked) for s in STATES if s not in TICKET_TERMINAL),
        T(A.appeal_window_timeout, S.issued, S.final),
        T(A.appeal_window_timeout, S.upheld, S.final),
    ),
    timeouts={S.issued: A.appeal_window_timeout, S.upheld: A.appeal_window_timeout},
    initial=S.issued,
    terminal=TICKET_TERMINAL,
    overdue=frozenset({S.under_review}),
)

# Who may request each action; the timeout is the engine's own (asking for it is forbidden),
# like a case's timeouts.
TICKET_REQUESTERS: Mapping[TicketAction, frozenset[Actor]] = {
    A.issue: frozenset({Actor.platform}),
    A.appeal: frozenset({Actor.seller}),
    A.uphold: frozenset({Actor.platform}),
    A.overturn: frozenset({Actor.platform}),
    A.revoke: frozenset({Actor.platform}),
    A.appeal_window_timeout: frozenset(),
}
