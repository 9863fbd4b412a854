"""The JSON columns and event keys of lines.md, read defensively: an order's lines, a case's
lines, offers and refund. Each reader returns typed values or raises :class:`Unreadable`
naming the entry and what is wrong with it, so a damaged list is one ``unreadable`` violation,
never a traceback in a later check.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from aftersale.domain.invariants.values import (
    Unreadable,
    amount,
    instant,
    listing,
    maybe_text,
    text,
    whole,
)

# what an entry must hold (lines.md): an order's line with its ledger, a case's line, an offer
ORDER_LINE_KEYS = (
    "line_id",
    "sku",
    "quantity",
    "unit_price",
    "refunded_amount",
    "returned_quantity",
    "open_case_id",
)
GIVEN_LINE_KEYS = ("line_id", "sku", "quantity", "unit_price")
CASE_LINE_KEYS = ("line_id", "quantity")
OFFER_KEYS = ("number", "amount", "at", "outcome")
REFUND_KEYS = ("items", "shipping", "return_shipping", "total", "paid_by")
OFFER_OUTCOMES = frozenset({"open", "accepted", "declined", "lapsed", "withdrawn"})
PAYERS = frozenset({"seller", "platform"})
# the one line of an order or case recorded before orders had lines (lines.md)
IMPLICIT_LINE = "1"


@dataclass(frozen=True, slots=True)
class OrderLine:
    line_id: str
    sku: str | None
    quantity: int
    unit_price: Decimal
    refunded_amount: Decimal
    returned_quantity: int
    open_case_id: str | None

    @property
    def value(self) -> Decimal:
        return self.quantity * self.unit_price


@dataclass(frozen=True, slots=True)
class Offer:
    number: int
    amount: Decimal
    at: datetime
    outcome: str


@dataclass(frozen=True, slots=True)
class Refund:
    items: Decimal
    shipping: Decimal
    return_shipping: Decimal
    total: Decimal
    paid_by: str

    def shown(self) -> str:
        return (
            f"items {self.items}, shipping {self.shipping}, return_shipping "
            f"{self.return_shipping}, total {self.total}, paid_by {self.paid_by}"
        )


def _entries(value: Any, name: str, keys: tuple[str, ...]) -> list[Mapping[str, Any]]:
    found: list[Mapping[str, Any]] = []
    for number, entry in enumerate(listing(value, name), 1):
        if not isinstance(entry, dict):
            raise Unreadable(f"{name}[{number}] is not a JSON object: {entry!r:.60}")
        missing = [key for key in keys if key not in entry]
        if missing:
            raise Unreadable(f"{name}[{number}] lacks {', '.join(missing)}")
        found.append(entry)
    return found


def _count(value: Any, name: str, least: int) -> int:
    number = whole(value, name)
    if number < least:
        raise Unreadable(f"{name} {number} is below {least}")
    return number


def _money(value: Any, name: str) -> Decimal:
    number = amount(value, name)
    if number < 0:
        raise Unreadable(f"{name} {value!r} is negative")
    return number


def order_lines(value: Any, name: str = "lines") -> list[OrderLine]:
    """An order row's ``lines``: each line with its ledger."""
    lines = []
    for number, entry in enumerate(_entries(value, name, ORDER_LINE_KEYS), 1):
        where = f"{name}[{number}]"
        lines.append(
            OrderLine(
                line_id=text(entry["line_id"], f"{where}.line_id"),
                sku=maybe_text(entry["sku"], f"{where}.sku"),
                quantity=_count(entry["quantity"], f"{where}.quantity", 1),
                unit_price=_money(entry["unit_price"], f"{where}.unit_price"),
                refunded_amount=_money(entry["refunded_amount"], f"{where}.refunded_amount"),
                returned_quantity=_count(
                    entry["returned_quantity"], f"{where}.returned_quantity", 0
                ),
                open_case_id=maybe_text(entry["open_case_id"], f"{where}.open_case_id"),
            )
        )
    return lines


def given_lines(value: Any, name: str = "lines") -> list[tuple[str, str | None, int, Decimal]]:
    """``order.paid``'s ``lines``: ``(line_id, sku, quantity, unit_price)`` each."""
    return [
        (
            text(entry["line_id"], f"{name}[{number}].line_id"),
            maybe_text(entry["sku"], f"{name}[{number}].sku"),
            _count(entry["quantity"], f"{name}[{number}].quantity", 1),
            _money(entry["unit_price"], f"{name}[{number}].unit_price"),
        )
        for number, entry in enumerate(_entries(value, name, GIVEN_LINE_KEYS), 1)
    ]


def case_lines(value: Any, name: str = "lines") -> list[tuple[str, int]]:
    """A case's ``lines`` (its row, or its ``open`` event): ``(line_id, quantity)`` each."""
    return [
        (
            text(entry["line_id"], f"{name}[{number}].line_id"),
            _count(entry["quantity"], f"{name}[{number}].quantity", 1),
        )
        for number, entry in enumerate(_entries(value, name, CASE_LINE_KEYS), 1)
    ]


def offers(value: Any, name: str = "offers") -> list[Offer]:
    found = []
    for number, entry in enumerate(_entries(value, name, OFFER_KEYS), 1):
        where = f"{name}[{number}]"
        outcome = text(entry["outcome"], f"{where}.outcome")
        if outcome not in OFFER_OUTCOMES:
            raise Unreadable(f"{where}.outcome {outcome!r} is not an offer's outcome")
        found.append(
            Offer(
                number=_count(entry["number"], f"{where}.number", 1),
                amount=_money(entry["amount"], f"{where}.amount"),
                at=instant(entry["at"], f"{where}.at"),
                outcome=outcome,
            )
        )
    return found


def event_offer(value: Any, name: str = "offer") -> tuple[int, Decimal]:
    """A transition event's ``offer``: ``{amount, number}``."""
    if not isinstance(value, dict) or "amount" not in value or "number" not in value:
        raise Unreadable(f"{name} is not an {{amount, number}} object: {value!r:.60}")
    return _count(value["number"], f"{name}.number", 1), _money(value["amount"], f"{name}.amount")


def refund(value: Any, name: str = "refund") -> Refund | None:
    """A case's ``refund`` (its row, or an event's): None until the case ends with money."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise Unreadable(f"{name} is not a JSON object: {value!r:.60}")
    missing = [key for key in REFUND_KEYS if key not in value]
    if missing:
        raise Unreadable(f"{name} lacks {', '.join(missing)}")
    paid_by = text(value["paid_by"], f"{name}.paid_by")
    if paid_by not in PAYERS:
        raise Unreadable(f"{name}.paid_by {paid_by!r} is not seller or platform")
    items, shipping, back, total = (_money(value[key], f"{name}.{key}") for key in REFUND_KEYS[:4])
    return Refund(items, shipping, back, total, paid_by)
