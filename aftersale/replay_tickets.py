"""The ticket lines of a replay and the tickets and shops of its output (governance.md).

``ticket.issue`` calls ``AfterSale.issue_ticket`` and ``ticket.action`` calls
``AfterSale.act_ticket``, as the other lines call the façade. The shape of a line is checked
before its instant is looked at: for ``ticket.issue`` everything ``issue_ticket`` checks
before it reads the database (the category, the reason, ``points`` a JSON integer from 1 to
100, the note, the evidence's shape), for ``ticket.action`` the ids and names; the rest is the
engine's, in governance.md's order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any

from aftersale.domain import validation as check
from aftersale.domain.model import Actor
from aftersale.domain.tickets.issue import issue_request
from aftersale.domain.tickets.model import TicketAction
from aftersale.domain.tickets.rules import ACTION_FIELDS
from aftersale.errors import NotFound
from aftersale.service.engine import AfterSale

TICKET_LINE_FIELDS: Mapping[str, frozenset[str]] = {
    "ticket.issue": frozenset(
        {"ticket_id", "shop_id", "category", "reason", "points", "order_id", "note", "evidence"}
    ),
    "ticket.action": frozenset({"ticket_id", "action", "actor", "actor_id"}).union(
        *ACTION_FIELDS.values()
    ),
}
# what the output shows of a ticket (governance.md's "Replay lines and output")
TICKET_KEYS = (
    "ticket_id",
    "shop_id",
    "category",
    "reason",
    "points",
    "source",
    "metric",
    "state",
    "appeals",
    "issued_at",
    "deadline_at",
    "history",
)


def ticket_appliers(engine: AfterSale) -> dict[str, Callable[..., Any]]:
    return {"ticket.issue": engine.issue_ticket, "ticket.action": engine.act_ticket}


def check_ticket_shape(engine: AfterSale, line: Mapping[str, Any]) -> None:
    """Refuse a malformed ticket line before its instant is looked at (``invalid_input``)."""
    if line["type"] == "ticket.issue":
        issue_request(
            line.get("ticket_id"),
            line.get("shop_id"),
            line.get("category"),
            line.get("reason"),
            line.get("points"),
            # the shop's market is not known yet: a kind of none of them is refused now, one
            # of another market than the shop's by the engine, after the shop is found
            evidence_kinds=_every_evidence_kind(engine),
            order_id=line.get("order_id"),
            note=line.get("note"),
            evidence=line.get("evidence"),
        )
    else:
        check.identifier(line.get("ticket_id"), "ticket_id")
        check.choice(line.get("action"), "action", frozenset(TicketAction.__members__))
        check.choice(line.get("actor"), "actor", frozenset(Actor.__members__))


def replay_tickets(engine: AfterSale, events: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Every ticket the replay's events name, by ticket_id, with its history."""
    ids = sorted({event["ticket_id"] for event in events if event.get("ticket_id") is not None})
    return [_shown(engine.ticket(ticket_id)) for ticket_id in ids]


def replay_shops(
    engine: AfterSale, events: Sequence[Mapping[str, Any]], clock: datetime | None
) -> list[dict[str, Any]]:
    """Every shop the replay's events name that has an order (a shop exists from its first
    order.paid), by shop_id, with its active points as of ``clock``."""
    if clock is None:
        return []
    shops = []
    for shop_id in sorted({e["shop_id"] for e in events if e.get("shop_id") is not None}):
        try:
            shops.append(engine.shop(shop_id, at=clock))
        except NotFound:  # a chat message to a shop that has no order yet
            continue
    return shops


def _shown(view: Mapping[str, Any]) -> dict[str, Any]:
    return {key: view[key] for key in TICKET_KEYS}


def _every_evidence_kind(engine: AfterSale) -> frozenset[str]:
    kinds: set[str] = set()
    for market in engine.policy.markets.values():
        kinds |= market.evidence_kinds
    return frozenset(kinds)
