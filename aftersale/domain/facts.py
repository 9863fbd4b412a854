"""Service facts the health score counts: reviews, complaints and buyer chat messages."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aftersale.clock import iso
from aftersale.domain import validation as check
from aftersale.domain.events import (
    COMPLAINT_FILED,
    MESSAGE_RECEIVED,
    MESSAGE_REPLIED,
    REVIEW_POSTED,
    Event,
)
from aftersale.domain.model import Message, Order
from aftersale.errors import Conflict, InvalidInput, OutOfOrder

REVIEW_TOPICS = frozenset({"product", "service", "logistics"})


def _after_paid(order: Order, at: datetime, what: str) -> None:
    if at < order.paid_at:
        raise OutOfOrder(
            f"order {order.order_id}: a {what} at {iso(at)} is before the order was paid "
            f"({iso(order.paid_at)})"
        )


def review_posted(order: Order, rating: Any, topic: Any, at: datetime) -> Event:
    _after_paid(order, at, "review")
    if isinstance(rating, bool) or not isinstance(rating, int) or not 1 <= rating <= 5:
        raise InvalidInput(f"rating must be a whole number from 1 to 5, not {rating!r}")
    topic = check.choice("product" if topic is None else topic, "topic", REVIEW_TOPICS)
    data = {"rating": rating, "topic": topic}
    event = Event(REVIEW_POSTED, at, order.order_id, order.shop_id, data=data)
    order.recorded.append(event)
    return event


def complaint_filed(order: Order, at: datetime) -> Event:
    _after_paid(order, at, "complaint")
    event = Event(COMPLAINT_FILED, at, order.order_id, order.shop_id, data={})
    order.recorded.append(event)
    return event


def message_received(
    message_id: str, shop_id: str, order: Order | None, known: Message | None, at: datetime
) -> Message | None:
    """A buyer's chat message that needs a reply, its event recorded on it; None when it was
    already recorded."""
    order_id = None if order is None else order.order_id
    if order is not None and order.shop_id != shop_id:
        raise InvalidInput(f"order {order_id} belongs to shop {order.shop_id}, not {shop_id}")
    if order is not None:
        _after_paid(order, at, "message")
    if known is not None:
        if (known.shop_id, known.order_id) == (shop_id, order_id):
            return None
        raise Conflict(f"message {message_id} was already recorded with other fields")
    message = Message(message_id=message_id, shop_id=shop_id, order_id=order_id, received_at=at)
    data = {"message_id": message_id}
    message.recorded.append(Event(MESSAGE_RECEIVED, at, order_id, shop_id, data=data))
    return message


def message_replied(message: Message, at: datetime) -> Event | None:
    """The shop answered a message; None when it already had."""
    if message.replied_at is not None:
        return None
    if at < message.received_at:
        raise OutOfOrder(f"message {message.message_id} cannot be answered before it arrived")
    message.replied_at = at
    data = {"message_id": message.message_id, "received_at": iso(message.received_at)}
    event = Event(MESSAGE_REPLIED, at, message.order_id, message.shop_id, data=data)
    message.recorded.append(event)
    return event
