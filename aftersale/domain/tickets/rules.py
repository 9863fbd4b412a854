"""The rules of a ticket: issue it, act on it, time it out. Pure functions of their arguments.

Each changes the ticket it is given, records the events of the change on it and returns them.
Refusals come in governance.md's order: ``forbidden``, ``not_allowed``, ``invalid_input``
(``not_found`` is the service's). SLA deadlines are non-interrupting: when one passes the
ticket records one ``ticket.reply_overdue`` and keeps its state.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from operator import attrgetter
from typing import Any

from aftersale.clock import iso
from aftersale.domain import validation as check
from aftersale.domain.events import Event
from aftersale.domain.machine import WorkflowMachine
from aftersale.domain.model import Actor
from aftersale.domain.policy import Market
from aftersale.domain.tickets.events import TICKET_REPLY_OVERDUE, TICKET_TRANSITION, ticket_event
from aftersale.domain.tickets.issue import TicketRequest, new_ticket
from aftersale.domain.tickets.model import (
    PLATFORM_SOURCE,
    Ticket,
    TicketAction,
    TicketDeadline,
    TicketState,
)
from aftersale.domain.tickets.settings import GovernanceSettings
from aftersale.domain.workflows.base import check_sound
from aftersale.domain.workflows.ticket import TICKET, TICKET_REQUESTERS
from aftersale.errors import Forbidden, InvalidInput

TicketMachine = WorkflowMachine[TicketState, TicketAction]
# the fields each requested action takes (note is optional on every one)
ACTION_FIELDS: Mapping[TicketAction, frozenset[str]] = {
    TicketAction.appeal: frozenset({"evidence", "note"}),
    TicketAction.uphold: frozenset({"note"}),
    TicketAction.overturn: frozenset({"note"}),
    TicketAction.revoke: frozenset({"note"}),
}


def ticket_machine() -> TicketMachine:
    """The one shared machine of the ticket workflow, its table proven sound first."""
    check_sound(TICKET)
    return WorkflowMachine(TICKET, "ticket", attrgetter("ticket_id"))


class TicketRules:
    """Issue, act and time out, on one shared machine."""

    def __init__(self, machine: TicketMachine | None = None) -> None:
        self.machine = machine or ticket_machine()

    def issue(
        self, request: TicketRequest, settings: GovernanceSettings, market: Market, at: datetime
    ) -> tuple[Ticket, Event]:
        """A new ticket from a checked request: by the platform, or by ``system`` for a rule."""
        ticket = new_ticket(request, settings.version, at, market.code)
        ticket.deadline_at, ticket.deadline_action = settings.deadline(ticket.state, at, market)
        actor = Actor.platform if request.source == PLATFORM_SOURCE else Actor.system
        extra: dict[str, Any] = {"source": request.source}
        if request.metric is not None:
            extra["metric"] = request.metric
        if request.note is not None:
            extra["note"] = request.note
        if request.evidence:
            extra["evidence"] = [dict(item) for item in request.evidence]
        return ticket, self._event(ticket, TicketAction.issue, None, actor, at, extra)

    def act(
        self,
        ticket: Ticket,
        action: TicketAction,
        actor: Actor,
        fields: Mapping[str, Any],
        at: datetime,
        settings: GovernanceSettings,
        market: Market,
        actor_id: str | None = None,
    ) -> Event:
        """Take a requested action on ``ticket``."""
        check_actor(ticket, action, actor, actor_id)
        if not TICKET.allows(ticket.state, action):
            self.machine.fire(ticket, action, fields)  # raises NotAllowed
        checked = action_fields(action, fields, market.evidence_kinds)
        if actor_id is not None:
            checked["actor_id"] = actor_id
        return self._move(ticket, action, actor, at, settings, market, checked)

    def time_out(self, ticket: Ticket, settings: GovernanceSettings, market: Market) -> Event:
        """What the ticket's deadline does, effective at it: the appeal window closes (final),
        or the platform's SLA passes (one reply_overdue, no change)."""
        assert ticket.deadline_at is not None and ticket.deadline_action is not None
        at = ticket.deadline_at
        if ticket.deadline_action is TicketDeadline.reply_overdue:
            ticket.deadline_at = ticket.deadline_action = None
            # no transition, but a change: an act dated before it would make it false
            ticket.updated_at = at
            data = {"state": ticket.state.value, "at": iso(at), "round": ticket.appeals}
            return ticket_event(ticket, TICKET_REPLY_OVERDUE, at, data)
        action = TicketAction.appeal_window_timeout
        return self._move(ticket, action, Actor.system, at, settings, market, {})

    def catch_up(
        self, ticket: Ticket, at: datetime, settings: GovernanceSettings, market: Market
    ) -> list[Event]:
        """Every deadline of the ticket due at or before ``at``, each at its own instant."""
        events = []
        while ticket.deadline_at is not None and ticket.deadline_at <= at:
            events.append(self.time_out(ticket, settings, market))
        return events

    def _move(
        self,
        ticket: Ticket,
        action: TicketAction,
        actor: Actor,
        at: datetime,
        settings: GovernanceSettings,
        market: Market,
        fields: dict[str, Any],
    ) -> Event:
        source = ticket.state
        target = self.machine.fire(ticket, action, fields)
        if action is TicketAction.appeal:
            ticket.appeals += 1
        ticket.updated_at = at
        # an SLA starts afresh each time its state is entered (round 2 included)
        ticket.deadline_at, ticket.deadline_action = settings.deadline(target, at, market)
        return self._event(ticket, action, source, actor, at, fields)

    @staticmethod
    def _event(
        ticket: Ticket,
        action: TicketAction,
        source: TicketState | None,
        actor: Actor,
        at: datetime,
        fields: Mapping[str, Any],
    ) -> Event:
        data: dict[str, Any] = {
            "action": action.value,
            "from_state": None if source is None else source.value,
            "to_state": ticket.state.value,
            "actor": actor.value,
            "auto": actor is Actor.system,
            "category": ticket.category.value,
            "reason": ticket.reason,
            "points": ticket.points,
            "round": ticket.appeals,
            "deadline_at": iso(ticket.deadline_at),
            "deadline_action": None
            if ticket.deadline_action is None
            else ticket.deadline_action.value,
            "policy_version": ticket.policy_version,
            **fields,
        }
        return ticket_event(ticket, TICKET_TRANSITION, at, data)


def check_actor(ticket: Ticket, action: TicketAction, actor: Actor, actor_id: str | None) -> None:
    """Forbidden unless ``actor`` may request ``action`` (a seller only for its own shop)."""
    allowed = TICKET_REQUESTERS.get(action, frozenset())
    if action is TicketAction.issue:  # a history's first entry, never an act on a ticket
        raise Forbidden(
            f"ticket {ticket.ticket_id} is issued already: issue_ticket issues a ticket, "
            "act_ticket acts on one",
            state=ticket.state.value,
            action=action.value,
        )
    if actor not in allowed:
        who = ", ".join(sorted(allowed)) or "the engine only"
        raise Forbidden(
            f"ticket {ticket.ticket_id}: {action} may be taken by {who}, not {actor}",
            state=ticket.state.value,
            action=action.value,
        )
    if actor is Actor.seller and actor_id is not None and actor_id != ticket.shop_id:
        raise Forbidden(f"ticket {ticket.ticket_id}: seller {actor_id} is not its shop")


def action_fields(
    action: TicketAction, fields: Mapping[str, Any], evidence_kinds: frozenset[str]
) -> dict[str, Any]:
    """The checked fields of one action; unknown fields are refused."""
    allowed = ACTION_FIELDS.get(action, frozenset())
    given = {key: value for key, value in fields.items() if value is not None}
    for key in given:
        if key not in allowed:
            raise InvalidInput(f"field {key} does not apply to action {action}")
    out: dict[str, Any] = {}
    if "note" in given:
        out["note"] = check.text(given["note"], "note")
    if action is TicketAction.appeal:
        items = check.evidence(given.get("evidence"), evidence_kinds, required=True)
        out["evidence"] = [item.as_dict() for item in items]
    return out
