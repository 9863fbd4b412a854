"""The events of tickets and punishments (governance.md): how they are built. Their types are
constants of :mod:`aftersale.domain.events`, with every other type (docgen lists that module's
types in docs/events.md); they are imported here for the ticket modules."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aftersale.clock import iso
from aftersale.domain.events import (
    PUNISHMENT_ENDED,
    PUNISHMENT_STARTED,
    TICKET_REPLY_OVERDUE,
    TICKET_TRANSITION,
    Event,
)
from aftersale.domain.tickets.model import Punishment, Ticket

__all__ = [
    "PUNISHMENT_ENDED",
    "PUNISHMENT_STARTED",
    "TICKET_EVENTS",
    "TICKET_REPLY_OVERDUE",
    "TICKET_TRANSITION",
    "punishment_event",
    "ticket_event",
]

# the events about tickets (a ticket's history is those naming its ticket_id)
TICKET_EVENTS = (TICKET_TRANSITION, TICKET_REPLY_OVERDUE)


def ticket_event(ticket: Ticket, type_: str, at: datetime, data: dict[str, Any]) -> Event:
    """An event about ``ticket``, recorded on it."""
    event = Event(
        type_, at, ticket.order_id, ticket.shop_id, None, {"ticket_id": ticket.ticket_id, **data}
    )
    ticket.recorded.append(event)
    return event


def punishment_event(punishment: Punishment, type_: str, at: datetime) -> Event:
    """punishment.started or punishment.ended, recorded on the punishment."""
    data: dict[str, Any] = {"shop_id": punishment.shop_id, "kind": punishment.kind, "at": iso(at)}
    if type_ == PUNISHMENT_STARTED:
        data["ends_at"] = iso(punishment.ends_at)
    else:
        data["ended_early"] = punishment.ended_early
    data["cause_ticket_id"] = punishment.cause_ticket_id
    event = Event(type_, at, None, punishment.shop_id, None, data)
    punishment.recorded.append(event)
    return event
