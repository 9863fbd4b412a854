"""Tickets and punishments under concurrent writers (governance.md): every change of a shop's
points races on the shop's row, so however commands interleave a milestone starts its
punishment once, an identical issue is one ticket, and a deadline is taken once.

Threads with engines of their own (their own connection pools, as processes would have),
released together by a barrier, on memory, an SQLite file and a real PostgreSQL; and writer
processes on PostgreSQL.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import aftersale
from aftersale import AfterSale, CommandRefused, VirtualClock
from aftersale.clock import next_local_midnight
from tests.conftest import AFTER_EVERY_INSTANT
from tests.integration.racing import at_once
from tests.integration.ticketing import (
    ISSUED,
    TICK,
    appeal,
    events_of,
    governance_config,
    issue,
    shop,
)

THREADS = 4
ROUNDS = 6


class TickingClock:
    """Real time in miniature: each reading is a microsecond after the one before, whichever
    thread reads it, so two commands that run at once take different instants."""

    def __init__(self, start: datetime) -> None:
        self._now = start
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self._now += TICK
            return self._now


def _engines(url: str, clock: Any) -> list[AfterSale]:
    first = aftersale.connect(url, clock=clock, require_identity=False)
    rest = [
        aftersale.connect(url, clock=clock, require_identity=False, migrate=False)
        for _ in range(THREADS - 1)
    ]
    return [first, *rest]


def _started(engine: AfterSale, shop_id: str) -> list[tuple[str, str]]:
    return [
        (e["kind"], e["cause_ticket_id"])
        for e in events_of(engine, "punishment.started")
        if e["shop_id"] == shop_id
    ]


def test_different_tickets_crossing_a_milestone_together_start_one_punishment(
    db_url: str,
) -> None:
    engines = _engines(db_url, VirtualClock(AFTER_EVERY_INSTANT))
    for round_ in range(ROUNDS):
        shop_id = shop(engines[0], f"shop-{round_}")
        if round_ % 2:  # half the shops have no row yet: the racers create it together
            issue(engines[0], f"TK-{round_}-base", shop_id, 8, ISSUED)
        points = 1 if round_ % 2 else 3  # 8 + 4 x 1, or 4 x 3: 12 together
        views = at_once(
            [
                partial(issue, e, f"TK-{shop_id}-{n}", shop_id, points, ISSUED)
                for n, e in enumerate(engines)
            ]
        )
        assert all(isinstance(view, dict) for view in views), views
        started = _started(engines[0], shop_id)
        assert [kind for kind, _ in started] == ["campaign_ban"], started
        assert engines[0].shop(shop_id, at=ISSUED)["active_points"] == 12


def test_the_same_ticket_issued_at_once_is_one_ticket_and_every_call_succeeds(
    db_url: str,
) -> None:
    engines = _engines(db_url, VirtualClock(AFTER_EVERY_INSTANT))
    shop_id = shop(engines[0], "shop-harbour")
    for round_ in range(ROUNDS):
        at = ISSUED + timedelta(minutes=round_)
        views = at_once([partial(issue, e, f"TK-{round_}", shop_id, 2, at) for e in engines])
        assert all(isinstance(view, dict) for view in views), views
        assert len({view["ticket_id"] for view in views}) == 1
    issued = [e for e in events_of(engines[0], "ticket.transition") if e["action"] == "issue"]
    assert len(issued) == ROUNDS
    assert _started(engines[0], shop_id) == [("campaign_ban", f"TK-{ROUNDS - 1}")]  # at 12
    assert engines[0].shop(shop_id, at=ISSUED + timedelta(hours=1))["active_points"] == 12


def test_tickets_issued_at_once_without_an_instant_all_land(db_url: str) -> None:
    """A command with no ``at`` takes the clock's now; losing a race for the shop's row must
    not leave it dated before the winner's change, refused as out of order."""
    engines = _engines(db_url, TickingClock(AFTER_EVERY_INSTANT))
    shop_id = shop(engines[0], "shop-harbour", at=ISSUED)
    for round_ in range(ROUNDS):
        views = at_once(
            [
                partial(e.issue_ticket, f"TK-{round_}-{n}", shop_id, "service", "slow", 1)
                for n, e in enumerate(engines)
            ]
        )
        assert all(isinstance(view, dict) for view in views), views
    assert len(engines[0].tickets(shop_id=shop_id)) == ROUNDS * THREADS


def test_an_appeal_racing_the_sweep_at_the_windows_end_has_exactly_one_winner(
    db_url: str,
) -> None:
    engines = _engines(db_url, VirtualClock(AFTER_EVERY_INSTANT))
    seller, daemon = engines[0], engines[1]
    shop_id = shop(seller, "shop-harbour")
    for round_ in range(ROUNDS):
        ticket_id = f"TK-{round_}"
        issued = ISSUED + timedelta(minutes=round_)
        issue(seller, ticket_id, shop_id, 1, issued)
        end = issued + timedelta(days=30)
        appeal_at = end - TICK if round_ % 2 else end  # a moment before, or at the end
        appealed, taken = at_once(
            [partial(appeal, seller, ticket_id, appeal_at), partial(daemon.fire_due, end)]
        )
        actions = [step["action"] for step in seller.ticket(ticket_id)["history"]]
        assert actions in (["issue", "appeal"], ["issue", "appeal_window_timeout"]), actions
        if actions[-1] == "appeal":
            assert isinstance(appealed, dict) and appeal_at < end
        else:
            assert isinstance(appealed, CommandRefused), appealed
            # the window closed first: at its end, or a moment after the appeal's instant
            assert appealed.code in ("conflict", "not_allowed", "out_of_order"), appealed
            assert isinstance(taken, int)
    moves = [(e["ticket_id"], e["action"]) for e in events_of(seller, "ticket.transition")]
    assert len(moves) == len(set(moves))  # nothing doubled


def test_an_overturn_racing_the_sweep_ending_its_punishment_ends_it_once(db_url: str) -> None:
    engines = _engines(db_url, VirtualClock(AFTER_EVERY_INSTANT))
    platform, daemon = engines[0], engines[1]
    for round_ in range(ROUNDS):
        shop_id = shop(platform, f"shop-{round_}")
        ticket_id = f"TK-{round_}"
        issue(platform, ticket_id, shop_id, 12, ISSUED)
        appeal(platform, ticket_id, ISSUED + timedelta(days=3))  # its SLA after the ban
        ends = ISSUED + timedelta(days=7)
        overturn = partial(platform.act_ticket, ticket_id, "overturn", "platform", at=ends - TICK)
        overturned, _ = at_once([overturn, partial(daemon.fire_due, ends)])
        [punishment] = platform.shop(shop_id, at=ends)["punishments"]
        ended = [e for e in events_of(platform, "punishment.ended") if e["shop_id"] == shop_id]
        assert len(ended) == 1, ended
        if isinstance(overturned, dict):  # the overturn first: ended early, a moment before
            assert punishment["ended_early"] and punishment["ended_at"] == (
                (ends - TICK).isoformat().replace("+00:00", "Z")
            )
        else:  # the sweep first: the punishment ran to its end, which stands
            assert isinstance(overturned, CommandRefused), overturned
            assert overturned.code in ("conflict", "out_of_order"), overturned
            assert not punishment["ended_early"]
            assert platform.ticket(ticket_id)["state"] == "under_review"


def test_sweeps_racing_take_each_deadline_and_punishment_end_once(db_url: str) -> None:
    engines = _engines(db_url, VirtualClock(AFTER_EVERY_INSTANT))
    for n in range(ROUNDS * 2):
        shop_id = shop(engines[0], f"shop-{n}")
        issue(engines[0], f"TK-{n}-ban", shop_id, 12, ISSUED + timedelta(minutes=n))
        issue(engines[0], f"TK-{n}-sla", shop_id, 1, ISSUED + timedelta(minutes=n))
        appeal(engines[0], f"TK-{n}-sla", ISSUED + timedelta(minutes=n))
    taken = at_once([partial(e.fire_due, ISSUED + timedelta(days=40)) for e in engines])
    assert sum(taken) == ROUNDS * 2 * 3, taken  # an appeal window, a ban's end, an SLA
    kinds: dict[str, int] = {}
    for event in engines[0].log(0, 10_000):
        if event["type"] in ("punishment.ended", "ticket.reply_overdue") or (
            event["type"] == "ticket.transition" and event["action"] == "appeal_window_timeout"
        ):
            key = f"{event['type']}/{event.get('ticket_id') or event['cause_ticket_id']}"
            kinds[key] = kinds.get(key, 0) + 1
    assert set(kinds.values()) == {1}, kinds
    assert len(kinds) == sum(taken)


WRITER = """
import sys
from datetime import UTC, datetime, timedelta

import aftersale

url, name, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
engine = aftersale.connect(url, require_identity=False, migrate=False)
refused = []
for n in range(count):
    try:
        engine.issue_ticket(f"TK-{name}-{n}", "shop-harbour", "service", "slow replies", 1)
    except aftersale.CommandRefused as error:
        refused.append(f"{error.code}: {error}")
print("\\n".join(refused))
"""


@pytest.mark.postgres
def test_writer_processes_issuing_tickets_for_one_shop_all_land(pg_url: str) -> None:
    """Three processes on the real clock, each issuing 12 one-point tickets as fast as it
    can: every ticket lands, and the milestones start once each."""
    engine = aftersale.connect(pg_url, require_identity=False)
    shop(engine, "shop-harbour", at=datetime.now(UTC) - timedelta(hours=1))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, pg_url, name, "12"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in ("ada", "ben", "cy")
    ]
    outcomes = [writer.communicate(timeout=120) for writer in writers]
    assert [writer.returncode for writer in writers] == [0, 0, 0], [e for _, e in outcomes]
    assert [out.strip() for out, _ in outcomes] == ["", "", ""]
    assert len(engine.tickets(shop_id="shop-harbour")) == 36
    started = [kind for kind, _ in _started(engine, "shop-harbour")]
    assert started == ["campaign_ban", "listing_restricted", "traffic_restricted"]
    assert engine.shop("shop-harbour")["active_points"] == 36


@pytest.mark.postgres
def test_a_breach_snapshot_racing_a_platform_ticket_keeps_its_snapshot_and_ticket(
    pg_url: str, tmp_path: Path
) -> None:
    """The snapshot's breach ticket and the platform's ticket both write the shop's row: a
    snapshot that lost that race was taken for another daemon's and dropped, with its report,
    its alert and its ticket (11 nights of 20). On PostgreSQL the row is held, so they queue.
    A one-second cooldown lets the rule fire every night."""
    config = governance_config(tmp_path, ('cooldown = "7d"', 'cooldown = "1s"'))
    clock = VirtualClock(AFTER_EVERY_INSTANT)
    setup, platform, daemon = (
        aftersale.connect(
            pg_url, clock=clock, require_identity=False, migrate=n == 0, config_dir=config
        )
        for n in range(3)
    )
    shop_id = shop(setup, "shop-harbour")
    for n in range(10):  # one late of ten: late_dispatch fires
        order_id = f"{shop_id}-O{n}"
        due = ISSUED + timedelta(hours=1)
        setup.order_paid(order_id, shop_id, "b", "US", "USD", "20.00", due, at=ISSUED)
        setup.order_shipped(order_id, "1Z", at=due + timedelta(minutes=1 if n else -1))
    issue(setup, "TK-base", shop_id, 1, ISSUED)  # the shop's row exists
    nights = ROUNDS * 3
    midnight = next_local_midnight(ISSUED, ZoneInfo("America/New_York"))
    daemon.take_snapshots(midnight - TICK, refresh=True)  # it knows the shop
    for night in range(nights):
        taken, _ = at_once(
            [
                partial(daemon.take_snapshots, midnight),
                partial(
                    _after,
                    night % 10 * 0.003,
                    issue,
                    platform,
                    f"TK-{night}",
                    shop_id,
                    1,
                    midnight + timedelta(minutes=1),
                ),
            ]
        )
        assert taken == 1, (night, taken)
        midnight = next_local_midnight(midnight, ZoneInfo("America/New_York"))
    assert len(setup.health_history(shop_id, days=nights + 1)) == nights
    auto = [t for t in setup.tickets(shop_id=shop_id) if t["source"] != "platform"]
    assert len(auto) == nights


def _after(seconds: float, command: Callable[..., Any], *args: Any) -> Any:
    time.sleep(seconds)
    return command(*args)
