"""Seeded, deterministic load for the benchmarks: orders with cases already waiting on a timer.

Rows are written through the store's own transactions (the same code the engine uses), a few
thousand per transaction, so seeding a million cases does not take a million commits.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal

from aftersale.domain.model import Action, Actor, Case, Kind, Order, Responsibility, State
from aftersale.service.engine import AfterSale

CHUNK = 5000


def seed_due_cases(
    engine: AfterSale,
    count: int,
    now: datetime,
    *,
    spread: timedelta,
    seed: int = 7,
    prefix: str = "B",
) -> None:
    """``count`` refund-only cases in ``pending_review`` whose deadlines fall in ``now - spread``
    to ``now`` (or after, for a negative ``spread``), timing out with ``review_timeout``."""
    rng = random.Random(seed)
    policy = engine.policy
    with engine.store.transaction() as tx:
        engine.policies.in_force(tx, now)
    for start in range(0, count, CHUNK):
        with engine.store.transaction() as tx:
            for number in range(start, min(count, start + CHUNK)):
                deadline = now - spread * rng.random()
                order, case = _pair(f"{prefix}{number:08d}", deadline, policy.version, rng)
                tx.add_order(order)
                tx.add_case(case)


def _pair(key: str, deadline: datetime, version: str, rng: random.Random) -> tuple[Order, Case]:
    opened = deadline - timedelta(hours=48)
    shop = f"shop-{rng.randrange(50):02d}"
    amount = Decimal(rng.randrange(500, 9000)) / 100
    order = Order(
        order_id=f"O{key}",
        shop_id=shop,
        buyer_id=f"buyer-{rng.randrange(10**6)}",
        market="US",
        currency="USD",
        amount=amount,
        paid_at=opened - timedelta(days=3),
        shipped_at=opened - timedelta(days=2),
        open_case_id=f"C{key}",
    )
    case = Case(
        case_id=f"C{key}",
        order_id=order.order_id,
        shop_id=shop,
        buyer_id=order.buyer_id,
        market="US",
        kind=Kind.refund_only,
        state=State.pending_review,
        reason="not_received",
        responsibility=Responsibility.logistics,
        amount=amount,
        currency="USD",
        opened_by=Actor.buyer,
        opened_at=opened,
        updated_at=opened,
        policy_version=version,
        request={"order_id": order.order_id, "kind": "refund_only", "reason": "not_received"},
        deadline_at=deadline,
        deadline_action=Action.review_timeout,
    )
    return order, case
