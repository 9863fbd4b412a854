"""Instants that contradict what the order already says are refused, with replay.md's codes:
an order that was not yet delivered (or shipped) at the instant a case says it was opened is
``not_eligible``; a fact dated before one the order already has is ``out_of_order``. Each was
accepted before, and ran a case's history backwards. Nothing is written when refused.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from aftersale import AfterSale, CommandRefused
from tests.conftest import AFTER_EVERY_INSTANT, MONDAY_9AM, EngineFactory

PAID = MONDAY_9AM
SHIPPED = PAID + timedelta(days=1)
DELIVERED = PAID + timedelta(days=4)
SHOP, BUYER = "shop-lumen-audio", "buyer-ada"


@pytest.fixture
def engine(make_engine: EngineFactory) -> AfterSale:
    from aftersale import VirtualClock

    built = make_engine("memory://", clock=VirtualClock(AFTER_EVERY_INSTANT))
    built.order_paid("US-1", SHOP, BUYER, "US", "USD", "59.90", at=PAID)
    return built


def _refused(engine: AfterSale, code: str, call: object) -> None:
    before = len(engine.events_after(0, 10_000))
    with pytest.raises(CommandRefused) as refused:
        call()  # type: ignore[operator]
    assert refused.value.code == code, refused.value
    assert len(engine.events_after(0, 10_000)) == before


def test_a_return_opened_before_the_delivery_is_not_eligible(engine: AfterSale) -> None:
    engine.order_shipped("US-1", "1Z999", at=SHIPPED)
    engine.order_delivered("US-1", at=DELIVERED)
    early = DELIVERED - timedelta(seconds=1)
    _refused(
        engine,
        "not_eligible",
        lambda: engine.open_case("RR-1", "US-1", "return_refund", "buyer", "damaged", at=early),
    )
    engine.open_case("RR-1", "US-1", "return_refund", "buyer", "damaged", at=DELIVERED)


def test_a_refund_only_opened_before_the_shipment_is_not_eligible(engine: AfterSale) -> None:
    engine.order_shipped("US-1", "1Z999", at=SHIPPED)
    early = SHIPPED - timedelta(microseconds=1)
    _refused(
        engine,
        "not_eligible",
        lambda: engine.open_case("RF-1", "US-1", "refund_only", "buyer", "not_received", at=early),
    )
    engine.open_case("RF-1", "US-1", "refund_only", "buyer", "not_received", at=SHIPPED)


def test_a_case_opened_while_the_previous_one_was_still_open_is_out_of_order(
    engine: AfterSale,
) -> None:
    engine.order_shipped("US-1", "1Z999", at=SHIPPED)
    opened = SHIPPED + timedelta(hours=1)
    engine.open_case(
        "RF-1", "US-1", "refund_only", "buyer", "missing_item", amount="10.00", at=opened
    )
    withdrawn = opened + timedelta(hours=5)
    engine.act("RF-1", "withdraw", "buyer", at=withdrawn)
    _refused(
        engine,
        "out_of_order",
        lambda: engine.open_case(
            "RF-2", "US-1", "refund_only", "buyer", "damaged", at=withdrawn - timedelta(hours=1)
        ),
    )
    engine.open_case("RF-2", "US-1", "refund_only", "buyer", "damaged", at=withdrawn)


def test_shipping_dated_before_a_cancellations_last_move_is_out_of_order(
    engine: AfterSale,
) -> None:
    asked = PAID + timedelta(hours=3)
    engine.open_case("CX-1", "US-1", "cancellation", "buyer", "changed_mind", at=asked)
    _refused(
        engine,
        "out_of_order",
        lambda: engine.order_shipped("US-1", "1Z999", at=asked - timedelta(1)),
    )
    engine.order_shipped("US-1", "1Z999", at=asked + timedelta(hours=1))  # closes the case
    assert engine.case("CX-1")["history"][-1]["at"] == "2026-03-02T13:00:00Z"
    # a host's retry of the same fact is still the no-op it always was
    engine.order_shipped("US-1", "1Z999", at=asked - timedelta(1))
    assert engine.order("US-1")["shipped_at"] == "2026-03-02T13:00:00Z"


@pytest.mark.parametrize("fact", ["review", "complaint", "message"])
def test_service_facts_dated_before_the_payment_are_out_of_order(
    engine: AfterSale, fact: str
) -> None:
    early = PAID - timedelta(minutes=1)
    calls = {
        "review": lambda: engine.review_posted("US-1", 2, at=early),
        "complaint": lambda: engine.complaint_filed("US-1", at=early),
        "message": lambda: engine.message_received("M-1", SHOP, "US-1", at=early),
    }
    _refused(engine, "out_of_order", calls[fact])
    assert engine.verify() == []


def test_an_order_with_nothing_left_to_refund_opens_no_case(engine: AfterSale) -> None:
    engine.order_shipped("US-1", "1Z999", at=SHIPPED)
    engine.open_case("RF-1", "US-1", "refund_only", "buyer", "not_received", at=SHIPPED)
    engine.act("RF-1", "approve", "seller", at=SHIPPED + timedelta(hours=1))
    assert engine.order("US-1")["refundable"] == "0.00"
    for amount in (None, "0.01"):
        _refused(
            engine,
            "conflict",
            lambda a=amount: engine.open_case(
                "RF-2", "US-1", "refund_only", "buyer", "damaged", amount=a, at=DELIVERED
            ),
        )
    with pytest.raises(CommandRefused, match="nothing left to refund"):
        engine.open_case("RF-2", "US-1", "refund_only", "buyer", "damaged", at=DELIVERED)
