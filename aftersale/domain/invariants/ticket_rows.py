"""The rows and events of governance (tickets, punishments, shops) as ``verify`` reads them.

Read as defensively as a case's (:mod:`aftersale.domain.invariants.reading`): each reader
returns nothing or raises :class:`Unreadable`, ``KeyError`` or ``TypeError``, which the
snapshot turns into one ``unreadable`` violation. A ticket's events name it only in their
data, so a damaged event of unknown ticket marks its whole shop's governance unchecked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from aftersale.domain.invariants.values import (
    Unreadable,
    choice,
    document,
    flag,
    instant,
    maybe_instant,
    maybe_text,
    stored,
    text,
    whole,
)
from aftersale.domain.model import Actor
from aftersale.domain.tickets.events import (
    PUNISHMENT_ENDED,
    PUNISHMENT_STARTED,
    TICKET_REPLY_OVERDUE,
    TICKET_TRANSITION,
)
from aftersale.domain.tickets.model import (
    Punishment,
    Shop,
    Ticket,
    TicketAction,
    TicketDeadline,
    TicketState,
)

Raw = Mapping[str, Any]
# a skipped subject saying a whole shop's tickets and punishments go unchecked
UNTOLD_PREFIX = "governance of shop "
GOVERNANCE_EVENTS = frozenset(
    {TICKET_TRANSITION, TICKET_REPLY_OVERDUE, PUNISHMENT_STARTED, PUNISHMENT_ENDED}
)
# what a ticket.transition must record: what the ticket's view and these checks read
TRANSITION_KEYS = (
    "ticket_id",
    "action",
    "from_state",
    "to_state",
    "actor",
    "auto",
    "category",
    "reason",
    "points",
    "round",
    "deadline_at",
    "deadline_action",
    "policy_version",
)


@dataclass(frozen=True, slots=True)
class TicketStep:
    """One ``ticket.transition`` event, read."""

    seq: int
    at: datetime
    ticket_id: str
    order_id: str | None
    shop_id: str | None
    action: TicketAction
    source: TicketState | None
    target: TicketState
    actor: Actor
    actor_id: str | None  # a seller's: its shop
    auto: bool
    category: str
    reason: str
    points: int
    round: int
    deadline_at: datetime | None
    deadline_action: TicketDeadline | None
    policy_version: str


@dataclass(frozen=True, slots=True)
class ReplyOverdue:
    """One ``ticket.reply_overdue`` event: the platform's SLA passed, nothing changed."""

    seq: int
    at: datetime
    ticket_id: str
    shop_id: str | None
    state: TicketState
    round: int
    said_at: datetime  # the instant its data records


TicketEntry = TicketStep | ReplyOverdue


@dataclass(frozen=True, slots=True)
class PunishmentFact:
    """One ``punishment.started`` or ``punishment.ended`` event."""

    seq: int
    type: str
    at: datetime
    shop_id: str | None  # the event's column
    named_shop: str  # the shop its data names
    kind: str
    cause_ticket_id: str
    said_at: datetime
    ends_at: datetime | None  # started only
    ended_early: bool | None  # ended only

    @property
    def punishment_id(self) -> str:
        return punishment_key(self.cause_ticket_id, self.kind)


def punishment_key(cause_ticket_id: str, kind: str) -> str:
    """The id the engine gives a punishment (its events name it by cause and kind)."""
    return f"{cause_ticket_id}/{kind}"


@dataclass
class GovernanceRows:
    """Every shop, ticket and punishment row, and the events about them, typed."""

    shops: dict[str, Shop] = field(default_factory=dict)
    tickets: dict[str, Ticket] = field(default_factory=dict)
    punishments: dict[str, Punishment] = field(default_factory=dict)
    entries: dict[str, list[TicketEntry]] = field(default_factory=dict)  # by ticket, seq order
    facts: dict[str, list[PunishmentFact]] = field(default_factory=dict)  # by punishment id

    def shop(self, row: Raw) -> None:
        shop = stored(Shop, row)
        self.shops[shop.shop_id] = shop

    def ticket(self, row: Raw) -> None:
        ticket = stored(Ticket, row)
        if not 0 <= ticket.appeals <= 2:
            raise Unreadable(f"appeals {ticket.appeals} is not from 0 to 2")
        self.tickets[ticket.ticket_id] = ticket

    def punishment(self, row: Raw) -> None:
        punishment = stored(Punishment, row)
        self.punishments[punishment.punishment_id] = punishment

    def event(
        self,
        seq: int,
        kind: str,
        at: datetime,
        order_id: str | None,
        shop_id: str | None,
        data: Raw,
    ) -> None:
        """A governance event (``kind`` in :data:`GOVERNANCE_EVENTS`), read."""
        if kind == TICKET_TRANSITION:
            step = _step(seq, at, order_id, shop_id, data)
            self.entries.setdefault(step.ticket_id, []).append(step)
        elif kind == TICKET_REPLY_OVERDUE:
            overdue = ReplyOverdue(
                seq=seq,
                at=at,
                ticket_id=text(data["ticket_id"], "ticket_id"),
                shop_id=shop_id,
                state=choice(TicketState, data["state"], "state"),
                round=whole(data["round"], "round"),
                said_at=instant(data["at"], "at"),
            )
            self.entries.setdefault(overdue.ticket_id, []).append(overdue)
        else:
            fact = _punishment_fact(seq, kind, at, shop_id, data)
            self.facts.setdefault(fact.punishment_id, []).append(fact)


def _step(
    seq: int, at: datetime, order_id: str | None, shop_id: str | None, data: Raw
) -> TicketStep:
    missing = [key for key in TRANSITION_KEYS if key not in data]
    if missing:
        raise Unreadable(f"data lacks {', '.join(missing)}")
    source, due = data["from_state"], data["deadline_action"]
    return TicketStep(
        seq=seq,
        at=at,
        ticket_id=text(data["ticket_id"], "ticket_id"),
        order_id=order_id,
        shop_id=shop_id,
        action=choice(TicketAction, data["action"], "action"),
        source=None if source is None else choice(TicketState, source, "from_state"),
        target=choice(TicketState, data["to_state"], "to_state"),
        actor=choice(Actor, data["actor"], "actor"),
        actor_id=maybe_text(data.get("actor_id"), "actor_id"),
        auto=flag(data["auto"], "auto", stored=False),
        category=text(data["category"], "category"),
        reason=text(data["reason"], "reason"),
        points=whole(data["points"], "points"),
        round=whole(data["round"], "round"),
        deadline_at=maybe_instant(data["deadline_at"], "deadline_at"),
        deadline_action=None if due is None else choice(TicketDeadline, due, "deadline_action"),
        policy_version=text(data["policy_version"], "policy_version"),
    )


def _punishment_fact(
    seq: int, kind: str, at: datetime, shop_id: str | None, data: Raw
) -> PunishmentFact:
    started = kind == PUNISHMENT_STARTED
    return PunishmentFact(
        seq=seq,
        type=kind,
        at=at,
        shop_id=shop_id,
        named_shop=text(data["shop_id"], "shop_id"),
        kind=text(data["kind"], "kind"),
        cause_ticket_id=text(data["cause_ticket_id"], "cause_ticket_id"),
        said_at=instant(data["at"], "at"),
        ends_at=instant(data["ends_at"], "ends_at") if started else None,
        ended_early=None if started else flag(data["ended_early"], "ended_early", stored=False),
    )


def governance_concerns(row: Raw) -> set[str]:
    """The ticket or punishment a damaged governance event is about; its shop when the
    event's data does not say (every ticket and punishment of that shop is then unchecked)."""
    try:
        data = document(row.get("data"), "data")
    except Unreadable:
        data = {}
    ticket_id, cause, kind = data.get("ticket_id"), data.get("cause_ticket_id"), data.get("kind")
    if isinstance(ticket_id, str):
        return {f"ticket {ticket_id}"}
    if isinstance(cause, str) and isinstance(kind, str):
        return {f"punishment {punishment_key(cause, kind)}"}
    try:
        shop_id = maybe_text(row.get("shop_id"), "shop_id")
    except Unreadable:
        shop_id = None
    return set() if shop_id is None else {f"{UNTOLD_PREFIX}{shop_id}"}
