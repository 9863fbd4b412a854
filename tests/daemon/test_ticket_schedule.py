"""A ticket's and a punishment's history do not depend on when the timers are swept
(governance.md: durable deadlines fired by the daemon; daemon.md: schedule independence).

One story of six weeks at two shops (a silent seller's appeal window, the platform's SLA passed
in round 1 and in round 2, a reply exactly at the SLA's instant and one a second before it, an
appeal a second before its window closes and one at the instant it closes, a revoke that comes
after the ticket became final, two windows closing at one instant; punishments ended at their
planned end, ended early by an overturn, started again at the very instant the last one of
their kind ended, and an overturn that comes after its punishment's planned end) is played
four ways, the story's instants weeks in the past:

(a) through the façade on a memory store, with ``fire_due`` every simulated minute, as a daemon
    ticking once a minute would;
(b) through the façade on SQLite with no sweep at all until one ``fire_due`` a week after the
    last deadline, as after a week-long outage (the façade's own catch-up of a ticket's overdue
    deadlines before an action on it is live behaviour and stays on);
(c) the same, one deadline per batch;
(d) through the façade on SQLite with no sweep, then a real ``aftersale daemon`` process on the
    database file, which catches everything up weeks late.

Every ticket (with its history), every shop's points and punishments, every ticket and
punishment event with its ``at`` and fields, every final ticket, punishment and shop, and every
refused line with its code must be the same. (Replay gains ticket lines in another issue; when
it does, it is a fifth way.)
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy

import aftersale
from aftersale import CommandRefused, VirtualClock
from aftersale.adapters.schema import punishments, shops, tickets
from aftersale.config import policy_from_document, read_document
from aftersale.domain.tickets.events import PUNISHMENT_ENDED, PUNISHMENT_STARTED, TICKET_EVENTS
from aftersale.domain.tickets.model import TicketState
from aftersale.service.governance_api import default_governance
from tests.daemon.helpers import Daemons, wait_for
from tests.daemon.test_schedule_independence import Story

TICK = timedelta(minutes=1)
HARBOR, FOGBOUND = "shop-harbor", "shop-fogbound"  # a US shop and a UK shop
SHOPS = (HARBOR, FOGBOUND)
PHOTO = [{"kind": "photo", "uri": "https://cdn.example/ev/ticket.jpg"}]
SECOND = timedelta(seconds=1)
# the story's day 0: a Monday nine weeks ago, so its last deadline is weeks before now
_TODAY = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
DAY0 = _TODAY - timedelta(days=_TODAY.weekday(), weeks=9)
# event fields that tell when and in which order an event was written, not what happened
WRITE_FIELDS = ("seq", "event_id", "recorded_at")


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return DAY0 + timedelta(days=day, hours=hour, minutes=minute)


def sla(entered: datetime, shop: str) -> datetime:
    """When the platform's SLA of a ticket entering review at ``entered`` passes, by the
    shipped settings and the shop's market calendar (the engine's own arithmetic)."""
    market = policy_from_document(read_document()).market("US" if shop == HARBOR else "UK")
    due, _ = default_governance().current.deadline(TicketState.under_review, entered, market)
    assert due is not None
    return due


# -- the story ---------------------------------------------------------------------------


def _issue(s: Story, at: datetime, ticket_id: str, shop: str, points: int) -> None:
    s.line(
        at,
        "ticket.issue",
        ticket_id=ticket_id,
        shop_id=shop,
        category="fulfilment",
        reason="dispatched late",
        points=points,
    )


def _act(s: Story, at: datetime, ticket_id: str, action: str, *, refused: bool = False) -> None:
    """``action`` by whoever takes it: the seller appeals (naming its shop), the platform
    answers."""
    shop = HARBOR if ticket_id.startswith("H") else FOGBOUND
    fields: dict[str, Any] = {"ticket_id": ticket_id, "action": action}
    if action == "appeal":
        fields |= {"actor": "seller", "actor_id": shop, "evidence": PHOTO}
    else:
        fields |= {"actor": "platform", "note": f"{action} by the platform"}
    s.line(at, "ticket.action", refused=refused, **fields)


def story() -> Story:
    s = Story()
    for shop, market, currency in ((HARBOR, "US", "USD"), (FOGBOUND, "UK", "GBP")):
        s.line(
            t(0, 8),
            "order.paid",
            order_id=f"O-{shop}",
            shop_id=shop,
            buyer_id="buyer-1",
            market=market,
            currency=currency,
            amount="30.00",
        )
    # shop-harbor: one point a ticket, never a milestone; windows and SLAs
    _issue(s, t(0, 9), "H-1", HARBOR, 1)  # a silent seller: final when the window closes
    _act(s, t(31, 9), "H-1", "revoke", refused=True)  # a day after it became final
    _issue(s, t(0, 10), "H-2", HARBOR, 1)
    _act(s, t(1, 10), "H-2", "appeal")  # the platform misses its SLA, then upholds late
    _act(s, t(10, 12), "H-2", "uphold")  # and the seller lets the second window close
    _issue(s, t(0, 11), "H-3", HARBOR, 1)
    _act(s, t(1, 11), "H-3", "appeal")
    _act(s, t(2, 11), "H-3", "uphold")  # in time: no reply_overdue
    _act(s, t(17, 11), "H-3", "appeal", refused=True)  # at the instant the window closes
    _issue(s, t(2, 15), "H-4", HARBOR, 1)
    appealed = t(32, 15) - SECOND  # a second before the first window closes: in time
    _act(s, appealed, "H-4", "appeal")
    replied = sla(appealed, HARBOR)  # at the SLA's instant: it passed first, then the reply
    _act(s, replied, "H-4", "uphold")
    _act(s, replied + timedelta(days=1), "H-4", "appeal")  # round 2, never answered
    _issue(s, t(3, 9), "H-5", HARBOR, 1)
    _act(s, t(5, 9), "H-5", "revoke")
    _issue(s, t(4, 21), "H-6", HARBOR, 1)  # Friday afternoon in New York
    _act(s, t(4, 22), "H-6", "appeal")  # the SLA runs over the weekend
    _act(s, sla(t(4, 22), HARBOR) - SECOND, "H-6", "overturn")  # a second before it passes
    _issue(s, t(6, 12), "H-7", HARBOR, 1)  # two windows closing at one instant
    _issue(s, t(6, 12), "H-8", HARBOR, 1)
    # shop-fogbound: twelve points a ticket, each a milestone
    _issue(s, t(0, 9), "F-1", FOGBOUND, 12)  # campaign_ban to t(7, 9)
    _issue(s, t(3, 9), "F-2", FOGBOUND, 12)  # listing_restricted to t(17, 9)
    _act(s, t(3, 12), "F-2", "appeal")
    _act(s, t(6, 9), "F-2", "overturn")  # back below 24: its listing_restricted ends early
    _act(s, t(7, 9), "F-1", "revoke")  # the instant its ban ends: not early, back to 0 points
    _issue(s, t(7, 9), "F-3", FOGBOUND, 12)  # at that instant: a new campaign_ban
    _act(s, t(8, 9), "F-3", "appeal")  # the platform misses its SLA, then upholds late
    _act(s, sla(t(8, 9), FOGBOUND) + timedelta(days=1), "F-3", "uphold")
    _issue(s, t(9, 9), "F-4", FOGBOUND, 12)  # 24: listing_restricted to t(23, 9)
    _issue(s, t(10, 9), "F-5", FOGBOUND, 12)  # 36: traffic_restricted to t(40, 9), when
    # F-5's own window closes too: a ticket deadline and a punishment end at one instant
    _act(s, t(10, 10), "F-4", "appeal")
    _act(s, t(11, 10), "F-4", "uphold")
    _act(s, t(12, 10), "F-4", "appeal")  # round 2: its SLA passes unanswered
    _act(s, t(20, 9), "F-3", "revoke")  # upheld, not final yet: 36 -> 24, nothing running
    _act(s, t(24, 9), "F-4", "overturn")  # 24 -> 12, a day after its punishment's planned end
    return s


def _apply(engine: aftersale.AfterSale, line: dict[str, Any]) -> None:
    """One line through the façade, as a host would call it."""
    fields = {key: value for key, value in line.items() if key not in ("at", "type")}
    at = datetime.fromisoformat(line["at"])
    kind = line["type"]
    if kind == "order.paid":
        engine.order_paid(**fields, at=at)
    elif kind == "ticket.issue":
        engine.issue_ticket(**fields, at=at)
    elif kind == "ticket.action":
        engine.act_ticket(**fields, at=at)
    else:
        raise AssertionError(f"the story has no {kind} lines")


# -- the four ways -----------------------------------------------------------------------


def _played(
    lines: list[dict[str, Any]],
    url: str,
    tick: timedelta | None,
    end: datetime | None,
    batch: int = 500,
) -> tuple[aftersale.AfterSale, dict[int, str], int]:
    """Apply ``lines`` through the façade of a fresh database at ``url`` on a virtual clock,
    with ``fire_due`` every ``tick`` (None: never), and one last ``fire_due`` at ``end`` (None:
    none, the timers are left to a daemon). The engine, the refused lines with their codes,
    and how many timeouts the sweeps took (the façade's catch-up before an action not
    counted)."""
    clock = VirtualClock(datetime.fromisoformat(lines[0]["at"]))
    engine = aftersale.connect(url, clock=clock, require_identity=False)
    refused: dict[int, str] = {}
    fired = 0

    def sweep_until(instant: datetime) -> None:
        nonlocal fired
        while tick is not None and clock.now() + tick <= instant:
            clock.move_to(clock.now() + tick)
            fired += engine.fire_due(batch=batch)

    for number, line in enumerate(lines, start=1):
        at = datetime.fromisoformat(line["at"])
        sweep_until(at)
        clock.move_to(at)
        try:
            _apply(engine, line)
        except CommandRefused as error:
            refused[number] = error.code
    if end is not None:
        sweep_until(end)
        clock.move_to(end)
        fired += engine.fire_due(end, batch=batch)
    return engine, refused, fired


def _caught_up_by_a_daemon(url: str, logs: Path) -> aftersale.AfterSale:
    """A real daemon process on the database file until nothing is due; then an engine on the
    system clock to read what it did."""
    reader = aftersale.connect(url, require_identity=False)
    assert reader.storage.reads.any_due(datetime.now(UTC))  # the outage left work undone
    daemons = Daemons(url, logs)
    try:
        daemon = daemons.start("--interval", "0.2")
        daemons.wait_started(daemon)
        wait_for(
            lambda: not reader.storage.reads.any_due(datetime.now(UTC)),
            timeout=60,
            what="the daemon to catch up",
        )
        assert daemons.stop(daemon) == 0, daemons.log(daemon)
        assert daemons.tracebacks(daemon) == []
        assert daemons.fired(daemon) > 0
    finally:
        daemons.close()
    return reader


# -- what is compared --------------------------------------------------------------------


def _events(engine: aftersale.AfterSale) -> dict[str, list[dict[str, Any]]]:
    """Each ticket's events and each punishment's (``{cause}/{kind}``), in log order, without
    the fields that only say when they were written."""
    found: dict[str, list[dict[str, Any]]] = {}
    for event in engine.log(0, 10_000):
        if event["type"] in TICKET_EVENTS:
            key = event["ticket_id"]
        elif event["type"] in (PUNISHMENT_STARTED, PUNISHMENT_ENDED):
            key = f"{event['cause_ticket_id']}/{event['kind']}"
        else:
            continue
        what = {name: value for name, value in event.items() if name not in WRITE_FIELDS}
        found.setdefault(key, []).append(what)
    return found


def _stored(aggregate: Any) -> dict[str, Any]:
    """An aggregate's fields as stored, but its version: that counts writes, and how many
    writes a history took is not part of it."""
    return {
        field.name: getattr(aggregate, field.name)
        for field in fields(aggregate)
        if field.name not in ("version", "recorded")
    }


def _aggregates(engine: aftersale.AfterSale) -> dict[str, Any]:
    """Every ticket, punishment and shop as its repository loads it (any backend)."""
    out: dict[str, Any] = {}
    with engine.storage.unit_of_work() as uow:
        for shop_id in SHOPS:
            shop = uow.shops.get(shop_id)
            assert shop is not None
            out[f"shop {shop_id}"] = _stored(shop)
            for ticket in uow.tickets.of_shop(shop_id, DAY0):
                out[f"ticket {ticket.ticket_id}"] = _stored(ticket)
            for punishment in uow.punishments.of_shop(shop_id):
                out[f"punishment {punishment.punishment_id}"] = _stored(punishment)
    return out


def _rows(url: str) -> dict[str, list[tuple[Any, ...]]]:
    """The tickets, punishments and shops tables of an SQLite file, but their versions."""
    engine = sqlalchemy.create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: sorted(
                    tuple(value for name, value in row._mapping.items() if name != "version")
                    for row in connection.execute(sqlalchemy.select(table))
                )
                for table in (tickets, punishments, shops)
            }
    finally:
        engine.dispose()


def _everything(engine: aftersale.AfterSale, end: datetime) -> dict[str, Any]:
    every = engine.tickets(limit=10_000)
    return {
        "tickets": {view["ticket_id"]: engine.ticket(view["ticket_id"]) for view in every},
        "shops": {shop_id: engine.shop(shop_id, at=end) for shop_id in SHOPS},
        "events": _events(engine),
        "aggregates": _aggregates(engine),
    }


def _last_deadline(everything: dict[str, Any]) -> datetime:
    """The latest instant at which a deadline of the story was taken."""
    taken = [
        datetime.fromisoformat(event["at"])
        for history in everything["events"].values()
        for event in history
        if event.get("auto") or event["type"] in ("ticket.reply_overdue", PUNISHMENT_ENDED)
    ]
    return max(taken)


def _story_is_what_it_claims(a: dict[str, Any], refused: dict[int, str], want: set[int]) -> None:
    assert set(refused) == want and set(refused.values()) == {"not_allowed"}, refused
    views, events = a["tickets"], a["events"]

    def actions(ticket_id: str) -> list[str]:
        return [event.get("action", event["type"]) for event in events[ticket_id]]

    assert actions("H-1") == ["issue", "appeal_window_timeout"]
    assert actions("H-2") == [
        "issue",
        "appeal",
        "ticket.reply_overdue",
        "uphold",
        "appeal_window_timeout",
    ]
    assert actions("H-3") == ["issue", "appeal", "uphold", "appeal_window_timeout"]
    assert actions("H-4") == [
        "issue",
        "appeal",
        "ticket.reply_overdue",  # at the instant of the uphold, before it
        "uphold",
        "appeal",
        "ticket.reply_overdue",  # round 2's, unanswered
    ]
    overdue = [event for event in events["H-4"] if event["type"] == "ticket.reply_overdue"]
    assert [event["round"] for event in overdue] == [1, 2]
    assert overdue[0]["at"] == events["H-4"][3]["at"]
    assert views["H-4"]["state"] == "under_review" and views["H-4"]["deadline_at"] is None
    assert actions("H-6") == ["issue", "appeal", "overturn"]
    assert views["H-7"]["history"][-1]["at"] == views["H-8"]["history"][-1]["at"]
    assert {views[k]["state"] for k in ("H-1", "H-2", "H-3", "H-7", "H-8")} == {"final"}
    fogbound = {(p["cause_ticket_id"], p["kind"]): p for p in a["shops"][FOGBOUND]["punishments"]}
    assert sorted(fogbound) == [
        ("F-1", "campaign_ban"),
        ("F-2", "listing_restricted"),
        ("F-3", "campaign_ban"),
        ("F-4", "listing_restricted"),
        ("F-5", "traffic_restricted"),
    ]
    early = {key for key, punishment in fogbound.items() if punishment["ended_early"]}
    assert early == {("F-2", "listing_restricted")}
    ended = {key: datetime.fromisoformat(p["ended_at"]) for key, p in fogbound.items()}
    assert ended[("F-1", "campaign_ban")] == t(7, 9)  # when F-3's ban starts
    assert (
        fogbound[("F-3", "campaign_ban")]["started_at"]
        == fogbound[("F-1", "campaign_ban")]["ended_at"]
    )
    assert ended[("F-4", "listing_restricted")] == t(23, 9)  # the overturn came a day after
    assert ended[("F-5", "traffic_restricted")] == t(40, 9)
    assert views["F-5"]["history"][-1]["at"] == fogbound[("F-5", "traffic_restricted")]["ended_at"]
    assert [e["round"] for e in events["F-4"] if e["type"] == "ticket.reply_overdue"] == [2]
    assert a["shops"][FOGBOUND]["active_points"] == 12  # F-5 alone


def _compare(name: str, got: dict[str, Any], want: dict[str, Any]) -> None:
    for part in want:
        for key in want[part]:
            assert got[part].get(key) == want[part][key], f"{name}: {part} {key}"
        assert got[part].keys() == want[part].keys(), f"{name}: {part}"


def test_ticket_and_punishment_histories_are_the_same_swept_every_minute_or_weeks_late(
    tmp_path: Path,
) -> None:
    scenario = story()
    lines = scenario.lines()
    now = datetime.now(UTC)

    probe, _, _ = _played(lines, "memory://", None, now)  # to find the last deadline
    end = _last_deadline(_everything(probe, now)) + timedelta(days=7)
    assert now - end > timedelta(days=7)  # the daemon's catch-up is weeks late
    ticking, every_minute, minute_fired = _played(lines, "memory://", TICK, end)
    a = _everything(ticking, end)
    late_url = f"sqlite:///{tmp_path / 'late.db'}"
    late, week_late, late_fired = _played(lines, late_url, None, end)
    b = _everything(late, end)
    one_url = f"sqlite:///{tmp_path / 'one-by-one.db'}"
    one_by_one, one_refused, _ = _played(lines, one_url, None, end, batch=1)
    c = _everything(one_by_one, end)
    daemon_url = f"sqlite:///{tmp_path / 'daemon.db'}"
    _, daemon_refused, none_fired = _played(lines, daemon_url, None, None)
    assert none_fired == 0
    d = _everything(_caught_up_by_a_daemon(daemon_url, tmp_path), end)

    _story_is_what_it_claims(a, every_minute, scenario.refused_lines())
    assert minute_fired > 0
    # the week-late run really left the timers to its single sweep: four punishment ends and
    # five ticket deadlines that no later action on the ticket caught up first
    assert late_fired == 9

    assert week_late == one_refused == daemon_refused == every_minute
    _compare("a week late", b, a)
    _compare("a week late, batch 1", c, a)
    _compare("weeks late, by a daemon", d, a)
    rows = _rows(late_url)
    assert rows["tickets"] and rows["punishments"]
    assert _rows(one_url) == rows
    assert _rows(daemon_url) == rows
