"""What issuing a ticket asks for (governance.md's ``issue_ticket`` and a breach rule's
ticket), checked: ``invalid_input`` names the first bad field."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aftersale.domain import validation as check
from aftersale.domain.tickets.model import PLATFORM_SOURCE, Category, Ticket, TicketState
from aftersale.domain.tickets.settings import MAX_TICKET_POINTS
from aftersale.errors import Conflict, InvalidInput

MAX_REASON_LENGTH = 200


@dataclass(frozen=True)
class TicketRequest:
    ticket_id: str
    shop_id: str
    category: Category
    reason: str
    points: int
    order_id: str | None = None
    note: str | None = None
    evidence: tuple[dict[str, str], ...] = ()
    source: str = PLATFORM_SOURCE
    metric: dict[str, Any] | None = field(default=None, compare=False)

    def fingerprint(self) -> dict[str, Any]:
        """The fields an identical repeat must match (a repeat with others is a conflict)."""
        return {
            "category": self.category.value,
            "reason": self.reason,
            "points": self.points,
            "order_id": self.order_id,
            "note": self.note,
            "evidence": [dict(item) for item in self.evidence],
        }


def issue_request(
    ticket_id: Any,
    shop_id: Any,
    category: Any,
    reason: Any,
    points: Any,
    *,
    evidence_kinds: frozenset[str],
    order_id: Any = None,
    note: Any = None,
    evidence: Any = None,
) -> TicketRequest:
    """The platform's ``issue_ticket`` fields, checked in governance.md's order."""
    ticket_id = check.identifier(ticket_id, "ticket_id")
    shop_id = check.identifier(shop_id, "shop_id")
    chosen = check.choice(category, "category", frozenset(c.value for c in Category))
    reason = check.text(reason, "reason", MAX_REASON_LENGTH)
    if not reason.strip():
        raise InvalidInput("reason must not be empty")
    if isinstance(points, bool) or not isinstance(points, int):
        raise InvalidInput(f"points must be a whole number from 1 to {MAX_TICKET_POINTS}")
    if not 1 <= points <= MAX_TICKET_POINTS:
        raise InvalidInput(f"points must be from 1 to {MAX_TICKET_POINTS}, not {points}")
    return TicketRequest(
        ticket_id=ticket_id,
        shop_id=shop_id,
        category=Category(chosen),
        reason=reason,
        points=points,
        order_id=None if order_id is None else check.identifier(order_id, "order_id"),
        note=None if note is None else check.text(note, "note"),
        evidence=tuple(
            item.as_dict() for item in check.evidence(evidence, evidence_kinds, required=False)
        ),
    )


def is_repeat(ticket: Ticket, request: TicketRequest) -> bool:
    """True when ``request`` repeats how ``ticket`` was issued (a no-op); a conflict when the
    same id comes with other fields."""
    if ticket.shop_id == request.shop_id and ticket.request == request.fingerprint():
        return True
    raise Conflict(f"ticket {ticket.ticket_id} was already issued with other fields")


def new_ticket(request: TicketRequest, policy_version: str, at: datetime, market: str) -> Ticket:
    """The ticket a request creates, issued at ``at`` against a shop of ``market`` (the rules
    give it its deadline)."""
    return Ticket(
        ticket_id=request.ticket_id,
        shop_id=request.shop_id,
        market=market,
        category=request.category,
        reason=request.reason,
        points=request.points,
        order_id=request.order_id,
        source=request.source,
        metric=request.metric,
        state=TicketState.issued,
        issued_at=at,
        updated_at=at,
        policy_version=policy_version,
        request=request.fingerprint(),
    )
