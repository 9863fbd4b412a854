"""A case's history does not depend on when the timers are swept (daemon.md, workflows.md).

One story of three weeks at two shops (every kind, silent sellers, chained deadlines, actions
that come a second too late or a second in time, a second case on an order whose first one timed
out) is played three ways, each on a fresh database on a virtual clock:

(a) through ``aftersale.replay.replay``, which fires every deadline before each line;
(b) through the façade, with ``fire_due`` called every simulated minute, as a daemon ticking
    once a minute would;
(c) through the façade with no sweep at all until one single ``fire_due`` a week after the last
    deadline, as after a week-long outage (the façade's own catch-up of an overdue case before
    an action on it is part of live behaviour and stays on).

Every case's history (action, from, to, actor, auto, at, responsibility, overturned), every case
and order as the façade shows them, and every refused line with its code must be the same.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aftersale
from aftersale import CommandRefused, VirtualClock
from aftersale.replay import replay

DAY0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday; the US clocks go forward on 8 March
TICK = timedelta(minutes=1)
US, UK = "shop-harbor", "shop-fogbound"


def t(day: int, hour: int, minute: int = 0, second: int = 0) -> datetime:
    return DAY0 + timedelta(days=day, hours=hour, minutes=minute, seconds=second)


class Story:
    """Scenario lines in the replay format, and which of them the engine must refuse."""

    def __init__(self) -> None:
        self._lines: list[tuple[datetime, int, dict[str, Any], bool]] = []

    def line(self, at: datetime, type_: str, *, refused: bool = False, **fields: Any) -> None:
        entry = {"at": at.isoformat().replace("+00:00", "Z"), "type": type_, **fields}
        self._lines.append((at, len(self._lines), entry, refused))

    def order(
        self,
        order_id: str,
        *,
        amount: str = "30.00",
        shipped: datetime | None = None,
        delivered: datetime | None = None,
        shop: str = US,
    ) -> None:
        market, currency = ("US", "USD") if shop == US else ("UK", "GBP")
        self.line(
            t(0, 8),
            "order.paid",
            order_id=order_id,
            shop_id=shop,
            buyer_id=f"buyer-{order_id}",
            market=market,
            currency=currency,
            amount=amount,
        )
        if shipped is not None:
            self.line(shipped, "order.shipped", order_id=order_id, tracking=f"TRK-{order_id}")
        if delivered is not None:
            self.line(delivered, "order.delivered", order_id=order_id)

    def open(self, at: datetime, case_id: str, order_id: str, kind: str, reason: str) -> None:
        actor = "buyer"
        self.line(
            at,
            "case.open",
            case_id=case_id,
            order_id=order_id,
            kind=kind,
            actor=actor,
            reason=reason,
        )

    def act(
        self,
        at: datetime,
        case_id: str,
        action: str,
        actor: str,
        *,
        refused: bool = False,
        **fields: Any,
    ) -> None:
        self.line(
            at,
            "case.action",
            refused=refused,
            case_id=case_id,
            action=action,
            actor=actor,
            **fields,
        )

    def lines(self) -> list[dict[str, Any]]:
        return [entry for _, _, entry, _ in sorted(self._lines, key=lambda x: (x[0], x[1]))]

    def refused_lines(self) -> set[int]:
        ordered = sorted(self._lines, key=lambda x: (x[0], x[1]))
        return {number for number, item in enumerate(ordered, start=1) if item[3]}


def story() -> Story:
    s = Story()
    photo = [{"kind": "photo", "uri": "https://cdn.example/ev/1.jpg"}]
    # cancellations: unshipped orders
    for order_id in ("O-CX1", "O-CX2", "O-CX3", "O-CX4", "O-CX6", "O-CX7", "O-CX9"):
        s.order(order_id)
    s.order("O-CX5", shipped=t(1, 8))  # shipping closes the pending request
    s.order("O-CX8")
    # shipped after the review deadline: the order was already cancelled by the timeout
    s.line(t(3, 12), "order.shipped", refused=True, order_id="O-CX8", tracking="TRK-O-CX8")
    s.open(t(0, 8, 40), "CX-1", "O-CX1", "cancellation", "ordered_by_mistake")  # free hour
    s.open(t(0, 12, 0, 17), "CX-2", "O-CX2", "cancellation", "changed_mind")  # silent seller
    s.open(t(0, 13), "CX-3", "O-CX3", "cancellation", "found_cheaper")
    s.act(t(1, 10), "CX-3", "approve", "seller")
    s.open(t(0, 13), "CX-4", "O-CX4", "cancellation", "changed_mind")
    s.act(t(0, 15), "CX-4", "reject", "seller", reject_reason="order_packed_awaiting_pickup")
    s.open(t(0, 14), "CX-5", "O-CX5", "cancellation", "wrong_address")
    s.open(t(0, 14, 30, 45), "CX-6", "O-CX6", "cancellation", "changed_mind")
    s.act(t(2, 14, 30, 45), "CX-6", "approve", "seller", refused=True)  # at the deadline: late
    s.open(t(0, 14, 30, 45), "CX-7", "O-CX7", "cancellation", "changed_mind")  # same deadline
    s.open(t(1, 10, 5, 5), "CX-8", "O-CX8", "cancellation", "changed_mind")
    s.open(t(0, 16), "CX-9", "O-CX9", "cancellation", "changed_mind")
    s.act(t(2, 15, 59, 59), "CX-9", "approve", "seller")  # a second before the deadline: wins
    # refund only: shipped orders
    for order_id in ("O-RF1", "O-RF2", "O-RF3", "O-RF5", "O-RF6", "O-RF7"):
        s.order(order_id, shipped=t(1, 10))
    s.order("O-RF4", amount="250.00", shipped=t(1, 10))  # high value: 4 business days
    s.order("O-RF8")  # never shipped: a refund without return is not possible yet
    s.open(t(2, 9, 0, 5), "RF-1", "O-RF1", "refund_only", "not_received")  # silent seller
    s.open(t(2, 10), "RF-2", "O-RF2", "refund_only", "damaged")
    s.act(t(2, 12), "RF-2", "reject", "seller", reject_reason="delivered_per_carrier")
    # the buyer lets the rejection close (escalation_timeout), then opens another case later
    s.open(t(6, 8), "RF-2B", "O-RF2", "refund_only", "missing_item")  # silent seller again
    s.open(t(2, 11), "RF-3", "O-RF3", "refund_only", "not_received")
    s.act(t(2, 13), "RF-3", "request_pod", "platform")  # no proof comes: pod_timeout
    s.open(t(4, 15), "RF-4", "O-RF4", "refund_only", "defective")  # Friday, across the DST
    s.open(t(2, 9), "RF-5", "O-RF5", "refund_only", "damaged")
    s.act(t(2, 10), "RF-5", "reject", "seller", reject_reason="delivered_per_carrier")
    s.act(t(3, 9), "RF-5", "escalate", "buyer", note="the box was crushed")
    s.act(t(4, 9), "RF-5", "rule", "platform", outcome="deny")
    s.open(t(2, 9, 30), "RF-6", "O-RF6", "refund_only", "damaged")
    s.act(t(2, 12), "RF-6", "reject", "seller", reject_reason="delivered_per_carrier")
    s.act(t(4, 13), "RF-6", "escalate", "buyer", refused=True)  # an hour after it closed
    s.open(t(2, 14), "RF-7", "O-RF7", "refund_only", "not_received")
    s.act(t(2, 15), "RF-7", "request_pod", "platform")
    s.act(
        t(3, 9),
        "RF-7",
        "submit_pod",
        "seller",
        evidence=[{"kind": "tracking", "uri": "https://carrier.example/t/1"}],
    )
    s.act(t(3, 15), "RF-7", "rule", "platform", outcome="refund")
    s.line(
        t(0, 11),
        "case.open",
        refused=True,
        case_id="RF-8",
        order_id="O-RF8",
        kind="refund_only",
        actor="buyer",
        reason="not_received",
    )
    # return and refund: delivered orders
    for order_id in ("O-RR1", "O-RR2", "O-RR3", "O-RR4", "O-RR5", "O-RR6", "O-RR8"):
        s.order(order_id, amount="45.00", shipped=t(1, 10), delivered=t(2, 10))
    s.order("O-RR7", amount="150.00", shipped=t(1, 10), delivered=t(2, 10), shop=UK)
    s.open(t(3, 9), "RR-1", "O-RR1", "return_refund", "damaged")
    s.act(t(3, 10), "RR-1", "approve", "seller")
    s.act(t(4, 9), "RR-1", "ship_return", "buyer", tracking="RET-1")  # then a silent seller
    s.open(t(3, 9, 30, 30), "RR-2", "O-RR2", "return_refund", "defective")  # silent seller
    s.act(t(6, 8), "RR-2", "ship_return", "buyer", tracking="RET-2")  # after auto-approval
    s.open(t(3, 11), "RR-3", "O-RR3", "return_refund", "wrong_item")
    s.act(t(3, 12), "RR-3", "approve", "seller")  # the buyer never ships it back
    s.open(t(3, 12), "RR-4", "O-RR4", "return_refund", "not_as_described")
    s.act(t(3, 13), "RR-4", "approve", "seller")
    s.act(t(4, 10), "RR-4", "ship_return", "buyer", tracking="RET-4")
    s.act(t(6, 10), "RR-4", "confirm_receipt", "seller")
    s.act(t(6, 11), "RR-4", "reject_return", "seller", reject_reason="item_used", evidence=photo)
    s.open(t(3, 13), "RR-5", "O-RR5", "return_refund", "not_as_described")
    s.act(t(3, 14), "RR-5", "reject", "seller", reject_reason="description_matches_item")
    s.open(t(3, 14), "RR-6", "O-RR6", "return_refund", "damaged")
    s.act(t(3, 15), "RR-6", "approve", "seller")
    s.act(t(8, 15, 1), "RR-6", "ship_return", "buyer", refused=True, tracking="RET-6")  # late
    s.open(t(3, 16), "RR-7", "O-RR7", "return_refund", "defective")  # UK, 150 GBP, silent
    s.open(t(3, 15), "RR-8", "O-RR8", "return_refund", "damaged")
    s.act(t(3, 16), "RR-8", "approve", "seller")
    s.act(t(4, 11), "RR-8", "ship_return", "buyer", tracking="RET-8")
    s.act(t(7, 9), "RR-8", "confirm_receipt", "seller")  # then never refunds
    return s


def _apply(engine: aftersale.AfterSale, line: dict[str, Any]) -> None:
    """One line through the façade, as a host would call it."""
    fields = {key: value for key, value in line.items() if key not in ("at", "type")}
    at = datetime.fromisoformat(line["at"])
    kind = line["type"]
    if kind == "order.paid":
        engine.order_paid(**fields, at=at)
    elif kind == "order.shipped":
        engine.order_shipped(**fields, at=at)
    elif kind == "order.delivered":
        engine.order_delivered(**fields, at=at)
    elif kind == "case.open":
        engine.open_case(**fields, at=at)
    elif kind == "case.action":
        engine.act(**fields, at=at)
    else:
        raise AssertionError(f"the story has no {kind} lines")


def _live(
    lines: list[dict[str, Any]], end: datetime, tick: timedelta | None, batch: int = 500
) -> tuple[aftersale.AfterSale, dict[int, str], int, int]:
    """Apply ``lines`` through the façade of a fresh in-memory database; ``fire_due`` every
    ``tick`` (None: once, at ``end``), claiming ``batch`` deadlines at a time.

    Returns the engine, the refused lines with their codes, how many fire_due calls were made
    and how many timeouts they took (the façade's own catch-up before an action not counted).
    """
    clock = VirtualClock(datetime.fromisoformat(lines[0]["at"]))
    engine = aftersale.connect("sqlite://", clock=clock, require_identity=False)
    refused: dict[int, str] = {}
    calls = fired = 0

    def sweep_until(instant: datetime) -> None:
        nonlocal calls, fired
        while tick is not None and clock.now() + tick <= instant:
            clock.move_to(clock.now() + tick)
            fired += engine.fire_due(batch=batch)
            calls += 1

    for number, line in enumerate(lines, start=1):
        at = datetime.fromisoformat(line["at"])
        sweep_until(at)
        clock.move_to(at)
        try:
            _apply(engine, line)
        except CommandRefused as error:
            refused[number] = error.code
    sweep_until(end)
    clock.move_to(end)
    fired += engine.fire_due(end, batch=batch)
    calls += 1
    return engine, refused, calls, fired


def _everything(engine: aftersale.AfterSale) -> dict[str, Any]:
    """What the façade shows of every case (with its history) and every order."""
    cases = {view["case_id"]: engine.case(view["case_id"]) for view in engine.cases(limit=10_000)}
    orders = {view["order_id"]: engine.order(view["order_id"]) for view in cases.values()}
    return {"cases": cases, "orders": orders}


def _timeouts(everything: dict[str, Any]) -> list[datetime]:
    return [
        datetime.fromisoformat(step["at"])
        for case in everything["cases"].values()
        for step in case["history"]
        if step["actor"] == "system" and step["action"].endswith("_timeout")
    ]


def test_histories_are_identical_whether_timers_fire_in_replay_every_minute_or_a_week_late(
    tmp_path: Path,
) -> None:
    scenario = story()
    lines = scenario.lines()
    text = [json.dumps(line) for line in lines]

    # the last deadline of the story, found by a first replay far past its end
    probe_url = f"sqlite:///{tmp_path / 'probe.db'}"
    replay(text, db_url=probe_url, until=t(60, 0))
    probe = _everything(aftersale.connect(probe_url))
    assert all(case["deadline_at"] is None for case in probe["cases"].values())
    end = max(_timeouts(probe)) + timedelta(days=7)

    replayed_url = f"sqlite:///{tmp_path / 'replayed.db'}"
    started = time.monotonic()
    replayed = replay(text, db_url=replayed_url, until=end)
    replay_seconds = time.monotonic() - started
    by_replay = {error.line: error.code for error in replayed.errors}
    started = time.monotonic()
    ticking, every_minute, minute_calls, minute_fired = _live(lines, end, TICK)
    minute_seconds = time.monotonic() - started
    started = time.monotonic()
    late, week_late, late_calls, late_fired = _live(lines, end, None)
    late_seconds = time.monotonic() - started
    # the week-late sweep again, one deadline per batch: chains cross batch boundaries
    one_by_one, one_by_one_refused, _, _ = _live(lines, end, None, batch=1)
    a = _everything(aftersale.connect(replayed_url))
    b, c, d = _everything(ticking), _everything(late), _everything(one_by_one)

    # the story is what it claims to be
    assert set(by_replay) == scenario.refused_lines(), replayed.errors
    assert set(by_replay.values()) == {"not_allowed", "not_eligible"}
    actions = {step["action"] for case in a["cases"].values() for step in case["history"]}
    assert {
        "auto_approve",
        "order_shipped",
        "review_timeout",
        "pod_timeout",
        "escalation_timeout",
        "ship_back_timeout",
        "receipt_timeout",
        "refund_timeout",
    } <= actions
    rr1 = a["cases"]["RR-1"]["history"]
    assert [step["action"] for step in rr1] == [
        "open",
        "approve",
        "ship_return",
        "receipt_timeout",
        "refund_timeout",
    ]
    shipped, received, refunded = (datetime.fromisoformat(step["at"]) for step in rr1[2:])
    assert (received - shipped, refunded - received) == (timedelta(days=8), timedelta(days=2))
    assert [step["action"] for step in a["cases"]["RR-2"]["history"]] == [
        "open",
        "review_timeout",
        "ship_return",
        "receipt_timeout",
        "refund_timeout",
    ]
    assert [step["action"] for step in a["cases"]["RF-2"]["history"]][-1] == "escalation_timeout"
    assert a["cases"]["RF-2B"]["state"] == "refunded"
    assert late_fired >= 10  # the week-late run really left the timers to its single sweep
    assert minute_fired > 0 and late_calls == 1

    # and it comes out the same whichever way the timers were taken
    assert every_minute == by_replay
    assert week_late == by_replay
    assert one_by_one_refused == by_replay
    for name in ("cases", "orders"):
        for key in a[name]:
            assert b[name].get(key) == a[name][key], f"every minute: {name} {key}"
            assert c[name].get(key) == a[name][key], f"a week late: {name} {key}"
            assert d[name].get(key) == a[name][key], f"a week late, batch 1: {name} {key}"
        assert a[name].keys() == b[name].keys() == c[name].keys() == d[name].keys()
    print(
        f"replay {replay_seconds:.1f} s; every minute {minute_calls} fire_due calls took "
        f"{minute_fired} timeouts in {minute_seconds:.1f} s; a week late one call took "
        f"{late_fired} in {late_seconds:.1f} s"
    )
