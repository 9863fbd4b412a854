"""An order against its cases and its facts: the open case of each line, and the order events.

The health score reads an order from its events alone (when it was paid, promised, shipped,
delivered, cancelled), so each event must say what the order row says: exactly one
``order.paid``, at most one ``order.shipped`` and ``order.delivered``, each at the row's instant.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence

from aftersale.domain import events as ev
from aftersale.domain.invariants.base import Violation, when
from aftersale.domain.invariants.entries import order_lines
from aftersale.domain.invariants.reading import SERVICE_FACTS, Fact, Step
from aftersale.domain.invariants.timeline import cancels_order
from aftersale.domain.model import Case, Order


def check_orders(orders: Iterable[Order], cases: Iterable[Case]) -> list[Violation]:
    """At most one open case per line (lines.md), named by the line's ``open_case_id``, and
    the order's ``open_case_id`` the one of its first line that has one. Money back is the
    ledger's (:mod:`aftersale.domain.invariants.ledger`)."""
    holders: dict[tuple[str, str], list[str]] = defaultdict(list)
    for case in cases:
        if not case.is_terminal:
            for item in case.lines:
                holders[case.order_id, str(item["line_id"])].append(case.case_id)
    found: list[Violation] = []
    for order in orders:
        subject = f"order {order.order_id}"
        first: str | None = None
        for line in order_lines(order.lines):
            held = sorted(holders.get((order.order_id, line.line_id), []))
            if len(held) > 1:
                found.append(
                    Violation("one_open_case", subject, f"line {line.line_id}: open cases {held}")
                )
            holder = held[0] if held else None
            first = first or holder
            if holder != line.open_case_id:
                found.append(
                    Violation(
                        "one_open_case",
                        subject,
                        f"line {line.line_id}: open_case_id is {line.open_case_id} but the "
                        f"open case on it is {holder}",
                    )
                )
        if first != order.open_case_id:
            found.append(
                Violation(
                    "one_open_case",
                    subject,
                    f"open_case_id is {order.open_case_id} but the open case on its first "
                    f"held line is {first}",
                )
            )
    return found


def check_missing_orders(
    orders: Mapping[str, Order],
    cases: Iterable[Case],
    facts: Mapping[str, Sequence[Fact]],
    skipped: set[str],
) -> list[Violation]:
    """Every order a case or an event names has its row."""
    named: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        named[case.order_id].append(f"case {case.case_id}")
    for order_id, logged in facts.items():
        named[order_id] += [f"event {fact.seq}" for fact in logged]
    return [
        Violation("order", f"order {order_id}", f"no order row, but {', '.join(names)} name it")
        for order_id, names in sorted(named.items())
        if order_id not in orders and f"order {order_id}" not in skipped
    ]


def check_order_facts(
    order: Order, facts: Sequence[Fact], steps: Iterable[Sequence[Step]]
) -> list[Violation]:
    """The order's events say what its row says, in an order that can happen."""
    subject = f"order {order.order_id}"
    found = [Violation("facts", subject, problem) for problem in _paid(order, facts)]
    for kind, instant in (
        (ev.ORDER_SHIPPED, order.shipped_at),
        (ev.ORDER_DELIVERED, order.delivered_at),
    ):
        logged = [fact for fact in facts if fact.type == kind]
        if len(logged) > 1:
            seqs = ", ".join(str(fact.seq) for fact in logged)
            found.append(
                Violation("facts", subject, f"{len(logged)} {kind} events ({seqs}); at most one")
            )
        elif [fact.at for fact in logged] != ([] if instant is None else [instant]):
            found.append(
                Violation(
                    "facts",
                    subject,
                    f"the row says {kind} at {when(instant)}, its events at "
                    f"{', '.join(when(fact.at) for fact in logged) or 'no time'}",
                )
            )
    shipped = [fact for fact in facts if fact.type == ev.ORDER_SHIPPED]
    if len(shipped) == 1 and shipped[0].details["tracking"] != order.tracking:
        found.append(
            Violation("facts", subject, f"tracking {order.tracking!r} is not the event's")
        )
    cancelled = [s.at for case in steps for s in case if cancels_order(s)]
    if cancelled != ([] if order.cancelled_at is None else [order.cancelled_at]):
        found.append(
            Violation(
                "facts",
                subject,
                f"cancelled_at is {when(order.cancelled_at)}, its cases cancelled it at "
                f"{', '.join(when(at) for at in cancelled) or 'no time'}",
            )
        )
    found += [Violation("facts", subject, problem) for problem in _sequence(order, facts)]
    return found


def _paid(order: Order, facts: Sequence[Fact]) -> list[str]:
    paid = [fact for fact in facts if fact.type == ev.ORDER_PAID]
    if len(paid) != 1:
        seqs = ", ".join(str(fact.seq) for fact in paid)
        return [f"{len(paid)} order.paid events{f' ({seqs})' if seqs else ''}; it must have one"]
    fact, details = paid[0], paid[0].details
    logged = {
        "paid_at": when(fact.at),
        "shop_id": fact.shop_id,
        "buyer_id": details["buyer_id"],
        "market": details["market"],
        "currency": details["currency"],
        "amount": details["amount"],
        "dispatch_by": when(details["dispatch_by"]),
    }
    stored = {
        "paid_at": when(order.paid_at),
        "shop_id": order.shop_id,
        "buyer_id": order.buyer_id,
        "market": order.market,
        "currency": order.currency,
        "amount": order.amount,
        "dispatch_by": when(order.dispatch_by),
    }
    return [
        f"{name} is {stored[name]} but order.paid (event {fact.seq}) says {logged[name]}"
        for name in logged
        if logged[name] != stored[name]
    ]


def _sequence(order: Order, facts: Sequence[Fact]) -> list[str]:
    """Shipped after paid, delivered after shipped, nothing shipped once cancelled, and no
    review, complaint or message about the order before it was paid."""
    problems = []
    if order.shipped_at is not None and order.shipped_at < order.paid_at:
        problems.append(f"shipped at {when(order.shipped_at)}, before it was paid")
    if order.delivered_at is not None and (
        order.shipped_at is None or order.delivered_at < order.shipped_at
    ):
        problems.append(f"delivered at {when(order.delivered_at)}, before it was shipped")
    if order.cancelled_at is not None and order.shipped_at is not None:
        problems.append(
            f"cancelled at {when(order.cancelled_at)} and shipped at {when(order.shipped_at)}"
        )
    for fact in facts:
        if fact.type in SERVICE_FACTS and fact.at < order.paid_at:
            problems.append(
                f"{fact.type} (event {fact.seq}) at {when(fact.at)} is before the order was "
                f"paid ({when(order.paid_at)})"
            )
        if fact.shop_id != order.shop_id:
            problems.append(f"{fact.type} (event {fact.seq}) names shop {fact.shop_id}")
    return problems
