"""The engine's clock is the authority on time: a host's ``at`` may not run ahead of it.

A call dated in the clock's future, accepted or refused, once took the case's timeouts up to
that instant: money moved days before its deadline. Now an ``at`` more than the skew ahead of
the clock is refused with nothing written, one within the skew takes effect at the clock's
now, and who the caller is gets checked before anything (overdue timeouts included) is
written.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import aftersale
from aftersale import Forbidden, InvalidInput, VirtualClock
from aftersale.clock import iso
from tests.conftest import MONDAY_9AM

PAID = MONDAY_9AM
SHIPPED = PAID + timedelta(days=1)
DELIVERED = PAID + timedelta(days=2)
OPENED = DELIVERED + timedelta(hours=1)
REVIEW_DEADLINE = OPENED + timedelta(days=2)
SHOP, BUYER = "shop-lumen-audio", "buyer-ada"


def _engine(clock: VirtualClock, url: str = "memory://", **options: object) -> aftersale.AfterSale:
    engine = aftersale.connect(url, clock=clock, **options)  # type: ignore[arg-type]
    for instant, record in (
        (PAID, lambda: engine.order_paid("US-1", SHOP, BUYER, "US", "USD", "59.90", at=PAID)),
        (SHIPPED, lambda: engine.order_shipped("US-1", "1Z999", at=SHIPPED)),
        (DELIVERED, lambda: engine.order_delivered("US-1", at=DELIVERED)),
        (
            OPENED,
            lambda: engine.open_case(
                "RR-1", "US-1", "return_refund", "buyer", "damaged", actor_id=BUYER, at=OPENED
            ),
        ),
    ):
        clock.move_to(instant)  # the host reports each fact as it happens
        record()
    return engine


def _written(engine: aftersale.AfterSale) -> int:
    return len(engine.events_after(0, 10_000))


def test_a_refused_strangers_call_dated_weeks_ahead_takes_no_timeout() -> None:
    """The outside finding: a stranger's withdraw dated three weeks ahead auto-refunded the
    case 1.5 days before its review deadline."""
    clock = VirtualClock(OPENED)
    engine = _engine(clock)
    clock.move_to(OPENED + timedelta(hours=12))
    before = _written(engine)
    three_weeks = iso(OPENED + timedelta(weeks=3))
    with pytest.raises(InvalidInput, match="later than the engine clock's now") as refused:
        engine.act("RR-1", "withdraw", "buyer", actor_id="buyer-mallory", at=three_weeks)
    assert iso(clock.now()) in str(refused.value)
    with pytest.raises(InvalidInput, match="later than the engine clock's now"):
        engine.catch_up("RR-1", at=three_weeks)
    with pytest.raises(InvalidInput, match=r"until .* later than the engine clock's now"):
        engine.fire_due(three_weeks)
    assert _written(engine) == before
    assert engine.case("RR-1")["state"] == "pending_review"


def test_a_forbidden_caller_writes_nothing_not_even_an_overdue_timeout() -> None:
    """Identity is checked before anything is written: the overdue timeout waits for the
    daemon or for a caller who may act on the case."""
    clock = VirtualClock(OPENED)
    engine = _engine(clock)
    clock.move_to(REVIEW_DEADLINE + timedelta(hours=1))
    before = _written(engine)
    with pytest.raises(Forbidden):
        engine.act("RR-1", "withdraw", "buyer", actor_id="buyer-mallory")
    with pytest.raises(Forbidden):
        engine.act("RR-1", "approve", "buyer", actor_id=BUYER)  # a buyer may not approve
    assert _written(engine) == before
    assert engine.catch_up("RR-1")["state"] == "awaiting_return_shipment"  # auto-approved


@pytest.mark.parametrize("ahead", [timedelta(seconds=5, microseconds=1), timedelta(days=1)])
def test_an_instant_beyond_the_skew_is_refused_for_every_command(ahead: timedelta) -> None:
    clock = VirtualClock(OPENED)
    engine = _engine(clock)
    later = iso(clock.now() + ahead)
    calls = [
        lambda: engine.order_paid("US-2", SHOP, BUYER, "US", "USD", "10.00", at=later),
        lambda: engine.order_shipped("US-1", "1Z999", at=later),
        lambda: engine.review_posted("US-1", 4, at=later),
        lambda: engine.complaint_filed("US-1", at=later),
        lambda: engine.message_received("M-1", SHOP, "US-1", at=later),
        lambda: engine.act("RR-1", "approve", "seller", actor_id=SHOP, at=later),
        lambda: engine.open_case(
            "RR-2", "US-1", "return_refund", "buyer", "damaged", actor_id=BUYER, at=later
        ),
    ]
    before = _written(engine)
    for call in calls:
        with pytest.raises(InvalidInput, match="later than the engine clock's now"):
            call()
    assert _written(engine) == before


def test_an_instant_within_the_skew_takes_effect_at_the_clocks_now_before_the_deadline() -> None:
    """Two seconds before the deadline by the engine's clock, a seller's approval dated two
    seconds after it (the host's clock runs ahead) is an approval, recorded at the clock's
    now: the timeout was not yet due, and no later command finds the case in its future."""
    clock = VirtualClock(OPENED)
    engine = _engine(clock)
    clock.move_to(REVIEW_DEADLINE - timedelta(seconds=2))
    view = engine.act(
        "RR-1",
        "approve",
        "seller",
        actor_id=SHOP,
        at=iso(REVIEW_DEADLINE + timedelta(seconds=2)),
    )
    assert view["state"] == "awaiting_return_shipment"
    history = engine.case("RR-1")["history"]
    assert [(step["action"], step["at"]) for step in history][-1] == (
        "approve",
        iso(REVIEW_DEADLINE - timedelta(seconds=2)),
    )
    # the next command, at the clock's now, is not out of order
    engine.act("RR-1", "ship_return", "buyer", actor_id=BUYER, tracking="RET-1")


def test_the_skew_is_the_hosts_to_set_and_is_checked() -> None:
    clock = VirtualClock(OPENED)
    strict = _engine(clock, clock_skew=timedelta(0))
    with pytest.raises(InvalidInput, match="0 s at most"):
        strict.complaint_filed("US-1", at=iso(OPENED + timedelta(microseconds=1)))
    for bad in (timedelta(hours=2), timedelta(seconds=-1), 5):
        with pytest.raises(InvalidInput, match="clock_skew"):
            aftersale.connect("memory://", clock=clock, clock_skew=bad)  # type: ignore[arg-type]


def test_the_platform_names_its_operator_when_the_host_requires_it() -> None:
    clock = VirtualClock(OPENED)
    engine = _engine(clock, require_platform_identity=True)
    engine.act("RR-1", "reject", "seller", actor_id=SHOP, reject_reason="item_used")
    engine.act("RR-1", "escalate", "buyer", actor_id=BUYER, note="it arrived broken")
    with pytest.raises(InvalidInput, match="actor_id is required for the platform"):
        engine.act("RR-1", "rule", "platform", outcome="refund", responsibility="seller")
    engine.act(
        "RR-1", "rule", "platform", actor_id="ops-lin", outcome="refund", responsibility="seller"
    )
    ruled = [e for e in engine.events_after(0, 10_000) if e.get("action") == "rule"]
    assert [e["actor_id"] for e in ruled] == ["ops-lin"]


def test_the_cli_refuses_an_at_ahead_of_the_clock(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'aftersale.db'}"
    engine = _engine(VirtualClock(OPENED), url)
    engine.storage.engine.dispose()  # type: ignore[attr-defined]
    ahead = "2999-01-01T00:00:00Z"
    result = subprocess.run(
        [
            *(sys.executable, "-m", "aftersale", "case", "act", "RR-1", "approve"),
            *("--actor", "seller", "--at", ahead, "--db", url, "--json"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    error = json.loads(result.stdout)["error"]
    assert error["code"] == "invalid_input" and "engine clock's now" in error["message"]
    assert "Traceback" not in result.stderr


def test_no_snapshot_is_taken_of_a_day_still_to_come() -> None:
    clock = VirtualClock(OPENED)
    engine = _engine(clock)
    with pytest.raises(InvalidInput, match=r"until .* later than the engine clock's now"):
        engine.take_snapshots(iso(OPENED + timedelta(days=90)))
    assert engine.health_history(SHOP) == []
    clock.move_to(OPENED + timedelta(days=3))
    # the local midnights (US Pacific) since the first order, 03-03 to 03-07, that did pass
    assert engine.take_snapshots() == 5


def test_a_clock_at_the_calendars_end_refuses_instants_without_overflowing() -> None:
    clock = VirtualClock(datetime(9999, 12, 31, 23, 59, 58, tzinfo=UTC))
    engine = aftersale.connect("memory://", clock=clock, require_identity=False)
    with pytest.raises(InvalidInput):
        engine.order_paid("US-9", SHOP, BUYER, "US", "USD", "1.00", at="9999-12-31T23:59:59Z")
