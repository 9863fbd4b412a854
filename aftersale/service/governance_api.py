"""The governance half of the façade (governance.md), mixed into :class:`AfterSale`: issue
tickets, act on them, and read tickets and shops. The commands live in
:mod:`aftersale.service.tickets`; this module checks what a host hands in and reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from aftersale.domain import validation as check
from aftersale.domain.model import Actor
from aftersale.domain.tickets.issue import issue_request
from aftersale.domain.tickets.model import TicketAction, TicketState
from aftersale.domain.tickets.points import active_points
from aftersale.errors import InvalidInput, NotFound
from aftersale.service.oversight import Instant, Oversight
from aftersale.service.policies import GovernanceBook
from aftersale.service.tickets import TicketDesk
from aftersale.service.views import shop_view, ticket_view

MAX_PAGE = 10_000


def default_governance(config_dir: Path | None = None) -> GovernanceBook:
    """The governance book of ``config_dir``'s governance.toml (the shipped one by default).
    Settings a ticket is pinned to are read back without checking their rules' metrics
    against today's health.toml: they were checked when they were stored."""
    from aftersale.governance_config import read_governance, settings_from

    settings, document = read_governance(config_dir)
    return GovernanceBook(settings, document, lambda doc: settings_from(doc, None))


class Tickets(Oversight):
    """Violation tickets: issue, act, read; and a shop's points and punishments."""

    governance: GovernanceBook
    desk: TicketDesk
    _identified: Callable[[Actor, str | None], None]  # the engine's: who must name themselves
    require_identity: bool

    def issue_ticket(
        self,
        ticket_id: str,
        shop_id: str,
        category: str,
        reason: str,
        points: int,
        *,
        order_id: str | None = None,
        note: str | None = None,
        evidence: list[dict[str, Any]] | None = None,
        at: Instant = None,
    ) -> dict[str, Any]:
        """Issue a ticket as the platform; the same ticket again is a no-op, another one
        under its id a conflict, an unknown shop (or an order not the shop's) not found."""
        request = issue_request(
            ticket_id,
            shop_id,
            category,
            reason,
            points,
            evidence_kinds=self._evidence_kinds(),
            order_id=order_id,
            note=note,
            evidence=evidence,
        )
        return self.desk.issue(request, self._not_ahead(at), self._clamped)

    def act_ticket(
        self,
        ticket_id: str,
        action: str,
        actor: str,
        *,
        at: Instant = None,
        actor_id: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """Take ``action`` on a ticket as ``actor`` (a seller appeals only its own shop's),
        after its deadlines already due. Errors in governance.md's order: ``not_found``,
        ``forbidden``, ``not_allowed``, ``invalid_input``."""
        given = self._not_ahead(at)
        ticket_id = check.identifier(ticket_id, "ticket_id")
        wanted = TicketAction(check.choice(action, "action", frozenset(TicketAction.__members__)))
        who = Actor(check.choice(actor, "actor", frozenset(Actor.__members__)))
        if actor_id is not None:
            actor_id = check.identifier(actor_id, "actor_id")
        elif who is Actor.seller and self.require_identity:
            raise InvalidInput("actor_id is required for a seller: give the ticket's shop_id")
        self._identified(who, actor_id)
        return self.desk.act(ticket_id, wanted, who, fields, given, self._clamped, actor_id)

    def catch_up_ticket(self, ticket_id: str, *, at: Instant = None) -> dict[str, Any]:
        """The ticket's deadlines due at or before ``at`` (default now), each at its own
        instant; the ticket as it then stands."""
        ticket_id = check.identifier(ticket_id, "ticket_id")
        return self.desk.catch_up(ticket_id, self._command_at(at))

    def ticket(self, ticket_id: str) -> dict[str, Any]:
        """A ticket with its history and the actions allowed next."""
        ticket_id = check.identifier(ticket_id, "ticket_id")
        found = self.storage.reads.ticket(ticket_id)
        if found is None:
            raise NotFound(f"no ticket {ticket_id}")
        return ticket_view(found, self.storage.reads.ticket_history(ticket_id))

    def tickets(
        self,
        shop_id: str | None = None,
        state: str | None = None,
        limit: int = 1000,
        after: str | None = None,
    ) -> list[dict[str, Any]]:
        """Up to ``limit`` tickets in ticket id order, after ``after`` when given."""
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise InvalidInput(f"limit must be a whole number, 1 or more, not {limit!r:.40}")
        if shop_id is not None:
            check.identifier(shop_id, "shop_id")
        if after is not None:
            check.identifier(after, "after")
        if state is not None:
            check.choice(state, "state", frozenset(TicketState.__members__))
        filters = {"shop_id": shop_id, "state": state}
        found = self.storage.reads.list_tickets(filters, min(limit, MAX_PAGE), after)
        return [ticket_view(ticket) for ticket in found]

    def shop(self, shop_id: str, *, at: Instant = None) -> dict[str, Any]:
        """A shop's governance as of ``at`` (default now): its market, active points and
        every punishment, ended ones included."""
        shop_id = check.identifier(shop_id, "shop_id")
        when = self._command_at(at)
        shop = self.storage.reads.shop(shop_id)
        if shop is None:
            with self.storage.unit_of_work() as uow:
                first = uow.shops.first_order(shop_id)
            if first is None:
                raise NotFound(f"no shop {shop_id}")
            return shop_view(shop_id, first[0], 0, [])
        window = self.governance.current.points_window
        tickets = self._shop_tickets(shop_id)
        # each ticket counts for the window it is pinned to
        windows = self.desk.points_windows({t.policy_version for t in tickets})
        points = active_points(tickets, when, window, windows)
        punishments = self.storage.reads.punishments(shop_id)
        return shop_view(shop_id, shop.market, points, punishments)

    def _shop_tickets(self, shop_id: str) -> list[Any]:
        found, after = [], None
        while True:
            page = self.storage.reads.list_tickets({"shop_id": shop_id}, MAX_PAGE, after)
            found += page
            if len(page) < MAX_PAGE:
                return found
            after = page[-1].ticket_id

    def _evidence_kinds(self) -> frozenset[str]:
        """Every market's evidence kinds: the shop (and its market) is not known yet."""
        kinds: set[str] = set()
        for market in self.policies.current.markets.values():
            kinds |= market.evidence_kinds
        return frozenset(kinds)
