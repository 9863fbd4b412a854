"""Each punishment against its events, its cause ticket and the points that started it.

A punishment row has exactly one ``punishment.started`` (and one ``punishment.ended`` once it
ended) saying what the row says; it ends at its planned end, or early, at the instant its cause
ticket was overturned or revoked back below its milestone, and then exactly when that happened.
Its cause is a ticket of its shop, issued when the punishment started, pinned to settings that
have its kind as a milestone, and the shop's active points (recomputed from the tickets' events
with :mod:`aftersale.domain.tickets.points`) crossed that milestone upwards at its start. No two
of one kind of one shop run at once.

Points are compared at positions in the log (:mod:`aftersale.domain.invariants.points_log`).
A running punishment past its planned end is not damage: the sweep may not have reached it yet.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta

from aftersale.domain.invariants.base import Violation, when
from aftersale.domain.invariants.points_log import Life, Position, around, lives
from aftersale.domain.invariants.ticket_rows import UNTOLD_PREFIX, GovernanceRows, PunishmentFact
from aftersale.domain.tickets.events import PUNISHMENT_ENDED, PUNISHMENT_STARTED
from aftersale.domain.tickets.model import Punishment
from aftersale.domain.tickets.settings import GovernanceSettings, Milestone

LAST_OF_ITS_INSTANT = sys.maxsize  # a punishment with no started event: its row's instant


def check_punishments(
    rows: GovernanceRows,
    governance: Mapping[str, GovernanceSettings | None],
    skipped: set[str],
    broken: set[str],
) -> list[Violation]:
    """Every punishment row and punishment event (``broken``: tickets whose events do not
    hold together, whose shop's points are not recomputed)."""
    found: list[Violation] = []
    told, untold = lives(rows, skipped, broken)
    by_shop: dict[str, list[Life]] = {}
    for life in told.values():
        by_shop.setdefault(life.ticket.shop_id, []).append(life)
    for punishment_id in sorted(rows.punishments.keys() | rows.facts.keys()):
        subject = f"punishment {punishment_id}"
        punishment, facts = rows.punishments.get(punishment_id), rows.facts.get(punishment_id, [])
        shops = {fact.named_shop for fact in facts} | (
            set() if punishment is None else {punishment.shop_id}
        )
        if subject in skipped or any(f"{UNTOLD_PREFIX}{s}" in skipped for s in shops):
            continue
        if punishment is None:
            seqs = ", ".join(str(fact.seq) for fact in facts)
            found.append(Violation("punishment", subject, f"no punishment row, but events {seqs}"))
            continue
        found += _against_events(punishment, facts, subject)
        cause = _cause(punishment, rows, governance, skipped, subject, found)
        if cause is not None and punishment.shop_id not in untold:
            cause_life = told.get(punishment.cause_ticket_id)
            if cause_life is not None:
                shop = by_shop.get(punishment.shop_id, [])
                found += _points(punishment, facts, cause_life, shop, *cause, subject)
    checked = [
        p for p in rows.punishments.values() if f"punishment {p.punishment_id}" not in skipped
    ]
    return found + _overlaps(checked)


def _against_events(
    punishment: Punishment, facts: Sequence[PunishmentFact], subject: str
) -> list[Violation]:
    """Exactly one started event, and one ended event once it ended, each saying what the
    row says; a planned end at ends_at, an early one before it."""
    problems: list[str] = []
    started = [fact for fact in facts if fact.type == PUNISHMENT_STARTED]
    ended = [fact for fact in facts if fact.type == PUNISHMENT_ENDED]
    if len(started) != 1:
        problems.append(
            f"{len(started)} punishment.started events (seq {_seqs(started)}): exactly one "
            "says it started"
        )
    else:
        problems += _said(started[0], punishment, punishment.started_at)
        if started[0].ends_at != punishment.ends_at:
            problems.append(
                f"ends_at is {when(punishment.ends_at)} but its punishment.started says "
                f"{when(started[0].ends_at)}"
            )
    if punishment.ended_at is None:
        if ended:
            problems.append(f"still running, but punishment.ended events (seq {_seqs(ended)})")
        if punishment.ended_early:
            problems.append("ended_early, but it has not ended")
    else:
        if len(ended) != 1:
            problems.append(
                f"ended at {when(punishment.ended_at)} with {len(ended)} punishment.ended "
                f"events (seq {_seqs(ended)}): exactly one says it ended"
            )
        else:
            problems += _said(ended[0], punishment, punishment.ended_at)
            if ended[0].ended_early is not punishment.ended_early:
                problems.append(
                    f"ended_early is {punishment.ended_early} but its punishment.ended says "
                    f"{ended[0].ended_early}"
                )
        problems += _ending(punishment)
    return [Violation("punishment", subject, problem) for problem in problems]


def _said(fact: PunishmentFact, punishment: Punishment, instant: datetime) -> list[str]:
    problems = []
    if fact.at != instant or fact.said_at != instant:
        problems.append(
            f"event {fact.seq} ({fact.type}) is at {when(fact.at)}, the row says {when(instant)}"
        )
    if fact.named_shop != punishment.shop_id or fact.shop_id != punishment.shop_id:
        problems.append(
            f"event {fact.seq} ({fact.type}) names shop {fact.named_shop}, not "
            f"{punishment.shop_id}"
        )
    return problems


def _ending(punishment: Punishment) -> list[str]:
    ended_at = punishment.ended_at
    assert ended_at is not None
    if not punishment.ended_early and ended_at != punishment.ends_at:
        return [
            f"ended at {when(ended_at)}, not early, but its planned end is "
            f"{when(punishment.ends_at)}"
        ]
    if punishment.ended_early and not punishment.started_at <= ended_at < punishment.ends_at:
        return [
            f"ended early at {when(ended_at)}, outside its run from {when(punishment.started_at)} "
            f"to {when(punishment.ends_at)}"
        ]
    return []


def _cause(
    punishment: Punishment,
    rows: GovernanceRows,
    governance: Mapping[str, GovernanceSettings | None],
    skipped: set[str],
    subject: str,
    found: list[Violation],
) -> tuple[Milestone, GovernanceSettings] | None:
    """The cause ticket is the shop's, issued at the start, pinned to settings with this
    punishment's kind; its milestone and those settings (None when they cannot be told)."""
    cause_id = punishment.cause_ticket_id
    if f"ticket {cause_id}" in skipped:
        return None
    ticket = rows.tickets.get(cause_id)
    if ticket is None:
        found.append(
            Violation("punishment", subject, f"its cause ticket {cause_id} does not exist")
        )
        return None
    problems = []
    if ticket.shop_id != punishment.shop_id:
        problems.append(
            f"its cause ticket {cause_id} is shop {ticket.shop_id}'s, not {punishment.shop_id}'s"
        )
    if ticket.issued_at != punishment.started_at:
        problems.append(
            f"started at {when(punishment.started_at)}, but its cause ticket was issued at "
            f"{when(ticket.issued_at)}: only an issue crosses a milestone upwards"
        )
    if punishment.punishment_id != f"{cause_id}/{punishment.kind}":
        problems.append(f"its id is not {cause_id}/{punishment.kind}, its cause and kind")
    found += [Violation("punishment", subject, problem) for problem in problems]
    settings = governance.get(ticket.policy_version)
    if settings is None:  # the ticket's own finding says why
        return None
    milestone = next(
        (m for m in settings.milestones if m.kind == punishment.kind and m.lasts is not None), None
    )
    if milestone is None or milestone.lasts is None:
        found.append(
            Violation(
                "punishment",
                subject,
                f"{punishment.kind} is no punishment of governance {settings.version}, the "
                f"settings its cause ticket is pinned to",
            )
        )
        return None
    if punishment.ends_at != punishment.started_at + milestone.lasts:
        found.append(
            Violation(
                "punishment",
                subject,
                f"ends at {when(punishment.ends_at)}; a {punishment.kind} started at "
                f"{when(punishment.started_at)} lasts {milestone.lasts}",
            )
        )
    return (milestone, settings) if not problems else None


def _points(
    punishment: Punishment,
    facts: Sequence[PunishmentFact],
    cause: Life,
    shop: Sequence[Life],
    milestone: Milestone,
    settings: GovernanceSettings,
    subject: str,
) -> list[Violation]:
    """The shop's points crossed the milestone upwards at the start, and the cause ticket's
    withdrawal ended it early exactly when it took them back below it."""
    window = settings.points_window
    started = [fact for fact in facts if fact.type == PUNISHMENT_STARTED]
    start: Position = (
        (started[0].at, started[0].seq)
        if len(started) == 1
        else (punishment.started_at, LAST_OF_ITS_INSTANT)
    )
    if cause.issued > start:
        return []  # a start before its cause: said above
    found = []
    before, after = around(shop, cause, start, window)
    if not before < milestone.points <= after:
        found.append(
            Violation(
                "points",
                subject,
                f"started at {when(start[0])}, when shop {punishment.shop_id}'s active points "
                f"went from {before} to {after}; a {punishment.kind} starts when they cross "
                f"{milestone.points}",
            )
        )
    early = _early_end(punishment, cause, shop, start, milestone, window)
    ended_early = punishment.ended_at if punishment.ended_early else None
    if early != ended_early:
        found.append(Violation("points", subject, _early_detail(punishment, cause, early)))
    return found


def _early_end(
    punishment: Punishment,
    cause: Life,
    shop: Sequence[Life],
    start: Position,
    milestone: Milestone,
    window: timedelta,
) -> datetime | None:
    """When the cause's withdrawal must have ended it early: while it ran, taking the points
    from at or above its milestone to below it (None: nothing ended it early)."""
    if cause.withdrawn is None or cause.withdrawn < start:
        return None
    at = cause.withdrawn[0]
    if at >= punishment.ends_at:
        return None
    before, after = around(shop, cause, cause.withdrawn, window)
    return at if after < milestone.points <= before else None


def _early_detail(punishment: Punishment, cause: Life, early: datetime | None) -> str:
    if early is not None:
        fate = (
            f"ended early at {when(punishment.ended_at)}"
            if punishment.ended_early
            else "was not ended early"
        )
        return (
            f"its cause ticket {cause.ticket.ticket_id} was {cause.withdrawn_into} at "
            f"{when(early)}, taking the shop's points below its milestone: it must have ended "
            f"early then, but it {fate}"
        )
    if cause.withdrawn is None:
        why = f"its cause ticket {cause.ticket.ticket_id} was never overturned or revoked"
    else:
        why = (
            f"its cause ticket {cause.ticket.ticket_id} was {cause.withdrawn_into} at "
            f"{when(cause.withdrawn[0])} without taking the shop's points below its milestone "
            "while it ran"
        )
    return f"ended early at {when(punishment.ended_at)}, but {why}"


def _overlaps(punishments: Sequence[Punishment]) -> list[Violation]:
    """No two punishments of one kind of one shop run at once: each runs from its start to
    its end (or its planned end while it has not ended)."""
    found = []
    kinds: dict[tuple[str, str], list[Punishment]] = {}
    for punishment in punishments:
        kinds.setdefault((punishment.shop_id, punishment.kind), []).append(punishment)
    for (shop_id, kind), runs in sorted(kinds.items()):
        runs.sort(key=lambda p: (p.started_at, p.punishment_id))
        longest: Punishment | None = None  # of those started before: the one ending last
        for punishment in runs:
            if longest is not None and punishment.started_at < _end(longest):
                found.append(
                    Violation(
                        "punishment",
                        f"punishment {punishment.punishment_id}",
                        f"runs from {when(punishment.started_at)} while punishment "
                        f"{longest.punishment_id} of shop {shop_id} ran (from "
                        f"{when(longest.started_at)} to {when(_end(longest))}): one {kind} at "
                        "a time",
                    )
                )
            if longest is None or _end(punishment) > _end(longest):
                longest = punishment
    return found


def _end(punishment: Punishment) -> datetime:
    return punishment.ended_at or punishment.ends_at


def _seqs(facts: Sequence[PunishmentFact]) -> str:
    return ", ".join(str(fact.seq) for fact in facts) or "none"
