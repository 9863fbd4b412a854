"""What must always hold of stored cases, orders, messages and events: what ``verify`` checks.

Each check is a pure function of the rows it is given and returns the violations it finds,
each naming the case, order, message or event it concerns, so an operator can look at exactly
that one. The health score is computed from the event log alone, so every fact it reads is
checked against the rows the engine keeps, and every transition against the workflow tables.

    reading    rows as stored, read defensively: a damaged row is one ``unreadable`` violation
    history    a case against its events, re-derived step by step from the workflow table
    orders     the open case of each line, and the order events against the order row
    ledger     the refund ledger folded from the events: lines, refunds, money back, offers
    timeline   when each case was opened, against its order's facts and the order's other cases
    messages   chat messages against their events
    governance tickets against their events and pinned settings (tickets), punishments
               against theirs and the points that started them (punishments), shop rows
"""

from __future__ import annotations

from collections.abc import Mapping

from aftersale.domain.invariants.base import Violation
from aftersale.domain.invariants.governance import check_governance
from aftersale.domain.invariants.history import check_case
from aftersale.domain.invariants.ledger import check_ledger
from aftersale.domain.invariants.messages import check_messages
from aftersale.domain.invariants.orders import (
    check_missing_orders,
    check_order_facts,
    check_orders,
)
from aftersale.domain.invariants.reading import Snapshot
from aftersale.domain.invariants.timeline import Story, check_timeline
from aftersale.domain.model import Order
from aftersale.domain.policy import Policy
from aftersale.domain.tickets.settings import GovernanceSettings

__all__ = ["Snapshot", "Violation", "check_case", "check_orders", "check_snapshot"]


def check_snapshot(
    snapshot: Snapshot,
    policies: Mapping[str, Policy | None],
    governance: Mapping[str, GovernanceSettings | None] | None = None,
    in_force: Policy | None = None,
) -> list[Violation]:
    """Every violation in one consistent snapshot of the database; ``policies`` holds each
    stored policy version and ``governance`` each stored governance settings version (None
    when its document could not be read). The markets of the stored policies, and of the
    policy ``in_force`` (stored only once a case is opened under it), time tickets' SLAs."""
    skipped = snapshot.skipped
    found = list(snapshot.unreadable)
    cases = [c for c in snapshot.cases.values() if f"case {c.case_id}" not in skipped]
    stories: dict[str, list[Story]] = {}
    for case in sorted(cases, key=lambda c: c.case_id):
        steps = snapshot.steps.get(case.case_id, [])
        found += check_case(case, steps, policies.get(case.policy_version))
        if case.policy_version not in policies:
            found.append(
                Violation(
                    "policy", f"case {case.case_id}", f"policy {case.policy_version} is not stored"
                )
            )
        stories.setdefault(case.order_id, []).append((case, steps))
    found += [
        Violation("history", f"case {case_id}", "events of a case that does not exist")
        for case_id in sorted(snapshot.steps)
        if case_id not in snapshot.cases and f"case {case_id}" not in skipped
    ]
    orders = [
        order
        for _, order in sorted(snapshot.orders.items())
        if f"order {order.order_id}" not in skipped
    ]
    checked = {order.order_id for order in orders}
    found += check_orders(orders, [case for case in cases if case.order_id in checked])
    found += check_missing_orders(snapshot.orders, cases, snapshot.facts, skipped)
    for order in orders:
        facts = snapshot.facts.get(order.order_id, [])
        on_order = stories.get(order.order_id, [])
        found += check_order_facts(order, facts, [steps for _, steps in on_order])
        found += check_timeline(order, facts, on_order, policies)
        found += check_ledger(order, facts, on_order, _decimals(order, on_order, policies))
    found += check_messages(snapshot.messages, snapshot.message_facts, skipped)
    calendars = [policy for _, policy in sorted(policies.items()) if policy is not None]
    if in_force is not None:
        calendars.append(in_force)
    found += check_governance(snapshot, governance or {}, calendars)
    return found


def _decimals(order: Order, stories: list[Story], policies: Mapping[str, Policy | None]) -> int:
    """The decimals of the order's currency: its market's in a policy its cases are pinned
    to (or any stored one), else as many as its amount is written with."""
    pinned = [policies.get(case.policy_version) for case, _ in stories]
    for policy in [*pinned, *policies.values()]:
        if policy is not None and order.market in policy.markets:
            return policy.market(order.market).currency_decimals
    exponent = order.amount.as_tuple().exponent
    return -exponent if isinstance(exponent, int) and exponent < 0 else 0
