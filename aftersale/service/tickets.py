"""The ticket half of the façade (governance.md): issue tickets, act on them, and keep each
shop's active points and punishments, in units of work like the cases'.

Every change of a shop's active points (a ticket issued, overturned or revoked) writes the
shop's row, so two of them at once race on its version and the loser runs again on what the
winner committed: two tickets that cross a milestone together start its punishment once.
Deadlines that were due before a command (an appeal window, the platform's SLA) are committed
first, in a unit of work of their own, as a case's are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from time import monotonic
from typing import Any, TypeVar

from aftersale.clock import iso
from aftersale.domain import validation as check
from aftersale.domain.model import Actor
from aftersale.domain.policy import Market
from aftersale.domain.tickets.issue import TicketRequest, is_repeat
from aftersale.domain.tickets.model import Punishment, Shop, Ticket, TicketAction
from aftersale.domain.tickets.points import milestone_moves, points_around
from aftersale.domain.tickets.rules import TicketRules, check_actor
from aftersale.domain.tickets.settings import GovernanceSettings
from aftersale.errors import Conflict, NotFound, OutOfOrder
from aftersale.service.policies import GovernanceBook, PolicyBook, is_governance_version
from aftersale.service.ports import Storage, UnitOfWork
from aftersale.service.views import ticket_view

# changes of a shop's points that make it write the shop (its points may move at milestones)
MOVES_POINTS = frozenset({TicketAction.overturn, TicketAction.revoke})
VERSIONS_READ_EVERY = 60.0  # seconds between two readings of the stored governance versions
MAX_LOST_RACES = 32  # as the cases' commands: each loss is another writer's win
T = TypeVar("T")


class TicketDesk:
    """Issue and act on tickets; what :class:`AfterSale` delegates to."""

    def __init__(
        self,
        storage: Storage,
        policies: PolicyBook,
        governance: GovernanceBook,
        rules: TicketRules | None = None,
    ) -> None:
        self.storage = storage
        self.policies = policies
        self.governance = governance
        self.rules = rules or TicketRules()
        self._versions: tuple[float, set[str]] | None = None  # when read, and what
        # by governance version (a version's settings never change), the current one known
        self._windows = {governance.current.version: governance.current.points_window}

    # -- commands -------------------------------------------------------------------------

    def issue(
        self,
        request: TicketRequest,
        given: datetime | None,
        now: Callable[[datetime | None], datetime],
    ) -> dict[str, Any]:
        """The platform's ticket (governance.md's errors after ``invalid_input``, in order:
        the repeat or ``conflict``, ``not_found``, ``out_of_order``)."""

        def attempt() -> dict[str, Any]:
            with self.storage.unit_of_work() as uow:
                known = uow.tickets.get(request.ticket_id)
                if known is not None:
                    try:
                        is_repeat(known, request)
                    except Conflict as error:  # the same id with other fields: final
                        raise _Refused(error) from None
                    return ticket_view(known)
                shop = self.shop_of(uow, request.shop_id)
                # the evidence kinds are the shop's market's: invalid input, once it is known,
                # before an order that is not the shop's
                self._check_evidence(request, shop)
                # "now" is read with the shop in hand, so a writer that moved its points while
                # this one waited (and lost the race for it) is never in this one's future
                when = now(given)
                if request.order_id is not None:
                    order = uow.orders.get(request.order_id)
                    if order is None or order.shop_id != shop.shop_id:
                        raise NotFound(f"no order {request.order_id} of shop {shop.shop_id}")
                self._not_before_points(shop, when, f"ticket {request.ticket_id}")
                ticket = self.issue_in(uow, shop, request, when)
                uow.commit()
                return ticket_view(ticket)

        return _retried(attempt)

    def act(
        self,
        ticket_id: str,
        action: TicketAction,
        actor: Actor,
        fields: dict[str, Any],
        given: datetime | None,
        now: Callable[[datetime | None], datetime],
        actor_id: str | None,
    ) -> dict[str, Any]:
        """Take ``action`` on a ticket after its deadlines already due (they stand even when
        the action is refused, as a case's timeouts do)."""
        lost = 0
        while True:
            with self.storage.unit_of_work() as uow:
                ticket = self._ticket(uow, ticket_id)
                seen = ticket.version
                # a withdrawal moves the shop's points: its shop is read before "now", as an
                # issue's is, and it may not be dated before the points last changed
                shop = self.shop_of(uow, ticket.shop_id) if action in MOVES_POINTS else None
                when = now(given)
                if when < ticket.updated_at:
                    raise OutOfOrder(
                        f"ticket {ticket_id}: {iso(when)} is before its latest transition "
                        f"or passed deadline ({iso(ticket.updated_at)})"
                    )
                if shop is not None:
                    self._not_before_points(shop, when, f"ticket {ticket_id}: {action}")
                check_actor(ticket, action, actor, actor_id)
                settings = self.governance.pinned(uow, ticket.policy_version)
                market = self._market(ticket.market)
                if self.rules.catch_up(ticket, when, settings, market):
                    uow.commit()
                    continue  # the deadlines stand; the action gets a unit of work of its own
                self.rules.act(ticket, action, actor, fields, when, settings, market, actor_id)
                if shop is not None:
                    self.points_moved(uow, shop, ticket, when, settings)
                try:
                    uow.commit()
                except Conflict:
                    # the ticket itself moved: this writer lost the race for it; only its
                    # shop or a punishment moved (another ticket's points): run it again
                    lost += 1
                    if lost >= MAX_LOST_RACES or self._moved_since(ticket_id, seen):
                        raise
                    continue
                return ticket_view(ticket)

    def catch_up(self, ticket_id: str, when: datetime) -> dict[str, Any]:
        """The ticket's deadlines due at or before ``when``, each at its own instant."""
        with self.storage.unit_of_work() as uow:
            ticket = self._ticket(uow, ticket_id)
            settings = self.governance.pinned(uow, ticket.policy_version)
            if self.rules.catch_up(ticket, when, settings, self._market(ticket.market)):
                uow.commit()
            return ticket_view(ticket)

    # -- shared with the snapshots' breach rules -------------------------------------------

    def issue_in(
        self, uow: UnitOfWork, shop: Shop, request: TicketRequest, at: datetime
    ) -> Ticket:
        """Issue ``request`` against ``shop`` at ``at`` in ``uow``, with the punishments its
        points start; the caller commits."""
        settings = self.governance.in_force(uow, at)
        ticket, _ = self.rules.issue(request, settings, self._market(shop.market), at)
        uow.tickets.add(ticket)
        self.points_moved(uow, shop, ticket, at, settings)
        return ticket

    def points_moved(
        self,
        uow: UnitOfWork,
        shop: Shop,
        ticket: Ticket,
        at: datetime,
        settings: GovernanceSettings,
    ) -> None:
        """Compare the shop's active points just before and just after ``ticket`` changed at
        ``at``: start the punishments of milestones crossed upwards, end early those the
        ticket started of milestones it fell back below; write the shop (its version)."""
        window = settings.points_window
        windows = self.points_windows(self._governance_versions(uow), uow)
        since = at - max(windows.values(), default=window)
        tickets = uow.tickets.of_shop(shop.shop_id, since)
        before, after = points_around(tickets, ticket, at, window, windows)
        punishments = uow.punishments.of_shop(shop.shop_id)
        _not_before_its_ends(ticket, punishments, at)
        moves = milestone_moves(shop.shop_id, before, after, ticket, punishments, at, settings)
        for started in moves.started:
            uow.punishments.add(started)
        # The 48-point clearance notice (moves.notice) is the shop lifecycle's, issue 19's.
        # A snapshot taken late dates its breach ticket back at its midnight: the latest
        # change stays the latest, or a command could again be dated before it.
        last = shop.points_changed_at
        shop.points_changed_at = at if last is None else max(last, at)
        shop.points_changes += 1

    def points_windows(
        self, versions: Iterable[str], uow: UnitOfWork | None = None
    ) -> dict[str, timedelta]:
        """The points window of each governance version: a ticket counts for the window of
        the settings it was issued under, whatever governance.toml says now. A version not
        read yet is read in ``uow``, or in a unit of work of its own (a read, as the shop's
        view, takes none: on SQLite a unit of work holds the database's write lock)."""
        wanted = {*versions, self.governance.current.version}
        missing = sorted(wanted - self._windows.keys())
        if missing and uow is None:
            with self.storage.unit_of_work() as own:
                return self.points_windows(wanted, own)
        for version in missing:
            assert uow is not None
            self._windows[version] = self.governance.pinned(uow, version).points_window
        return {version: self._windows[version] for version in wanted}

    def _governance_versions(self, uow: UnitOfWork) -> set[str]:
        """Every governance version stored: a shop's tickets issued under any of them may
        still count (the longest window says how far back to read). Read again a minute
        after the last reading: a version is stored once, when an engine first issues under
        it, so a ticket under one stored since is a recent one, well inside any window."""
        if self._versions is None or monotonic() - self._versions[0] > VERSIONS_READ_EVERY:
            found = uow.policies.versions()  # in the unit: SQLite has one writer's connection
            ours = {version for version in found if is_governance_version(version)}
            self._versions = (monotonic(), ours)
        return self._versions[1]

    def shop_of(self, uow: UnitOfWork, shop_id: str) -> Shop:
        """The shop's governance row, made from its first order the first time; a shop with
        no order is ``not_found`` (a shop exists from its first order.paid)."""
        shop = uow.shops.get(shop_id)
        if shop is not None:
            return shop
        first = uow.shops.first_order(shop_id)
        if first is None:
            raise NotFound(f"no shop {shop_id}")
        market, paid_at = first
        shop = Shop(shop_id=shop_id, market=market, opened_at=paid_at)
        uow.shops.add(shop)
        return shop

    # -- helpers --------------------------------------------------------------------------

    def _market(self, code: str) -> Market:
        return self.policies.current.market(code)

    def _check_evidence(self, request: TicketRequest, shop: Shop) -> None:
        """The evidence kinds of the shop's own market (the request was checked against every
        market's before the shop was known)."""
        kinds = self._market(shop.market).evidence_kinds
        check.evidence([dict(item) for item in request.evidence], kinds, required=False)

    @staticmethod
    def _not_before_points(shop: Shop, when: datetime, what: str) -> None:
        """A ticket dated before the shop's first order, or before its points last changed,
        would run the shop's points history backwards."""
        if when < shop.opened_at:
            raise OutOfOrder(
                f"{what}: {iso(when)} is before shop {shop.shop_id}'s first order "
                f"({iso(shop.opened_at)})"
            )
        if shop.points_changed_at is not None and when < shop.points_changed_at:
            raise OutOfOrder(
                f"{what}: {iso(when)} is before shop {shop.shop_id}'s points last changed "
                f"({iso(shop.points_changed_at)})"
            )

    def _ticket(self, uow: UnitOfWork, ticket_id: str) -> Ticket:
        ticket = uow.tickets.get(ticket_id)
        if ticket is None:
            raise NotFound(f"no ticket {ticket_id}")
        return ticket

    def _moved_since(self, ticket_id: str, version: int) -> bool:
        with self.storage.unit_of_work() as uow:
            ticket = uow.tickets.get(ticket_id)
            return ticket is None or ticket.version != version


def _not_before_its_ends(ticket: Ticket, punishments: list[Punishment], at: datetime) -> None:
    """A withdrawal dated before one of the ticket's punishments ended (at its planned end,
    already taken) would end it early before an end that stands: refused, as an action dated
    before a case's timeout is. Whether the sweep was prompt never changes the history."""
    for punishment in punishments:
        ended = punishment.ended_at
        if punishment.cause_ticket_id == ticket.ticket_id and ended is not None and at < ended:
            raise OutOfOrder(
                f"ticket {ticket.ticket_id}: {iso(at)} is before its {punishment.kind} ended "
                f"({iso(ended)})"
            )


class _Refused(Exception):
    """A conflict no retry changes (the same ticket id with other fields)."""

    def __init__(self, error: Conflict) -> None:
        self.error = error


def _retried(command: Callable[[], T]) -> T:
    """An idempotent issue run again after losing a race: to its twin (then the repeat or the
    conflict it always is), or to another ticket of the shop that moved its points first."""
    for attempt in range(MAX_LOST_RACES):
        try:
            return command()
        except _Refused as refused:
            raise refused.error from None
        except Conflict:
            if attempt == MAX_LOST_RACES - 1:
                raise
    raise AssertionError("unreachable")
