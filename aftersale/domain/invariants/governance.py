"""Governance (governance.md) in one snapshot: every ticket against its events and pinned
settings, every punishment against its events and points, every shop row against its orders
and tickets.

A shop row exists from its first order (a ticket's issue makes it), is in the market of its
tickets, and counts each change of its active points (a ticket issued, overturned or revoked):
``points_changes`` of them, the last recorded at ``points_changed_at``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from aftersale.domain import events as ev
from aftersale.domain.invariants.base import Violation, when
from aftersale.domain.invariants.punishments import check_punishments
from aftersale.domain.invariants.reading import Snapshot
from aftersale.domain.invariants.ticket_rows import UNTOLD_PREFIX, TicketStep
from aftersale.domain.invariants.tickets import check_ticket
from aftersale.domain.policy import Policy
from aftersale.domain.tickets.model import TicketAction
from aftersale.domain.tickets.settings import GovernanceSettings

# the rules of a ticket's findings that say its events do not hold together
BROKEN = frozenset({"history", "transition", "terminal"})
MOVES_POINTS = frozenset({TicketAction.issue, TicketAction.overturn, TicketAction.revoke})


def check_governance(
    snapshot: Snapshot,
    governance: Mapping[str, GovernanceSettings | None],
    calendars_from: Sequence[Policy],
) -> list[Violation]:
    """Every violation of the tickets, punishments and shops of ``snapshot``; ``governance``
    holds each stored settings version (None when its document could not be read), and the
    markets of the policies ``calendars_from`` give the calendars that time a ticket's SLA."""
    rows, skipped = snapshot.governance, snapshot.skipped
    found: list[Violation] = []
    broken: set[str] = set()
    for ticket_id, ticket in sorted(rows.tickets.items()):
        subject = f"ticket {ticket_id}"
        if subject in skipped or f"{UNTOLD_PREFIX}{ticket.shop_id}" in skipped:
            continue
        settings = governance.get(ticket.policy_version)
        if ticket.policy_version not in governance:
            found.append(
                Violation(
                    "policy",
                    subject,
                    f"governance version {ticket.policy_version} is not stored",
                )
            )
        calendars = [p.market(ticket.market) for p in calendars_from if ticket.market in p.markets]
        findings = check_ticket(ticket, rows.entries.get(ticket_id, []), settings, calendars)
        if any(finding.rule in BROKEN for finding in findings):
            broken.add(ticket_id)
        found += findings + _its_shop(snapshot, ticket.ticket_id)
    found += [
        Violation("history", f"ticket {ticket_id}", "events of a ticket that does not exist")
        for ticket_id in sorted(rows.entries)
        if ticket_id not in rows.tickets and f"ticket {ticket_id}" not in skipped
    ]
    found += check_punishments(rows, governance, skipped, broken)
    found += _shops(snapshot)
    return found


def _its_shop(snapshot: Snapshot, ticket_id: str) -> list[Violation]:
    """The ticket's shop has a row, in the ticket's market."""
    ticket = snapshot.governance.tickets[ticket_id]
    if f"shop {ticket.shop_id}" in snapshot.skipped:
        return []
    shop = snapshot.governance.shops.get(ticket.shop_id)
    subject = f"ticket {ticket_id}"
    if shop is None:
        return [Violation("shop", subject, f"its shop {ticket.shop_id} has no shops row")]
    if shop.market != ticket.market:
        return [
            Violation(
                "shop",
                subject,
                f"is in market {ticket.market}, but its shop {shop.shop_id} in {shop.market}",
            )
        ]
    return []


def _shops(snapshot: Snapshot) -> list[Violation]:
    """Each shop row has an order, and counts its points' changes as its tickets' events."""
    rows, skipped = snapshot.governance, snapshot.skipped
    with_orders = {order.shop_id for order in snapshot.orders.values()} | {
        fact.shop_id
        for facts in snapshot.facts.values()
        for fact in facts
        if fact.type == ev.ORDER_PAID
    }
    changes: dict[str, list[TicketStep]] = {}
    untold: set[str] = set()
    for ticket_id, entries in rows.entries.items():
        shops = {entry.shop_id for entry in entries if entry.shop_id is not None}
        if f"ticket {ticket_id}" in skipped:
            untold |= shops
        for entry in entries:
            if isinstance(entry, TicketStep) and entry.action in MOVES_POINTS and entry.shop_id:
                changes.setdefault(entry.shop_id, []).append(entry)
    found = []
    for shop_id, shop in sorted(rows.shops.items()):
        subject = f"shop {shop_id}"
        if subject in skipped or f"{UNTOLD_PREFIX}{shop_id}" in skipped:
            continue
        if shop_id not in with_orders:
            found.append(
                Violation("shop", subject, "has no order: a shop exists from its first order")
            )
        if shop_id not in untold:
            found += _points_changes(shop_id, shop.points_changes, shop.points_changed_at, changes)
    return found


def _points_changes(
    shop_id: str,
    count: int,
    last: datetime | None,
    changes: Mapping[str, Sequence[TicketStep]],
) -> list[Violation]:
    logged = sorted(changes.get(shop_id, []), key=lambda step: step.seq)
    logged_last = logged[-1].at if logged else None
    found = []
    if count != len(logged):
        found.append(
            Violation(
                "shop",
                f"shop {shop_id}",
                f"points_changes is {count}, but its tickets were issued, overturned or "
                f"revoked {len(logged)} times",
            )
        )
    if last != logged_last:
        found.append(
            Violation(
                "shop",
                f"shop {shop_id}",
                f"points_changed_at is {when(last)} but the last change of its points was "
                f"at {when(logged_last)}",
            )
        )
    return found
