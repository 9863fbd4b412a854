"""Histories do not depend on when timers are swept; reminders come once per seller deadline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from importlib.resources import files
from pathlib import Path
from typing import Any

import aftersale
from aftersale import VirtualClock
from aftersale.replay import _appliers, _arguments, replay

SCENARIOS = ("cancellations", "refund_only", "returns")


def _lines() -> list[dict[str, Any]]:
    out = []
    for name in SCENARIOS:
        text = (files("aftersale.scenarios") / f"{name}.jsonl").read_text("utf-8")
        out += [json.loads(x) for x in text.splitlines() if x.strip() and not x.startswith("#")]
    return sorted(out, key=lambda line: datetime.fromisoformat(line["at"]).astimezone(UTC))


def _histories(engine: aftersale.AfterSale) -> dict[str, list[tuple[Any, ...]]]:
    return {
        case["case_id"]: [
            (h["action"], h["from"], h["to"], h["actor"], h["at"])
            for h in engine.case(case["case_id"])["history"]
        ]
        for case in engine.cases()
    }


def _live(sweep_every: timedelta | None, end: datetime) -> dict[str, list[tuple[Any, ...]]]:
    """Apply the lines through the façade, sweeping every ``sweep_every`` (None: only at end)."""
    lines = _lines()
    clock = VirtualClock(datetime.fromisoformat(lines[0]["at"]).astimezone(UTC))
    engine = aftersale.connect("sqlite://", clock=clock, require_identity=False)
    appliers = _appliers(engine)
    for line in lines:
        at = datetime.fromisoformat(line["at"]).astimezone(UTC)
        while sweep_every is not None and clock.now() + sweep_every <= at:
            clock.move_to(clock.now() + sweep_every)
            engine.fire_due()
        clock.move_to(at)
        appliers[line["type"]](**_arguments(line), at=at)
    clock.move_to(end)
    engine.fire_due()
    return _histories(engine)


def test_the_same_history_whether_timers_tick_often_or_catch_up_a_week_late() -> None:
    end = datetime(2026, 4, 7, tzinfo=UTC)  # a week after the last deadline
    replayed = replay([json.dumps(line) for line in _lines()], until=end)
    by_replay = {
        case["case_id"]: [
            (h["action"], h["from"], h["to"], h["actor"], h["at"]) for h in case["history"]
        ]
        for case in replayed.cases
    }
    every_ten_minutes = _live(timedelta(minutes=10), end)
    once_at_the_end = _live(None, end)
    assert by_replay == every_ten_minutes == once_at_the_end
    assert sum(len(h) for h in by_replay.values()) > 60


def test_daemon_once_fires_what_is_due_and_reminds_each_seller_deadline_once(
    tmp_path: Path,
) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    now = datetime.now(UTC)
    engine = aftersale.connect(url, require_identity=False)
    engine.order_paid(
        "US-1", "shop-a", "buyer-ada", "US", "USD", "30.00", at=now - timedelta(days=9)
    )
    engine.order_shipped("US-1", at=now - timedelta(days=8))
    engine.open_case(
        "RF-1", "US-1", "refund_only", "buyer", "not_received", at=now - timedelta(days=3)
    )  # due a day ago
    engine.order_paid(
        "US-2", "shop-a", "buyer-ben", "US", "USD", "30.00", at=now - timedelta(days=9)
    )
    engine.order_shipped("US-2", at=now - timedelta(days=8))
    engine.open_case(
        "RF-2", "US-2", "refund_only", "buyer", "not_received", at=now - timedelta(hours=40)
    )  # the seller has 8 hours left
    engine.order_paid(
        "US-3", "shop-a", "buyer-cy", "US", "USD", "30.00", at=now - timedelta(days=9)
    )
    engine.order_shipped("US-3", at=now - timedelta(days=8))
    engine.order_delivered("US-3", at=now - timedelta(days=7))
    engine.open_case(
        "RR-3", "US-3", "return_refund", "buyer", "damaged", at=now - timedelta(days=4)
    )
    engine.act("RR-3", "approve", "seller", at=now - timedelta(days=4, hours=-1))
    # RR-3 now waits on the buyer (ship back within 5 days): no reminder for the seller
    env = {**os.environ, "AFTERSALE_DB_URL": url}

    def once() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aftersale", "daemon", "--once"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    first, second = once(), once()
    assert (first.returncode, second.returncode) == (0, 0)
    assert '"fired": 1' in first.stderr and '"reminded": 1' in first.stderr
    assert '"fired": 0' in second.stderr and '"reminded": 0' in second.stderr
    events = engine.events_after(0)
    reminders = [e for e in events if e["type"] == "deadline.approaching"]
    assert [(e["case_id"], e["waiting_for"]) for e in reminders] == [("RF-2", "seller")]
    assert engine.case("RF-1")["state"] == "refunded"
    assert engine.case("RF-2")["state"] == "pending_review"
