"""What the domain records: one event per transition and per fact, written with the change."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from itertools import count
from typing import TYPE_CHECKING, Any

from aftersale.clock import iso

if TYPE_CHECKING:
    from aftersale.domain.model import Case

CASE_TRANSITION = "case.transition"
ORDER_PAID = "order.paid"
ORDER_SHIPPED = "order.shipped"
ORDER_DELIVERED = "order.delivered"
REVIEW_POSTED = "review.posted"
COMPLAINT_FILED = "complaint.filed"
MESSAGE_RECEIVED = "message.received"
MESSAGE_REPLIED = "message.replied"
DEADLINE_APPROACHING = "deadline.approaching"
HEALTH_ALERT_RAISED = "health.alert_raised"
HEALTH_ALERT_CLEARED = "health.alert_cleared"
# tickets and punishments (governance.md); their helpers are in domain/tickets/events.py
TICKET_TRANSITION = "ticket.transition"
TICKET_REPLY_OVERDUE = "ticket.reply_overdue"
PUNISHMENT_STARTED = "punishment.started"
PUNISHMENT_ENDED = "punishment.ended"


@dataclass(frozen=True, slots=True)
class Event:
    """An event before it is stored; the store adds ``seq``, ``event_id`` and ``recorded_at``."""

    type: str
    at: datetime
    order_id: str | None
    shop_id: str | None
    case_id: str | None = None
    data: dict[str, Any] | None = None
    # the order events were recorded in, across aggregates: a unit of work writes them so
    serial: int = field(default_factory=count().__next__, compare=False, repr=False)


def approaching(case: Case, at: datetime) -> Event:
    """A seller deadline is near (``at`` is when the reminder was due): nudge the seller; the
    event is recorded on the case."""
    assert case.deadline_at is not None and case.deadline_action is not None
    data = {
        "kind": case.kind.value,
        "state": case.state.value,
        "deadline_at": iso(case.deadline_at),
        "deadline_action": case.deadline_action.value,
        "waiting_for": "seller",
    }
    event = Event(DEADLINE_APPROACHING, at, case.order_id, case.shop_id, case.case_id, data)
    case.recorded.append(event)
    return event
