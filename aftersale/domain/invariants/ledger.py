"""The refund ledger of lines.md, folded from the events and held against the rows.

An order's lines come from its ``order.paid`` event; its cases' events, taken in the order they
were recorded, move the ledger: an ``open`` holds the lines it names, a transition into
``refunded`` or ``cancelled`` records a refund whose items are spread over the case's lines as
the engine spreads them (:func:`aftersale.domain.lines.allocate`), units come back on a
cancellation or a refunded return that passed ``return_received``. Each refund is also worked
out again from the rules and must be the one recorded. What the fold gives must be what the
rows keep: each line's ``refunded_amount`` and ``returned_quantity``, the order's
``refunded_total`` and ``shipping_refunded``, and the invariants hold: per line refunded ≤ value
and returned ≤ quantity, Σ items + shipping ≤ the amount, shipping refunded at most once.

Events recorded before orders had lines are read as lines.md reads them: one line "1" of the
amount, an open covering it, a refund of the case's amount as items.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from aftersale.domain.events import ORDER_PAID
from aftersale.domain.invariants.base import MONEY_BACK, Violation
from aftersale.domain.invariants.case_fields import CaseFold, check_case_fields, refund_key, track
from aftersale.domain.invariants.entries import IMPLICIT_LINE, Refund, order_lines
from aftersale.domain.invariants.reading import Fact, Step
from aftersale.domain.invariants.timeline import Story, opened_lines
from aftersale.domain.lines import PLATFORM_PAYS, RETURN_SHIPPING_REFUNDED, allocate, unit
from aftersale.domain.model import TERMINAL_STATES, Action, Case, Kind, Order, State

ZERO = Decimal(0)


@dataclass
class _Line:
    quantity: int
    price: Decimal
    refunded: Decimal = ZERO
    returned: int = 0
    holder: str | None = None

    @property
    def refundable_amount(self) -> Decimal:
        return self.quantity * self.price - self.refunded

    @property
    def refundable_quantity(self) -> int:
        return self.quantity - self.returned


@dataclass
class _Fold:
    order: Order
    decimals: int
    lines: dict[str, _Line]
    fee: Decimal
    cases: dict[str, CaseFold] = field(default_factory=dict)
    refunds: list[tuple[str, Refund]] = field(default_factory=list)
    found: list[Violation] = field(default_factory=list)

    def say(self, rule: str, subject: str, detail: str) -> None:
        self.found.append(Violation(rule, subject, detail))

    def open(self, case: Case, steps: Sequence[Step], step: Step) -> CaseFold:
        covered = opened_lines(case, steps)
        rest = {key: line for key, line in self.lines.items() if _refundable(line)}
        whole = {key: line.refundable_quantity for key, line in rest.items()}
        fold = CaseFold(covered, legacy=step.lines is None)
        fold.covers_rest = dict(covered) == whole and all(
            line.holder is None for line in rest.values()
        )
        for line_id, quantity in covered:
            line = self.lines.get(line_id)
            if line is None:
                self.say(
                    "ledger",
                    f"case {case.case_id}",
                    f"event {step.seq} (open) covers line {line_id}, which order "
                    f"{self.order.order_id} does not have",
                )
            elif quantity > line.refundable_quantity:
                self.say(
                    "ledger",
                    f"case {case.case_id}",
                    f"event {step.seq} (open) asks for {quantity} of line {line_id}; "
                    f"{line.refundable_quantity} of {line.quantity} were left",
                )
            if line is not None:
                line.holder = case.case_id
        return fold

    def end(self, case: Case, fold: CaseFold, step: Step) -> None:
        """A transition into a terminal state: the refund, the units back, the lines let go."""
        if step.target in MONEY_BACK:
            self._refund(case, fold, step)
        for line in self.lines.values():
            if line.holder == case.case_id:
                line.holder = None
        if step.target is State.cancelled and step.order_cancelled is not None:
            left = sum(line.refundable_quantity for line in self.lines.values())
            if step.order_cancelled is not (left == 0):
                said = "cancelled the order" if step.order_cancelled else "left the order open"
                self.say(
                    "ledger",
                    f"order {self.order.order_id}",
                    f"event {step.seq} ({step.action} of case {case.case_id}) {said}, but "
                    f"{left} units were not cancelled",
                )

    def _refund(self, case: Case, fold: CaseFold, step: Step) -> None:
        subject = f"case {case.case_id}"
        expected = self._expected(fold, step)
        recorded = step.refund
        if recorded is None:
            if not fold.legacy:
                self.say("refund", subject, f"event {step.seq} ({step.action}) records no refund")
            recorded = expected
        elif refund_key(recorded) != refund_key(expected):
            self.say(
                "refund",
                subject,
                f"event {step.seq} ({step.action}) recorded {recorded.shown()}; the rules "
                f"give {expected.shown()}",
            )
        fold.refund = recorded
        self.refunds.append((case.case_id, recorded))
        held = [(self.lines[key], quantity) for key, quantity in fold.lines if key in self.lines]
        capped = [min(quantity * line.price, line.refundable_amount) for line, quantity in held]
        worth = sum(capped, ZERO)
        if recorded.items > worth:
            self.say(
                "ledger",
                f"order {self.order.order_id}",
                f"case {case.case_id} refunded {recorded.items} of items on lines with only "
                f"{worth} left to refund",
            )
        if worth > 0:
            shares = allocate(min(recorded.items, worth), capped, self.decimals)
            for (line, _), share in zip(held, shares, strict=True):
                line.refunded += share
        if step.target is State.cancelled or (
            step.kind is Kind.return_refund and fold.item_returned
        ):
            for line, quantity in held:
                line.returned += quantity

    def _expected(self, fold: CaseFold, step: Step) -> Refund:
        """The refund lines.md gives at this step."""
        accepted = step.action is Action.accept_offer and bool(fold.offers)
        items = fold.offers[-1][1] if accepted else step.amount
        left = sum(line.refundable_quantity for line in self.lines.values())
        taking = sum(quantity for key, quantity in fold.lines if key in self.lines)
        last_units = step.target is State.cancelled and left == taking  # the order never ships
        shipping = ZERO
        if (
            (fold.covers_rest or last_units)
            and not any(refund.shipping for _, refund in self.refunds)
            and not accepted
            and (step.kind is Kind.cancellation or step.responsibility.value != "buyer")
        ):
            shipping = self.fee
        back = ZERO
        if (
            step.kind is Kind.return_refund
            and fold.return_cost is not None
            and step.responsibility in RETURN_SHIPPING_REFUNDED
        ):
            back = fold.return_cost
        paid_by = "platform" if step.responsibility in PLATFORM_PAYS else "seller"
        cent = unit(self.decimals)
        items, shipping, back = (part.quantize(cent) for part in (items, shipping, back))
        return Refund(items, shipping, back, items + shipping + back, paid_by)


def _refundable(line: _Line) -> bool:
    return line.refundable_quantity > 0 and line.refundable_amount > 0


def fold_order(
    order: Order, facts: Sequence[Fact], stories: Sequence[Story], decimals: int
) -> tuple[_Fold, list[tuple[str, str | None, int, Decimal]]] | None:
    """The ledger the order's events give, and the lines its ``order.paid`` gave (None when
    it has not exactly one: the facts check says so)."""
    paid = [fact for fact in facts if fact.type == ORDER_PAID]
    if len(paid) != 1:
        return None
    details = paid[0].details
    fee: Decimal = details["shipping_fee"]
    given = details["lines"] or [(IMPLICIT_LINE, None, 1, details["amount"] - fee)]
    fold = _Fold(order, decimals, {key: _Line(q, price) for key, _, q, price in given}, fee)
    merged = sorted(
        ((step.seq, index, step) for index, (_, steps) in enumerate(stories) for step in steps),
        key=lambda item: item[0],
    )
    for _, index, step in merged:
        case, steps = stories[index]
        if step.action is Action.open:
            fold.cases[case.case_id] = fold.open(case, steps, step)
            continue
        case_fold = fold.cases.get(case.case_id)
        if case_fold is None:  # no open event first: the history check says so
            continue
        track(case_fold, step)
        if step.target in TERMINAL_STATES:
            fold.end(case, case_fold, step)
    return fold, given


def check_ledger(
    order: Order, facts: Sequence[Fact], stories: Sequence[Story], decimals: int
) -> list[Violation]:
    """The order's ledger against the fold of its events, and the ledger's invariants."""
    folded = fold_order(order, facts, stories, decimals)
    if folded is None:
        return []
    fold, given = folded
    subject = f"order {order.order_id}"
    found = list(fold.found)
    stored = order_lines(order.lines)
    shown = [(line.line_id, line.sku, line.quantity, line.unit_price) for line in stored]
    if shown != given:
        found.append(
            Violation("facts", subject, f"lines {_given(shown)}; order.paid gave {_given(given)}")
        )
    if order.shipping_fee != fold.fee:
        found.append(
            Violation(
                "facts", subject, f"shipping_fee {order.shipping_fee}; order.paid gave {fold.fee}"
            )
        )
    for line in stored:
        where = f"line {line.line_id}"
        if line.refunded_amount > line.value:
            found.append(
                Violation(
                    "ledger",
                    subject,
                    f"{where}: refunded_amount {line.refunded_amount} above its value "
                    f"{line.value}",
                )
            )
        if line.returned_quantity > line.quantity:
            found.append(
                Violation(
                    "ledger",
                    subject,
                    f"{where}: returned_quantity {line.returned_quantity} above its quantity "
                    f"{line.quantity}",
                )
            )
        logged = fold.lines.get(line.line_id)
        if logged is None:
            continue
        for name, kept, gives in (
            ("refunded_amount", line.refunded_amount, logged.refunded),
            ("returned_quantity", line.returned_quantity, logged.returned),
        ):
            if kept != gives:
                found.append(
                    Violation(
                        "ledger",
                        subject,
                        f"{where}: {name} {kept} but its cases' events give {gives}",
                    )
                )
    found += _money(order, fold)
    for case, steps in stories:
        if case.case_id in fold.cases:
            found += check_case_fields(case, steps, fold.cases[case.case_id])
    return found


def _given(lines: Sequence[tuple[str, str | None, int, Decimal]]) -> str:
    return "[" + ", ".join(f"{key} {sku} {q} x {price}" for key, sku, q, price in lines) + "]"


def _money(order: Order, fold: _Fold) -> list[Violation]:
    subject = f"order {order.order_id}"
    back = sum((refund.items + refund.shipping for _, refund in fold.refunds), ZERO)
    shipping = sum((refund.shipping for _, refund in fold.refunds), ZERO)
    found = []
    if back > order.amount:
        found.append(Violation("money", subject, f"{back} back on an order of {order.amount}"))
    if back != order.refunded_total:
        found.append(
            Violation(
                "money",
                subject,
                f"refunded_total {order.refunded_total} but its cases' refunds give {back}",
            )
        )
    if shipping != order.shipping_refunded:
        found.append(
            Violation(
                "money",
                subject,
                f"shipping_refunded {order.shipping_refunded} but its cases' refunds give "
                f"{shipping}",
            )
        )
    with_shipping = [case_id for case_id, refund in fold.refunds if refund.shipping]
    if len(with_shipping) > 1:
        found.append(
            Violation(
                "money",
                subject,
                f"shipping refunded more than once: by {', '.join(with_shipping)}",
            )
        )
    if shipping > fold.fee:
        found.append(
            Violation("money", subject, f"{shipping} of shipping back on a fee of {fold.fee}")
        )
    return found
