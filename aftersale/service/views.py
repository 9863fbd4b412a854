"""What the façade hands back: plain, JSON-ready dicts of orders and cases."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache
from typing import Any

from aftersale.clock import iso
from aftersale.domain.model import Case, Kind, Order, State
from aftersale.domain.workflows import WORKFLOWS
from aftersale.domain.workflows.base import REQUESTERS


def order_view(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "shop_id": order.shop_id,
        "buyer_id": order.buyer_id,
        "market": order.market,
        "currency": order.currency,
        "amount": str(order.amount),
        "refunded_total": str(order.refunded_total.quantize(order.amount)),
        "refundable": str(order.refundable.quantize(order.amount)),
        "paid_at": iso(order.paid_at),
        "dispatch_by": iso(order.dispatch_by),
        "shipped_at": iso(order.shipped_at),
        "delivered_at": iso(order.delivered_at),
        "cancelled_at": iso(order.cancelled_at),
        "tracking": order.tracking,
        "open_case_id": order.open_case_id,
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
    view: dict[str, Any] = {
        "case_id": case.case_id,
        "order_id": case.order_id,
        "shop_id": case.shop_id,
        "kind": case.kind.value,
        "state": case.state.value,
        "responsibility": case.responsibility.value,
        "reason": case.reason,
        "amount": str(case.amount),
        "currency": case.currency,
        "opened_by": case.opened_by.value,
        "opened_at": iso(case.opened_at),
        "updated_at": iso(case.updated_at),
        "deadline_at": iso(case.deadline_at),
        "deadline_action": None if case.deadline_action is None else case.deadline_action.value,
        "policy_version": case.policy_version,
        "allowed_actions": allowed_actions(case),
    }
    if history is not None:
        view["history"] = [
            history_entry(event) for event in history if event["type"] == "case.transition"
        ]
    return view
