"""A shop on the memory backend for the lines.md tests: orders with lines, cases over them, and
a clock the test moves by hand."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

import aftersale
from aftersale import VirtualClock
from aftersale.errors import CommandRefused

# Monday 2 March 2026, 09:00 UTC: the order is paid, then each step is a minute later
PAID_MONDAY_9AM = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
CURRENCY = {"US": "USD", "UK": "GBP", "MY": "MYR", "TH": "THB", "JP": "JPY", "KW": "KWD"}
SHOP, BUYER = "shop-lumen-audio", "buyer-ada"
REJECT_RETURN = {
    "reject_reason": "item_damaged_by_buyer",
    "evidence": [{"kind": "photo", "uri": "https://example.test/scratch.jpg"}],
}


def line(line_id: str, quantity: int, unit_price: str, sku: str | None = None) -> dict[str, Any]:
    return {"line_id": line_id, "sku": sku, "quantity": quantity, "unit_price": unit_price}


def refused(code: str, command: Callable[[], Any]) -> str:
    """The message of the refusal ``command`` meets, which must have ``code``."""
    with pytest.raises(CommandRefused) as caught:
        command()
    assert caught.value.code == code, str(caught.value)
    return str(caught.value)


class World:
    """One engine on a memory store of its own, and its virtual clock."""

    def __init__(self, start: datetime = PAID_MONDAY_9AM, url: str = "memory://") -> None:
        self.clock = VirtualClock(start)
        self.engine = aftersale.connect(url, clock=self.clock, require_identity=False)

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def to(self, instant: datetime) -> datetime:
        self.clock.move_to(instant)
        return instant

    def later(self, delta: timedelta = timedelta(minutes=1)) -> datetime:
        return self.to(self.now + delta)

    def paid(
        self,
        order_id: str,
        amount: str,
        lines: list[dict[str, Any]] | None = None,
        shipping_fee: str | None = None,
        market: str = "US",
    ) -> dict[str, Any]:
        return self.engine.order_paid(
            order_id,
            SHOP,
            BUYER,
            market,
            CURRENCY[market],
            amount,
            lines=lines,
            shipping_fee=shipping_fee,
        )

    def delivered(self, order_id: str) -> None:
        self.later()
        self.engine.order_shipped(order_id, "TRACK-1")
        self.later()
        self.engine.order_delivered(order_id)

    def open(
        self,
        case_id: str,
        order_id: str,
        kind: str = "refund_only",
        reason: str = "damaged",
        **fields: Any,
    ) -> dict[str, Any]:
        self.later()
        actor = "seller" if reason in ("out_of_stock", "buyer_requested") else "buyer"
        return self.engine.open_case(case_id, order_id, kind, actor, reason, **fields)

    def act(self, case_id: str, action: str, actor: str, **fields: Any) -> dict[str, Any]:
        self.later()
        return self.engine.act(case_id, action, actor, **fields)

    def order_line(self, order_id: str, line_id: str) -> dict[str, Any]:
        (found,) = [x for x in self.engine.order(order_id)["lines"] if x["line_id"] == line_id]
        return found

    def refunded_amounts(self, order_id: str) -> dict[str, str]:
        return {x["line_id"]: x["refunded_amount"] for x in self.engine.order(order_id)["lines"]}

    def returned_back(
        self, case_id: str, shipping_cost: str | None = "7.50", *, approve: bool = True
    ) -> None:
        """A return_refund from pending_review to return_received."""
        if approve:
            self.act(case_id, "approve", "seller")
        self.act(case_id, "ship_return", "buyer", tracking="RET-1", shipping_cost=shipping_cost)
        self.act(case_id, "confirm_receipt", "seller")

    def ruled_at_refund(self, case_id: str, responsibility: str) -> dict[str, Any]:
        """From return_received: the seller rejects the returned item, the buyer escalates,
        and the platform refunds, putting the fault on ``responsibility``."""
        self.act(case_id, "reject_return", "seller", **REJECT_RETURN)
        self.act(case_id, "escalate", "buyer")
        return self.act(
            case_id, "rule", "platform", outcome="refund", responsibility=responsibility
        )
