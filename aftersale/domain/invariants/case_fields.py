"""A case's own ledger fields against its events: the lines its ``open`` recorded, its offers
and their outcomes, its refund; and while it is open, what its refund will read (the item back,
what sending it cost, whether it covers the rest of the order) and an open offer's pause.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal

from aftersale.domain.invariants.base import Violation, when
from aftersale.domain.invariants.entries import Refund, case_lines, offers, refund
from aftersale.domain.invariants.reading import Step
from aftersale.domain.model import Action, Case, State

MICROSECOND = timedelta(microseconds=1)
OUTCOMES = {
    Action.accept_offer: "accepted",
    Action.decline_offer: "declined",
    Action.offer_timeout: "lapsed",
    Action.withdraw: "withdrawn",
}
Offered = tuple[int, Decimal, str, str]  # number, amount, at (as text), outcome


@dataclass
class CaseFold:
    """What a case's own events say of its ledger fields."""

    lines: list[tuple[str, int]]
    legacy: bool  # opened before orders had lines
    covers_rest: bool = False
    refund: Refund | None = None
    item_returned: bool = False
    return_cost: Decimal | None = None
    offers: list[Offered] = field(default_factory=list)  # at as text


def refund_key(refund: Refund) -> tuple[Decimal, Decimal, Decimal, Decimal, str]:
    return refund.items, refund.shipping, refund.return_shipping, refund.total, refund.paid_by


def track(fold: CaseFold, step: Step) -> None:
    """What a step tells of the case's offers, the item coming back and what it cost."""
    if step.action is Action.ship_return:
        fold.return_cost = step.shipping_cost
    if step.target is State.return_received:
        fold.item_returned = True
    if step.action is Action.offer_partial_refund and step.offer is not None:
        fold.offers.append((len(fold.offers) + 1, step.offer[1], when(step.at), "open"))
    elif step.source is State.awaiting_buyer_response and fold.offers:
        number, offered, at, outcome = fold.offers[-1]
        if outcome == "open":
            fold.offers[-1] = (number, offered, at, OUTCOMES.get(step.action, outcome))


OUTCOMES = {
    Action.accept_offer: "accepted",
    Action.decline_offer: "declined",
    Action.offer_timeout: "lapsed",
    Action.withdraw: "withdrawn",
}


def check_case_fields(case: Case, steps: Sequence[Step], fold: CaseFold) -> list[Violation]:
    """The case row's ledger fields say what its events say; what only matters while it is
    open (the item back, its cost, the offer's pause) only while it is open."""
    stored_refund = refund(case.refund)
    stored_offers = [(o.number, o.amount, when(o.at), o.outcome) for o in offers(case.offers)]
    differences: list[tuple[str, object, object, str, str]] = [
        (
            "lines",
            case_lines(case.lines),
            fold.lines,
            _lines(case_lines(case.lines)),
            _lines(fold.lines),
        ),
        ("offers", stored_offers, fold.offers, _offers(stored_offers), _offers(fold.offers)),
        (
            "refund",
            None if stored_refund is None else refund_key(stored_refund),
            None if fold.refund is None else refund_key(fold.refund),
            "none" if stored_refund is None else stored_refund.shown(),
            "none" if fold.refund is None else fold.refund.shown(),
        ),
    ]
    if not case.is_terminal:
        paused = steps[-1] if case.state is State.awaiting_buyer_response else None
        before = steps[-2].deadline_at if paused is not None and len(steps) > 1 else None
        left = None
        if paused is not None and before is not None:
            left = Decimal((before - paused.at) // MICROSECOND).scaleb(-6)
        plain: list[tuple[str, object, object]] = [
            ("item_returned", case.item_returned, fold.item_returned),
            ("return_shipping_cost", case.return_shipping_cost, fold.return_cost),
            ("offer_from", case.offer_from, None if paused is None else paused.source),
            ("clock_left", case.clock_left, left),
        ]
        if not fold.legacy:
            plain.append(("covers_rest", case.covers_rest, fold.covers_rest))
        differences += [(name, kept, gives, str(kept), str(gives)) for name, kept, gives in plain]
    return [
        Violation(
            "history", f"case {case.case_id}", f"{name} is {shown} but its events say {says}"
        )
        for name, kept, gives, shown, says in differences
        if kept != gives
    ]


def _lines(lines: Sequence[tuple[str, int]]) -> str:
    return "[" + ", ".join(f"{line_id} x {quantity}" for line_id, quantity in lines) + "]"


def _offers(offered: Sequence[Offered]) -> str:
    shown = (f"{n}: {amount} at {at} {outcome}" for n, amount, at, outcome in offered)
    return "[" + ", ".join(shown) + "]"
