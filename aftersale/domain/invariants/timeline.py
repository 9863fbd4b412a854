"""What a case may be opened on, and when: an order's facts against its cases' events.

workflows.md: a cancellation only before the order ships, a refund_only only after, a
return_refund only after delivery and inside the return window, none on a cancelled order (one
whose every unit a cancellation cancelled); at most one open case per line at any instant
(lines.md: cases on different lines may overlap); and shipping closes a pending cancellation, so no
shipment is dated before a cancellation's last transition.

Instants alone do not order two events of one instant (a buyer may open a refund_only at the
very instant the order ships, after the shipment was recorded), so the checks compare
``(instant, seq)`` positions where the order of recording decides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from aftersale.domain import events as ev
from aftersale.domain.invariants.base import Violation, when
from aftersale.domain.invariants.entries import IMPLICIT_LINE
from aftersale.domain.invariants.reading import Fact, Step
from aftersale.domain.model import TERMINAL_STATES, Action, Case, Kind, Order, State
from aftersale.domain.policy import Policy

Position = tuple[datetime, int]
NEVER: Position = (datetime.max.replace(tzinfo=UTC), 0)
Story = tuple[Case, Sequence[Step]]


def check_timeline(
    order: Order,
    facts: Sequence[Fact],
    stories: Sequence[Story],
    policies: Mapping[str, Policy | None],
) -> list[Violation]:
    """The order's cases were each opened when the order allowed them, one at a time."""
    found: list[Violation] = []
    for case, steps in stories:
        pinned = policies.get(case.policy_version)
        found += _eligible(order, facts, stories, case, steps, pinned)
    found += _overlaps(order, stories)
    found += _shipping(order, stories)
    return found


def _kind(case: Case, steps: Sequence[Step]) -> Kind:
    return steps[0].kind if steps and steps[0].action is Action.open else case.kind


def opened_lines(case: Case, steps: Sequence[Step]) -> list[tuple[str, int]]:
    """The lines a case covers, as its ``open`` event recorded them: the implicit line "1"
    for an open recorded before orders had lines."""
    if steps and steps[0].action is Action.open:
        return steps[0].lines if steps[0].lines is not None else [(IMPLICIT_LINE, 1)]
    return [(str(item["line_id"]), int(item["quantity"])) for item in case.lines]


def cancels_order(step: Step) -> bool:
    """A transition into cancelled that cancelled the order's last units (said on every one
    since lines; before them every cancellation cancelled the order)."""
    return step.target is State.cancelled and step.order_cancelled is not False


def _opened(case: Case, steps: Sequence[Step]) -> Position:
    if steps and steps[0].action is Action.open:
        return steps[0].at, steps[0].seq
    return case.opened_at, 0


def _closed(steps: Sequence[Step]) -> Position:
    ends = [(step.at, step.seq) for step in steps if step.target in TERMINAL_STATES]
    return ends[0] if ends else NEVER


def _fact(facts: Sequence[Fact], kind: str, instant: datetime | None) -> Position | None:
    """Where the order's ``kind`` fact stands, from the row's instant (None: not yet)."""
    if instant is None:
        return None
    seqs = [fact.seq for fact in facts if fact.type == kind and fact.at == instant]
    return instant, seqs[0] if seqs else 0


def _eligible(
    order: Order,
    facts: Sequence[Fact],
    stories: Sequence[Story],
    case: Case,
    steps: Sequence[Step],
    policy: Policy | None,
) -> list[Violation]:
    kind, opened = _kind(case, steps), _opened(case, steps)
    shipped = _fact(facts, ev.ORDER_SHIPPED, order.shipped_at)
    delivered = _fact(facts, ev.ORDER_DELIVERED, order.delivered_at)
    problems = []
    if opened[0] < order.paid_at:
        problems.append(f"before the order was paid at {when(order.paid_at)}")
    cancellings = [
        (step.at, step.seq)
        for other, other_steps in stories
        if other is not case
        for step in other_steps
        if cancels_order(step)
    ]
    if any(position < opened for position in cancellings):
        problems.append(f"after the order was cancelled at {when(order.cancelled_at)}")
    if kind is Kind.cancellation and shipped is not None and shipped < opened:
        problems.append(f"after the order shipped at {when(order.shipped_at)}")
    if kind is Kind.refund_only and (shipped is None or opened < shipped):
        problems.append(f"before the order shipped (at {when(order.shipped_at)})")
    if kind is Kind.return_refund:
        if delivered is None or opened < delivered:
            problems.append(f"before the order was delivered (at {when(order.delivered_at)})")
        elif policy is not None and order.market in policy.markets:
            window = policy.market(order.market).return_window
            if opened[0] - delivered[0] > window:
                problems.append(f"after its {window.days}-day return window")
    return [
        Violation(
            "eligibility", f"case {case.case_id}", f"a {kind} opened at {when(opened[0])}, {p}"
        )
        for p in problems
    ]


def _overlaps(order: Order, stories: Sequence[Story]) -> list[Violation]:
    """No case opened on a line while another case on that line was still open."""
    spans = sorted(
        (
            _opened(case, steps),
            _closed(steps),
            case.case_id,
            {line_id for line_id, _ in opened_lines(case, steps)},
        )
        for case, steps in stories
    )
    found = []
    for index, (opened, _, case_id, lines) in enumerate(spans):
        for earlier_open, earlier_close, earlier_id, earlier_lines in spans[:index]:
            shared = sorted(lines & earlier_lines)
            if shared and earlier_open <= opened < earlier_close:
                until = "now" if earlier_close == NEVER else when(earlier_close[0])
                found.append(
                    Violation(
                        "one_open_case",
                        f"case {case_id}",
                        f"opened at {when(opened[0])} on line {', '.join(shared)} of order "
                        f"{order.order_id} while case {earlier_id} held it (from "
                        f"{when(earlier_open[0])} to {until})",
                    )
                )
    return found


def _shipping(order: Order, stories: Sequence[Story]) -> list[Violation]:
    """Shipping closes a pending cancellation: none moved after the order shipped."""
    if order.shipped_at is None:
        return []
    found = []
    for case, steps in stories:
        if _kind(case, steps) is not Kind.cancellation or not steps:
            continue
        last = steps[-1]
        if steps[0].at > order.shipped_at:  # opened after it: not eligible, said above
            continue
        if last.target not in TERMINAL_STATES:
            detail = f"cancellation {case.case_id} is still {last.target}"
        elif last.at > order.shipped_at:
            detail = (
                f"cancellation {case.case_id} moved after it ({last.action} at {when(last.at)})"
            )
        else:
            continue
        found.append(
            Violation(
                "shipping",
                f"order {order.order_id}",
                f"shipped at {when(order.shipped_at)}, but {detail}: a shipment closes a "
                "pending cancellation",
            )
        )
    return found
