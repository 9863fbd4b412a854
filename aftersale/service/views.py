"""What the façade hands back: plain, JSON-ready dicts of orders and cases, their keys the
aggregates' shown fields (aftersale.domain.declared) and what is worked out from them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import Any

from aftersale.clock import iso
from aftersale.domain import lines as ledger
from aftersale.domain.declared import attributes
from aftersale.domain.model import Case, Kind, Order, State
from aftersale.domain.tickets.events import TICKET_TRANSITION
from aftersale.domain.tickets.model import Punishment, Ticket
from aftersale.domain.workflows import WORKFLOWS
from aftersale.domain.workflows.base import REQUESTERS
from aftersale.domain.workflows.ticket import TICKET, TICKET_REQUESTERS


def shown(aggregate: object) -> dict[str, Any]:
    """The fields of an aggregate its view shows (aftersale.domain.declared), JSON-ready."""
    return {name: plain(getattr(aggregate, name)) for name in _shown(type(aggregate))}


def _shown(aggregate: type) -> tuple[str, ...]:
    return tuple(field.name for field in attributes(aggregate) if field.shown)


def plain(value: Any) -> Any:
    """Instants as ISO 8601 UTC text, money as text, words of workflows.md as their values."""
    if isinstance(value, datetime):
        return iso(value)
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, Decimal):
        return str(value)
    return value


def order_view(order: Order) -> dict[str, Any]:
    view = {}
    for name, value in shown(order).items():
        view[name] = value
        if name == "refunded_total":  # to the cent of the amount, and what is left beside it
            view[name] = str(order.refunded_total.quantize(order.amount))
            view["refundable"] = str(order.refundable.quantize(order.amount))
        elif name in ("shipping_fee", "shipping_refunded"):
            view[name] = str(getattr(order, name).quantize(order.amount))
        elif name == "lines":
            view[name] = [line_view(line, order.amount) for line in order.lines]
    return view


def line_view(line: dict[str, Any], cents: Decimal) -> dict[str, Any]:
    """An order line with what lines.md works out from it: its value and what is refundable."""
    return {
        "line_id": line["line_id"],
        "sku": line["sku"],
        "quantity": line["quantity"],
        "unit_price": line["unit_price"],
        "value": str(ledger.value(line).quantize(cents)),
        "refunded_amount": line["refunded_amount"],
        "returned_quantity": line["returned_quantity"],
        "refundable_amount": str(ledger.refundable_amount(line).quantize(cents)),
        "refundable_quantity": ledger.refundable_quantity(line),
        "open_case_id": line["open_case_id"],
    }


def history_entry(event: dict[str, Any]) -> dict[str, Any]:
    """One transition as replay.md shows it in a case's history."""
    return {
        "action": event["action"],
        "from": event["from_state"],
        "to": event["to_state"],
        "actor": event["actor"],
        "auto": event["auto"],
        "at": event["at"],
        "responsibility": event["responsibility"],
        "overturned": event["overturned"],
    }


def allowed_actions(case: Case) -> list[dict[str, Any]]:
    """The actions a buyer, seller or platform may request next, and who may."""
    return [
        {"action": action, "actors": list(actors)}
        for action, actors in _requestable(case.kind, case.state)
    ]


@cache  # every command returns its case's view: the workflow tables never change
def _requestable(kind: Kind, state: State) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        (action.value, tuple(str(actor) for actor in sorted(REQUESTERS[action])))
        for action in WORKFLOWS[kind].actions_from(state)
        if REQUESTERS[action]
    )


def case_view(case: Case, history: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    view = shown(case)
    view["allowed_actions"] = allowed_actions(case)
    if history is not None:
        view["history"] = [
            history_entry(event) for event in history if event["type"] == "case.transition"
        ]
    return view


# -- governance (governance.md) ---------------------------------------------------------------


def ticket_view(ticket: Ticket, history: Sequence[dict[str, Any]] | None = None) -> dict[str, Any]:
    view = shown(ticket)
    view["allowed_actions"] = [
        {"action": action, "actors": list(actors)}
        for action, actors in _ticket_requestable(ticket)
    ]
    if history is not None:
        view["history"] = [
            ticket_history_entry(event) for event in history if event["type"] == TICKET_TRANSITION
        ]
    return view


def _ticket_requestable(ticket: Ticket) -> tuple[tuple[str, tuple[str, ...]], ...]:
    return tuple(
        (action.value, tuple(str(actor) for actor in sorted(TICKET_REQUESTERS[action])))
        for action in TICKET.actions_from(ticket.state)
        if TICKET_REQUESTERS.get(action)
    )


def ticket_history_entry(event: dict[str, Any]) -> dict[str, Any]:
    """One transition of a ticket: a case's history entry's fields that apply, and its round."""
    return {
        "action": event["action"],
        "from": event["from_state"],
        "to": event["to_state"],
        "actor": event["actor"],
        "auto": event["auto"],
        "at": event["at"],
        "round": event["round"],
    }


def punishment_view(punishment: Punishment) -> dict[str, Any]:
    return {
        "kind": punishment.kind,
        "started_at": iso(punishment.started_at),
        "ends_at": iso(punishment.ends_at),
        "ended_at": iso(punishment.ended_at),
        "ended_early": punishment.ended_early,
        "cause_ticket_id": punishment.cause_ticket_id,
    }


def shop_view(
    shop_id: str,
    market: str,
    active_points: int,
    punishments: Sequence[Punishment],
) -> dict[str, Any]:
    """A shop's governance as of one instant: its market, active points, every punishment."""
    return {
        "shop_id": shop_id,
        "market": market,
        "active_points": active_points,
        "punishments": [punishment_view(p) for p in punishments],
    }
