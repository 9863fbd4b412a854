"""An overdue timeout taken before a command loses its order's compare-and-set to a case on
another line: the command runs again, it is not refused for a write it had nothing to do with.

Before an action (or an open, or ``catch_up``) the engine commits the case's overdue timeouts
in a unit of work of their own; a timeout into ``refunded`` writes the order (the refund on its
line), so a case on another line of the order written meanwhile makes that commit lose the
order's version. The write on the other line is made to land exactly between the catch-up's
read and its commit, by a second engine (as another process would). PostgreSQL and memory: on
SQLite every unit of work holds the database's one write lock from its start, so nothing can
land in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest

import aftersale
from aftersale import VirtualClock
from tests.conftest import MONDAY_9AM

SHOP, BUYER = "shop-lumen-audio", "buyer-ada"
SHIPPED = MONDAY_9AM + timedelta(days=1)
OPENED = SHIPPED + timedelta(hours=1)
LATER = OPENED + timedelta(hours=1)  # the other lines' cases, not yet due
OVERDUE = OPENED + timedelta(hours=48, minutes=30)  # the first case's review_timeout is due
BASKET = [
    {"line_id": f"L{n}", "sku": f"SKU-{n}", "quantity": 2, "unit_price": "10.00"} for n in range(4)
]


@pytest.fixture(params=["postgres", "memory"])
def url(request: pytest.FixtureRequest) -> str:
    if request.param == "postgres":
        request.applymarker(pytest.mark.postgres)
        return str(request.getfixturevalue("pg_url"))
    return str(request.getfixturevalue("memory_url"))


@pytest.fixture
def engines(url: str) -> Iterator[tuple[aftersale.AfterSale, aftersale.AfterSale]]:
    clock = VirtualClock(MONDAY_9AM)
    first = aftersale.connect(url, clock=clock, require_identity=False)
    other = aftersale.connect(url, clock=clock, require_identity=False, migrate=False)
    first.order_paid("US-1", SHOP, BUYER, "US", "USD", "80.00", lines=BASKET, at=MONDAY_9AM)
    clock.move_to(LATER)
    first.order_shipped("US-1", "1Z999", at=SHIPPED)
    _open(first, "RF-A", "L0", OPENED)  # refunded by its review_timeout when caught up
    _open(first, "RF-B", "L1", LATER)
    clock.move_to(OVERDUE)
    yield first, other
    first.close()
    other.close()


def _open(engine: aftersale.AfterSale, case_id: str, line_id: str, at: Any = None) -> Any:
    lines = [{"line_id": line_id, "quantity": 1}]
    return engine.open_case(case_id, "US-1", "refund_only", "buyer", "damaged", lines=lines, at=at)


def _meanwhile(engine: aftersale.AfterSale, writes: list[Callable[[], Any]]) -> None:
    """Each of ``writes`` committed right after one of ``engine``'s catch-ups is computed and
    before it commits: the catch-up then loses its order's version."""
    catch_up = engine.rules.catch_up
    pending = list(writes)

    def interfered(*args: Any) -> Any:
        taken = catch_up(*args)
        if taken and pending:
            pending.pop(0)()
        return taken

    engine.rules.catch_up = interfered  # type: ignore[method-assign]


def test_an_action_after_an_overdue_refund_is_decided_on_the_refunded_case(
    engines: tuple[aftersale.AfterSale, aftersale.AfterSale],
) -> None:
    first, other = engines
    _meanwhile(first, [lambda: other.act("RF-B", "approve", "seller")])
    with pytest.raises(aftersale.CommandRefused) as refused:
        first.act("RF-A", "approve", "seller")
    assert refused.value.code == "not_allowed", refused.value  # not 'conflict': nobody else
    assert "refunded" in str(refused.value)  # touched RF-A; its own timeout refunded it
    assert [line["refunded_amount"] for line in first.order("US-1")["lines"]] == [
        "10.00",
        "10.00",
        "0.00",
        "0.00",
    ]
    assert first.verify() == []


def test_catch_up_is_not_refused_for_a_write_on_another_line(
    engines: tuple[aftersale.AfterSale, aftersale.AfterSale],
) -> None:
    first, other = engines
    _meanwhile(first, [lambda: other.act("RF-B", "approve", "seller")])
    assert first.catch_up("RF-A")["state"] == "refunded"
    assert first.order("US-1")["refunded_total"] == "20.00"
    assert first.verify() == []


def test_an_open_is_not_refused_however_often_its_catch_up_loses_to_other_lines(
    engines: tuple[aftersale.AfterSale, aftersale.AfterSale],
) -> None:
    first, other = engines
    _meanwhile(
        first,
        [
            lambda: other.act("RF-B", "approve", "seller"),
            lambda: _open(other, "RF-C", "L2"),
        ],
    )
    assert _open(first, "RF-D", "L3")["state"] == "pending_review"
    held = {line["line_id"]: line["open_case_id"] for line in first.order("US-1")["lines"]}
    assert held == {"L0": None, "L1": None, "L2": "RF-C", "L3": "RF-D"}
    assert first.case("RF-A")["state"] == "refunded"
    assert first.verify() == []
