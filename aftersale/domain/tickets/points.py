"""Active points and the punishments their milestones start and end (governance.md).

Pure functions over a shop's tickets and punishments. Whenever a ticket is issued, overturned
or revoked, the caller compares the active points just before and just after
(:func:`points_around`) and asks :func:`milestone_moves` what starts and what ends.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from aftersale.domain.events import Event
from aftersale.domain.tickets.events import PUNISHMENT_ENDED, PUNISHMENT_STARTED, punishment_event
from aftersale.domain.tickets.model import WITHDRAWN_STATES, Punishment, Ticket
from aftersale.domain.tickets.settings import CLEARANCE_NOTICE, GovernanceSettings

# Each ticket counts for the points window of the governance settings it is pinned to, by
# version; a ticket whose version is not in the map counts for the window given beside it.
Windows = Mapping[str, timedelta]


def counts(
    ticket: Ticket, at: datetime, window: timedelta, windows: Windows | None = None
) -> bool:
    """Issue <= at < issue + window, unless it ended overturned or revoked at or before at."""
    if not _in_window(ticket, at, window, windows):
        return False
    return not (ticket.state in WITHDRAWN_STATES and ticket.updated_at <= at)


def active_points(
    tickets: Iterable[Ticket], at: datetime, window: timedelta, windows: Windows | None = None
) -> int:
    return sum(ticket.points for ticket in tickets if counts(ticket, at, window, windows))


def points_around(
    tickets: Iterable[Ticket],
    changed: Ticket,
    at: datetime,
    window: timedelta,
    windows: Windows | None = None,
) -> tuple[int, int]:
    """(just before, just after) ``changed`` was issued, overturned or revoked at ``at``;
    ``tickets`` are the shop's tickets as they are after the change (``changed`` among them)."""
    others = [t for t in tickets if t.ticket_id != changed.ticket_id]
    rest = active_points(others, at, window, windows)
    now = changed.points if counts(changed, at, window, windows) else 0
    in_window = _in_window(changed, at, window, windows)
    if changed.issued_at == at and changed.state not in WITHDRAWN_STATES:
        return rest, rest + now  # just issued: it did not count a moment before
    return rest + (changed.points if in_window else 0), rest + now


def _in_window(ticket: Ticket, at: datetime, window: timedelta, windows: Windows | None) -> bool:
    span = window if windows is None else windows.get(ticket.policy_version, window)
    return ticket.issued_at <= at < ticket.issued_at + span


@dataclass
class Moves:
    """What one change of the active points does."""

    started: list[Punishment] = field(default_factory=list)
    ended: list[Punishment] = field(default_factory=list)
    notice: bool = False  # the clearance notice milestone was crossed upwards
    events: list[Event] = field(default_factory=list)


def milestone_moves(
    shop_id: str,
    before: int,
    after: int,
    cause: Ticket,
    punishments: Sequence[Punishment],
    at: datetime,
    settings: GovernanceSettings,
) -> Moves:
    """Upward crossings start their punishments (each kind not already running), naming
    ``cause``; a fall back below a milestone ends the running punishments of that kind that
    ``cause`` started, early. Points expiring never end one: only this comparison does."""
    moves = Moves()
    for milestone in settings.milestones:
        if before < milestone.points <= after:
            if milestone.kind == CLEARANCE_NOTICE or milestone.lasts is None:
                moves.notice = True
                continue
            if any(p.kind == milestone.kind and p.holds_after(at) for p in punishments):
                continue  # one of its kind is running (or already runs later on)
            started = Punishment(
                punishment_id=f"{cause.ticket_id}/{milestone.kind}",
                shop_id=shop_id,
                kind=milestone.kind,
                started_at=at,
                ends_at=at + milestone.lasts,
                cause_ticket_id=cause.ticket_id,
            )
            moves.started.append(started)
            moves.events.append(punishment_event(started, PUNISHMENT_STARTED, at))
        elif after < milestone.points <= before:
            for running in punishments:
                if (
                    running.kind == milestone.kind
                    and running.cause_ticket_id == cause.ticket_id
                    and running.running(at)
                ):
                    moves.events.append(end_punishment(running, at, early=True))
                    moves.ended.append(running)
    return moves


def end_punishment(
    punishment: Punishment, at: datetime | None = None, *, early: bool = False
) -> Event:
    """End ``punishment``: at its planned end (its deadline), or early at ``at``."""
    punishment.ended_at = at if early and at is not None else punishment.ends_at
    punishment.ended_early = early
    return punishment_event(punishment, PUNISHMENT_ENDED, punishment.ended_at)
