"""Offers across a daemon outage (lines.md): the seller's clock stops while an offer is open and
is given back when it lapses, at the lapse's own instant, so a case's history and its restored
deadline do not depend on when the timers were swept.

One story of partial-refund offers on orders with lines (two cases of one order whose offers
lapse at the same instant, a declined offer then an accepted one, a high-value review counted in
business days, an offer on a returned item, a withdrawal, an answer that comes at the lapse) is
played three ways, the story's instants three weeks in the past:

(a) through ``aftersale.replay.replay``, which fires every deadline before each line;
(b) through the façade, with ``fire_due`` called every simulated minute;
(c) through the façade with no sweep at all, then a real ``aftersale daemon`` process on the
    database file, which catches everything up a week or more late.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aftersale
from aftersale import VirtualClock
from aftersale.replay import replay
from tests.daemon.helpers import Daemons, wait_for
from tests.daemon.test_schedule_independence import Story, _apply, _everything, _live

SHOP = "shop-harbor"
TICK = timedelta(minutes=1)
# the story's day 0, three weeks ago: its last deadline is more than a week before now
DAY0 = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=21)
PAIR = [
    {"line_id": "A", "sku": "MUG", "quantity": 2, "unit_price": "15.00"},
    {"line_id": "B", "sku": "TEAPOT", "quantity": 1, "unit_price": "30.00"},
]


def t(day: int, hour: int, minute: int = 0) -> datetime:
    return DAY0 + timedelta(days=day, hours=hour, minutes=minute)


def _order(s: Story, order_id: str, amount: str, **fields: Any) -> None:
    s.line(
        t(0, 8),
        "order.paid",
        order_id=order_id,
        shop_id=SHOP,
        buyer_id=f"buyer-{order_id}",
        market="US",
        currency="USD",
        amount=amount,
        **fields,
    )
    s.line(t(0, 10), "order.shipped", order_id=order_id, tracking=f"TRK-{order_id}")
    s.line(t(0, 12), "order.delivered", order_id=order_id)


def _open(s: Story, at: datetime, case_id: str, order_id: str, kind: str, **fields: Any) -> None:
    s.line(
        at,
        "case.open",
        case_id=case_id,
        order_id=order_id,
        kind=kind,
        actor="buyer",
        reason="damaged",
        **fields,
    )


def story() -> Story:
    s = Story()
    _order(s, "O-1", "65.00", lines=PAIR, shipping_fee="5.00")
    # two cases on the two lines of one order, each offered at 20:00: both lapse at once
    _open(s, t(1, 9), "OF-1", "O-1", "refund_only", lines=[{"line_id": "A", "quantity": 2}])
    _open(s, t(1, 9), "OF-2", "O-1", "return_refund", lines=[{"line_id": "B", "quantity": 1}])
    s.act(t(1, 20), "OF-1", "offer_partial_refund", "seller", amount="10.00")
    s.act(t(1, 20), "OF-2", "offer_partial_refund", "seller", amount="12.00")
    # declined, then offered again and accepted
    _order(s, "O-2", "40.00")
    _open(s, t(1, 10), "OF-3", "O-2", "refund_only")
    s.act(t(1, 11), "OF-3", "offer_partial_refund", "seller", amount="15.00")
    s.act(t(2, 9), "OF-3", "decline_offer", "buyer")
    s.act(t(2, 10), "OF-3", "offer_partial_refund", "seller", amount="20.00")
    s.act(t(2, 11), "OF-3", "accept_offer", "buyer")
    # high value: the review deadline is in business days, and comes back as an exact duration
    _order(s, "O-3", "300.00")
    _open(s, t(1, 15), "OF-4", "O-3", "refund_only")
    s.act(t(2, 16, 30), "OF-4", "offer_partial_refund", "seller", amount="150.00")
    s.act(t(3, 16, 30), "OF-4", "accept_offer", "buyer", refused=True)  # at the lapse: late
    # an offer on the returned item, made from return_received, lapses; refund_timeout refunds
    _order(s, "O-4", "45.00")
    _open(s, t(1, 10), "OF-5", "O-4", "return_refund")
    s.act(t(1, 11), "OF-5", "approve", "seller")
    s.act(t(1, 12), "OF-5", "ship_return", "buyer", tracking="RET-5", shipping_cost="6.00")
    s.act(t(2, 9), "OF-5", "confirm_receipt", "seller")
    s.act(t(3, 9), "OF-5", "offer_partial_refund", "seller", amount="20.00")
    # withdrawn while the offer is open
    _order(s, "O-5", "25.00")
    _open(s, t(1, 13), "OF-6", "O-5", "refund_only")
    s.act(t(1, 14), "OF-6", "offer_partial_refund", "seller", amount="5.00")
    s.act(t(2, 13, 59), "OF-6", "withdraw", "buyer")
    return s


def _late_by_a_daemon(
    lines: list[dict[str, Any]], url: str, logs: Path
) -> tuple[aftersale.AfterSale, dict[int, str]]:
    """The story through the façade with no sweep, then a real daemon process catching up;
    the engine and the refused lines with their codes."""
    clock = VirtualClock(datetime.fromisoformat(lines[0]["at"]))
    engine = aftersale.connect(url, clock=clock, require_identity=False)
    refused: dict[int, str] = {}
    for number, line in enumerate(lines, start=1):
        clock.move_to(datetime.fromisoformat(line["at"]))
        try:
            _apply(engine, line)
        except aftersale.CommandRefused as error:
            refused[number] = error.code
    assert engine.storage.reads.any_due(datetime.now(UTC))  # the outage left work undone
    daemons = Daemons(url, logs)
    try:
        daemon = daemons.start("--interval", "0.2")
        daemons.wait_started(daemon)
        wait_for(
            lambda: not engine.storage.reads.any_due(datetime.now(UTC)),
            timeout=60,
            what="the daemon to catch up",
        )
        assert daemons.stop(daemon) == 0, daemons.log(daemon)
        assert daemons.tracebacks(daemon) == []
    finally:
        daemons.close()
    return aftersale.connect(url, require_identity=False), refused


def _transitions(engine: aftersale.AfterSale, case_id: str) -> list[dict[str, Any]]:
    """The case's transition events: each with the deadline it left the case with."""
    return [e for e in engine.log(0, 10_000) if e["case_id"] == case_id]


def _clock_given_back(engine: aftersale.AfterSale, case_id: str) -> None:
    """The offer stopped the seller's clock; its lapse gave back exactly what was left."""
    steps = _transitions(engine, case_id)
    (offer,) = [n for n, e in enumerate(steps) if e["action"] == "offer_partial_refund"]
    before = datetime.fromisoformat(steps[offer - 1]["deadline_at"])
    offered = datetime.fromisoformat(steps[offer]["at"])
    assert datetime.fromisoformat(steps[offer]["deadline_at"]) == offered + timedelta(days=1)
    lapse = steps[offer + 1]
    assert lapse["action"] == "offer_timeout"
    assert datetime.fromisoformat(lapse["at"]) == offered + timedelta(days=1)
    restored = datetime.fromisoformat(lapse["deadline_at"])
    assert restored == offered + timedelta(days=1) + (before - offered), case_id


def test_offers_lapse_and_give_the_clock_back_the_same_whether_swept_every_minute_or_late(
    tmp_path: Path,
) -> None:
    scenario = story()
    lines = scenario.lines()
    now = datetime.now(UTC)

    replayed_url = f"sqlite:///{tmp_path / 'replayed.db'}"
    replayed = replay([json.dumps(line) for line in lines], db_url=replayed_url, until=now)
    by_replay = {error.line: error.code for error in replayed.errors}
    replayed_engine = aftersale.connect(replayed_url)
    a = _everything(replayed_engine)
    assert all(case["deadline_at"] is None for case in a["cases"].values())
    last_timeout = max(
        datetime.fromisoformat(step["at"])
        for case in a["cases"].values()
        for step in case["history"]
        if step["auto"]
    )
    assert now - last_timeout > timedelta(days=7)

    ticking, every_minute, _, minute_fired = _live(lines, last_timeout + timedelta(hours=1), TICK)
    ticking.clock.move_to(now)  # type: ignore[attr-defined]
    assert ticking.fire_due(now) == 0
    b = _everything(ticking)
    late, late_refused = _late_by_a_daemon(lines, f"sqlite:///{tmp_path / 'late.db'}", tmp_path)
    c = _everything(late)

    # the story is what it claims to be
    assert by_replay == dict.fromkeys(scenario.refused_lines(), "not_allowed")
    cases = a["cases"]
    assert [step["action"] for step in cases["OF-1"]["history"]] == [
        "open",
        "offer_partial_refund",
        "offer_timeout",
        "review_timeout",
    ]
    assert [step["action"] for step in cases["OF-2"]["history"]][2:] == [
        "offer_timeout",
        "review_timeout",
        "ship_back_timeout",
    ]
    assert [o["outcome"] for o in cases["OF-3"]["offers"]] == ["declined", "accepted"]
    assert cases["OF-3"]["refund"]["items"] == "20.00"
    assert cases["OF-4"]["offers"][0]["outcome"] == "lapsed"
    assert cases["OF-5"]["refund"]["return_shipping"] == "6.00"
    assert [o["outcome"] for o in cases["OF-6"]["offers"]] == ["withdrawn"]
    for case_id in ("OF-1", "OF-2", "OF-4", "OF-5"):
        for engine in (replayed_engine, ticking, late):
            _clock_given_back(engine, case_id)
    assert minute_fired > 0

    # and it comes out the same whichever way the timers were taken
    assert every_minute == late_refused == by_replay
    for name in ("cases", "orders"):
        assert b[name] == a[name], f"every minute: {name}"
        assert c[name] == a[name], f"late, by a daemon: {name}"
