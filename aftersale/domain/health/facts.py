"""A shop's record as of an instant, folded from its events: the only input of the score."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aftersale.domain.model import SELLER_WAITING_STATES

SELLER_STATES = frozenset(state.value for state in SELLER_WAITING_STATES)


@dataclass
class OrderRecord:
    order_id: str
    paid_at: datetime
    dispatch_by: datetime | None = None
    shipped_at: datetime | None = None
    delivered_at: datetime | None = None
    cancelled_at: datetime | None = None
    first_review: tuple[int, str] | None = None  # rating, topic
    complained: bool = False
    # case_id -> (kind, state, responsibility), as of the instant
    cases: dict[str, tuple[str, str, str]] = field(default_factory=dict)


@dataclass
class MessageRecord:
    message_id: str
    order_id: str | None
    received_at: datetime
    replied_at: datetime | None = None


@dataclass
class ShopRecord:
    orders: dict[str, OrderRecord] = field(default_factory=dict)
    messages: dict[str, MessageRecord] = field(default_factory=dict)
    # (at, order_id, met) for every seller deadline resolved by a seller action or a timeout
    seller_deadlines: list[tuple[datetime, str, bool]] = field(default_factory=list)
    overturned: list[datetime] = field(default_factory=list)


def fold(events: Iterable[Mapping[str, Any]], as_of: datetime) -> ShopRecord:
    """What was known of the shop at ``as_of``: every event whose instant is not after it."""
    shop = ShopRecord()
    for event in events:
        at = datetime.fromisoformat(event["at"])
        if at <= as_of:
            _apply(shop, event, at)
    return shop


def _apply(shop: ShopRecord, event: Mapping[str, Any], at: datetime) -> None:
    kind, order = event["type"], shop.orders.get(event.get("order_id") or "")
    if kind == "order.paid":
        dispatch_by = event.get("dispatch_by")
        shop.orders[event["order_id"]] = OrderRecord(
            event["order_id"],
            at,
            None if dispatch_by is None else datetime.fromisoformat(dispatch_by),
        )
    elif kind.startswith("message."):
        _message(shop, event, at)
    elif order is None:
        return
    elif kind == "order.shipped":
        order.shipped_at = at
    elif kind == "order.delivered":
        order.delivered_at = at
    elif kind == "review.posted" and order.first_review is None:
        order.first_review = (int(event["rating"]), str(event["topic"]))
    elif kind == "complaint.filed":
        order.complained = True
    elif kind == "case.transition":
        _transition(shop, order, event, at)


def _transition(
    shop: ShopRecord, order: OrderRecord, event: Mapping[str, Any], at: datetime
) -> None:
    order.cases[event["case_id"]] = (event["kind"], event["to_state"], event["responsibility"])
    if event["kind"] == "cancellation" and event["to_state"] == "cancelled":
        order.cancelled_at = at
    if event.get("overturned"):
        shop.overturned.append(at)
    if event["from_state"] in SELLER_STATES:
        if event["actor"] == "seller":
            shop.seller_deadlines.append((at, order.order_id, True))
        elif event["action"].endswith("_timeout"):
            shop.seller_deadlines.append((at, order.order_id, False))


def _message(shop: ShopRecord, event: Mapping[str, Any], at: datetime) -> None:
    message_id = event["message_id"]
    if event["type"] == "message.received":
        shop.messages[message_id] = MessageRecord(message_id, event.get("order_id"), at)
    elif message_id in shop.messages:
        shop.messages[message_id].replied_at = at
