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
    overturned: list[tuple[datetime, str]] = field(default_factory=list)  # (at, order_id)


# the event types the score reads; every other event leaves a shop's record as it was
SCORED_EVENTS = frozenset(
    {
        "order.paid",
        "order.shipped",
        "order.delivered",
        "review.posted",
        "complaint.filed",
        "case.transition",
        "message.received",
        "message.replied",
    }
)
MESSAGE_SUBJECT = "message:"


def fold(events: Iterable[Mapping[str, Any]], as_of: datetime) -> ShopRecord:
    """What was known of the shop at ``as_of``: every event whose instant is not after it."""
    shop = ShopRecord()
    for event in events:
        at = datetime.fromisoformat(event["at"])
        if at <= as_of:
            apply(shop, event, at)
    return shop


def subject_of(event: Mapping[str, Any]) -> str | None:
    """The one order or message whose record an event changes; None when it changes none.

    A shop's record is the union of its subjects' records, so the rollups keep one small
    record per subject and fold each new event into its subject's alone.
    """
    kind = event["type"]
    if kind not in SCORED_EVENTS:
        return None
    if kind.startswith("message."):
        return MESSAGE_SUBJECT + str(event["message_id"])
    order_id: str | None = event.get("order_id")
    return order_id


def apply(shop: ShopRecord, event: Mapping[str, Any], at: datetime) -> None:
    """Fold one event, at instant ``at``, into the record."""
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
    # lines.md: the order counts as cancelled once all of its units are, at that instant;
    # an event recorded before order lines existed cancelled the whole order
    cancelling = event["kind"] == "cancellation" and event["to_state"] == "cancelled"
    if cancelling and event.get("order_cancelled", True):
        order.cancelled_at = at
    if event.get("overturned"):
        shop.overturned.append((at, order.order_id))
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


# -- a record as JSON, for the rollups' per-subject store ------------------------------------


def _instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value)


def _text(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def record_to_json(shop: ShopRecord) -> dict[str, Any]:
    # every event the rollups fold writes its subject's record again: the optional instants
    # are converted inline, a call each was a fifth of the cost
    return {
        "orders": {
            o.order_id: [
                o.paid_at.isoformat(),
                None if (due := o.dispatch_by) is None else due.isoformat(),
                None if (shipped := o.shipped_at) is None else shipped.isoformat(),
                None if (delivered := o.delivered_at) is None else delivered.isoformat(),
                None if (cancelled := o.cancelled_at) is None else cancelled.isoformat(),
                None if o.first_review is None else list(o.first_review),
                o.complained,
                {case_id: list(case) for case_id, case in o.cases.items()},
            ]
            for o in shop.orders.values()
        },
        "messages": {
            m.message_id: [m.order_id, m.received_at.isoformat(), _text(m.replied_at)]
            for m in shop.messages.values()
        },
        "seller_deadlines": [[at.isoformat(), o, met] for at, o, met in shop.seller_deadlines],
        "overturned": [[at.isoformat(), o] for at, o in shop.overturned],
    }


def record_from_json(document: Mapping[str, Any]) -> ShopRecord:
    shop, parse = ShopRecord(), datetime.fromisoformat  # inline, as in record_to_json
    for order_id, (
        paid,
        due,
        shipped,
        delivered,
        cancelled,
        review,
        complained,
        cases,
    ) in document["orders"].items():
        shop.orders[order_id] = OrderRecord(
            order_id,
            parse(paid),
            None if due is None else parse(due),
            None if shipped is None else parse(shipped),
            None if delivered is None else parse(delivered),
            None if cancelled is None else parse(cancelled),
            None if review is None else (int(review[0]), str(review[1])),
            bool(complained),
            {case_id: (kind, state, fault) for case_id, (kind, state, fault) in cases.items()},
        )
    for message_id, (order_id, received, replied) in document["messages"].items():
        shop.messages[message_id] = MessageRecord(
            message_id, order_id, datetime.fromisoformat(received), _instant(replied)
        )
    shop.seller_deadlines = [
        (datetime.fromisoformat(at), o, bool(met)) for at, o, met in document["seller_deadlines"]
    ]
    shop.overturned = [(datetime.fromisoformat(at), o) for at, o in document["overturned"]]
    return shop
