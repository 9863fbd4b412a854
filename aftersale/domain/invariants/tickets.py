"""A violation ticket against its own events: re-derived step by step from the ticket table.

Its history starts with ``issue`` (from null to issued, by the platform, or the system for a
breach rule's ticket); every later transition is one the ticket workflow allows, taken by an
actor who may take it; ``appeal_window_timeout`` only at the appeal window then in force, any
other transition before it. The platform's SLA is non-interrupting: one ``ticket.reply_overdue``
at exactly its instant, then no deadline until the ticket leaves ``under_review``; a transition
at or after a pending SLA is one the engine would have recorded the overdue before. Each
recorded deadline is the one the pinned governance settings give, and the ticket row is the
fold of it all: its state, appeals, updated_at and its one deadline per waiting state.

A deadline already due but not taken yet is not damage: the daemon may simply not have reached
it (``status`` shows that backlog), as with a case's.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from aftersale.domain.invariants.base import Violation, when
from aftersale.domain.invariants.ticket_rows import ReplyOverdue, TicketEntry, TicketStep
from aftersale.domain.model import Actor
from aftersale.domain.policy import Market
from aftersale.domain.tickets.model import (
    MAX_APPEALS,
    PLATFORM_SOURCE,
    TICKET_TERMINAL,
    Ticket,
    TicketAction,
    TicketDeadline,
    TicketState,
)
from aftersale.domain.tickets.settings import GovernanceSettings
from aftersale.domain.workflows.ticket import TICKET, TICKET_REQUESTERS

# what each state waits on (the deadline's kind only: its instant needs the settings)
WAITS_ON = {
    TicketState.issued: TicketDeadline.appeal_window_timeout,
    TicketState.upheld: TicketDeadline.appeal_window_timeout,
    TicketState.under_review: TicketDeadline.reply_overdue,
}
ALLOWED = frozenset((t.action, t.source, t.dest) for t in TICKET.transitions)
Due = tuple[datetime | None, TicketDeadline | None]


def check_ticket(
    ticket: Ticket,
    entries: Sequence[TicketEntry],
    settings: GovernanceSettings | None,
    calendars: Sequence[Market],
) -> list[Violation]:
    """The ticket row is the fold of its events, and each event a step the rules allow.
    ``settings`` are those it is pinned to (None: not readable, reported apart); ``calendars``
    the stored policies' markets of its code, which time the SLA (none: it is not checked)."""
    subject = f"ticket {ticket.ticket_id}"
    if not any(isinstance(entry, TicketStep) for entry in entries):
        return [Violation("history", subject, "no ticket.transition event: it was never issued")]
    walk = _Walk(ticket, settings, calendars, subject)
    for entry in entries:
        if isinstance(entry, TicketStep):
            walk.take(entry)
        else:
            walk.overdue(entry)
    return walk.found + _the_row(ticket, walk, subject)


class _Walk:
    """The ticket replayed one event at a time, collecting what does not follow."""

    def __init__(
        self,
        ticket: Ticket,
        settings: GovernanceSettings | None,
        calendars: Sequence[Market],
        subject: str,
    ) -> None:
        self.ticket, self.settings, self.calendars = ticket, settings, calendars
        self.subject = subject
        self.state: TicketState | None = None
        self.round = 0
        self.first: TicketStep | None = None
        self.last: TicketStep | None = None
        # the instant of the latest event: a transition's, or a passed SLA's (the engine moves
        # updated_at to it, so that no act is dated before the overdue it recorded)
        self.moved_at: datetime | None = None
        self.due: Due = (None, None)  # the deadline in force
        self.found: list[Violation] = []

    def _say(self, rule: str, seq: int, action: str, detail: str) -> None:
        self.found.append(Violation(rule, self.subject, f"event {seq} ({action}) {detail}"))

    def take(self, step: TicketStep) -> None:
        if step.source != self.state:
            self._say(
                "history",
                step.seq,
                step.action,
                f"leaves {step.source}, but the ticket was in {self.state}: an event is "
                "missing or misplaced",
            )
        if self.state in TICKET_TERMINAL:
            self.found.append(
                Violation("terminal", self.subject, f"{step.action} left {self.state}")
            )
        self._allowed(step)
        self._timing(step)
        if step.action is TicketAction.appeal:
            self.round += 1
        self._recorded(step)
        self.first = self.first or step
        self.state, self.last = step.target, step
        self.moved_at = step.at
        self.due = (step.deadline_at, step.deadline_action)

    def overdue(self, entry: ReplyOverdue) -> None:
        """One reply_overdue: in under_review, of this round, at exactly its SLA."""
        due, action = self.due
        if self.last is not None and entry.at < self.last.at:
            self._say("history", entry.seq, "reply_overdue", "is before the event before it")
        if entry.state is not TicketState.under_review or self.state is not entry.state:
            self._say(
                "deadline",
                entry.seq,
                "reply_overdue",
                f"says {entry.state}, but the ticket was in {self.state}",
            )
        elif action is not TicketDeadline.reply_overdue or entry.at != due:
            self._say(
                "deadline",
                entry.seq,
                "reply_overdue",
                f"at {when(entry.at)} is not at the SLA then pending ({when(due)})",
            )
        if entry.round != self.round:
            self._say("history", entry.seq, "reply_overdue", f"says round {entry.round}")
        if entry.said_at != entry.at:
            self._say("history", entry.seq, "reply_overdue", f"says at {when(entry.said_at)}")
        self.due = (None, None)
        self.moved_at = entry.at

    def _allowed(self, step: TicketStep) -> None:
        """In the table, by one who may take it, and saying so."""
        if step.action is TicketAction.issue or self.last is None:
            self._opening(step)
        elif (step.action, step.source, step.target) not in ALLOWED:
            self._say(
                "transition",
                step.seq,
                step.action,
                f"from {step.source} to {step.target} is not a ticket step",
            )
        elif step.action is TicketAction.uphold and step.target is not _upheld_into(self.round):
            self._say(
                "transition", step.seq, step.action, f"in round {self.round} went to {step.target}"
            )
        elif step.actor not in (TICKET_REQUESTERS[step.action] or {Actor.system}):
            self._say("transition", step.seq, step.action, f"may not be taken by {step.actor}")
        elif step.actor is Actor.seller and step.actor_id not in (None, self.ticket.shop_id):
            self._say(
                "transition",
                step.seq,
                step.action,
                f"by seller {step.actor_id}, not the ticket's shop {self.ticket.shop_id}",
            )
        if step.auto is not (step.actor is Actor.system):
            self._say(
                "transition", step.seq, step.action, f"by {step.actor} recorded auto {step.auto}"
            )

    def _opening(self, step: TicketStep) -> None:
        if self.last is not None:
            self._say("transition", step.seq, step.action, "issued the ticket a second time")
            return
        if (step.action, step.source, step.target) != (
            TicketAction.issue,
            None,
            TicketState.issued,
        ):
            self._say(
                "history",
                step.seq,
                step.action,
                f"from {step.source} to {step.target} is its first entry: a ticket's history "
                "starts with issue, from null to issued",
            )
            return
        issuer = Actor.platform if self.ticket.source == PLATFORM_SOURCE else Actor.system
        if step.actor is not issuer:
            self._say(
                "transition",
                step.seq,
                step.action,
                f"by {step.actor}; a {self.ticket.source} ticket is issued by {issuer}",
            )

    def _timing(self, step: TicketStep) -> None:
        """Never before the event before it; the appeal window's timeout at its deadline,
        anything else before the deadline then in force."""
        due, action = self.due
        if self.last is not None and step.at < self.last.at:
            self._say(
                "history",
                step.seq,
                step.action,
                f"at {when(step.at)} is before the event before it",
            )
        if step.action is TicketAction.appeal_window_timeout:
            if action is not TicketDeadline.appeal_window_timeout or step.at != due:
                self._say(
                    "deadline",
                    step.seq,
                    step.action,
                    f"at {when(step.at)} is a timeout not at its deadline ({when(due)})",
                )
        elif due is not None and step.at >= due:
            self._say(
                "deadline",
                step.seq,
                step.action,
                f"by {step.actor} at {when(step.at)} came at or after the deadline {when(due)} "
                f"then in force: its {action} was due first",
            )

    def _recorded(self, step: TicketStep) -> None:
        """The deadline, round and ticket fields the event records."""
        expected = _deadline_kind(step.target)
        if step.deadline_action is not expected or (step.deadline_at is None) is not (
            expected is None
        ):
            self._say(
                "deadline",
                step.seq,
                step.action,
                f"into {step.target} recorded {step.deadline_action} at {when(step.deadline_at)}; "
                f"{step.target} waits on {expected or 'nothing'}",
            )
        else:
            instants = self._deadlines(step.target, step.at)
            if instants and step.deadline_at not in instants:
                gives = " or ".join(sorted({when(instant) for instant in instants}))
                self._say(
                    "deadline",
                    step.seq,
                    step.action,
                    f"recorded deadline {when(step.deadline_at)}; its settings give {gives}",
                )
        if step.round != self.round or self.round > MAX_APPEALS:
            self._say(
                "history", step.seq, step.action, f"recorded round {step.round}, not {self.round}"
            )
        ticket = self.ticket
        for name, recorded, row in (
            ("points", step.points, ticket.points),
            ("category", step.category, ticket.category.value),
            ("reason", step.reason, ticket.reason),
            ("policy_version", step.policy_version, ticket.policy_version),
            ("shop_id", step.shop_id, ticket.shop_id),
            ("order_id", step.order_id, ticket.order_id),
        ):
            if recorded != row:
                self._say(
                    "history",
                    step.seq,
                    step.action,
                    f"recorded {name} {recorded}, the ticket {row}",
                )

    def _deadlines(self, state: TicketState, entered_at: datetime) -> set[datetime | None]:
        """The deadlines the pinned settings can give for ``state`` entered at ``entered_at``
        (one per calendar that times the SLA; empty when they cannot say)."""
        settings = self.settings
        if settings is None:
            return set()
        if state is TicketState.under_review:
            return {settings.deadline(state, entered_at, market)[0] for market in self.calendars}
        window = {
            TicketState.issued: settings.first_appeal_window,
            TicketState.upheld: settings.second_appeal_window,
        }.get(state)  # natural days: no calendar needed
        return {None if window is None else entered_at + window}


def _upheld_into(round_: int) -> TicketState:
    """Round 1's uphold leaves a second appeal; round 2's is final."""
    return TicketState.upheld if round_ < MAX_APPEALS else TicketState.final


def _deadline_kind(state: TicketState) -> TicketDeadline | None:
    return WAITS_ON.get(state)


def _the_row(ticket: Ticket, walk: _Walk, subject: str) -> list[Violation]:
    """The ticket row says what its events say."""
    if walk.state != ticket.state:
        return [
            Violation(
                "history",
                subject,
                f"the ticket is {ticket.state} but its events end in {walk.state}",
            )
        ]
    assert walk.first is not None and walk.last is not None
    found = [
        Violation("history", subject, f"{name} is {stored} but its events say {logged}")
        for name, stored, logged in (
            ("appeals", ticket.appeals, walk.round),
            ("issued_at", when(ticket.issued_at), when(walk.first.at)),
            ("updated_at", when(ticket.updated_at), when(walk.moved_at)),
        )
        if stored != logged
    ]
    return found + _deadline(ticket, walk.due, subject)


def _deadline(ticket: Ticket, due: Due, subject: str) -> list[Violation]:
    """One deadline per waiting state, the one its events leave pending."""
    waits_on = _deadline_kind(ticket.state)
    stored = (ticket.deadline_at, ticket.deadline_action)
    sla_passed = ticket.state is TicketState.under_review and stored == (None, None)
    if waits_on is None and stored != (None, None):
        return [Violation("deadline", subject, f"{ticket.state} must have no deadline")]
    if (
        waits_on is not None
        and not sla_passed
        and (ticket.deadline_at is None or ticket.deadline_action is not waits_on)
    ):
        return [
            Violation(
                "deadline",
                subject,
                f"{ticket.state} must wait on {waits_on} with a deadline; it has "
                f"{ticket.deadline_action} at {when(ticket.deadline_at)}",
            )
        ]
    if stored != due:
        pending = "none (its SLA passed)" if due == (None, None) else _said(due)
        return [
            Violation(
                "deadline",
                subject,
                f"its deadline is {_said(stored)}, but its events leave {pending} pending",
            )
        ]
    return []


def _said(due: Due) -> str:
    instant, action = due
    return "none" if action is None and instant is None else f"{action} at {when(instant)}"
