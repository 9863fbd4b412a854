"""Order lines on the real command line (lines.md): `order show` lists each line and what is
refundable, `case open --line` names lines, `case act` takes `--amount` and `--shipping-cost`,
and a malformed `--line` is a bad option naming what is wrong, never a traceback."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_cli import _json, _run, _scenario

# 4 mugs at 10.00, a lamp at 20.00 and 6.00 shipping, delivered on 4 March
PAID_WITH_LINES: list[dict[str, Any]] = [
    {
        "at": "2026-03-02T09:00:00Z",
        "type": "order.paid",
        "order_id": "US-77",
        "shop_id": "shop-harbor-goods",
        "buyer_id": "buyer-ivo",
        "market": "US",
        "currency": "USD",
        "amount": "66.00",
        "shipping_fee": "6.00",
        "lines": [
            {"line_id": "mug", "sku": "MUG-WHITE", "quantity": 4, "unit_price": "10.00"},
            {"line_id": "lamp", "sku": "LAMP-BRASS", "quantity": 1, "unit_price": "20.00"},
        ],
    },
    {"at": "2026-03-03T09:00:00Z", "type": "order.shipped", "order_id": "US-77"},
    {"at": "2026-03-04T09:00:00Z", "type": "order.delivered", "order_id": "US-77"},
]
OPEN_MUGS = [
    *("case", "open", "RO-1", "US-77", "--kind", "refund_only", "--actor", "buyer"),
    *("--reason", "damaged", "--at", "2026-03-05T09:00:00Z"),
]


@pytest.fixture
def shop(tmp_path: Path) -> Path:
    """An SQLite file with the order of PAID_WITH_LINES, delivered, and no case yet."""
    scenario = _scenario(tmp_path, PAID_WITH_LINES)
    played = _run(tmp_path, "replay", str(scenario), "--db", f"sqlite:///{tmp_path / 'ops.db'}")
    assert played.returncode == 0, played.stderr
    return tmp_path


def _act(shop: Path, case_id: str, action: str, actor: str, at: str, *more: str) -> Any:
    done = _run(
        shop, "case", "act", case_id, action, "--actor", actor, *("--at", at, *more), "--json"
    )
    assert done.returncode == 0, done.stderr
    return _json(done)


def test_order_show_lists_every_line_and_what_is_still_refundable(shop: Path) -> None:
    opened = _run(shop, *OPEN_MUGS, "--line", "mug=2")
    assert opened.returncode == 0, opened.stderr
    shown = _run(shop, "order", "show", "US-77")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "66.00 USD, 0.00 refunded, 66.00 refundable; shipping fee 6.00, 0.00 of it" in text
    for cell in ("mug", "MUG-WHITE", "4 × 10.00", "40.00", "lamp", "LAMP-BRASS", "1 × 20.00"):
        assert cell in text, cell
    mug_row = next(row for row in text.splitlines() if "MUG-WHITE" in row)
    assert "RO-1" in mug_row  # the line's open case
    order = _json(_run(shop, "order", "show", "US-77", "--json"))
    assert [(line["line_id"], line["open_case_id"]) for line in order["lines"]] == [
        ("mug", "RO-1"),
        ("lamp", None),
    ]
    assert (order["shipping_fee"], order["shipping_refunded"]) == ("6.00", "0.00")


def test_an_operator_opens_a_case_on_lines_and_settles_it_with_an_offer(shop: Path) -> None:
    opened = _run(shop, *OPEN_MUGS, "--line", "mug=2", "--json")
    assert opened.returncode == 0, opened.stderr
    case = _json(opened)
    assert (case["state"], case["amount"], case["lines"]) == (
        "pending_review",
        "20.00",
        [{"line_id": "mug", "quantity": 2}],
    )
    at = "2026-03-05T10:00:00Z"
    offered = _act(shop, "RO-1", "offer_partial_refund", "seller", at, "--amount", "8.00")
    assert offered["state"] == "awaiting_buyer_response"
    assert offered["offers"] == [{"number": 1, "amount": "8.00", "at": at, "outcome": "open"}]
    assert _act(shop, "RO-1", "decline_offer", "buyer", "2026-03-05T11:00:00Z")["state"] == (
        "pending_review"
    )
    _act(shop, "RO-1", "offer_partial_refund", "seller", "2026-03-05T12:00:00Z", "--amount", "12")
    accepted = _act(shop, "RO-1", "accept_offer", "buyer", "2026-03-05T13:00:00Z")
    assert accepted["refund"] == {
        "items": "12.00",
        "shipping": "0.00",
        "return_shipping": "0.00",
        "total": "12.00",
        "paid_by": "seller",
    }
    human = _run(shop, "case", "show", "RO-1").stdout
    assert "lines: mug × 2" in human
    assert "offer 1: 8.00 USD at 2026-03-05T10:00:00Z, declined" in human
    assert "offer 2: 12.00 USD at 2026-03-05T12:00:00Z, accepted" in human
    assert "refund: 12.00 USD paid by seller (items 12.00, shipping 0.00, return shipping" in human
    assert _json(_run(shop, "case", "show", "RO-1", "--json")) == accepted  # the view as it is
    mug = _json(_run(shop, "order", "show", "US-77", "--json"))["lines"][0]
    assert (mug["refunded_amount"], mug["refundable_amount"], mug["refundable_quantity"]) == (
        "12.00",
        "28.00",
        4,  # the buyer kept the mugs: money moved, no units
    )


def test_return_shipping_given_with_ship_return_is_refunded_with_the_return(shop: Path) -> None:
    opened = _run(
        shop,
        *("case", "open", "RR-1", "US-77", "--kind", "return_refund", "--actor", "buyer"),
        *("--reason", "defective", "--line", "lamp=1", "--at", "2026-03-05T09:00:00Z"),
    )
    assert opened.returncode == 0, opened.stderr
    _act(shop, "RR-1", "approve", "seller", "2026-03-05T10:00:00Z")
    shipped = _act(
        shop,
        *("RR-1", "ship_return", "buyer", "2026-03-05T11:00:00Z"),
        *("--tracking", "RET-77", "--shipping-cost", "4.50"),
    )
    assert shipped["state"] == "return_in_transit"
    _act(shop, "RR-1", "confirm_receipt", "seller", "2026-03-06T09:00:00Z")
    refunded = _act(shop, "RR-1", "refund", "seller", "2026-03-06T10:00:00Z")
    assert refunded["refund"]["return_shipping"] == "4.50"
    assert refunded["refund"]["total"] == "24.50"
    lamp = _json(_run(shop, "order", "show", "US-77", "--json"))["lines"][1]
    assert (lamp["returned_quantity"], lamp["refundable_quantity"]) == (1, 0)


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("mug", "'mug' is not LINE_ID=QTY"),
        ("=2", "'=2' is not LINE_ID=QTY"),
        ("mug=two", "the quantity 'two' is not a whole number"),
        ("mug=1.5", "the quantity '1.5' is not a whole number"),
        ("mug=-1", "the quantity '-1' is not a whole number"),
        ("mug=0", "the quantity must be a whole number from 1 to 10,000"),
        ("mug=" + "9" * 5000, "the quantity must be a whole number from 1 to 10,000"),
    ],
)
def test_a_malformed_line_option_exits_2_naming_it_and_opens_nothing(
    shop: Path, line: str, message: str
) -> None:
    done = _run(shop, *OPEN_MUGS, "--line", line)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "--line" in done.stderr and message in done.stderr
    assert "Traceback" not in done.stderr
    assert _run(shop, "case", "show", "RO-1").returncode == 1  # not_found: nothing written


def test_a_line_given_twice_is_a_bad_option(shop: Path) -> None:
    done = _run(shop, *OPEN_MUGS, "--line", "mug=1", "--line", "mug=2")
    assert done.returncode == 2
    assert "'mug=2': line mug is given twice" in done.stderr


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--line", "teapot=1"], "not_found", "order US-77 has no line teapot"),
        (["--line", "lamp=2"], "conflict", "order US-77 line lamp: 2 asked, 1 of 1"),
        (["--line", "mug=1", "--amount", "10.01"], "conflict", "10.01"),
    ],
)
def test_a_line_the_order_refuses_is_a_refused_command(
    shop: Path, args: list[str], code: str, message: str
) -> None:
    done = _run(shop, *OPEN_MUGS, *args, "--json")
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert _json(done)["error"]["code"] == code
    assert message in done.stderr and "Traceback" not in done.stderr


@pytest.mark.parametrize(
    ("action", "actor", "args", "message"),
    [
        ("approve", "seller", ["--amount", "5.00"], "field amount does not apply to action"),
        ("approve", "seller", ["--shipping-cost", "1.00"], "field shipping_cost does not apply"),
        ("offer_partial_refund", "seller", ["--amount", "20.00"], "amount"),
        ("offer_partial_refund", "seller", ["--amount", "5.001"], "amount"),
    ],
)
def test_case_act_refuses_an_amount_or_shipping_cost_that_does_not_fit(
    shop: Path, action: str, actor: str, args: list[str], message: str
) -> None:
    assert _run(shop, *OPEN_MUGS, "--line", "mug=2").returncode == 0
    done = _run(
        shop, "case", "act", "RO-1", action, "--actor", actor, *args, "--at", "2026-03-05T10:00Z"
    )
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "error [invalid_input]" in done.stderr and message in done.stderr
    assert _json(_run(shop, "case", "show", "RO-1", "--json"))["state"] == "pending_review"
