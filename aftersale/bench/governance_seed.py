"""The shops of the breach-rules figure: 90 days of orders each, most shops doing well and a
share of them with one bad habit or two that puts a metric over a breach rule's threshold
(governance.toml's), and some with an earlier ticket, so the rules' tickets cross a milestone
and start a punishment."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

from aftersale import AfterSale
from aftersale.bench.health import DAYS, NOW
from aftersale.clock import iso
from aftersale.domain.events import Event
from aftersale.domain.model import Order

CHUNK = 200  # shops per transaction
BREACHING = 0.15  # the share of shops given a bad habit
# the shares of shops with an earlier ticket (of PRIOR_POINTS): a shop with a bad habit is
# likelier to have had one
PRIOR_TICKETED = {"breaching": 0.4, "well": 0.05}
PRIOR_POINTS = 10  # a breach ticket's 2 more cross governance.toml's 12 (campaign_ban)
PRIOR_AT = NOW - timedelta(days=10)


@dataclass(frozen=True)
class Habits:
    """How often a shop does what costs it points: the chances of each, per order."""

    late: float = 0.002  # shipped after its dispatch_by
    slow_reply: float = 0.01  # a buyer's message answered after more than a day
    unhappy: float = 0.01  # a review of 1 or 2 stars (of those reviewed)
    seller_fault_refund: float = 0.003  # a refund the seller is responsible for


BAD_HABITS = (
    Habits(late=0.15),  # late_dispatch
    Habits(slow_reply=0.35),  # slow_chat
    Habits(unhappy=0.35),  # negative_reviews
    Habits(seller_fault_refund=0.09),  # seller_fault_returns
)


@dataclass(frozen=True)
class SeededShops:
    shops: list[str]
    breaching: int  # shops given a bad habit
    ticketed: list[str]  # shops with an earlier ticket (issue_earlier_tickets)


def seed_shops(engine: AfterSale, count: int, seed: int = 17) -> SeededShops:
    """``count`` shops' orders and events, written through the engine's unit of work (so the
    rollups are kept as the engine keeps them)."""
    rng = random.Random(seed)
    shops = [f"shop-{n:05d}" for n in range(count)]
    habits = {shop: _habits(rng) for shop in shops}
    for start in range(0, count, CHUNK):
        stories = [
            _order(shop, number, orders, habits[shop], rng)
            for shop in shops[start : start + CHUNK]
            for orders in [rng.randrange(20, 81)]
            for number in range(orders)
        ]
        _write(engine, stories)
    breaching = {shop for shop in shops if habits[shop] != Habits()}
    ticketed = [
        shop
        for shop in shops
        if rng.random() < PRIOR_TICKETED["breaching" if shop in breaching else "well"]
    ]
    return SeededShops(shops, len(breaching), ticketed)


def issue_earlier_tickets(engine: AfterSale, seeded: SeededShops) -> None:
    """The platform's earlier tickets, through ``issue_ticket`` (each engine pins them to its
    own governance book)."""
    for shop in seeded.ticketed:
        engine.issue_ticket(
            f"earlier-{shop}",
            shop,
            "fulfilment",
            "an earlier ticket of the platform",
            PRIOR_POINTS,
            at=PRIOR_AT,
        )


def _habits(rng: random.Random) -> Habits:
    if rng.random() >= BREACHING:
        return Habits()
    bad = rng.sample(BAD_HABITS, 2 if rng.random() < 0.3 else 1)
    return Habits(*(max(getattr(h, name) for h in bad) for name in Habits.__dataclass_fields__))


def _write(engine: AfterSale, stories: list[tuple[Order, list[Event]]]) -> None:
    with engine.storage.unit_of_work() as uow:
        for order, events in stories:
            order.recorded.extend(events)
            uow.orders.add(order)
        uow.commit()


def _order(
    shop: str, number: int, of: int, habits: Habits, rng: random.Random
) -> tuple[Order, list[Event]]:
    """One order's story, its payment spread evenly over the shop's 90 days: shipped (on time
    or late), delivered, maybe reviewed, maybe refunded, maybe a buyer's message."""
    order_id = f"{shop}-{number:05d}"
    paid = NOW - timedelta(days=DAYS) + timedelta(seconds=(DAYS * 86_400 - 1) * number / of)
    due = paid + timedelta(days=2)
    order = Order(
        order_id=order_id,
        shop_id=shop,
        buyer_id=f"buyer-{number}",
        market="US",
        currency="USD",
        amount=Decimal("20.00"),
        paid_at=paid,
    )
    story = [Event("order.paid", paid, order_id, shop, data={"dispatch_by": iso(due)})]
    late = rng.random() < habits.late
    shipped = due + timedelta(hours=6) if late else paid + timedelta(hours=20)
    story.append(Event("order.shipped", shipped, order_id, shop))
    delivered = shipped + timedelta(days=3)
    story.append(Event("order.delivered", delivered, order_id, shop))
    if rng.random() < 0.3:
        unhappy = rng.random() < habits.unhappy
        rating = rng.choice([1, 2]) if unhappy else rng.choice([4, 5, 5])
        review = {"rating": rating, "topic": "product"}
        reviewed = delivered + timedelta(days=1)
        story.append(Event("review.posted", reviewed, order_id, shop, data=review))
    fault = "seller" if rng.random() < habits.seller_fault_refund else None
    if fault or rng.random() < 0.03:
        story += _refund(order_id, shop, delivered + timedelta(days=1), fault or "logistics")
    if rng.random() < 0.5:
        story += _chat(order_id, shop, paid + timedelta(hours=2), rng.random() < habits.slow_reply)
    return order, [event for event in story if event.at <= NOW]


def _refund(order_id: str, shop: str, opened: datetime, fault: str) -> Iterator[Event]:
    step = {"kind": "refund_only", "responsibility": fault, "overturned": False}
    moves = (
        (opened, "open", None, "pending_review", "buyer"),
        (opened + timedelta(hours=5), "approve", "pending_review", "refunded", "seller"),
    )
    for at, action, before, after, actor in moves:
        data = {**step, "action": action, "from_state": before, "to_state": after, "actor": actor}
        yield Event("case.transition", at, order_id, shop, f"RF-{order_id}", data)


def _chat(order_id: str, shop: str, received: datetime, slow: bool) -> Iterator[Event]:
    message_id = f"M-{order_id}"
    yield Event("message.received", received, order_id, shop, data={"message_id": message_id})
    replied = received + timedelta(hours=30 if slow else 2)
    data = {"message_id": message_id, "received_at": iso(received)}
    yield Event("message.replied", replied, order_id, shop, data=data)
