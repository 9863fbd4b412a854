"""Partial-refund offers (lines.md): how many, for how much, and the seller's clock, which stops
while the buyer decides and is given back exactly when the offer ends without a deal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aftersale.clock import iso
from tests.unit.lines_world import World, line, refused

DAY = timedelta(days=1)
MICROSECOND = timedelta(microseconds=1)
HEADPHONES = [line("headphones", 1, "80.00")]


def _at(text: str | None) -> datetime:
    assert text is not None
    return datetime.fromisoformat(text)


def _case(world: World, kind: str = "refund_only") -> dict[str, Any]:
    world.paid("ORD-1", "80.00", HEADPHONES)
    world.delivered("ORD-1")
    return world.open("AS-1", "ORD-1", kind, "damaged")


def _offer(world: World, amount: str = "30.00") -> dict[str, Any]:
    return world.act("AS-1", "offer_partial_refund", "seller", amount=amount)


# -- how many offers, for how much -------------------------------------------------------------


def test_a_seller_makes_at_most_three_offers_and_a_refused_amount_is_not_counted() -> None:
    world = World()
    _case(world)
    refused("invalid_input", lambda: _offer(world, "80.00"))  # not below the amount asked
    refused("invalid_input", lambda: _offer(world, "95.00"))
    for number in (1, 2, 3):
        case = _offer(world, f"{number}0.00")
        assert case["state"] == "awaiting_buyer_response"
        assert case["offers"][-1]["number"] == number
        world.act("AS-1", "decline_offer", "buyer")
    message = refused("not_allowed", lambda: _offer(world, "40.00"))
    assert "3" in message
    case = world.engine.case("AS-1")
    assert [(o["number"], o["amount"], o["outcome"]) for o in case["offers"]] == [
        (1, "10.00", "declined"),
        (2, "20.00", "declined"),
        (3, "30.00", "declined"),
    ]
    assert case["state"] == "pending_review"


def test_an_offer_is_below_the_cases_amount_not_the_orders() -> None:
    world = World()
    world.paid("ORD-1", "80.00", HEADPHONES)
    world.delivered("ORD-1")
    world.open("AS-1", "ORD-1", "refund_only", "damaged", amount="25.00")
    refused("invalid_input", lambda: _offer(world, "25.00"))
    assert _offer(world, "24.99")["offers"][0]["amount"] == "24.99"


def test_no_offers_on_a_cancellation() -> None:
    world = World()
    world.paid("ORD-1", "80.00", HEADPHONES)
    world.later(timedelta(hours=2))  # past the free hour: the seller reviews it
    assert world.open("AS-1", "ORD-1", "cancellation", "changed_mind")["state"] == (
        "pending_review"
    )
    refused("not_allowed", lambda: _offer(world))


@pytest.mark.parametrize(
    ("action", "actor", "fields"),
    [
        ("approve", "seller", {"amount": "10.00"}),
        ("reject", "seller", {"reject_reason": "item_used", "shipping_cost": "1.00"}),
        ("offer_partial_refund", "seller", {"amount": "10.00", "shipping_cost": "1.00"}),
        ("withdraw", "buyer", {"amount": "10.00"}),
    ],
)
def test_amount_or_shipping_cost_on_an_action_that_does_not_take_it_is_invalid_input(
    action: str, actor: str, fields: dict[str, str]
) -> None:
    world = World()
    _case(world, "return_refund")
    message = refused("invalid_input", lambda: world.act("AS-1", action, actor, **fields))
    assert "does not apply" in message
    assert world.engine.case("AS-1")["state"] == "pending_review"


def test_accept_and_decline_take_no_amount() -> None:
    world = World()
    _case(world)
    _offer(world)
    refused("invalid_input", lambda: world.act("AS-1", "accept_offer", "buyer", amount="31.00"))
    refused("invalid_input", lambda: world.act("AS-1", "decline_offer", "buyer", amount="1.00"))
    assert world.engine.case("AS-1")["state"] == "awaiting_buyer_response"


# -- accepted, withdrawn ------------------------------------------------------------------------


def test_an_accepted_offer_before_the_return_moves_money_and_no_units() -> None:
    world = World()
    _case(world, "return_refund")
    _offer(world, "30.00")
    case = world.act("AS-1", "accept_offer", "buyer")
    assert (case["state"], case["amount"]) == ("refunded", "80.00")  # the ask stays shown
    assert case["offers"][0]["outcome"] == "accepted"
    assert case["refund"]["items"] == "30.00"
    headphones = world.order_line("ORD-1", "headphones")
    assert (headphones["refunded_amount"], headphones["returned_quantity"]) == ("30.00", 0)
    assert world.open("AS-2", "ORD-1", "refund_only", "damaged")["amount"] == "50.00"


def test_an_accepted_offer_after_the_return_counts_the_units_returned() -> None:
    world = World()
    _case(world, "return_refund")
    world.returned_back("AS-1")
    _offer(world, "60.00")
    case = world.act("AS-1", "accept_offer", "buyer")
    assert case["refund"] == {
        "items": "60.00",
        "shipping": "0.00",
        "return_shipping": "7.50",
        "total": "67.50",
        "paid_by": "seller",
    }
    headphones = world.order_line("ORD-1", "headphones")
    assert (headphones["returned_quantity"], headphones["refundable_quantity"]) == (1, 0)
    refused("conflict", lambda: world.open("AS-2", "ORD-1", "refund_only", "damaged"))


def test_a_buyer_may_withdraw_while_an_offer_is_open() -> None:
    world = World()
    _case(world)
    _offer(world)
    case = world.act("AS-1", "withdraw", "buyer")
    assert (case["state"], case["refund"], case["deadline_at"]) == ("withdrawn", None, None)
    assert case["offers"][0]["outcome"] == "withdrawn"
    assert world.order_line("ORD-1", "headphones")["open_case_id"] is None


# -- the seller's clock -------------------------------------------------------------------------


def test_a_declined_offer_gives_the_seller_the_time_that_was_left() -> None:
    world = World()
    opened = _case(world)
    prior = _at(opened["deadline_at"])
    assert prior == _at(opened["opened_at"]) + 2 * DAY
    offered_at = world.later(timedelta(hours=10))
    case = world.engine.act("AS-1", "offer_partial_refund", "seller", amount="30.00")
    assert _at(case["deadline_at"]) == offered_at + DAY
    declined_at = world.later(timedelta(hours=23, minutes=59, seconds=59, microseconds=999_999))
    case = world.engine.act("AS-1", "decline_offer", "buyer")
    assert case["state"] == "pending_review"
    assert _at(case["deadline_at"]) == declined_at + (prior - offered_at)
    assert case["offers"][0]["outcome"] == "declined"


def test_an_offer_lapses_exactly_at_24_hours_and_the_clock_counts_from_there() -> None:
    world = World()
    prior = _at(_case(world)["deadline_at"])
    offered_at = world.later(timedelta(hours=30, microseconds=7))
    world.engine.act("AS-1", "offer_partial_refund", "seller", amount="30.00")
    lapse = offered_at + DAY
    world.to(lapse - MICROSECOND)  # the buyer may still answer
    assert world.engine.catch_up("AS-1")["state"] == "awaiting_buyer_response"
    world.to(lapse)  # at the deadline the offer has lapsed: accepting comes too late
    message = refused("not_allowed", lambda: world.engine.act("AS-1", "accept_offer", "buyer"))
    assert "pending_review" in message
    case = world.engine.case("AS-1")
    assert case["history"][-1] == {
        "action": "offer_timeout",
        "from": "awaiting_buyer_response",
        "to": "pending_review",
        "actor": "system",
        "auto": True,
        "at": iso(lapse),
        "responsibility": "seller",
        "overturned": False,
    }
    assert _at(case["deadline_at"]) == lapse + (prior - offered_at)
    assert case["offers"][0]["outcome"] == "lapsed"


def test_an_answer_a_microsecond_before_the_lapse_is_taken() -> None:
    world = World()
    _case(world)
    offered_at = world.later()
    world.engine.act("AS-1", "offer_partial_refund", "seller", amount="30.00")
    world.to(offered_at + DAY - MICROSECOND)
    assert world.engine.act("AS-1", "accept_offer", "buyer")["refund"]["items"] == "30.00"


def test_a_late_sweep_restores_the_deadline_from_the_lapse_not_from_the_sweep() -> None:
    world = World()
    prior = _at(_case(world)["deadline_at"])
    offered_at = world.later(timedelta(hours=1))
    world.engine.act("AS-1", "offer_partial_refund", "seller", amount="30.00")
    lapse = offered_at + DAY
    restored = lapse + (prior - offered_at)
    world.to(lapse + timedelta(days=5))  # the sweep ran late, past the restored deadline too
    assert world.engine.fire_due() == 2
    case = world.engine.case("AS-1")
    assert [(h["action"], h["at"]) for h in case["history"][-2:]] == [
        ("offer_timeout", iso(lapse)),
        ("review_timeout", iso(restored)),
    ]
    assert case["state"] == "refunded"
    assert case["refund"]["items"] == "80.00"


def test_an_offer_made_from_return_received_gives_back_its_refund_deadline() -> None:
    world = World()
    _case(world, "return_refund")
    world.returned_back("AS-1")
    received = world.engine.case("AS-1")
    prior = _at(received["deadline_at"])
    offered_at = world.later(timedelta(hours=20))
    world.engine.act("AS-1", "offer_partial_refund", "seller", amount="50.00")
    declined_at = world.later(timedelta(hours=3))
    case = world.engine.act("AS-1", "decline_offer", "buyer")
    assert case["state"] == "return_received"
    assert _at(case["deadline_at"]) == declined_at + (prior - offered_at)


# Thursday 5 March 2026, 10:00 in New York: a 500.00 refund is above the US threshold, so the
# seller has 4 business days (Fri, Mon, Tue, Wed) and the clocks go forward on Sunday 8 March
THURSDAY_10AM_NEW_YORK = datetime(2026, 3, 5, 15, 0, tzinfo=UTC)


@pytest.mark.parametrize("ending", ["decline_offer", "offer_timeout"])
def test_a_business_day_deadline_comes_back_as_an_exact_duration(ending: str) -> None:
    world = World(THURSDAY_10AM_NEW_YORK - timedelta(days=2))
    world.paid("ORD-1", "500.00", [line("turntable", 1, "500.00")])
    world.delivered("ORD-1")
    world.to(THURSDAY_10AM_NEW_YORK)
    case = world.engine.open_case("AS-1", "ORD-1", "refund_only", "buyer", "damaged")
    prior = _at(case["deadline_at"])
    assert prior == datetime(2026, 3, 11, 14, 0, tzinfo=UTC)  # Wed 10:00 EDT
    offered_at = world.to(datetime(2026, 3, 6, 17, 0, tzinfo=UTC))  # Friday noon EST
    world.engine.act("AS-1", "offer_partial_refund", "seller", amount="300.00")
    left = prior - offered_at
    assert left == timedelta(days=4, hours=21)
    if ending == "decline_offer":
        back = world.to(datetime(2026, 3, 7, 12, 0, tzinfo=UTC))  # a Saturday
        case = world.engine.act("AS-1", "decline_offer", "buyer")
    else:
        back = offered_at + DAY
        world.to(back + timedelta(hours=1))
        case = world.engine.catch_up("AS-1")
    assert case["state"] == "pending_review"
    assert _at(case["deadline_at"]) == back + left  # not 4 business days from the return
    assert _at(case["deadline_at"]) != prior
