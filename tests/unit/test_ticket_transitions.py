"""Every (state, action, actor) triple of the ticket workflow: the next state, or the error.

The table is written out from governance.md, not derived from the engine's tables. Everything
not listed is refused: ``forbidden`` when the actor may not request the action at all, else
``not_allowed``; a refusal changes nothing.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from aftersale.domain.model import Actor
from aftersale.domain.tickets.model import TicketAction, TicketDeadline, TicketState
from aftersale.domain.workflows.base import check_sound
from aftersale.domain.workflows.ticket import TICKET
from aftersale.errors import Forbidden, InvalidInput, NotAllowed, WorkflowDefinitionError
from tests.unit.ticket_world import GOVERNANCE, ISSUED_MONDAY_9AM, PHOTO, RULES, US, in_state, take

S, P, B, Y = "seller", "platform", "buyer", "system"
STATES = ("issued", "under_review", "upheld", "final", "overturned", "revoked")
ACTIONS = ("appeal", "uphold", "overturn", "revoke", "appeal_window_timeout")
# who may request each action (the timeout is the engine's own, like a case's)
MAY_REQUEST = {"appeal": {S}, "uphold": {P}, "overturn": {P}, "revoke": {P}}
# (state, action) -> next state, the round of under_review noted where it matters
ALLOWED = {
    ("issued", "appeal"): "under_review",
    ("issued", "revoke"): "revoked",
    ("under_review", "uphold"): "upheld",  # round 1 (a ticket in_state under_review)
    ("under_review", "overturn"): "overturned",
    ("under_review", "revoke"): "revoked",
    ("upheld", "appeal"): "under_review",
    ("upheld", "revoke"): "revoked",
}


def _expected(state: str, action: str, actor: str) -> str | type[Exception]:
    if actor not in MAY_REQUEST.get(action, set()):
        return Forbidden
    return ALLOWED.get((state, action), NotAllowed)


@pytest.mark.parametrize("actor", [B, S, P, Y])
@pytest.mark.parametrize("action", ACTIONS)
@pytest.mark.parametrize("state", STATES)
def test_every_state_action_actor_triple(state: str, action: str, actor: str) -> None:
    ticket = in_state(TicketState(state))
    before = copy.deepcopy(ticket)
    expected = _expected(state, action, actor)
    fields = {"evidence": [PHOTO]} if action == "appeal" else {}
    act = TicketAction(action)
    if isinstance(expected, str):
        RULES.act(ticket, act, Actor(actor), fields, ticket.updated_at, GOVERNANCE, US)
        assert ticket.state.value == expected
        assert ticket.recorded[-1].data is not None
        assert ticket.recorded[-1].data["to_state"] == expected
    else:
        with pytest.raises(expected):
            RULES.act(ticket, act, Actor(actor), fields, ticket.updated_at, GOVERNANCE, US)
        assert dataclasses.asdict(ticket) == dataclasses.asdict(before)


def test_the_second_round_uphold_is_final_and_a_third_appeal_impossible() -> None:
    ticket = in_state(TicketState.upheld)
    take(ticket, "appeal", S)
    assert (ticket.state, ticket.appeals) == (TicketState.under_review, 2)
    take(ticket, "uphold", P)
    assert ticket.state is TicketState.final and ticket.deadline_at is None
    with pytest.raises(NotAllowed):
        take(ticket, "appeal", S)


def test_appeal_windows_are_deadlines_that_make_the_ticket_final() -> None:
    ticket = in_state(TicketState.issued)
    assert ticket.deadline_at == ISSUED_MONDAY_9AM + timedelta(days=30)
    assert ticket.deadline_action is TicketDeadline.appeal_window_timeout
    upheld = in_state(TicketState.upheld)
    assert upheld.deadline_at == upheld.updated_at + timedelta(days=15)
    RULES.time_out(upheld, GOVERNANCE, US)
    assert upheld.state is TicketState.final
    assert upheld.recorded[-1].data is not None and upheld.recorded[-1].data["actor"] == Y


def test_an_unanswered_appeal_is_overdue_once_after_five_business_days_and_stays() -> None:
    ticket = in_state(TicketState.under_review)  # appealed Monday 09:00 New York
    assert ticket.deadline_action is TicketDeadline.reply_overdue
    # next Monday 09:00 local, the clocks having sprung forward on Sunday 8 March
    assert ticket.deadline_at == datetime(2026, 3, 9, 13, 0, tzinfo=UTC)
    events = RULES.catch_up(ticket, ISSUED_MONDAY_9AM + timedelta(days=60), GOVERNANCE, US)
    assert [e.type for e in events] == ["ticket.reply_overdue"]
    assert events[0].data == {
        "ticket_id": ticket.ticket_id,
        "state": "under_review",
        "at": "2026-03-09T13:00:00Z",
        "round": 1,
    }
    assert ticket.state is TicketState.under_review and ticket.deadline_at is None


def test_an_appeal_needs_evidence_and_a_seller_only_appeals_its_own_ticket() -> None:
    ticket = in_state(TicketState.issued)
    with pytest.raises(InvalidInput, match="evidence"):
        take(ticket, "appeal", S, evidence=[])
    with pytest.raises(InvalidInput, match="note"):
        take(ticket, "appeal", S, note="x" * 201)
    with pytest.raises(Forbidden):
        RULES.act(
            ticket,
            TicketAction.appeal,
            Actor.seller,
            {"evidence": [PHOTO]},
            ticket.updated_at,
            GOVERNANCE,
            US,
            actor_id="shop-elsewhere",
        )
    assert ticket.state is TicketState.issued


def test_refusals_come_forbidden_then_not_allowed_then_invalid_input() -> None:
    final = in_state(TicketState.final)
    with pytest.raises(Forbidden):  # not the seller's to take, even with bad fields
        RULES.act(
            final, TicketAction.uphold, Actor.seller, {"x": 1}, final.updated_at, GOVERNANCE, US
        )
    with pytest.raises(NotAllowed):  # not from final, even with bad fields
        RULES.act(
            final, TicketAction.appeal, Actor.seller, {"x": 1}, final.updated_at, GOVERNANCE, US
        )


def test_the_ticket_table_is_checked_sound_at_load() -> None:
    check_sound(TICKET)
    kept = tuple(t for t in TICKET.transitions if t.source is not TicketState.upheld)
    with pytest.raises(WorkflowDefinitionError, match="upheld has no appeal_window_timeout"):
        check_sound(dataclasses.replace(TICKET, transitions=kept))
    escape = dataclasses.replace(TICKET.transitions[0], source=TicketState.final)
    with pytest.raises(WorkflowDefinitionError, match="terminal state final has a way out"):
        check_sound(dataclasses.replace(TICKET, transitions=(*TICKET.transitions, escape)))
