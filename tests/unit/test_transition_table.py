"""Every (state, action, actor) triple of every workflow: the next state, or the exact error.

The tables below are written out from workflows.md, not derived from the engine's own tables,
so a wrong row in either shows up here. Everything not listed is refused: `forbidden` when the
actor may not take the action at all, else `not_allowed`; a refusal changes nothing.
"""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersale.config import load_policy
from aftersale.domain.cases import CaseRules
from aftersale.domain.lines import whole_order
from aftersale.domain.model import Action, Actor, Case, Kind, Order, Responsibility, State
from aftersale.domain.workflows import WORKFLOWS
from aftersale.errors import Forbidden, NotAllowed

POLICY = load_policy()
RULES = CaseRules()
OPENED = datetime(2026, 3, 6, 10, 0, tzinfo=UTC)
ACTED = OPENED + timedelta(hours=5)

B, S, P, Y = "buyer", "seller", "platform", "system"
# Who may ask for each action (workflows.md's actor column). Actions the engine takes itself
# (at open, on order facts, on timers) cannot be asked for by anyone: our documented choice.
MAY_REQUEST: dict[str, set[str]] = {
    "approve": {S},
    "reject": {S},
    "withdraw": {B},
    "request_pod": {P},
    "submit_pod": {S},
    "escalate": {B},
    "rule": {P},
    "ship_return": {B},
    "confirm_receipt": {S, Y},
    "refund": {S},
    "reject_return": {S},
    "auto_approve": set(),
    "seller_cancel": set(),
    "order_shipped": set(),
    "review_timeout": set(),
    "pod_timeout": set(),
    "escalation_timeout": set(),
    "ship_back_timeout": set(),
    "receipt_timeout": set(),
    "refund_timeout": set(),
    "offer_partial_refund": {S},
    "accept_offer": {B},
    "decline_offer": {B},
    "offer_timeout": set(),
}
# (kind, state, action) -> next state, for the actors of MAY_REQUEST
ALLOWED: dict[tuple[str, str, str], str] = {
    ("cancellation", "pending_review", "approve"): "cancelled",
    ("cancellation", "pending_review", "reject"): "closed",
    ("cancellation", "pending_review", "withdraw"): "withdrawn",
    ("refund_only", "pending_review", "approve"): "refunded",
    ("refund_only", "pending_review", "reject"): "rejected",
    ("refund_only", "pending_review", "request_pod"): "awaiting_pod",
    ("refund_only", "pending_review", "withdraw"): "withdrawn",
    ("refund_only", "awaiting_pod", "submit_pod"): "platform_review",
    ("refund_only", "awaiting_pod", "withdraw"): "withdrawn",
    ("refund_only", "rejected", "escalate"): "platform_review",
    ("refund_only", "rejected", "withdraw"): "withdrawn",
    ("refund_only", "platform_review", "rule"): "closed",  # outcome deny in this grid
    ("return_refund", "pending_review", "approve"): "awaiting_return_shipment",
    ("return_refund", "pending_review", "reject"): "rejected",
    ("return_refund", "pending_review", "withdraw"): "withdrawn",
    ("return_refund", "awaiting_return_shipment", "ship_return"): "return_in_transit",
    ("return_refund", "awaiting_return_shipment", "withdraw"): "withdrawn",
    ("return_refund", "return_in_transit", "confirm_receipt"): "return_received",
    ("return_refund", "return_in_transit", "withdraw"): "withdrawn",
    ("return_refund", "return_received", "refund"): "refunded",
    ("return_refund", "return_received", "reject_return"): "rejected",
    ("return_refund", "return_received", "withdraw"): "withdrawn",
    ("return_refund", "rejected", "escalate"): "platform_review",
    ("return_refund", "rejected", "withdraw"): "withdrawn",
    ("return_refund", "platform_review", "rule"): "closed",
    # lines.md's partial-refund offers; in this grid an open offer was made from pending_review
    ("refund_only", "pending_review", "offer_partial_refund"): "awaiting_buyer_response",
    ("refund_only", "awaiting_buyer_response", "accept_offer"): "refunded",
    ("refund_only", "awaiting_buyer_response", "decline_offer"): "pending_review",
    ("refund_only", "awaiting_buyer_response", "withdraw"): "withdrawn",
    ("return_refund", "pending_review", "offer_partial_refund"): "awaiting_buyer_response",
    ("return_refund", "return_received", "offer_partial_refund"): "awaiting_buyer_response",
    ("return_refund", "awaiting_buyer_response", "accept_offer"): "refunded",
    ("return_refund", "awaiting_buyer_response", "decline_offer"): "pending_review",
    ("return_refund", "awaiting_buyer_response", "withdraw"): "withdrawn",
}
PHOTO = [{"kind": "photo", "uri": "https://cdn.example/ev/scuffed-heel.jpg"}]
FIELDS: dict[str, dict[str, Any]] = {
    "reject": {"reject_reason": "item_used"},
    "submit_pod": {"evidence": [{"kind": "tracking", "uri": "https://cdn.example/pod/1.pdf"}]},
    "rule": {"outcome": "deny"},
    "ship_return": {"tracking": "RET-555"},
    "reject_return": {"reject_reason": "item_used", "evidence": PHOTO},
    "offer_partial_refund": {"amount": "20.00"},
}
OPEN_OFFER = {"number": 1, "amount": "20.00", "at": "2026-03-06T10:00:00Z", "outcome": "open"}


def _order_and_case(kind: Kind, state: State, **case_fields: Any) -> tuple[Order, Case]:
    order = Order(
        order_id="US-100231",
        shop_id="shop-lumen-audio",
        buyer_id="buyer-ada",
        market="US",
        currency="USD",
        amount=Decimal("59.90"),
        paid_at=OPENED - timedelta(days=5),
        shipped_at=None if kind is Kind.cancellation else OPENED - timedelta(days=4),
        delivered_at=OPENED - timedelta(days=1) if kind is Kind.return_refund else None,
        open_case_id="AS-1",
        lines=[{**line, "open_case_id": "AS-1"} for line in whole_order(Decimal("59.90"))],
    )
    if state is State.awaiting_buyer_response:
        offered = {"offers": [OPEN_OFFER], "offer_from": State.pending_review}
        case_fields = offered | {"clock_left": Decimal("3600")} | case_fields
    case = Case(
        case_id="AS-1",
        order_id=order.order_id,
        shop_id=order.shop_id,
        buyer_id="buyer-ada",
        market="US",
        kind=kind,
        state=state,
        reason="damaged",
        responsibility=Responsibility.seller,
        amount=Decimal("59.90"),
        currency="USD",
        opened_by=Actor.buyer,
        opened_at=OPENED,
        updated_at=OPENED,
        policy_version=POLICY.version,
        lines=[{"line_id": "1", "quantity": 1}],
        covers_rest=True,
        deadline_at=POLICY.deadline(kind, state, "US", Decimal("59.90"), OPENED),
        deadline_action=WORKFLOWS[kind].timeouts.get(state),
        **case_fields,
    )
    return order, case


TRIPLES = [
    (kind, state, action, actor)
    for kind in Kind
    for state in WORKFLOWS[kind].states
    for action in MAY_REQUEST
    for actor in (B, S, P, Y)
]


def _expected(kind: Kind, state: State, action: str, actor: str) -> str | type[Exception]:
    if actor not in MAY_REQUEST[action]:
        return Forbidden
    return ALLOWED.get((kind.value, state.value, action), NotAllowed)


@pytest.mark.parametrize(
    ("kind", "state", "action", "actor"),
    TRIPLES,
    ids=[f"{k.value}-{s.value}-{a}-{who}" for k, s, a, who in TRIPLES],
)
def test_every_state_action_actor_triple(
    kind: Kind, state: State, action: str, actor: str
) -> None:
    order, case = _order_and_case(kind, state)
    before = copy.deepcopy((dataclasses.asdict(order), dataclasses.asdict(case)))
    expected = _expected(kind, state, action, actor)
    fields = FIELDS.get(action, {})
    if isinstance(expected, str):
        event = RULES.act(case, order, POLICY, Action(action), Actor(actor), fields, ACTED)
        assert case.state.value == expected
        assert (event.data or {})["from_state"] == state.value
        assert (event.data or {})["to_state"] == expected
        assert (event.data or {})["auto"] is (actor == Y)
    else:
        with pytest.raises(expected):
            RULES.act(case, order, POLICY, Action(action), Actor(actor), fields, ACTED)
        assert (dataclasses.asdict(order), dataclasses.asdict(case)) == before


@pytest.mark.parametrize(
    ("kind", "outcome", "rejected_before", "expected", "overturned"),
    [
        (Kind.refund_only, "refund", True, State.refunded, True),
        (Kind.refund_only, "refund", False, State.refunded, False),  # after proof of delivery
        (Kind.refund_only, "deny", True, State.closed, False),
        (Kind.refund_only, "return", True, NotAllowed, False),  # nothing to send back
        (Kind.return_refund, "refund", True, State.refunded, True),
        (Kind.return_refund, "return", True, State.awaiting_return_shipment, True),
        (Kind.return_refund, "deny", True, State.closed, False),
    ],
)
def test_a_platform_ruling_and_the_overturned_flag(
    kind: Kind, outcome: str, rejected_before: bool, expected: Any, overturned: bool
) -> None:
    order, case = _order_and_case(kind, State.platform_review, rejected_by_seller=rejected_before)
    if expected is NotAllowed:
        with pytest.raises(NotAllowed, match="outcome"):
            RULES.act(
                case, order, POLICY, Action.rule, Actor.platform, {"outcome": outcome}, ACTED
            )
        return
    event = RULES.act(
        case, order, POLICY, Action.rule, Actor.platform, {"outcome": outcome}, ACTED
    )
    assert case.state is expected
    assert (event.data or {})["overturned"] is overturned


def test_a_return_ruling_is_refused_once_the_item_was_sent_back() -> None:
    order, case = _order_and_case(
        Kind.return_refund, State.platform_review, rejected_by_seller=True, return_shipped=True
    )
    with pytest.raises(NotAllowed, match="sent back"):
        RULES.act(case, order, POLICY, Action.rule, Actor.platform, {"outcome": "return"}, ACTED)


def test_a_ruling_may_move_the_fault() -> None:
    order, case = _order_and_case(Kind.refund_only, State.platform_review, rejected_by_seller=True)
    fields = {"outcome": "deny", "responsibility": "buyer"}
    event = RULES.act(case, order, POLICY, Action.rule, Actor.platform, fields, ACTED)
    assert case.responsibility is Responsibility.buyer
    assert (event.data or {})["responsibility"] == "buyer"


def test_money_back_is_added_to_the_order_and_frees_it_for_a_new_case() -> None:
    order, case = _order_and_case(Kind.return_refund, State.return_received)
    RULES.act(case, order, POLICY, Action.refund, Actor.seller, {}, ACTED)
    assert order.refunded_total == Decimal("59.90")
    assert order.open_case_id is None
    assert case.deadline_at is None and case.deadline_action is None
