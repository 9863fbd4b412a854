"""Order facts: what the host reports about an order, checked and recorded on the order."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersale.clock import iso
from aftersale.domain import lines as ledger
from aftersale.domain import validation as check
from aftersale.domain.events import ORDER_DELIVERED, ORDER_PAID, ORDER_SHIPPED, Event
from aftersale.domain.model import Order
from aftersale.domain.policy import Policy
from aftersale.errors import Conflict, InvalidInput, NotAllowed, OutOfOrder


@dataclass(frozen=True)
class PaidFact:
    order_id: str
    shop_id: str
    buyer_id: str
    market: str
    currency: str
    amount: Decimal
    dispatch_by: datetime | None
    shipping_fee: Decimal
    lines: list[ledger.Line]  # the implicit line "1" when the host gave none

    def same_as(self, order: Order) -> bool:
        return (
            self.shop_id,
            self.buyer_id,
            self.market,
            self.currency,
            self.amount,
            self.dispatch_by,
            self.shipping_fee,
            ledger.given_lines(self.lines),
        ) == (
            order.shop_id,
            order.buyer_id,
            order.market,
            order.currency,
            order.amount,
            order.dispatch_by,
            order.shipping_fee,
            ledger.given_lines(order.lines),
        )


def parse_paid(policy: Policy, fields: dict[str, Any]) -> PaidFact:
    market_code = fields.get("market")
    if not isinstance(market_code, str) or market_code not in policy.markets:
        known = ", ".join(sorted(policy.markets))
        raise InvalidInput(f"market {market_code!r} is not configured (known: {known})")
    market = policy.market(market_code)
    currency = fields.get("currency")
    if currency != market.currency:
        raise InvalidInput(
            f"currency {currency!r} is not market {market_code}'s {market.currency}"
        )
    dispatch_by = fields.get("dispatch_by")
    decimals = market.currency_decimals
    order_id = check.identifier(fields.get("order_id"), "order_id")
    shop_id = check.identifier(fields.get("shop_id"), "shop_id")
    buyer_id = check.identifier(fields.get("buyer_id"), "buyer_id")
    amount = check.amount(fields.get("amount"), "amount", decimals)
    raw_fee = fields.get("shipping_fee")
    fee = (
        Decimal(0).quantize(ledger.unit(decimals))
        if raw_fee is None
        else check.amount(raw_fee, "shipping_fee", decimals, zero=True)
    )
    return PaidFact(
        order_id=order_id,
        shop_id=shop_id,
        buyer_id=buyer_id,
        market=market_code,
        currency=market.currency,
        amount=amount,
        dispatch_by=None if dispatch_by is None else check.instant(dispatch_by, "dispatch_by"),
        shipping_fee=fee,
        lines=ledger.parse_order_lines(fields.get("lines"), amount, fee, decimals),
    )


def record_paid(fact: PaidFact, at: datetime) -> tuple[Order, Event]:
    order = Order(
        order_id=fact.order_id,
        shop_id=fact.shop_id,
        buyer_id=fact.buyer_id,
        market=fact.market,
        currency=fact.currency,
        amount=fact.amount,
        paid_at=at,
        dispatch_by=fact.dispatch_by,
        shipping_fee=fact.shipping_fee,
        lines=fact.lines,
    )
    data = {
        "buyer_id": fact.buyer_id,
        "market": fact.market,
        "currency": fact.currency,
        "amount": str(fact.amount),
        "dispatch_by": iso(fact.dispatch_by),
        "shipping_fee": str(fact.shipping_fee),
        "lines": ledger.given_lines(fact.lines),
    }
    return order, _recorded(order, Event(ORDER_PAID, at, order.order_id, order.shop_id, data=data))


def record_shipped(order: Order, at: datetime, tracking: str | None) -> Event | None:
    """Mark the order shipped; None when it already was, with the same tracking."""
    if tracking is not None:
        tracking = check.text(tracking, "tracking", check.MAX_TRACKING_LENGTH)
    if order.shipped_at is not None:
        if tracking is None or tracking == order.tracking:
            return None
        raise Conflict(f"order {order.order_id} already shipped with tracking {order.tracking!r}")
    if order.cancelled_at is not None:
        raise NotAllowed(order.order_id, "cancelled", "order.shipped", subject="order")
    _not_before(order, at, order.paid_at, "paid")
    order.shipped_at = at
    order.tracking = tracking
    shipped = Event(ORDER_SHIPPED, at, order.order_id, order.shop_id, data={"tracking": tracking})
    return _recorded(order, shipped)


def record_delivered(order: Order, at: datetime) -> Event | None:
    """Mark the order delivered; None when it already was."""
    if order.delivered_at is not None:
        return None
    if order.shipped_at is None:
        raise NotAllowed(
            order.order_id, "paid", "order.delivered", "it has not shipped", subject="order"
        )
    _not_before(order, at, order.shipped_at, "shipped")
    order.delivered_at = at
    return _recorded(order, Event(ORDER_DELIVERED, at, order.order_id, order.shop_id, data={}))


def _recorded(order: Order, event: Event) -> Event:
    order.recorded.append(event)
    return event


def _not_before(order: Order, at: datetime, earlier: datetime, what: str) -> None:
    if at < earlier:
        raise OutOfOrder(
            f"order {order.order_id}: {iso(at)} is before it was {what} ({iso(earlier)})"
        )
