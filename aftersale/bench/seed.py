"""Seeded, deterministic load for the benchmarks: orders with cases already waiting on a timer.

The orders and cases are built with the domain's own functions (``CaseRules().open``, under
the engine's policy) and written through the engine's unit of work
(``engine.storage.unit_of_work()``, the code every command commits with), a few thousand per
unit of work, so seeding a million cases does not take a million commits.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from aftersale import AfterSale
from aftersale.config import policy_version, read_document
from aftersale.domain import orders
from aftersale.domain.cases import CaseRules
from aftersale.domain.lines import whole_order
from aftersale.domain.model import Action, Actor, Case, Kind, Order, Responsibility, State
from aftersale.domain.policy import Policy
from aftersale.domain.requests import parse_open

CHUNK = 5000


def seed_due_cases(
    engine: AfterSale,
    count: int,
    now: datetime,
    *,
    spread: timedelta,
    seed: int = 7,
    prefix: str = "B",
    with_history: bool = False,
    lines: bool = False,
) -> None:
    """``count`` refund-only cases in ``pending_review`` whose deadlines fall in ``now - spread``
    to ``now`` (or after, for a negative ``spread``), timing out with ``review_timeout``.

    Each case covers the whole of a one-line order or, with ``lines``, 2 of the 3 units of the
    second line of a 3-line order (:data:`LINES`, lines.md): a partial case.

    ``with_history`` writes each order's and case's events too, as the engine writes them (so
    a timeout updates a health record that exists, as in production); without it only the
    rows are written, which is what the memory and lateness figures need of a million cases.
    """
    rng = random.Random(seed)
    policy = engine.policy
    _store_policy(engine, now)
    rules = CaseRules()
    for start in range(0, count, CHUNK):
        with engine.storage.unit_of_work() as uow:
            for number in range(start, min(count, start + CHUNK)):
                deadline = now - spread * rng.random()
                key = seed_key(prefix, number)
                if with_history:
                    order, case = _opened(rules, policy, key, deadline, rng, lines)
                else:
                    order, case = _pair(key, deadline, policy.version, rng, lines)
                uow.orders.add(order)
                uow.cases.add(case)
            uow.commit()


def seed_key(prefix: str, number: int) -> str:
    """The key of the ``number``-th seeded pair: its order is ``O`` + key, its case ``C`` + key."""
    return f"{prefix}{number:08d}"


def _store_policy(engine: AfterSale, now: datetime) -> None:
    """Store the engine's policy under its version, as its first case opened would (the
    shipped config/, which the bench's engines run under)."""
    policy = engine.policy
    document = read_document()
    if policy_version(document) != policy.version:
        raise RuntimeError(f"the bench seeds under config/, not policy {policy.version}")
    with engine.storage.unit_of_work() as uow:
        if uow.policies.get(policy.version) is None:
            uow.policies.add(policy.version, document, now)
            uow.commit()


# the lines of a 3-line order: (line id, sku, units); each line's unit price is drawn
LINES = (("1", "sku-mug", 3), ("2", "sku-glass", 3), ("3", "sku-plate", 3))
CASE_QUANTITY = 2
CASE_LINE: dict[str, Any] = {"line_id": "2", "quantity": CASE_QUANTITY}  # its partial case
CENT = Decimal("0.01")


def order_lines(rng: random.Random) -> tuple[list[dict[str, Any]], Decimal, Decimal]:
    """A 3-line order's lines as ``order.paid`` takes them, its amount, and the value of
    :data:`CASE_LINE` (the amount its case asks for)."""
    given: list[dict[str, Any]] = [
        {"line_id": line_id, "sku": sku, "quantity": units}
        | {"unit_price": str((Decimal(rng.randrange(100, 3000)) / 100).quantize(CENT))}
        for line_id, sku, units in LINES
    ]
    amount = sum((line["quantity"] * Decimal(line["unit_price"]) for line in given), Decimal(0))
    asked = CASE_QUANTITY * Decimal(given[1]["unit_price"])
    return given, amount, asked


def _opened(
    rules: CaseRules,
    policy: Policy,
    key: str,
    deadline: datetime,
    rng: random.Random,
    lines: bool = False,
) -> tuple[Order, Case]:
    """An order paid, shipped and its refund-only case opened through the domain's own rules,
    at instants that put the review deadline at ``deadline``."""
    shop, buyer = f"shop-{rng.randrange(50):02d}", f"buyer-{rng.randrange(10**6)}"
    paid: dict[str, Any] = {"order_id": f"O{key}", "shop_id": shop, "buyer_id": buyer}
    paid |= {"market": "US", "currency": "USD"}
    fields: dict[str, Any] = {"case_id": f"C{key}", "order_id": f"O{key}", "kind": "refund_only"}
    fields |= {"actor": "buyer", "actor_id": buyer, "reason": "not_received"}
    if lines:
        paid["lines"], amount, asked = order_lines(rng)
        fields["lines"] = [CASE_LINE]
    else:
        amount = asked = Decimal(rng.randrange(500, 9000)) / 100
    review = policy.deadline(Kind.refund_only, State.pending_review, "US", asked, deadline)
    assert review is not None
    opened = deadline - (review - deadline)  # a natural-time window below the high value
    fact = orders.parse_paid(policy, paid | {"amount": str(amount)})
    order, _ = orders.record_paid(fact, opened - timedelta(days=3))
    orders.record_shipped(order, opened - timedelta(days=2), None)
    case, _ = rules.open(order, policy, parse_open(policy, fields), opened)
    assert case.deadline_at == deadline, (case.deadline_at, deadline)
    return order, case  # each with the events it recorded


def _pair(
    key: str, deadline: datetime, version: str, rng: random.Random, lines: bool = False
) -> tuple[Order, Case]:
    opened = deadline - timedelta(hours=48)
    shop = f"shop-{rng.randrange(50):02d}"
    if lines:
        given, amount, asked = order_lines(rng)
        held = [
            {**line, "refunded_amount": "0.00", "returned_quantity": 0, "open_case_id": None}
            | ({"open_case_id": f"C{key}"} if line["line_id"] == CASE_LINE["line_id"] else {})
            for line in given
        ]
        covered = [CASE_LINE]
    else:
        amount = asked = Decimal(rng.randrange(500, 9000)) / 100
        held = [{**line, "open_case_id": f"C{key}"} for line in whole_order(amount)]
        covered = [{"line_id": "1", "quantity": 1}]
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
        lines=held,
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
        amount=asked,
        currency="USD",
        opened_by=Actor.buyer,
        opened_at=opened,
        updated_at=opened,
        policy_version=version,
        request={"order_id": order.order_id, "kind": "refund_only", "reason": "not_received"},
        deadline_at=deadline,
        deadline_action=Action.review_timeout,
        lines=covered,
        covers_rest=not lines,
    )
    return order, case
