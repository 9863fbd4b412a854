"""Faults: a replay killed at random points, and a soak of racing writers and daemons."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

import aftersale
from aftersale import CommandRefused
from aftersale.demo import month_scenario
from tests.daemon.helpers import Daemons, wait_for

KILLS = 5
IDS = {"buyer": "buyer-a", "seller": "shop-a", "platform": None}


def test_a_replay_killed_at_random_points_leaves_a_database_that_verifies(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "month.jsonl"
    scenario.write_text("\n".join(month_scenario(seed=5, orders=400)) + "\n", encoding="utf-8")
    rng = random.Random(20261122)
    for attempt in range(KILLS):
        url = f"sqlite:///{tmp_path / f'crash-{attempt}.db'}"
        aftersale.connect(url)  # schema first, so the kill lands among the cases
        replaying = subprocess.Popen(
            [sys.executable, "-m", "aftersale", "replay", str(scenario), "--db", url],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        watcher = aftersale.connect(url)
        wait_for(lambda w=watcher: bool(w.log(0, 1)), what="the replay writing")
        time.sleep(rng.uniform(0.0, 1.0))  # then kill it at a random point
        replaying.send_signal(signal.SIGKILL)
        replaying.wait(timeout=30)
        engine = aftersale.connect(url)
        assert engine.verify() == [], f"attempt {attempt}"
        assert len(engine.log(0, 10)) > 0, "killed before anything was written"


@pytest.mark.postgres
@pytest.mark.slow
def test_racing_writers_and_two_daemons_leave_only_conflicts_and_a_clean_database(
    pg_url: str, daemons: Daemons
) -> None:
    engine = aftersale.connect(pg_url)
    now = datetime.now(UTC)
    for number in range(100):
        order_id = f"US-{number}"
        engine.order_paid(
            order_id, "shop-a", "buyer-a", "US", "USD", "40.00", at=now - timedelta(days=4)
        )
        engine.order_shipped(order_id, at=now - timedelta(days=3))
        engine.order_delivered(order_id, at=now - timedelta(days=2))
        # deadlines spread over the next 20 seconds, so the daemons race the writers
        engine.open_case(
            f"RR-{number}",
            order_id,
            "return_refund",
            "buyer",
            "damaged",
            at=now - timedelta(hours=48) + timedelta(seconds=number / 5),
            actor_id="buyer-a",
        )
    for process in [daemons.start("--interval", "0.1", "--batch", "20") for _ in range(2)]:
        daemons.wait_started(process)  # racing the writers, not still importing when they end
    moves = [
        ("approve", "seller", {}),
        ("reject", "seller", {"reject_reason": "item_used"}),
        ("withdraw", "buyer", {}),
        ("ship_return", "buyer", {"tracking": "RET-1"}),
        ("confirm_receipt", "seller", {}),
        ("refund", "seller", {}),
        ("escalate", "buyer", {}),
        ("rule", "platform", {"outcome": "refund"}),
    ]
    codes: Counter[str] = Counter()
    done = Counter[str]()
    stop = time.monotonic() + 8

    def writer(seed: int) -> None:
        rng = random.Random(seed)
        mine = aftersale.connect(pg_url, migrate=False)
        while time.monotonic() < stop:
            action, actor, fields = rng.choice(moves)
            try:
                mine.act(f"RR-{rng.randrange(100)}", action, actor, actor_id=IDS[actor], **fields)
                done[action] += 1
            except CommandRefused as refused:
                codes[refused.code] += 1

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    wait_for(lambda: engine.status()["overdue"] == 0, what="the daemons to catch up")
    assert [daemons.stop(process) for process in daemons.running] == [0, 0]
    assert set(codes) <= {"conflict", "not_allowed"}, codes
    assert sum(done.values()) > 50, done
    assert engine.verify() == []
    print(f"soak: {sum(done.values())} actions applied {dict(done)}; refused {dict(codes)}")
