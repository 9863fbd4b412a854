"""What must always hold of stored cases, orders and events: what ``aftersale verify`` checks.

Each check is a pure function of the rows it is given and returns the violations it finds,
each naming the case or order it concerns, so an operator can look at exactly that one.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from aftersale.clock import iso
from aftersale.domain.model import TERMINAL_STATES, Case, Order, State
from aftersale.domain.workflows import WORKFLOWS

MONEY_BACK = frozenset({State.refunded, State.cancelled})


@dataclass(frozen=True)
class Violation:
    rule: str
    subject: str  # "case C1" or "order O1"
    detail: str

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, "subject": self.subject, "detail": self.detail}


def check_case(case: Case, transitions: Sequence[Mapping[str, Any]]) -> list[Violation]:
    """The case's state is the fold of its events, and its deadline is the one its state has."""
    subject = f"case {case.case_id}"
    found: list[Violation] = []
    workflow = WORKFLOWS.get(case.kind)
    if workflow is None or case.state not in workflow.states:
        return [Violation("state", subject, f"{case.state} is not a state of {case.kind}")]
    expected_from: str | None = None
    for event in transitions:
        if event["from_state"] != expected_from:
            found.append(
                Violation(
                    "history",
                    subject,
                    f"event {event['seq']} ({event['action']}) leaves {event['from_state']}, "
                    f"but the case was in {expected_from}: an event is missing or misplaced",
                )
            )
        if expected_from is not None and State(expected_from) in TERMINAL_STATES:
            found.append(Violation("terminal", subject, f"{event['action']} left {expected_from}"))
        expected_from = event["to_state"]
    if expected_from != case.state.value:
        found.append(
            Violation(
                "history",
                subject,
                f"the case is {case.state} but its events end in {expected_from}",
            )
        )
    found += _deadline(case, workflow.timeouts.get(case.state), transitions, subject)
    return found


def _deadline(
    case: Case, timeout: Any, transitions: Sequence[Mapping[str, Any]], subject: str
) -> list[Violation]:
    if case.is_terminal or case.state is State.platform_review:
        if case.deadline_at is not None:
            return [Violation("deadline", subject, f"{case.state} must have no deadline")]
        return []
    if case.deadline_at is None or case.deadline_action is not timeout:
        return [
            Violation(
                "deadline",
                subject,
                f"{case.state} must wait on {timeout} with a deadline; it has "
                f"{case.deadline_action} at {iso(case.deadline_at)}",
            )
        ]
    if transitions and transitions[-1]["deadline_at"] != iso(case.deadline_at):
        return [
            Violation(
                "deadline",
                subject,
                f"deadline {iso(case.deadline_at)} differs from the one its last event recorded "
                f"({transitions[-1]['deadline_at']})",
            )
        ]
    return []


def check_orders(orders: Iterable[Order], cases: Iterable[Case]) -> list[Violation]:
    """Money back never above the amount, matching the cases; one open case per order."""
    refunded: dict[str, Decimal] = defaultdict(Decimal)
    open_cases: dict[str, list[str]] = defaultdict(list)
    for case in cases:
        if case.state in MONEY_BACK:
            refunded[case.order_id] += case.amount
        elif not case.is_terminal:
            open_cases[case.order_id].append(case.case_id)
    found: list[Violation] = []
    for order in orders:
        subject = f"order {order.order_id}"
        total = refunded.get(order.order_id, Decimal(0))
        if total > order.amount:
            found.append(
                Violation("money", subject, f"{total} back on an order of {order.amount}")
            )
        if total != order.refunded_total:
            found.append(
                Violation(
                    "money",
                    subject,
                    f"refunded_total {order.refunded_total} but its cases gave back {total}",
                )
            )
        still_open = sorted(open_cases.get(order.order_id, []))
        if len(still_open) > 1:
            found.append(Violation("one_open_case", subject, f"open cases {still_open}"))
        if (still_open[0] if still_open else None) != order.open_case_id:
            found.append(
                Violation(
                    "one_open_case",
                    subject,
                    f"open_case_id is {order.open_case_id} but the open case is "
                    f"{still_open[0] if still_open else None}",
                )
            )
    return found
