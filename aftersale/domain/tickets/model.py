"""The words of governance.md's tickets as types, and the Ticket and Punishment aggregates."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from aftersale.domain.events import Event
from aftersale.domain.model import NOT_STORED, ONCE, ONCE_UNSHOWN, VERSION


class TicketState(StrEnum):
    issued = "issued"
    under_review = "under_review"
    upheld = "upheld"
    final = "final"
    overturned = "overturned"
    revoked = "revoked"


TICKET_TERMINAL = frozenset({TicketState.final, TicketState.overturned, TicketState.revoked})
# a ticket that ended so stops counting toward the shop's active points
WITHDRAWN_STATES = frozenset({TicketState.overturned, TicketState.revoked})


class TicketAction(StrEnum):
    issue = "issue"  # the first entry of every history: from null to issued
    appeal = "appeal"
    uphold = "uphold"
    overturn = "overturn"
    revoke = "revoke"
    appeal_window_timeout = "appeal_window_timeout"


class TicketDeadline(StrEnum):
    """What happens when a ticket's deadline passes: a timeout moves it, an SLA does not."""

    appeal_window_timeout = "appeal_window_timeout"
    reply_overdue = "reply_overdue"


class Category(StrEnum):
    fulfilment = "fulfilment"
    negative_review = "negative_review"
    product = "product"
    service = "service"


MAX_APPEALS = 2  # the workflow allows two rounds: round 2's uphold is final
PLATFORM_SOURCE = "platform"
RULE_SOURCE = "rule:"  # followed by the breach rule's id


@dataclass(slots=True, kw_only=True)
class Ticket:
    """One violation ticket against one shop."""

    ticket_id: str = field(metadata=ONCE)
    shop_id: str = field(metadata=ONCE)
    market: str = field(metadata=ONCE)  # the shop's: its business days time the SLA
    category: Category = field(metadata=ONCE)
    reason: str = field(metadata=ONCE)
    points: int = field(metadata=ONCE)
    order_id: str | None = field(default=None, metadata=ONCE)
    # "platform", or "rule:<id>" for a breach rule's ticket, and that rule's reading
    source: str = field(default=PLATFORM_SOURCE, metadata=ONCE)
    metric: dict[str, Any] | None = field(default=None, metadata=ONCE)
    state: TicketState
    appeals: int = 0  # the appeal round: 0 before any appeal, then 1 or 2
    issued_at: datetime = field(metadata=ONCE)
    updated_at: datetime  # its latest transition, or the instant its SLA passed after it
    deadline_at: datetime | None = None
    deadline_action: TicketDeadline | None = None
    policy_version: str = field(metadata=ONCE)  # the governance settings it is pinned to
    # the issue's own fields, to tell an idempotent repeat from a conflict
    request: dict[str, Any] = field(default_factory=dict, metadata=ONCE_UNSHOWN)
    version: int = field(default=0, metadata=VERSION)
    recorded: list[Event] = field(
        default_factory=list, metadata=NOT_STORED, repr=False, compare=False
    )

    @property
    def is_terminal(self) -> bool:
        return self.state in TICKET_TERMINAL

    @property
    def rule(self) -> str | None:
        """The breach rule that issued it, or None for the platform's tickets."""
        return self.source.removeprefix(RULE_SOURCE) if self.source != PLATFORM_SOURCE else None


@dataclass(slots=True, kw_only=True)
class Punishment:
    """A punishment a ticket started by crossing a milestone; it ends at ``ends_at``, or
    early when that ticket is overturned or revoked back below the milestone."""

    punishment_id: str = field(metadata=ONCE)  # "{cause_ticket_id}/{kind}"
    shop_id: str = field(metadata=ONCE)
    kind: str = field(metadata=ONCE)
    started_at: datetime = field(metadata=ONCE)
    ends_at: datetime = field(metadata=ONCE)
    ended_at: datetime | None = None
    ended_early: bool = False
    cause_ticket_id: str = field(metadata=ONCE)
    version: int = field(default=0, metadata=VERSION)
    recorded: list[Event] = field(
        default_factory=list, metadata=NOT_STORED, repr=False, compare=False
    )

    def running(self, at: datetime) -> bool:
        """Running at ``at``: started, not ended, and before its planned end."""
        return self.ended_at is None and self.started_at <= at < self.ends_at

    def holds_after(self, at: datetime) -> bool:
        """Whether it runs at some instant after ``at``: until its end (``ended_at`` once
        taken, else ``ends_at``). True of one running at ``at`` whether or not the sweep has
        already taken its end, and of one a later change already started (a snapshot taken
        late dates its breach ticket back at its midnight): starting its kind again at ``at``
        would run two at once."""
        end = self.ends_at if self.ended_at is None else self.ended_at
        return at < end


@dataclass(slots=True, kw_only=True)
class Shop:
    """What the engine keeps of a shop for governance: its market (that of its first order)
    and the last instant its active points changed. Every ticket issued, overturned or revoked
    writes it, so two such changes of one shop's points race on its version: the loser reads
    the winner's tickets and punishments again (two tickets crossing a milestone at once start
    one punishment, not none or two)."""

    shop_id: str = field(metadata=ONCE)
    market: str = field(metadata=ONCE)
    opened_at: datetime = field(metadata=ONCE)  # its first order's paid_at
    points_changed_at: datetime | None = None
    points_changes: int = 0  # how many times they changed: each change writes the shop
    version: int = field(default=0, metadata=VERSION)
    recorded: list[Event] = field(
        default_factory=list, metadata=NOT_STORED, repr=False, compare=False
    )
