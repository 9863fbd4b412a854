"""A host retrying after a timeout sends the same request again while the first is still in
flight: an identical repeat is a no-op however the two race; another request under the same id
is a conflict. Threads with engines of their own (as separate processes would have), released
together by a barrier, on an SQLite file, in memory and on a real PostgreSQL (where 109 of 160
identical repeats used to come back as "the database refused a duplicate").
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import aftersale
from aftersale import AfterSaleError, VirtualClock
from tests.conftest import MONDAY_9AM
from tests.integration.racing import at_once

THREADS = 4
ROUNDS = 10
SHOP, BUYER = "shop-lumen-audio", "buyer-ada"
SHIPPED = MONDAY_9AM + timedelta(days=1)
NOW = SHIPPED + timedelta(hours=1)


def _engines(url: str) -> list[aftersale.AfterSale]:
    clock = VirtualClock(NOW)
    first = aftersale.connect(url, clock=clock, require_identity=False)
    rest = [
        aftersale.connect(url, clock=clock, require_identity=False, migrate=False)
        for _ in range(THREADS - 1)
    ]
    return [first, *rest]


def _paid(engine: aftersale.AfterSale, order_id: str, amount: str = "40.00") -> Any:
    return engine.order_paid(order_id, SHOP, BUYER, "US", "USD", amount, at=MONDAY_9AM)


def _refund(engine: aftersale.AfterSale, case_id: str, order_id: str, reason: str) -> Any:
    return engine.open_case(case_id, order_id, "refund_only", "buyer", reason, at=NOW)


def _counts(engine: aftersale.AfterSale) -> dict[tuple[str, str | None], int]:
    counts: dict[tuple[str, str | None], int] = {}
    for event in engine.log(0, 10_000):
        key = (event["type"], event["case_id"] or event["order_id"])
        counts[key] = counts.get(key, 0) + 1
    return counts


def test_identical_repeats_racing_are_each_a_no_op(db_url: str) -> None:
    engines = _engines(db_url)
    for round_ in range(ROUNDS):
        order_id = f"US-{round_}"
        paid = at_once([lambda e=e, o=order_id: _paid(e, o) for e in engines])
        assert all(isinstance(view, dict) for view in paid), paid
        engines[0].order_shipped(order_id, "1Z999", at=SHIPPED)
        case_id = f"RF-{round_}"
        opened = at_once(
            [lambda e=e, c=case_id, o=order_id: _refund(e, c, o, "not_received") for e in engines]
        )
        assert all(isinstance(view, dict) for view in opened), opened
        assert {view["case_id"] for view in opened} == {case_id}
    counts = _counts(engines[0])
    for round_ in range(ROUNDS):
        assert counts[("order.paid", f"US-{round_}")] == 1
        assert counts[("case.transition", f"RF-{round_}")] == 1
    assert engines[0].verify() == []


def test_different_requests_under_one_id_racing_are_one_win_and_conflicts(db_url: str) -> None:
    engines = _engines(db_url)
    for round_ in range(ROUNDS):
        order_id = f"US-{round_}"
        amounts = [f"{40 + n}.00" for n in range(THREADS)]
        paid = at_once(
            [
                lambda e=e, o=order_id, a=a: _paid(e, o, a)
                for e, a in zip(engines, amounts, strict=True)
            ]
        )
        assert sum(isinstance(view, dict) for view in paid) == 1, paid
        assert {error.code for error in paid if not isinstance(error, dict)} == {"conflict"}
        engines[0].order_shipped(order_id, "1Z999", at=SHIPPED)
        reasons = ["not_received", "damaged", "missing_item", "not_as_described"]
        opened = at_once(
            [
                lambda e=e, c=f"RF-{round_}", o=order_id, r=r: _refund(e, c, o, r)
                for e, r in zip(engines, reasons, strict=True)
            ]
        )
        assert sum(isinstance(view, dict) for view in opened) == 1, opened
        assert {error.code for error in opened if not isinstance(error, dict)} == {"conflict"}
    assert engines[0].verify() == []


def test_identical_order_facts_and_messages_racing_are_each_a_no_op(db_url: str) -> None:
    """Shipped, delivered, a buyer's message: the webhook a host redelivers while the first
    delivery is still being written."""
    engines = _engines(db_url)
    for round_ in range(ROUNDS):
        order_id = f"US-{round_}"
        _paid(engines[0], order_id)
        for record in (
            lambda e, o: e.order_shipped(o, "1Z999", at=SHIPPED),
            lambda e, o: e.order_delivered(o, at=SHIPPED + timedelta(minutes=30)),
            lambda e, o: e.message_received(f"M-{o}", SHOP, o, at=NOW),
            lambda e, o: e.message_replied(f"M-{o}", at=NOW),
        ):
            results = at_once([lambda e=e, r=record, o=order_id: r(e, o) for e in engines])
            assert not [r for r in results if isinstance(r, AfterSaleError)], results
    counts = _counts(engines[0])
    for round_ in range(ROUNDS):
        for kind in ("order.shipped", "order.delivered", "message.received", "message.replied"):
            assert counts[(kind, f"US-{round_}")] == 1, kind
    assert engines[0].verify() == []


@pytest.mark.parametrize("repeat", ["identical", "other case id"])
def test_two_cases_racing_for_one_order_open_one(db_url: str, repeat: str) -> None:
    """Different case ids on one order: one opens, the other is told which case is open."""
    engines = _engines(db_url)
    _paid(engines[0], "US-1")
    engines[0].order_shipped("US-1", "1Z999", at=SHIPPED)
    ids = ["RF-1"] * THREADS if repeat == "identical" else [f"RF-{n}" for n in range(THREADS)]
    opened = at_once(
        [
            lambda e=e, c=c: _refund(e, c, "US-1", "not_received")
            for e, c in zip(engines, ids, strict=True)
        ]
    )
    views = [view for view in opened if isinstance(view, dict)]
    assert len({view["case_id"] for view in views}) == 1
    if repeat == "other case id":
        assert len(views) == 1
        assert all("already has open case" in str(e) for e in opened if not isinstance(e, dict))
