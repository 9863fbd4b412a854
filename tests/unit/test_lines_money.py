"""The money of lines.md: what an order's lines are worth, what a case may ask for, and how the
refund of a case that ends is split over its lines, its shipping and its return shipping."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest

from aftersale.domain.lines import allocate
from tests.unit.lines_world import World, line, refused

# 3 speakers at 10.00, 1 amplifier at 20.00, 2 cables at 5.00, and 4.00 of forward shipping
BASKET = [line("speakers", 3, "10.00"), line("amp", 1, "20.00"), line("cables", 2, "5.00")]
BASKET_AMOUNT = "64.00"


def _basket(world: World, order_id: str = "ORD-1", shipping_fee: str = "4.00") -> None:
    total = Decimal("60.00") + Decimal(shipping_fee)
    world.paid(order_id, str(total), BASKET, shipping_fee=shipping_fee)
    world.delivered(order_id)


def _refunded(world: World, case_id: str, order_id: str = "ORD-1", **fields: Any) -> Any:
    """A refund_only case the seller approves: the buyer keeps the items."""
    world.open(case_id, order_id, "refund_only", fields.pop("reason", "damaged"), **fields)
    return world.act(case_id, "approve", "seller")["refund"]


# -- allocation -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("items", "capped", "decimals", "shares"),
    [
        ("10.00", ["30.00", "20.00", "10.00"], 2, ["5.00", "3.33", "1.67"]),  # 0.01 to the last
        ("0.02", ["0.01", "0.01", "0.01"], 2, ["0.00", "0.01", "0.01"]),  # spills backwards
        ("0.03", ["0.01", "0.01", "0.01"], 2, ["0.01", "0.01", "0.01"]),  # all of it
        ("2.99", ["1.00", "1.00", "1.00"], 2, ["0.99", "1.00", "1.00"]),  # last two capped
        ("1000", ["1000", "1000", "1000"], 0, ["333", "333", "334"]),
        ("1", ["1000", "1000", "1000"], 0, ["0", "0", "1"]),
        ("1.000", ["1.000", "1.000", "1.000"], 3, ["0.333", "0.333", "0.334"]),
        ("0.002", ["0.001", "0.001", "0.001"], 3, ["0.000", "0.001", "0.001"]),
        ("7.00", ["7.00"], 2, ["7.00"]),
    ],
)
def test_items_are_split_pro_rata_and_the_remainder_goes_to_the_last_lines_backwards(
    items: str, capped: list[str], decimals: int, shares: list[str]
) -> None:
    got = allocate(Decimal(items), [Decimal(x) for x in capped], decimals)
    assert [str(x) for x in got] == shares
    assert sum(got, Decimal(0)) == Decimal(items)
    assert all(share <= Decimal(cap) for share, cap in zip(got, capped, strict=True))


def test_a_whole_order_refund_is_split_over_the_lines_by_their_capped_values() -> None:
    world = World()
    _basket(world)
    refund = _refunded(world, "AS-1", amount="10.00")
    assert refund == {
        "items": "10.00",
        "shipping": "4.00",  # the whole order, on the seller: shipping too, whatever was asked
        "return_shipping": "0.00",
        "total": "14.00",
        "paid_by": "seller",
    }
    assert world.refunded_amounts("ORD-1") == {"speakers": "5.00", "amp": "3.33", "cables": "1.67"}
    order = world.engine.order("ORD-1")
    assert (order["refunded_total"], order["shipping_refunded"]) == ("14.00", "4.00")


def test_the_remainder_goes_to_the_last_line_the_case_lists_not_the_orders_last() -> None:
    world = World()
    _basket(world)
    asked = [{"line_id": "cables", "quantity": 2}, {"line_id": "speakers", "quantity": 3}]
    _refunded(world, "AS-1", lines=asked, amount="10.00")  # 10 × 10/40 = 2.50, 10 × 30/40
    assert world.refunded_amounts("ORD-1") == {"speakers": "7.50", "amp": "0.00", "cables": "2.50"}
    world.open("AS-2", "ORD-1", "refund_only", lines=asked, amount="0.07")
    world.act("AS-2", "approve", "seller")  # 0.07 × 7.50/30 = 0.0175, × 22.50/30: 0.01 left
    assert world.refunded_amounts("ORD-1") == {"speakers": "7.56", "amp": "0.00", "cables": "2.51"}


def test_a_share_is_of_the_capped_value_what_the_line_still_has_not_its_price() -> None:
    world = World()
    _basket(world)
    _refunded(world, "AS-1", lines=[{"line_id": "speakers", "quantity": 3}], amount="24.00")
    asked = [{"line_id": "speakers", "quantity": 3}, {"line_id": "amp", "quantity": 1}]
    case = world.open("AS-2", "ORD-1", "refund_only", lines=asked)
    assert case["amount"] == "26.00"  # min(30.00, 6.00) + 20.00
    world.act("AS-2", "approve", "seller")
    assert world.refunded_amounts("ORD-1") == {
        "speakers": "30.00",
        "amp": "20.00",
        "cables": "0.00",
    }


# -- what a case may ask for after a partial refund -------------------------------------------


def test_after_a_partial_refund_a_line_keeps_the_rest_of_its_value_and_every_unit() -> None:
    world = World()
    _basket(world)
    _refunded(world, "AS-1", lines=[{"line_id": "speakers", "quantity": 1}], amount="4.00")
    speakers = world.order_line("ORD-1", "speakers")
    assert speakers["refunded_amount"] == "4.00"
    assert (speakers["refundable_amount"], speakers["refundable_quantity"]) == ("26.00", 3)
    whole = [{"line_id": "speakers", "quantity": 3}]
    message = refused("conflict", lambda: world.open("AS-2", "ORD-1", lines=whole, amount="26.01"))
    assert "26.00" in message
    assert world.open("AS-2", "ORD-1", lines=whole, amount="26.00")["amount"] == "26.00"


def test_units_that_came_back_cannot_be_asked_for_again() -> None:
    world = World()
    _basket(world)
    two = [{"line_id": "speakers", "quantity": 2}]
    world.open("AS-1", "ORD-1", "return_refund", "damaged", lines=two)
    world.returned_back("AS-1")
    world.act("AS-1", "refund", "seller")
    speakers = world.order_line("ORD-1", "speakers")
    assert (speakers["returned_quantity"], speakers["refundable_quantity"]) == (2, 1)
    assert speakers["refundable_amount"] == "10.00"
    refused("conflict", lambda: world.open("AS-2", "ORD-1", lines=two))
    one = [{"line_id": "speakers", "quantity": 1}]
    assert world.open("AS-2", "ORD-1", lines=one)["amount"] == "10.00"


def test_a_line_in_another_open_case_is_a_conflict_and_so_is_a_whole_order_case() -> None:
    world = World()
    _basket(world)
    world.open("AS-1", "ORD-1", lines=[{"line_id": "amp", "quantity": 1}])
    message = refused(
        "conflict", lambda: world.open("AS-2", "ORD-1", lines=[{"line_id": "amp", "quantity": 1}])
    )
    assert "AS-1" in message
    refused("conflict", lambda: world.open("AS-3", "ORD-1"))  # does not skip the amp
    other = [{"line_id": "speakers", "quantity": 1}]
    assert world.open("AS-4", "ORD-1", lines=other)["state"] == "pending_review"


def test_an_unknown_line_is_not_found_before_any_conflict() -> None:
    world = World()
    _basket(world)
    world.open("AS-1", "ORD-1", lines=[{"line_id": "amp", "quantity": 1}])
    asked = [{"line_id": "amp", "quantity": 1}, {"line_id": "tweeter", "quantity": 1}]
    refused("not_found", lambda: world.open("AS-2", "ORD-1", lines=asked))


def test_nothing_left_to_refund_is_a_conflict() -> None:
    world = World()
    _basket(world)
    _refunded(world, "AS-1")
    refused("conflict", lambda: world.open("AS-2", "ORD-1"))
    refused(
        "conflict", lambda: world.open("AS-3", "ORD-1", lines=[{"line_id": "amp", "quantity": 1}])
    )


def test_a_fully_refunded_line_is_a_conflict_while_the_others_are_still_open_to_cases() -> None:
    world = World()
    _basket(world)
    _refunded(world, "AS-1", lines=[{"line_id": "amp", "quantity": 1}])
    amp = [{"line_id": "amp", "quantity": 1}]
    refused("conflict", lambda: world.open("AS-2", "ORD-1", lines=amp))
    case = world.open("AS-3", "ORD-1")  # the whole order leaves the amp out
    assert case["lines"] == [
        {"line_id": "speakers", "quantity": 3},
        {"line_id": "cables", "quantity": 2},
    ]
    assert case["amount"] == "40.00"


@pytest.mark.parametrize(
    "lines",
    [
        [],
        [{"line_id": "amp", "quantity": 1}, {"line_id": "amp", "quantity": 1}],
        [{"line_id": "amp", "quantity": 0}],
        [{"line_id": "amp", "quantity": 10_001}],
        [{"line_id": "amp", "quantity": True}],
        [{"line_id": "amp", "quantity": "1"}],
        [{"line_id": "amp"}],
        [{"line_id": "amp", "quantity": 1, "unit_price": "1.00"}],
        [{"line_id": "", "quantity": 1}],
        [{"line_id": "x" * 65, "quantity": 1}],
        "amp",
    ],
)
def test_a_bad_lines_list_is_invalid_input(lines: Any) -> None:
    world = World()
    _basket(world)
    refused("invalid_input", lambda: world.open("AS-1", "ORD-1", lines=lines))


@pytest.mark.parametrize(("amount", "code"), [("0", "invalid_input"), ("60.01", "conflict")])
def test_a_case_amount_must_be_positive_and_at_most_its_item_value(amount: str, code: str) -> None:
    world = World()
    _basket(world)
    refused(code, lambda: world.open("AS-1", "ORD-1", amount=amount))
    assert world.open("AS-2", "ORD-1", amount="60.00")["amount"] == "60.00"


# -- shipping, refunded once --------------------------------------------------------------------


def test_shipping_is_refunded_once_with_the_case_that_covers_the_whole_remaining_order() -> None:
    world = World()
    _basket(world)
    assert _refunded(world, "AS-1", amount="1.00")["shipping"] == "4.00"  # less than asked
    assert _refunded(world, "AS-2")["shipping"] == "0.00"  # the rest, but shipping went already
    order = world.engine.order("ORD-1")
    assert (order["refunded_total"], order["refundable"]) == ("64.00", "0.00")


def test_a_case_listing_every_line_in_full_is_the_whole_remaining_order() -> None:
    world = World()
    _basket(world)
    every = [{"line_id": x["line_id"], "quantity": x["quantity"]} for x in BASKET]
    assert _refunded(world, "AS-1", lines=every[::-1])["shipping"] == "4.00"


def test_a_case_short_of_one_unit_gets_no_shipping_and_the_next_case_does() -> None:
    world = World()
    _basket(world)
    short = [{"line_id": "speakers", "quantity": 2}, {"line_id": "amp", "quantity": 1}]
    short.append({"line_id": "cables", "quantity": 2})
    assert _refunded(world, "AS-1", lines=short)["shipping"] == "0.00"
    # refund_only moved money, not units: the speakers line has 10.00 and 3 units left
    assert _refunded(world, "AS-2")["shipping"] == "4.00"


def test_an_accepted_offer_is_all_in_and_refunds_no_shipping() -> None:
    world = World()
    _basket(world)
    world.open("AS-1", "ORD-1", "refund_only", "damaged")
    world.act("AS-1", "offer_partial_refund", "seller", amount="30.00")
    refund = world.act("AS-1", "accept_offer", "buyer")["refund"]
    assert (refund["items"], refund["shipping"], refund["total"]) == ("30.00", "0.00", "30.00")
    assert world.engine.order("ORD-1")["shipping_refunded"] == "0.00"
    # the rest of the order: a new whole-order case still gets the shipping back
    assert _refunded(world, "AS-2")["shipping"] == "4.00"


def test_no_shipping_back_when_the_buyer_is_responsible_except_for_a_cancellation() -> None:
    world = World()
    _basket(world)
    assert _refunded(world, "AS-1", reason="changed_mind")["shipping"] == "0.00"
    early = World()
    early.paid("ORD-2", BASKET_AMOUNT, BASKET, shipping_fee="4.00")
    case = early.open("AS-2", "ORD-2", "cancellation", "changed_mind")  # the free hour
    assert (case["state"], case["responsibility"]) == ("cancelled", "buyer")
    assert case["refund"]["shipping"] == "4.00"
    assert case["refund"]["total"] == "64.00"


def test_lines_split_over_cases_open_at_once_get_shipping_only_in_a_later_case() -> None:
    world = World()
    _basket(world)
    speakers = [{"line_id": "speakers", "quantity": 3}]
    rest = [{"line_id": "amp", "quantity": 1}, {"line_id": "cables", "quantity": 2}]
    world.open("AS-1", "ORD-1", lines=speakers, amount="10.00")
    world.open("AS-2", "ORD-1", lines=rest, amount="10.00")  # open beside AS-1
    assert world.act("AS-1", "approve", "seller")["refund"]["shipping"] == "0.00"
    assert world.act("AS-2", "approve", "seller")["refund"]["shipping"] == "0.00"
    assert _refunded(world, "AS-3")["shipping"] == "4.00"  # covers what is left of both


def test_the_case_after_a_split_one_covers_the_rest_once_the_other_ended() -> None:
    world = World()
    _basket(world)
    world.open("AS-1", "ORD-1", lines=[{"line_id": "speakers", "quantity": 3}])
    world.act("AS-1", "approve", "seller")  # nothing is left of the speakers
    rest = [{"line_id": "amp", "quantity": 1}, {"line_id": "cables", "quantity": 2}]
    assert _refunded(world, "AS-2", lines=rest)["shipping"] == "4.00"


# -- return shipping, by the responsibility at the refund ---------------------------------------


@pytest.mark.parametrize(
    ("responsibility", "return_shipping", "paid_by"),
    [
        ("seller", "7.50", "seller"),
        ("logistics", "7.50", "platform"),
        ("platform", "7.50", "platform"),
        ("buyer", "0.00", "seller"),
        ("none", "0.00", "seller"),
    ],
)
def test_return_shipping_is_refunded_unless_the_buyer_or_no_one_is_responsible(
    responsibility: str, return_shipping: str, paid_by: str
) -> None:
    world = World()
    _basket(world)
    world.open("AS-1", "ORD-1", "return_refund", "changed_mind")
    world.returned_back("AS-1", shipping_cost="7.50")
    case = world.ruled_at_refund("AS-1", responsibility)
    shipping = "0.00" if responsibility == "buyer" else "4.00"
    total = Decimal("60.00") + Decimal(shipping) + Decimal(return_shipping)
    assert case["refund"] == {
        "items": "60.00",
        "shipping": shipping,
        "return_shipping": return_shipping,
        "total": str(total),
        "paid_by": paid_by,
    }
    order = world.engine.order("ORD-1")  # return shipping is outside the order's cap
    assert order["refunded_total"] == str(Decimal("60.00") + Decimal(shipping))
    assert [x["returned_quantity"] for x in order["lines"]] == [3, 1, 2]


@pytest.mark.parametrize(
    ("reason", "paid_by"), [("damaged", "seller"), ("not_received", "platform")]
)
def test_a_refund_timeout_refunds_the_return_shipping_at_its_deadline(
    reason: str, paid_by: str
) -> None:
    world = World()
    _basket(world)
    world.open("AS-1", "ORD-1", "return_refund", reason)
    world.returned_back("AS-1", shipping_cost="3.25")
    deadline = world.engine.case("AS-1")["deadline_at"]
    world.later(timedelta(days=3))
    assert world.engine.fire_due() == 1
    case = world.engine.case("AS-1")
    assert (case["state"], case["history"][-1]["action"]) == ("refunded", "refund_timeout")
    assert case["history"][-1]["at"] == deadline
    assert case["refund"]["return_shipping"] == "3.25"
    assert case["refund"]["paid_by"] == paid_by


def test_no_return_shipping_without_a_cost_or_for_a_refund_only_case() -> None:
    world = World()
    _basket(world)
    world.open("AS-1", "ORD-1", "return_refund", "damaged")
    world.returned_back("AS-1", shipping_cost=None)
    assert world.act("AS-1", "refund", "seller")["refund"]["return_shipping"] == "0.00"
    free = World()
    _basket(free, "ORD-2")
    free.open("AS-2", "ORD-2", "return_refund", "damaged")
    free.returned_back("AS-2", shipping_cost="0")
    assert free.act("AS-2", "refund", "seller")["refund"]["return_shipping"] == "0.00"


# -- currencies without cents, and with fils ----------------------------------------------------


def test_yen_amounts_are_whole_and_the_remainder_is_one_yen() -> None:
    world = World()
    tea = [line("sencha", 1, "1000"), line("matcha", 1, "1000"), line("hojicha", 1, "1000")]
    order = world.paid("ORD-JP", "3500", tea, shipping_fee="500", market="JP")
    assert (order["amount"], order["shipping_fee"], order["refundable"]) == ("3500", "500", "3500")
    assert [x["value"] for x in order["lines"]] == ["1000", "1000", "1000"]
    world.delivered("ORD-JP")
    refund = _refunded(world, "AS-JP", "ORD-JP", amount="1000")
    assert refund == {
        "items": "1000",
        "shipping": "500",
        "return_shipping": "0",
        "total": "1500",
        "paid_by": "seller",
    }
    assert world.refunded_amounts("ORD-JP") == {"sencha": "333", "matcha": "333", "hojicha": "334"}
    assert world.order_line("ORD-JP", "hojicha")["refundable_amount"] == "666"


def test_dinar_amounts_have_three_decimals_and_the_remainder_is_one_fils() -> None:
    world = World()
    dates = [line("ajwa", 1, "1.000"), line("sukkari", 1, "1.000"), line("khalas", 1, "1.000")]
    order = world.paid("ORD-KW", "3.250", dates, shipping_fee="0.250", market="KW")
    assert (order["amount"], order["shipping_fee"]) == ("3.250", "0.250")
    world.delivered("ORD-KW")
    world.open("AS-KW", "ORD-KW", "return_refund", "damaged", amount="1")
    world.returned_back("AS-KW", shipping_cost="0.125")
    refund = world.act("AS-KW", "refund", "seller")["refund"]
    assert refund == {
        "items": "1.000",
        "shipping": "0.250",
        "return_shipping": "0.125",
        "total": "1.375",
        "paid_by": "seller",
    }
    assert world.refunded_amounts("ORD-KW") == {
        "ajwa": "0.333",
        "sukkari": "0.333",
        "khalas": "0.334",
    }
    assert world.engine.order("ORD-KW")["refunded_total"] == "1.250"


@pytest.mark.parametrize(
    ("market", "price", "amount"),
    [("US", "1.005", "2.01"), ("JP", "100.5", "201"), ("KW", "1.0005", "2.001")],
)
def test_a_unit_price_with_more_decimals_than_its_currency_is_invalid_input(
    market: str, price: str, amount: str
) -> None:
    world = World()
    # two units make a sum the currency can hold: the price itself is what is refused
    message = refused(
        "invalid_input",
        lambda: world.paid("ORD-1", amount, [line("pair", 2, price)], None, market),
    )
    assert "unit_price" in message


@pytest.mark.parametrize(("market", "fee"), [("US", "0.001"), ("JP", "0.5"), ("KW", "0.0001")])
def test_a_shipping_fee_with_more_decimals_than_its_currency_is_invalid_input(
    market: str, fee: str
) -> None:
    world = World()
    message = refused("invalid_input", lambda: world.paid("ORD-1", "10", None, fee, market))
    assert "shipping_fee" in message


@pytest.mark.parametrize(
    ("market", "offer", "cost"),
    [("US", "1.005", "0.001"), ("JP", "1.5", "0.5"), ("KW", "0.0001", "1.0001")],
)
def test_an_offer_or_a_return_cost_with_too_many_decimals_is_invalid_input(
    market: str, offer: str, cost: str
) -> None:
    world = World()
    price = {"US": "10.00", "JP": "1000", "KW": "1.000"}[market]
    world.paid("ORD-1", price, [line("only", 1, price)], market=market)
    world.delivered("ORD-1")
    refused("invalid_input", lambda: world.open("AS-0", "ORD-1", amount=offer))
    world.open("AS-1", "ORD-1", "return_refund", "damaged")
    message = refused(
        "invalid_input",
        lambda: world.act("AS-1", "offer_partial_refund", "seller", amount=offer),
    )
    assert "amount" in message
    world.act("AS-1", "approve", "seller")
    message = refused(
        "invalid_input",
        lambda: world.act("AS-1", "ship_return", "buyer", tracking="RET-1", shipping_cost=cost),
    )
    assert "shipping_cost" in message
    assert world.engine.case("AS-1")["offers"] == []


def test_lines_that_do_not_add_up_to_the_amount_are_invalid_input_naming_both_sums() -> None:
    world = World()
    message = refused(
        "invalid_input", lambda: world.paid("ORD-1", "50.00", BASKET[:2], shipping_fee="3.00")
    )
    assert "50.00" in message and "53.00" in message  # 30.00 + 20.00 + 3.00
    refused("invalid_input", lambda: world.paid("ORD-1", "53.01", BASKET[:2], shipping_fee="3.00"))
    order = world.paid("ORD-1", "53.00", BASKET[:2], shipping_fee="3.00")
    assert order["refundable"] == "53.00"


def test_an_order_without_lines_has_one_line_of_its_amount_less_shipping() -> None:
    world = World()
    order = world.paid("ORD-1", "25.00", shipping_fee="5.00")
    assert [(x["line_id"], x["quantity"], x["unit_price"]) for x in order["lines"]] == [
        ("1", 1, "20.00")
    ]
    refused("invalid_input", lambda: world.paid("ORD-2", "5.00", shipping_fee="5.00"))


# -- cancelling some lines, or all ----------------------------------------------------------------


def test_a_partial_cancellation_leaves_the_order_open_and_shippable() -> None:
    world = World()
    world.paid("ORD-1", BASKET_AMOUNT, BASKET, shipping_fee="4.00")
    case = world.open(
        "AS-1", "ORD-1", "cancellation", "changed_mind", lines=[{"line_id": "amp", "quantity": 1}]
    )
    assert case["state"] == "cancelled"
    assert case["refund"]["shipping"] == "0.00"
    order = world.engine.order("ORD-1")
    assert order["cancelled_at"] is None
    assert world.order_line("ORD-1", "amp")["refundable_quantity"] == 0
    world.later()
    assert world.engine.order_shipped("ORD-1", "TRACK-1")["shipped_at"] is not None
    world.later()
    world.engine.order_delivered("ORD-1")
    assert world.open("AS-2", "ORD-1", "refund_only", "damaged")["amount"] == "40.00"


def test_cancelling_every_line_cancels_the_order() -> None:
    world = World()
    world.paid("ORD-1", BASKET_AMOUNT, BASKET, shipping_fee="4.00")
    first = [{"line_id": "amp", "quantity": 1}, {"line_id": "speakers", "quantity": 2}]
    world.open("AS-1", "ORD-1", "cancellation", "out_of_stock", lines=first)
    assert world.engine.order("ORD-1")["cancelled_at"] is None
    case = world.open("AS-2", "ORD-1", "cancellation", "out_of_stock")  # the rest
    assert case["lines"] == [
        {"line_id": "speakers", "quantity": 1},
        {"line_id": "cables", "quantity": 2},
    ]
    assert case["refund"]["shipping"] == "4.00"
    order = world.engine.order("ORD-1")
    assert order["cancelled_at"] == case["updated_at"]
    assert order["refunded_total"] == BASKET_AMOUNT
    refused("not_allowed", lambda: world.engine.order_shipped("ORD-1", "TRACK-1"))
    refused("not_eligible", lambda: world.open("AS-3", "ORD-1", "cancellation", "changed_mind"))


def test_cancellations_split_over_cases_open_at_once_give_the_shipping_back_with_the_last() -> (
    None
):
    """Two buyer cancellations pending side by side take every line: the order never ships,
    so the one that cancels its last units refunds the shipping fee (no later case can)."""
    world = World()
    world.paid("ORD-1", BASKET_AMOUNT, BASKET, shipping_fee="4.00")
    world.later(timedelta(hours=2))  # past the free hour: both wait for the seller
    first = [{"line_id": "amp", "quantity": 1}]
    rest = [{"line_id": "speakers", "quantity": 3}, {"line_id": "cables", "quantity": 2}]
    world.open("AS-1", "ORD-1", "cancellation", "changed_mind", lines=first)
    world.open("AS-2", "ORD-1", "cancellation", "changed_mind", lines=rest)
    assert world.act("AS-2", "approve", "seller")["refund"]["shipping"] == "0.00"
    last = world.act("AS-1", "approve", "seller")
    assert (last["refund"]["shipping"], last["refund"]["total"]) == ("4.00", "24.00")
    order = world.engine.order("ORD-1")
    assert (order["refunded_total"], order["shipping_refunded"]) == (BASKET_AMOUNT, "4.00")
    assert order["cancelled_at"] == last["updated_at"]
    assert world.engine.verify() == []


def test_a_shipping_fee_or_cost_of_minus_zero_is_zero_not_a_negative_amount() -> None:
    """A "-0" is a plain decimal string of 0 (the pattern lets a "-" through for the refusal
    "must be 0 or more"): it is zero, and no view, event or refund shows "-0.00"."""
    world = World()
    order = world.paid("ORD-1", "60.00", BASKET, shipping_fee="-0")
    assert order["shipping_fee"] == "0.00"
    world.delivered("ORD-1")
    world.open("AS-1", "ORD-1", "return_refund")
    world.returned_back("AS-1", shipping_cost="-0.00")
    refund = world.act("AS-1", "refund", "seller")["refund"]
    assert (refund["shipping"], refund["return_shipping"]) == ("0.00", "0.00")
    events = [e for e in world.engine.log(0, 1000) if e["case_id"] == "AS-1"]
    assert [e["shipping_cost"] for e in events if "shipping_cost" in e] == ["0.00"]
    assert world.engine.verify() == []
