"""Cases racing for the lines of one order (lines.md): at most one open case per line, and
cases on different lines never refuse each other, however many open at once.

Every case writes its order (the lines it holds, the refund it records), so racers on different
lines meet on the order's version; the loser must run again rather than be refused. Threads with
engines of their own (as separate processes would have), released together by a barrier, on an
SQLite file, in memory and on a real PostgreSQL.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

import aftersale
from aftersale import VirtualClock
from tests.conftest import MONDAY_9AM
from tests.integration.racing import at_once

ROUNDS = 10
SHOP, BUYER = "shop-lumen-audio", "buyer-ada"
SHIPPED = MONDAY_9AM + timedelta(days=1)
NOW = SHIPPED + timedelta(hours=1)
# four lines, one a racer
BASKET = [
    {"line_id": f"L{n}", "sku": f"SKU-{n}", "quantity": 2, "unit_price": "10.00"} for n in range(4)
]


def _engines(url: str, count: int) -> list[aftersale.AfterSale]:
    clock = VirtualClock(NOW)
    first = aftersale.connect(url, clock=clock, require_identity=False)
    rest = [
        aftersale.connect(url, clock=clock, require_identity=False, migrate=False)
        for _ in range(count - 1)
    ]
    return [first, *rest]


def _shipped_basket(engine: aftersale.AfterSale, order_id: str) -> None:
    engine.order_paid(order_id, SHOP, BUYER, "US", "USD", "80.00", lines=BASKET, at=MONDAY_9AM)
    engine.order_shipped(order_id, "1Z999", at=SHIPPED)


def _open(engine: aftersale.AfterSale, case_id: str, order_id: str, line_id: str) -> Any:
    lines = [{"line_id": line_id, "quantity": 1}]
    return engine.open_case(
        case_id, order_id, "refund_only", "buyer", "damaged", lines=lines, at=NOW
    )


def _held(engine: aftersale.AfterSale, order_id: str) -> dict[str, str | None]:
    return {line["line_id"]: line["open_case_id"] for line in engine.order(order_id)["lines"]}


@pytest.mark.parametrize("racers", [2, 4])
def test_cases_on_different_lines_of_one_order_opened_at_once_all_open(
    db_url: str, racers: int
) -> None:
    engines = _engines(db_url, racers)
    for round_ in range(ROUNDS):
        order_id = f"US-{round_}"
        _shipped_basket(engines[0], order_id)
        opened = at_once(
            [
                lambda e=e, c=f"RF-{round_}-{n}", o=order_id, n=n: _open(e, c, o, f"L{n}")
                for n, e in enumerate(engines)
            ]
        )
        refused = [str(result) for result in opened if not isinstance(result, dict)]
        assert refused == [], f"round {round_}"
        assert _held(engines[0], order_id) == {
            f"L{n}": (f"RF-{round_}-{n}" if n < racers else None) for n in range(4)
        }
        transitions = [e for e in engines[0].log(0, 10_000) if e["order_id"] == order_id]
        assert sum(e["type"] == "case.transition" for e in transitions) == racers


@pytest.mark.parametrize("racers", [2, 4])
def test_cases_on_one_line_opened_at_once_open_one_and_the_others_are_conflicts(
    db_url: str, racers: int
) -> None:
    engines = _engines(db_url, racers)
    for round_ in range(ROUNDS):
        order_id = f"US-{round_}"
        _shipped_basket(engines[0], order_id)
        opened = at_once(
            [
                lambda e=e, c=f"RF-{round_}-{n}", o=order_id: _open(e, c, o, "L2")
                for n, e in enumerate(engines)
            ]
        )
        views = [result for result in opened if isinstance(result, dict)]
        errors = [result for result in opened if not isinstance(result, dict)]
        assert len(views) == 1, f"round {round_}: {opened}"
        assert [error.code for error in errors] == ["conflict"] * (racers - 1)
        assert all("already has open case" in str(error) for error in errors)
        assert _held(engines[0], order_id)["L2"] == views[0]["case_id"]
        known = {case["case_id"] for case in engines[0].cases(limit=1000)}
        assert {f"RF-{round_}-{n}" for n in range(racers)} & known == {views[0]["case_id"]}


def test_a_refund_on_one_line_racing_an_open_on_another_both_land(db_url: str) -> None:
    """The seller's approval writes the order (the refund on its line) as the buyer's new case
    does (the line it holds): neither is refused for the other's write."""
    engines = _engines(db_url, 2)
    for round_ in range(ROUNDS):
        order_id = f"US-{round_}"
        _shipped_basket(engines[0], order_id)
        first = f"RF-{round_}-0"
        _open(engines[0], first, order_id, "L0")
        done = at_once(
            [
                lambda c=first: engines[0].act(c, "approve", "seller", at=NOW),
                lambda c=f"RF-{round_}-1", o=order_id: _open(engines[1], c, o, "L1"),
            ]
        )
        assert [str(r) for r in done if not isinstance(r, dict)] == [], f"round {round_}"
        order = engines[0].order(order_id)
        assert order["refunded_total"] == "10.00"
        assert _held(engines[0], order_id) == {
            "L0": None,
            "L1": f"RF-{round_}-1",
            "L2": None,
            "L3": None,
        }
