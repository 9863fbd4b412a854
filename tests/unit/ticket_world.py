"""Shared data of the ticket tests: the shipped governance, a market, tickets in any state."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from aftersale.config import load_policy
from aftersale.domain.model import Actor
from aftersale.domain.tickets.issue import issue_request
from aftersale.domain.tickets.model import Ticket, TicketAction, TicketState
from aftersale.domain.tickets.rules import TicketRules
from aftersale.governance_config import load_governance

POLICY = load_policy()
GOVERNANCE = load_governance()
US = POLICY.market("US")
RULES = TicketRules()
ISSUED_MONDAY_9AM = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # 09:00 in New York
PHOTO = {"kind": "photo", "uri": "https://evidence.example/dock.jpg"}


def issued(
    ticket_id: str = "TK-LATE-1",
    points: int = 2,
    at: datetime = ISSUED_MONDAY_9AM,
    shop_id: str = "shop-harbour",
    **extra: Any,
) -> Ticket:
    request = issue_request(
        ticket_id,
        shop_id,
        "fulfilment",
        "parcels left the dock late",
        points,
        evidence_kinds=US.evidence_kinds,
        **extra,
    )
    ticket, _ = RULES.issue(request, GOVERNANCE, US, at)
    return ticket


def in_state(state: TicketState, at: datetime = ISSUED_MONDAY_9AM) -> Ticket:
    """A ticket brought to ``state`` by the actions governance.md names."""
    ticket = issued(at=at)
    steps = {
        TicketState.issued: [],
        TicketState.under_review: [("appeal", "seller")],
        TicketState.upheld: [("appeal", "seller"), ("uphold", "platform")],
        TicketState.final: [("appeal_window_timeout", None)],
        TicketState.overturned: [("appeal", "seller"), ("overturn", "platform")],
        TicketState.revoked: [("revoke", "platform")],
    }[state]
    for action, actor in steps:
        take(ticket, action, actor)
    assert ticket.state is state
    return ticket


def take(ticket: Ticket, action: str, actor: str | None, **fields: Any) -> None:
    if actor is None:
        RULES.time_out(ticket, GOVERNANCE, US)
        return
    if action == "appeal" and "evidence" not in fields:
        fields["evidence"] = [PHOTO]
    RULES.act(
        ticket, TicketAction(action), Actor(actor), fields, ticket.updated_at, GOVERNANCE, US
    )
