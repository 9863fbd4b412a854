"""Active points around issue + 90 days, milestones crossed up and back down, and no second
punishment of a kind already running (governance.md)."""

from __future__ import annotations

from datetime import timedelta

from aftersale.domain.tickets.model import Punishment, Ticket
from aftersale.domain.tickets.points import (
    active_points,
    end_punishment,
    milestone_moves,
    points_around,
)
from tests.unit.ticket_world import GOVERNANCE, ISSUED_MONDAY_9AM, issued, take

WINDOW = GOVERNANCE.points_window
T0 = ISSUED_MONDAY_9AM
TICK = timedelta(microseconds=1)


def test_a_ticket_counts_from_its_issue_until_just_before_issue_plus_90_days() -> None:
    ticket = issued(points=5)
    assert active_points([ticket], T0 - TICK, WINDOW) == 0
    assert active_points([ticket], T0, WINDOW) == 5
    assert active_points([ticket], T0 + timedelta(days=90) - TICK, WINDOW) == 5
    assert active_points([ticket], T0 + timedelta(days=90), WINDOW) == 0


def test_an_overturn_stops_the_count_at_its_instant_and_not_before() -> None:
    ticket = issued(points=5)
    take(ticket, "appeal", "seller")
    ticket.updated_at = T0 + timedelta(days=3)
    take(ticket, "overturn", "platform")
    overturned_at = ticket.updated_at
    assert active_points([ticket], overturned_at - TICK, WINDOW) == 5
    assert active_points([ticket], overturned_at, WINDOW) == 0


def _issue(
    tickets: list[Ticket], punishments: list[Punishment], ticket_id: str, points: int, days: float
) -> tuple[Ticket, object]:
    at = T0 + timedelta(days=days)
    ticket = issued(ticket_id, points, at)
    tickets.append(ticket)
    before, after = points_around(tickets, ticket, at, WINDOW)
    moves = milestone_moves("shop-harbour", before, after, ticket, punishments, at, GOVERNANCE)
    punishments.extend(moves.started)
    return ticket, moves


def test_milestones_crossed_up_start_punishments_and_back_down_end_them_early() -> None:
    tickets: list[Ticket] = []
    punishments: list[Punishment] = []
    _, first = _issue(tickets, punishments, "TK-1", 10, 0)
    assert first.started == [] and not first.notice  # 0 -> 10
    big, second = _issue(tickets, punishments, "TK-2", 30, 1)  # 10 -> 40: three milestones
    assert [(p.kind, p.cause_ticket_id) for p in second.started] == [
        ("campaign_ban", "TK-2"),
        ("listing_restricted", "TK-2"),
        ("traffic_restricted", "TK-2"),
    ]
    assert not second.notice
    ban = second.started[0]
    assert ban.ends_at == ban.started_at + timedelta(days=7)
    assert [e.type for e in second.events] == ["punishment.started"] * 3
    # TK-2 revoked on day 2: 40 -> 10 ends all three early, at that instant
    revoked_at = T0 + timedelta(days=2)
    big.updated_at = revoked_at
    take(big, "revoke", "platform")
    before, after = points_around(tickets, big, revoked_at, WINDOW)
    assert (before, after) == (40, 10)
    down = milestone_moves("shop-harbour", before, after, big, punishments, revoked_at, GOVERNANCE)
    assert sorted(p.kind for p in down.ended) == [
        "campaign_ban",
        "listing_restricted",
        "traffic_restricted",
    ]
    assert all(p.ended_at == revoked_at and p.ended_early for p in down.ended)
    assert down.events[0].data is not None and down.events[0].data["ended_early"] is True


def test_crossing_48_gives_the_clearance_notice() -> None:
    tickets: list[Ticket] = []
    punishments: list[Punishment] = []
    _issue(tickets, punishments, "TK-1", 47, 0)
    _, moves = _issue(tickets, punishments, "TK-2", 1, 1)
    assert moves.notice and moves.started == []


def test_no_second_punishment_of_a_running_kind() -> None:
    tickets: list[Ticket] = []
    punishments: list[Punishment] = []
    _issue(tickets, punishments, "TK-1", 12, 0)  # campaign_ban until day 7
    first = tickets[0]
    first.updated_at = T0 + timedelta(days=1)
    take(first, "revoke", "platform")  # 12 -> 0: the ban TK-1 started ends early
    before, after = points_around(tickets, first, first.updated_at, WINDOW)
    milestone_moves(
        "shop-harbour", before, after, first, punishments, first.updated_at, GOVERNANCE
    )
    _, again = _issue(tickets, punishments, "TK-2", 12, 2)  # the ban ended: a new one starts
    assert [p.kind for p in again.started] == ["campaign_ban"]
    _issue(tickets, punishments, "TK-3", 1, 3)
    # TK-3 and then TK-2 revoked: only the ban TK-2 started ends early
    tickets[-1].updated_at = T0 + timedelta(days=4)
    take(tickets[-1], "revoke", "platform")
    tickets[1].updated_at = T0 + timedelta(days=4)
    take(tickets[1], "revoke", "platform")  # TK-2 revoked: 13 -> 0, its ban ends early
    before, after = points_around(tickets, tickets[1], tickets[1].updated_at, WINDOW)
    moves = milestone_moves(
        "shop-harbour", before, after, tickets[1], punishments, tickets[1].updated_at, GOVERNANCE
    )
    assert [p.cause_ticket_id for p in moves.ended] == ["TK-2"]


def test_a_running_punishment_blocks_the_same_kind_from_another_ticket() -> None:
    tickets: list[Ticket] = []
    punishments: list[Punishment] = []
    _issue(tickets, punishments, "TK-1", 12, 0)  # campaign_ban, days 0 to 7
    # and a crossing of 12 while TK-1's ban runs (11 -> 12 on day 3) starts no second ban
    _, moves = _issue(tickets, punishments, "TK-2", 12, 3)  # 12 -> 24
    assert [p.kind for p in moves.started] == ["listing_restricted"]
    blocked = milestone_moves(
        "shop-harbour", 11, 12, tickets[1], punishments, T0 + timedelta(days=3), GOVERNANCE
    )
    assert blocked.started == []


def test_points_expiring_never_end_a_punishment_and_it_ends_at_its_planned_end() -> None:
    tickets: list[Ticket] = []
    punishments: list[Punishment] = []
    _issue(tickets, punishments, "TK-1", 36, 0)
    traffic = next(p for p in punishments if p.kind == "traffic_restricted")
    assert traffic.running(T0 + timedelta(days=29))
    event = end_punishment(traffic)
    assert (traffic.ended_at, traffic.ended_early) == (T0 + timedelta(days=30), False)
    assert event.type == "punishment.ended" and event.at == traffic.ends_at
