"""Order lines and the refund ledger of lines.md: what a case covers, and what its refund pays.

An order keeps its lines as plain JSON-ready dicts (money as decimal text), so a line is stored,
shown and compared without conversions:

    {line_id, sku, quantity, unit_price, refunded_amount, returned_quantity, open_case_id}

A line's value is quantity × unit_price; what is still refundable is value − refunded_amount and
quantity − returned_quantity. A case names ``[{line_id, quantity}]``; at most one open case holds
a line (``open_case_id``), so a line's ledger never moves while a case on it is open.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

from aftersale.domain import validation as check
from aftersale.domain.model import Action, Case, Kind, Order, Responsibility, State
from aftersale.errors import Conflict, InvalidInput, NotFound

Line = dict[str, Any]
ZERO = Decimal(0)
# who pays a refund, by the case's responsibility at the refund (lines.md)
PLATFORM_PAYS = frozenset({Responsibility.logistics, Responsibility.platform})
RETURN_SHIPPING_REFUNDED = frozenset(
    {Responsibility.seller, Responsibility.logistics, Responsibility.platform}
)


def unit(decimals: int) -> Decimal:
    """The smallest amount of a currency with ``decimals`` places (0.01, 1, 0.001)."""
    return Decimal(1).scaleb(-decimals)


def money(value: Decimal, decimals: int) -> str:
    return str(value.quantize(unit(decimals)))


def value(line: Mapping[str, Any]) -> Decimal:
    return int(line["quantity"]) * Decimal(line["unit_price"])


def refundable_amount(line: Mapping[str, Any]) -> Decimal:
    return value(line) - Decimal(line["refunded_amount"])


def refundable_quantity(line: Mapping[str, Any]) -> int:
    return int(line["quantity"]) - int(line["returned_quantity"])


def is_refundable(line: Mapping[str, Any]) -> bool:
    return refundable_quantity(line) > 0 and refundable_amount(line) > 0


# -- an order's lines, as the host gives them -------------------------------------------------


def parse_order_lines(
    raw: Any, amount: Decimal, shipping_fee: Decimal, decimals: int
) -> list[Line]:
    """The lines of ``order.paid`` checked against ``amount``; one implicit line without them."""
    if raw is None:
        if shipping_fee >= amount:
            raise InvalidInput(
                f"shipping_fee {shipping_fee} must be below the amount {amount} of an order "
                "without lines"
            )
        return [_line("1", None, 1, amount - shipping_fee, decimals)]
    if not isinstance(raw, list) or not raw:
        raise InvalidInput(
            "lines must be a non-empty list of {line_id, sku, quantity, unit_price}"
        )
    if len(raw) > check.MAX_LINES:
        raise InvalidInput(f"an order has at most {check.MAX_LINES:,} lines, not {len(raw):,}")
    lines: list[Line] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, 1):
        where = f"lines[{number}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object {{line_id, sku, quantity, unit_price}}")
        unknown = sorted(set(item) - {"line_id", "sku", "quantity", "unit_price"})
        if unknown:
            raise InvalidInput(f"{where}: unknown field {unknown[0]}")
        line_id = _line_id(item.get("line_id"), f"{where}.line_id")
        if line_id in seen:
            raise InvalidInput(f"{where}: line_id {line_id} appears twice in the order")
        seen.add(line_id)
        sku = item.get("sku")
        if sku is not None:
            sku = check.identifier(sku, f"{where}.sku")
        quantity = check.quantity(item.get("quantity"), f"{where}.quantity")
        price = check.amount(item.get("unit_price"), f"{where}.unit_price", decimals)
        lines.append(_line(line_id, sku, quantity, price, decimals))
    total = sum((value(line) for line in lines), ZERO) + shipping_fee
    if total != amount:
        raise InvalidInput(
            f"amount {amount} is not the sum of the lines and the shipping fee: "
            f"{sum((value(line) for line in lines), ZERO)} + {shipping_fee} = {total}"
        )
    return lines


def whole_order(amount: Decimal, decimals: int = 2) -> list[Line]:
    """The one implicit line of an order without lines and without a shipping fee."""
    return [_line("1", None, 1, amount, decimals)]


def _line(line_id: str, sku: str | None, quantity: int, price: Decimal, decimals: int) -> Line:
    return {
        "line_id": line_id,
        "sku": sku,
        "quantity": quantity,
        "unit_price": money(price, decimals),
        "refunded_amount": money(ZERO, decimals),
        "returned_quantity": 0,
        "open_case_id": None,
    }


def _line_id(raw: Any, name: str) -> str:
    line_id = check.identifier(raw, name)
    if len(line_id) > check.MAX_LINE_ID_LENGTH:
        raise InvalidInput(f"{name} is longer than {check.MAX_LINE_ID_LENGTH} characters")
    return line_id


def given_lines(lines: Sequence[Line]) -> list[dict[str, Any]]:
    """The lines as the host gave them: what makes two ``order.paid`` the same facts."""
    return [
        {key: line[key] for key in ("line_id", "sku", "quantity", "unit_price")} for line in lines
    ]


# -- a case's lines --------------------------------------------------------------------------


def parse_case_lines(raw: Any) -> list[dict[str, Any]]:
    """``case.open``'s ``lines``: ``[{line_id, quantity}]``, each line once."""
    if not isinstance(raw, list) or not raw:
        raise InvalidInput("lines must be a non-empty list of {line_id, quantity}")
    if len(raw) > check.MAX_LINES:
        raise InvalidInput(f"a case covers at most {check.MAX_LINES:,} lines, not {len(raw):,}")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, item in enumerate(raw, 1):
        where = f"lines[{number}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be an object {{line_id, quantity}}")
        unknown = sorted(set(item) - {"line_id", "quantity"})
        if unknown:
            raise InvalidInput(f"{where}: unknown field {unknown[0]}")
        line_id = _line_id(item.get("line_id"), f"{where}.line_id")
        if line_id in seen:
            raise InvalidInput(f"{where}: line {line_id} is asked for twice")
        seen.add(line_id)
        out.append(
            {
                "line_id": line_id,
                "quantity": check.quantity(item.get("quantity"), f"{where}.quantity"),
            }
        )
    return out


@dataclass(frozen=True)
class Coverage:
    """What a case opened on an order covers."""

    lines: list[dict[str, Any]]  # [{line_id, quantity}] in the case's order
    item_value: Decimal
    covers_rest: bool  # every unit a case without lines would have covered


def cover(order: Order, requested: list[dict[str, Any]] | None, case_id: str) -> Coverage:
    """The lines a new case covers, or the refusal lines.md gives, in its order."""
    by_id = {line["line_id"]: line for line in order.lines}
    for item in requested or ():
        if item["line_id"] not in by_id:
            raise NotFound(
                f"order {order.order_id} has no line {item['line_id']}", case_id=case_id
            )
    rest = [line for line in order.lines if is_refundable(line)]
    if not rest:
        raise Conflict(
            f"order {order.order_id}: nothing left to refund "
            f"({order.refunded_total} {order.currency} already refunded)",
            case_id=case_id,
        )
    if requested is None:
        for line in rest:
            _not_in_another_case(order, line, case_id)
        chosen = [
            {"line_id": line["line_id"], "quantity": refundable_quantity(line)} for line in rest
        ]
    else:
        for item in requested:
            line = by_id[item["line_id"]]
            if item["quantity"] > refundable_quantity(line):
                raise Conflict(
                    f"order {order.order_id} line {line['line_id']}: {item['quantity']} asked, "
                    f"{refundable_quantity(line)} of {line['quantity']} still refundable",
                    case_id=case_id,
                )
            if refundable_amount(line) <= 0:
                raise Conflict(
                    f"order {order.order_id} line {line['line_id']}: nothing left to refund "
                    f"({line['refunded_amount']} {order.currency} already refunded)",
                    case_id=case_id,
                )
            _not_in_another_case(order, line, case_id)
        chosen = requested
    whole = {line["line_id"]: refundable_quantity(line) for line in rest}
    covers_rest = {item["line_id"]: item["quantity"] for item in chosen} == whole and all(
        line["open_case_id"] is None for line in rest
    )
    item_value = sum((capped for _, capped in _capped(order, chosen)), ZERO)
    return Coverage(chosen, item_value, covers_rest)


def _not_in_another_case(order: Order, line: Line, case_id: str) -> None:
    if line["open_case_id"] is not None:
        raise Conflict(
            f"order {order.order_id} already has open case {line['open_case_id']} on line "
            f"{line['line_id']}",
            case_id=case_id,
        )


def _capped(order: Order, chosen: Sequence[Mapping[str, Any]]) -> list[tuple[Line, Decimal]]:
    """Each chosen line with its capped value: min(quantity × unit_price, refundable)."""
    by_id = {line["line_id"]: line for line in order.lines}
    out = []
    for item in chosen:
        line = by_id[item["line_id"]]
        asked = int(item["quantity"]) * Decimal(line["unit_price"])
        out.append((line, min(asked, refundable_amount(line))))
    return out


def hold(order: Order, case: Case) -> None:
    """Mark the case's lines as held by it (at its open)."""
    held = {item["line_id"] for item in case.lines}
    _change(order, {line_id: {"open_case_id": case.case_id} for line_id in held})


def release(order: Order, case: Case) -> None:
    """Let go of the case's lines (it ended)."""
    mine = [line["line_id"] for line in order.lines if line["open_case_id"] == case.case_id]
    _change(order, {line_id: {"open_case_id": None} for line_id in mine})


def _change(order: Order, changes: Mapping[str, Mapping[str, Any]]) -> None:
    """New lines with ``changes`` by line id: a loaded line is never changed in place, so the
    unit of work sees the order changed by comparing what it loaded with what it holds."""
    order.lines = [
        {**line, **changes[line["line_id"]]} if line["line_id"] in changes else line
        for line in order.lines
    ]
    order.open_case_id = first_open_case(order)


def first_open_case(order: Order) -> str | None:
    """``open_case_id`` of the order view: the open case of its first line that has one."""
    return next((line["open_case_id"] for line in order.lines if line["open_case_id"]), None)


def open_cases(order: Order) -> list[str]:
    """The order's open cases, in the order of their first lines."""
    return list(
        dict.fromkeys(line["open_case_id"] for line in order.lines if line["open_case_id"])
    )


# -- the refund ------------------------------------------------------------------------------


def allocate(items: Decimal, capped: Sequence[Decimal], decimals: int) -> list[Decimal]:
    """``items`` split over lines in proportion to their capped values, each share rounded
    down to the currency's unit; the remainder added from the last line backwards, each line
    up to its capped value."""
    if len(capped) == 1:  # the whole of it to the one line (a case's usual shape)
        return [items]
    total = sum(capped, ZERO)
    step = unit(decimals)
    shares = [(items * part / total).quantize(step, rounding=ROUND_DOWN) for part in capped]
    left = items - sum(shares, ZERO)
    for index in range(len(shares) - 1, -1, -1):
        if left <= 0:
            break
        extra = min(left, capped[index] - shares[index])
        shares[index] += extra
        left -= extra
    return shares


def settle(case: Case, order: Order, action: Action, decimals: int) -> dict[str, Any]:
    """Record the refund of a case entering ``refunded`` or ``cancelled`` on the order's lines
    and return it as events and views show it."""
    accepted = action is Action.accept_offer
    items = Decimal(case.offers[-1]["amount"]) if accepted else case.amount
    capped = _capped(order, case.lines)
    if sum((part for _, part in capped), ZERO) < items:
        # never so in one snapshot (a line's ledger stands still while a case holds it): the
        # order was read after another writer settled this case, and this write will lose
        raise Conflict(
            f"case {case.case_id} was changed by another writer; try again", case_id=case.case_id
        )
    shares = allocate(items, [part for _, part in capped], decimals)
    returned = case.state is State.cancelled or (
        case.kind is Kind.return_refund and case.item_returned
    )
    quantities = {item["line_id"]: int(item["quantity"]) for item in case.lines}
    changes: dict[str, dict[str, Any]] = {}
    for (line, _), share in zip(capped, shares, strict=True):
        line_id = line["line_id"]
        changes[line_id] = {
            "refunded_amount": money(Decimal(line["refunded_amount"]) + share, decimals)
        }
        if returned:
            changes[line_id]["returned_quantity"] = (
                int(line["returned_quantity"]) + quantities[line_id]
            )
    _change(order, changes)
    # An order whose last units this cancellation takes never ships: its shipping fee comes
    # back here even when its lines were split over cases open at the same time (lines.md
    # gives it to "a later case that covers the rest", and a cancelled order has none).
    last_units = case.state is State.cancelled and all_cancelled(order)
    shipping = ZERO
    if (
        (case.covers_rest or last_units)
        and order.shipping_refunded == 0
        and not accepted
        and (case.kind is Kind.cancellation or case.responsibility is not Responsibility.buyer)
    ):
        shipping = order.shipping_fee
    return_shipping = ZERO
    if (
        case.kind is Kind.return_refund
        and case.return_shipping_cost is not None
        and case.responsibility in RETURN_SHIPPING_REFUNDED
    ):
        return_shipping = case.return_shipping_cost
    order.shipping_refunded += shipping
    order.refunded_total += items + shipping
    paid_by = "platform" if case.responsibility in PLATFORM_PAYS else "seller"
    return {
        "items": money(items, decimals),
        "shipping": money(shipping, decimals),
        "return_shipping": money(return_shipping, decimals),
        "total": money(items + shipping + return_shipping, decimals),
        "paid_by": paid_by,
    }


def all_cancelled(order: Order) -> bool:
    """Every unit of every line cancelled (lines.md: only then is the order cancelled).
    Before shipping nothing can have come back, so every returned unit was cancelled."""
    return all(refundable_quantity(line) == 0 for line in order.lines)
