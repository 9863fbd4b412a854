"""The host's façade: what a host calls, what it gets back, and what is written."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest

from aftersale import (
    AfterSale,
    Conflict,
    Forbidden,
    InvalidInput,
    NotAllowed,
    NotFound,
    OutOfOrder,
    VirtualClock,
)
from tests.conftest import AFTER_EVERY_INSTANT, MONDAY_9AM

PAID = MONDAY_9AM
SHIPPED = PAID + timedelta(days=1)
DELIVERED = PAID + timedelta(days=4)


@pytest.fixture
def clock() -> VirtualClock:
    """The engine's clock runs after every instant these tests report, as for a host that
    records facts once they have happened (an ``at`` ahead of the clock is refused:
    tests/integration/test_engine_clock.py)."""
    return VirtualClock(AFTER_EVERY_INSTANT)


def _order(engine: AfterSale, order_id: str = "US-100231", amount: str = "59.90") -> None:
    engine.order_paid(order_id, "shop-lumen-audio", "buyer-ada", "US", "USD", amount, at=PAID)


def _delivered(engine: AfterSale, order_id: str = "US-100231") -> None:
    _order(engine, order_id)
    engine.order_shipped(order_id, "1Z999", at=SHIPPED)
    engine.order_delivered(order_id, at=DELIVERED)


def test_a_late_seller_action_finds_the_timeout_taken_and_the_timeout_stays(
    engine: AfterSale,
) -> None:
    _delivered(engine)
    engine.open_case("RR-1", "US-100231", "return_refund", "buyer", "damaged", at=DELIVERED)
    late = DELIVERED + timedelta(days=2, minutes=1)
    with pytest.raises(NotAllowed) as refused:
        engine.act("RR-1", "reject", "seller", at=late, reject_reason="item_used")
    assert refused.value.state == "awaiting_return_shipment"
    case = engine.case("RR-1")
    assert [s["action"] for s in case["history"]] == ["open", "review_timeout"]
    assert case["history"][-1]["at"] == "2026-03-08T09:00:00Z"  # at the deadline, not at `late`


def test_an_action_earlier_than_the_latest_transition_is_out_of_order(engine: AfterSale) -> None:
    _delivered(engine)
    engine.open_case("RR-1", "US-100231", "return_refund", "buyer", "damaged", at=DELIVERED)
    with pytest.raises(OutOfOrder):
        engine.act("RR-1", "approve", "seller", at=DELIVERED - timedelta(seconds=1))
    assert engine.case("RR-1")["state"] == "pending_review"


def test_shipping_closes_a_pending_cancellation(engine: AfterSale) -> None:
    _order(engine)
    engine.open_case(
        "CX-1", "US-100231", "cancellation", "buyer", "changed_mind", at=PAID + timedelta(hours=3)
    )
    engine.order_shipped("US-100231", "1Z999", at=PAID + timedelta(hours=5))
    case = engine.case("CX-1")
    assert case["state"] == "closed"
    assert case["history"][-1] == {
        "action": "order_shipped",
        "from": "pending_review",
        "to": "closed",
        "actor": "system",
        "auto": True,
        "at": "2026-03-02T14:00:00Z",
        "responsibility": "buyer",
        "overturned": False,
    }


def test_an_order_cancelled_by_a_silent_seller_cannot_ship_afterwards(engine: AfterSale) -> None:
    _order(engine)
    engine.open_case(
        "CX-1", "US-100231", "cancellation", "buyer", "changed_mind", at=PAID + timedelta(hours=3)
    )
    with pytest.raises(NotAllowed):
        engine.order_shipped("US-100231", "1Z999", at=PAID + timedelta(days=3))
    assert engine.case("CX-1")["state"] == "cancelled"  # review_timeout kept
    assert engine.order("US-100231")["cancelled_at"] == "2026-03-04T12:00:00Z"


def test_the_case_view_lists_deadline_and_who_may_act_next(engine: AfterSale) -> None:
    _delivered(engine)
    view = engine.open_case("RR-1", "US-100231", "return_refund", "buyer", "damaged", at=DELIVERED)
    assert view["deadline_action"] == "review_timeout"
    assert {a["action"]: a["actors"] for a in view["allowed_actions"]} == {
        "approve": ["seller"],
        "reject": ["seller"],
        "withdraw": ["buyer"],
        "offer_partial_refund": ["seller"],  # lines.md
    }


def test_refunds_never_exceed_the_order_amount_across_cases(engine: AfterSale) -> None:
    _delivered(engine)
    engine.open_case(
        "RF-1", "US-100231", "refund_only", "buyer", "missing_item", amount="40.00", at=DELIVERED
    )
    engine.act("RF-1", "approve", "seller", at=DELIVERED + timedelta(hours=1))
    assert engine.order("US-100231")["refundable"] == "19.90"
    with pytest.raises(Conflict):
        engine.open_case(
            "RF-2",
            "US-100231",
            "refund_only",
            "buyer",
            "damaged",
            amount="20.00",
            at=DELIVERED + timedelta(hours=2),
        )
    rest = engine.open_case(
        "RF-3", "US-100231", "refund_only", "buyer", "damaged", at=DELIVERED + timedelta(hours=2)
    )
    assert rest["amount"] == "19.90"


def test_a_buyer_id_that_is_not_the_orders_buyer_is_forbidden(engine: AfterSale) -> None:
    _delivered(engine)
    with pytest.raises(Forbidden):
        engine.open_case(
            "RR-1",
            "US-100231",
            "return_refund",
            "buyer",
            "damaged",
            actor_id="buyer-eve",
            at=DELIVERED,
        )
    with pytest.raises(NotFound):
        engine.case("RR-1")


def test_the_outbox_relays_every_event_once_in_order(engine: AfterSale) -> None:
    _delivered(engine)
    engine.open_case("RR-1", "US-100231", "return_refund", "buyer", "damaged", at=DELIVERED)
    relayed, cursor = [], "0"
    while page := engine.events_after(cursor, limit=2):
        relayed.extend(page)
        cursor = page[-1]["cursor"]
    assert [e["type"] for e in relayed] == [
        "order.paid",
        "order.shipped",
        "order.delivered",
        "case.transition",
    ]
    assert engine.events_after(cursor) == []


@pytest.mark.parametrize(
    ("cursor", "limit"),
    [
        (-1, 10),
        (7, 10),  # a seq is not a cursor: on PostgreSQL it would skip or repeat events
        (2**70, 10),
        ("2.", 10),
        ("1.2.3", 10),
        (f"{2**64}.1", 10),
        (" 0.1", 10),
        (1.5, 10),
        (True, 10),
        ("0.0", "10"),
        ("0.0", 0),
        ("0.0", None),
        ("0.0", False),
    ],
)
def test_a_malformed_outbox_cursor_or_limit_is_refused_by_name(
    engine: AfterSale, cursor: object, limit: object
) -> None:
    with pytest.raises(InvalidInput, match=r"cursor|limit"):
        engine.events_after(cursor, limit)  # type: ignore[arg-type]


def test_event_ids_are_unique_time_ordered_uuids(engine: AfterSale) -> None:
    """Version 7: a new id sorts after every earlier one, so the unique index grows at its end
    (a random id dirtied a random page of it with every event)."""
    _delivered(engine)
    engine.open_case("RR-1", "US-100231", "return_refund", "buyer", "damaged", at=DELIVERED)
    engine.fire_due(until=DELIVERED + timedelta(days=30))
    ids = [event["event_id"] for event in engine.events_after(0)]
    assert len(ids) == 6 and len(set(ids)) == 6
    assert all(uuid.UUID(event_id).version == 7 for event_id in ids)
    assert ids == sorted(ids)


def test_cases_are_listed_by_shop_state_and_kind(engine: AfterSale) -> None:
    _delivered(engine, "US-1")
    _order(engine, "US-2")
    engine.open_case("RR-1", "US-1", "return_refund", "buyer", "damaged", at=DELIVERED)
    engine.open_case("CX-2", "US-2", "cancellation", "buyer", "changed_mind", at=DELIVERED)
    assert [c["case_id"] for c in engine.cases(shop_id="shop-lumen-audio")] == ["CX-2", "RR-1"]
    assert [c["case_id"] for c in engine.cases(state="pending_review")] == ["CX-2", "RR-1"]
    assert [c["case_id"] for c in engine.cases(kind="return_refund")] == ["RR-1"]
    assert engine.cases(shop_id="shop-nobody") == []
    with pytest.raises(InvalidInput):
        engine.cases(state="lost")


def test_service_facts_are_recorded_for_the_health_score(engine: AfterSale) -> None:
    _delivered(engine)
    engine.review_posted("US-100231", 2, "product", at=DELIVERED + timedelta(days=1))
    engine.complaint_filed("US-100231", at=DELIVERED + timedelta(days=1))
    engine.message_received("MSG-1", "shop-lumen-audio", "US-100231", at=DELIVERED)
    engine.message_received("MSG-1", "shop-lumen-audio", "US-100231", at=DELIVERED)  # no-op
    engine.message_replied("MSG-1", at=DELIVERED + timedelta(hours=3))
    engine.message_replied("MSG-1", at=DELIVERED + timedelta(hours=4))  # no-op
    types = [e["type"] for e in engine.events_after(0)][3:]
    assert types == ["review.posted", "complaint.filed", "message.received", "message.replied"]
    with pytest.raises(InvalidInput):
        engine.review_posted("US-100231", 6, at=DELIVERED)
    with pytest.raises(NotFound):
        engine.message_replied("MSG-404", at=DELIVERED)
    with pytest.raises(Conflict):
        engine.message_received("MSG-1", "shop-other", at=DELIVERED)


def test_the_engine_clock_is_the_default_instant(engine: AfterSale, clock: VirtualClock) -> None:
    clock.move_to(PAID + timedelta(minutes=20))
    _order(engine)
    view = engine.open_case("CX-1", "US-100231", "cancellation", "buyer", "changed_mind")
    assert view["state"] == "cancelled"  # inside the free-cancel hour: auto-approved
    assert view["opened_at"] == "2026-03-02T09:20:00Z"


def test_a_host_engine_requires_buyers_and_sellers_to_name_themselves(
    clock: VirtualClock,
) -> None:
    import aftersale

    host = aftersale.connect("memory://", clock=clock)  # identity required by default
    _delivered(host)
    with pytest.raises(InvalidInput, match="actor_id is required"):
        host.open_case("RR-1", "US-100231", "return_refund", "buyer", "damaged", at=DELIVERED)
    with pytest.raises(Forbidden):
        host.open_case(
            "RR-1",
            "US-100231",
            "return_refund",
            "buyer",
            "damaged",
            actor_id="buyer-eve",
            at=DELIVERED,
        )
    host.open_case(
        "RR-1",
        "US-100231",
        "return_refund",
        "buyer",
        "damaged",
        actor_id="buyer-ada",
        at=DELIVERED,
    )
    later = DELIVERED + timedelta(hours=1)
    with pytest.raises(Forbidden, match="not this order's seller"):
        host.act("RR-1", "approve", "seller", actor_id="shop-rival", at=later)
    with pytest.raises(InvalidInput, match="actor_id is required"):
        host.act("RR-1", "approve", "seller", at=later)
    assert host.case("RR-1")["state"] == "pending_review"
    host.act("RR-1", "approve", "seller", actor_id="shop-lumen-audio", at=later)
    assert host.case("RR-1")["state"] == "awaiting_return_shipment"


def test_catch_up_takes_one_cases_due_timeouts_at_their_deadlines_as_the_sweep_does(
    engine: AfterSale,
) -> None:
    for number in ("1", "2"):
        _delivered(engine, f"US-10023{number}")
        engine.open_case(
            f"RR-{number}", f"US-10023{number}", "return_refund", "buyer", "damaged", at=DELIVERED
        )
    week_late = DELIVERED + timedelta(days=14)
    caught_up = engine.catch_up("RR-1", at=week_late)
    assert caught_up["state"] == "closed"  # review_timeout, then ship_back_timeout, chained
    assert engine.case("RR-2")["state"] == "pending_review"  # only the case asked for
    assert engine.fire_due(until=week_late) == 2
    one, two = engine.case("RR-1")["history"], engine.case("RR-2")["history"]
    assert [(s["action"], s["at"]) for s in one] == [
        ("open", "2026-03-06T09:00:00Z"),
        ("review_timeout", "2026-03-08T09:00:00Z"),
        ("ship_back_timeout", "2026-03-13T09:00:00Z"),
    ]
    assert [(s["action"], s["at"]) for s in two] == [(s["action"], s["at"]) for s in one]


def test_catch_up_before_a_deadline_writes_nothing(engine: AfterSale) -> None:
    _delivered(engine)
    engine.open_case("RR-1", "US-100231", "return_refund", "buyer", "damaged", at=DELIVERED)
    written = len(engine.events_after(0))
    case = engine.catch_up("RR-1", at=DELIVERED + timedelta(days=2, seconds=-1))
    assert case["state"] == "pending_review"
    assert case["deadline_at"] == "2026-03-08T09:00:00Z"
    assert len(engine.events_after(0)) == written


def test_catch_up_names_a_bad_case_or_instant_and_writes_nothing(engine: AfterSale) -> None:
    _delivered(engine)
    engine.open_case("RR-1", "US-100231", "return_refund", "buyer", "damaged", at=DELIVERED)
    written = len(engine.events_after(0))
    with pytest.raises(NotFound, match="no case RR-404"):
        engine.catch_up("RR-404")
    with pytest.raises(InvalidInput, match="case_id"):
        engine.catch_up("")
    with pytest.raises(InvalidInput, match="at"):
        engine.catch_up("RR-1", at="next tuesday")
    assert len(engine.events_after(0)) == written
    assert engine.case("RR-1")["state"] == "pending_review"
