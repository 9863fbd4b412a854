"""Opening a case: who may, which kinds an order allows, and the rules that act at once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersale.config import load_policy
from aftersale.domain.cases import CaseRules
from aftersale.domain.lines import whole_order
from aftersale.domain.model import Order, State
from aftersale.domain.requests import parse_open
from aftersale.errors import Conflict, Forbidden, InvalidInput, NotEligible

POLICY = load_policy()
RULES = CaseRules()
PAID_MONDAY_9AM = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def _order(
    market: str = "US",
    shipped: bool = False,
    delivered_days_ago: int | None = None,
    at: datetime = PAID_MONDAY_9AM,
) -> Order:
    currency = {"US": "USD", "MY": "MYR"}[market]
    order = Order(
        order_id="ORD-1",
        shop_id="shop-lumen-audio",
        buyer_id="buyer-ada",
        market=market,
        currency=currency,
        amount=Decimal("60.00"),
        paid_at=PAID_MONDAY_9AM,
        lines=whole_order(Decimal("60.00")),
    )
    if shipped or delivered_days_ago is not None:
        order.shipped_at = PAID_MONDAY_9AM + timedelta(hours=5)
    if delivered_days_ago is not None:
        order.delivered_at = at - timedelta(days=delivered_days_ago)
    return order


def _open(order: Order, at: datetime, **fields: Any) -> Any:
    request = {
        "case_id": "AS-1",
        "order_id": order.order_id,
        "kind": "cancellation",
        "actor": "buyer",
        "reason": "changed_mind",
        **fields,
    }
    return RULES.open(order, POLICY, parse_open(POLICY, request), at)


@pytest.mark.parametrize(
    ("after", "state"),
    [
        (timedelta(minutes=59), State.cancelled),
        (timedelta(hours=1), State.cancelled),  # the end of the window is included
        (timedelta(hours=1, seconds=1), State.pending_review),
    ],
)
def test_the_free_cancel_hour_auto_approves(after: timedelta, state: State) -> None:
    case, events = _open(_order(), PAID_MONDAY_9AM + after)
    assert case.state is state
    assert [e.data["action"] for e in events if e.data] == (
        ["open", "auto_approve"] if state is State.cancelled else ["open"]
    )


def test_a_seller_cancellation_is_taken_at_once_and_is_the_sellers_fault() -> None:
    case, events = _open(
        _order(), PAID_MONDAY_9AM + timedelta(hours=5), actor="seller", reason="out_of_stock"
    )
    assert case.state is State.cancelled
    assert [e.data["action"] for e in events if e.data] == ["open", "seller_cancel"]
    assert case.responsibility.value == "seller"


def test_a_seller_may_not_open_a_refund() -> None:
    with pytest.raises(Forbidden):
        _open(
            _order(shipped=True),
            PAID_MONDAY_9AM + timedelta(days=2),
            actor="seller",
            kind="refund_only",
            reason="out_of_stock",
        )


def test_a_buyer_may_not_use_a_seller_reason() -> None:
    with pytest.raises(InvalidInput, match="not a buyer reason"):
        _open(_order(), PAID_MONDAY_9AM + timedelta(hours=2), reason="out_of_stock")


@pytest.mark.parametrize(
    ("order_kwargs", "kind", "extra"),
    [
        ({"shipped": True}, "cancellation", {}),
        ({}, "refund_only", {}),
        ({"shipped": True}, "return_refund", {}),
        ({"delivered_days_ago": 16}, "return_refund", {}),
        ({"delivered_days_ago": 3}, "return_refund", {"reason": "no_longer_needed"}),
        (
            {"delivered_days_ago": 3},
            "return_refund",
            {"reason": "no_longer_needed", "item_unused": False},
        ),
    ],
)
def test_what_the_order_does_not_allow_is_not_eligible(
    order_kwargs: dict[str, Any], kind: str, extra: dict[str, Any]
) -> None:
    at = PAID_MONDAY_9AM + timedelta(days=20)
    order = _order(at=at, **order_kwargs)
    with pytest.raises(NotEligible):
        _open(order, at, kind=kind, **{"reason": "damaged", **extra})


@pytest.mark.parametrize(
    ("market", "days", "allowed"),
    [
        ("US", 15, True),
        ("US", 16, False),
        ("MY", 30, True),
        ("MY", 31, False),
    ],
)
def test_the_return_window_ends_included_per_market(market: str, days: int, allowed: bool) -> None:
    at = PAID_MONDAY_9AM + timedelta(days=40)
    order = _order(market, delivered_days_ago=days, at=at)
    if allowed:
        case, _ = _open(order, at, kind="return_refund", reason="damaged")
        assert case.state is State.pending_review
    else:
        with pytest.raises(NotEligible, match="return window"):
            _open(order, at, kind="return_refund", reason="damaged")


def test_one_open_case_per_order_and_never_more_money_than_paid() -> None:
    at = PAID_MONDAY_9AM + timedelta(days=3)
    order = _order(delivered_days_ago=1, at=at)
    _open(order, at, kind="return_refund", reason="damaged", amount="40.00")
    with pytest.raises(Conflict, match="already has open case"):
        _open(order, at, kind="refund_only", reason="damaged")
    # the first case ended refunded for 40.00: its line is free, with 20.00 left on it
    order.open_case_id, order.refunded_total = None, Decimal("40.00")
    order.lines = [{**order.lines[0], "open_case_id": None, "refunded_amount": "40.00"}]
    with pytest.raises(Conflict, match="still refundable"):
        _open(order, at, kind="refund_only", reason="damaged", amount="20.01")
    case, _ = _open(order, at, kind="refund_only", reason="damaged")
    assert case.amount == Decimal("20.00")


def test_the_open_event_carries_the_fields_of_workflows_md() -> None:
    _case, events = _open(_order(), PAID_MONDAY_9AM + timedelta(hours=3))
    data = events[0].data or {}
    for key in (
        "kind",
        "action",
        "from_state",
        "to_state",
        "actor",
        "auto",
        "responsibility",
        "reason",
        "amount",
        "currency",
        "overturned",
        "deadline_at",
        "policy_version",
    ):
        assert key in data, key
    assert (data["from_state"], data["to_state"], data["auto"]) == (None, "pending_review", False)
    assert data["deadline_at"] == "2026-03-04T12:00:00Z"
