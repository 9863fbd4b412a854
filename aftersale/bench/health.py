"""The health figures of ``aftersale bench``: a big shop's report, a night of snapshots, a
backfill. The shops' events are generated (seeded) and written through the engine's unit
of work, so the rollups are kept exactly as the engine keeps them."""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from aftersale import AfterSale, VirtualClock, connect
from aftersale.bench.databases import bare, is_sqlite, own_database
from aftersale.bench.figure import Figure
from aftersale.clock import iso, next_local_midnight
from aftersale.domain.events import Event
from aftersale.domain.model import Order

NOW = datetime(2026, 6, 1, 0, 0, tzinfo=UTC)
DAYS = 90
CHUNK = 4_000  # orders per transaction while seeding


def report_latency(scale: dict[str, int], url: str) -> list[Figure]:
    """One shop with ``health_orders`` orders in 90 days: a report from the rollups, beside a
    full recomputation from its event log; then a 90-day backfill of another shop's snapshots
    (backfill folds the log, so it is measured on a shop of ``backfill_orders``)."""
    orders = scale["health_orders"]
    with _fresh_engine(url) as (engine, fresh):
        _seed(engine, "big-shop", orders, random.Random(5))
        runs = []
        for _ in range(5):
            started = time.perf_counter()
            report = engine.health("big-shop", NOW)
            runs.append(time.perf_counter() - started)
        ours = sorted(runs)[len(runs) // 2] * 1000
        _forget_rollups(fresh)
        started = time.perf_counter()
        assert engine.health("big-shop", NOW) == report  # the same report, folded from the log
        folded = (time.perf_counter() - started) * 1000
        backfilled = scale["backfill_orders"]
        _seed(engine, "backfilled-shop", backfilled, random.Random(6))
        started = time.perf_counter()
        days = engine.backfill_health("backfilled-shop", NOW - timedelta(days=DAYS), NOW)
        backfill = time.perf_counter() - started
    shop = f"{orders:,} orders in {DAYS} days, {report['orders_delivered_90d']:,} delivered"
    return [
        Figure(
            "health report",
            "ms",
            ours,
            folded,
            "full recomputation from the event log",
            "≤ 100 ms for 1,000,000 orders in 90 days",
            detail=f"one shop, {shop}; median of 5",
        ),
        Figure(
            "health backfill",
            "s",
            backfill,
            None,
            "—",
            "— (reported)",
            detail=f"{days} daily snapshots of a shop of {backfilled:,} orders, "
            "one pass over its events",
        ),
    ]


def nightly_snapshots(scale: dict[str, int], url: str) -> list[Figure]:
    """A night's snapshots of ``health_shops`` shops from the rollups, beside the same night
    taken by folding each shop's event log."""
    shops = scale["health_shops"]
    with _fresh_engine(url) as (engine, fresh):
        rng = random.Random(9)
        for start in range(0, shops, 200):
            _seed_many(
                engine, [f"shop-{n:05d}" for n in range(start, min(shops, start + 200))], rng
            )
        night = _last_night(engine, [f"shop-{n:05d}" for n in range(shops)])
        clock = engine.clock
        assert isinstance(clock, VirtualClock)
        clock.move_to(night + timedelta(days=2))  # no snapshot is taken of a day to come
        started = time.perf_counter()
        taken = engine.take_snapshots(night + timedelta(days=1), refresh=True)
        ours = time.perf_counter() - started
        _forget_rollups(fresh)
        started = time.perf_counter()
        folded_taken = engine.take_snapshots(night + timedelta(days=2))
        folded = time.perf_counter() - started
    assert taken == folded_taken == shops, (taken, folded_taken, shops)
    return [
        Figure(
            "nightly snapshots",
            "shops/s",
            shops / ours,
            shops / folded,
            "each shop folded from its event log",
            "— (10,000 shops a night)",
            detail=f"{shops:,} shops of 20 to 80 orders: {ours:.1f} s for the night",
        )
    ]


def _last_night(engine: AfterSale, shops: list[str]) -> datetime:
    """Record a snapshot of every shop at the last local midnight before the seeded log ends,
    so the next night due is one snapshot a shop (as for a daemon that ran yesterday)."""
    zone = engine.policy.market("US").timezone
    night = next_local_midnight(NOW - timedelta(days=1), zone)
    with engine.storage.unit_of_work() as uow:
        for shop in shops:
            uow.snapshots.add(
                {"shop_id": shop, "taken_at": night, "score": None, "tier": None}
                | {"alert_open": False, "report": {}}
            )
        uow.commit()
    return night


@contextmanager
def _fresh_engine(url: str) -> Iterator[tuple[AfterSale, str]]:
    """An engine over a fresh database of its own (see :func:`own_database`), and its URL."""
    with own_database(url, "health") as fresh:
        engine = connect(fresh, clock=VirtualClock(NOW))
        try:
            yield engine, fresh
        finally:
            engine.close()


def _forget_rollups(url: str) -> None:
    """Make the engine fold the event log, as it does until ``health rebuild`` has run: the
    rollups' row deleted with the bare driver."""
    db = bare(url)
    try:
        db.execute("DELETE FROM health_rollups")
        if not is_sqlite(url):
            db.commit()
    finally:
        db.close()


def _seed(engine: AfterSale, shop: str, orders: int, rng: random.Random) -> None:
    for start in range(0, orders, CHUNK):
        numbers = range(start, min(orders, start + CHUNK))
        _write(engine, [_order(shop, n, rng, orders) for n in numbers])


def _seed_many(engine: AfterSale, shops: list[str], rng: random.Random) -> None:
    _write(
        engine,
        [_order(shop, n, rng, 80) for shop in shops for n in range(rng.randrange(20, 81))],
    )


def _write(engine: AfterSale, stories: list[tuple[Order, list[Event]]]) -> None:
    with engine.storage.unit_of_work() as uow:
        for order, events in stories:
            order.recorded.extend(events)
            uow.orders.add(order)
        uow.commit()


def _order(shop: str, number: int, rng: random.Random, of: int) -> tuple[Order, list[Event]]:
    """One order's story over the 90 days: paid, mostly shipped on time and delivered, some
    reviewed, some complained about, some with a refund case, some buyer chat."""
    order_id = f"{shop}-{number:07d}"
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
    shipped = due + timedelta(hours=6) if rng.random() < 0.04 else paid + timedelta(hours=20)
    if shipped < NOW:
        story.append(Event("order.shipped", shipped, order_id, shop))
        delivered = shipped + timedelta(days=3)
        if delivered < NOW:
            story += _after_delivery(order_id, shop, delivered, rng)
    if rng.random() < 0.5:
        story += _chat(order_id, shop, paid + timedelta(hours=2), rng)
    return order, [event for event in story if event.at <= NOW]


def _after_delivery(
    order_id: str, shop: str, delivered: datetime, rng: random.Random
) -> Iterator[Event]:
    yield Event("order.delivered", delivered, order_id, shop)
    if rng.random() < 0.3:
        rating = rng.choice([1, 2, 4, 5, 5, 5, 5, 5, 5, 5])
        topic = rng.choice(["product", "product", "logistics", "service"])
        yield Event(
            "review.posted",
            delivered + timedelta(days=1),
            order_id,
            shop,
            data={"rating": rating, "topic": topic},
        )
    if rng.random() < 0.02:
        yield Event("complaint.filed", delivered + timedelta(hours=5), order_id, shop)
    if rng.random() < 0.08:
        yield from _refund_case(order_id, shop, delivered + timedelta(days=1), rng)


def _refund_case(
    order_id: str, shop: str, opened: datetime, rng: random.Random
) -> Iterator[Event]:
    case_id, fault = f"RF-{order_id}", rng.choice(["seller", "buyer", "logistics"])
    step = {"kind": "refund_only", "responsibility": fault, "overturned": False}
    yield Event(
        "case.transition",
        opened,
        order_id,
        shop,
        case_id,
        {
            **step,
            "action": "open",
            "from_state": None,
            "to_state": "pending_review",
            "actor": "buyer",
        },
    )
    silent = rng.random() < 0.1
    closed = opened + (timedelta(days=2) if silent else timedelta(hours=rng.randrange(1, 40)))
    action, actor = ("review_timeout", "system") if silent else ("approve", "seller")
    yield Event(
        "case.transition",
        closed,
        order_id,
        shop,
        case_id,
        {
            **step,
            "action": action,
            "from_state": "pending_review",
            "to_state": "refunded",
            "actor": actor,
        },
    )


def _chat(order_id: str, shop: str, received: datetime, rng: random.Random) -> Iterator[Event]:
    message_id = f"M-{order_id}"
    yield Event("message.received", received, order_id, shop, data={"message_id": message_id})
    if rng.random() < 0.95:
        replied = received + timedelta(hours=rng.choice([1, 2, 3, 5, 30]))
        yield Event(
            "message.replied",
            replied,
            order_id,
            shop,
            data={"message_id": message_id, "received_at": iso(received)},
        )
