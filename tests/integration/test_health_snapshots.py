"""Daily snapshots at each shop's local midnight, taken by replay in time order, and alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import aftersale
from aftersale import VirtualClock
from aftersale.clock import iso, next_local_midnight
from aftersale.demo import month_scenario
from aftersale.replay import replay
from tests.conftest import EngineFactory

END = datetime(2026, 4, 30, tzinfo=UTC)


def test_replay_snapshots_each_shop_at_its_local_midnight_and_raises_clearance_alerts(
    sqlite_url: str,
) -> None:
    result = replay(month_scenario(seed=7), db_url=sqlite_url, until=END)
    assert result.errors == []
    alerts = [e for e in result.events if e["type"] == "health.alert_raised"]
    silent = [e for e in alerts if e["shop_id"] == "shop-quiet-harbor"]
    assert len(silent) == 1 and silent[0]["score"] < 4.0
    raised_at = datetime.fromisoformat(silent[0]["at"]).astimezone(ZoneInfo("America/New_York"))
    assert (raised_at.hour, raised_at.minute) == (0, 0)
    engine = aftersale.connect(sqlite_url)
    history = engine.health_history("shop-quiet-harbor", days=400)
    new_york = ZoneInfo("America/New_York")
    days = [datetime.fromisoformat(h["taken_at"]).astimezone(new_york) for h in history]
    assert all((d.hour, d.minute) == (0, 0) for d in days)  # across the DST change too
    dates = [d.date().toordinal() for d in days]
    assert dates == list(range(dates[0], dates[0] + len(dates)))
    assert history[-1]["taken_at"] == "2026-04-29T04:00:00Z"  # the last midnight before END
    malaysia = engine.health_history("shop-kedai-batik", days=1)[0]["taken_at"]
    assert malaysia == "2026-04-29T16:00:00Z"  # Kuala Lumpur midnight
    report = result.health["shop-quiet-harbor"]
    assert report["alerts"] and report["alerts"][0]["type"] == "clearance_risk"


def test_snapshots_and_alerts_do_not_depend_on_how_often_the_clock_ticks() -> None:
    lines = month_scenario(seed=3, orders=120)
    ticks, moment = [], datetime.fromisoformat(json.loads(lines[0])["at"])
    while moment + timedelta(hours=5) < END:
        moment += timedelta(hours=5)
        ticks.append(json.dumps({"at": iso(moment), "type": "clock.advance"}))
    merged = sorted(
        [*lines, *ticks], key=lambda line: datetime.fromisoformat(json.loads(line)["at"])
    )
    one, two = replay(lines, until=END), replay(merged, until=END)
    assert two.errors == []
    strip = ("event_id", "recorded_at", "seq")
    assert [{k: v for k, v in e.items() if k not in strip} for e in one.events] == [
        {k: v for k, v in e.items() if k not in strip} for e in two.events
    ]
    assert one.health == two.health


def test_a_backfill_rebuilds_the_same_snapshots_without_announcing_alerts_again(
    sqlite_url: str,
) -> None:
    replay(month_scenario(seed=7), db_url=sqlite_url, until=END)
    engine = aftersale.connect(sqlite_url)
    before = engine.health_history("shop-quiet-harbor", days=400)
    events = len(engine.log(0, 100_000))
    rebuilt = engine.backfill_health(
        "shop-quiet-harbor", "2026-03-10T00:00:00Z", "2026-04-20T00:00:00Z"
    )
    assert rebuilt == 41
    assert engine.health_history("shop-quiet-harbor", days=400) == before
    assert len(engine.log(0, 100_000)) == events


def test_a_running_daemon_learns_the_shops_another_process_adds(
    make_engine: EngineFactory,
    clock: VirtualClock,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """After its first refresh a daemon reads only the orders paid since, not every shop: a
    shop another process opens later is still snapshotted at its first local midnight, once."""
    url = f"sqlite:///{tmp_path / 'shops.db'}"
    daemon, host = make_engine(url), make_engine(url)
    clock.move_to(clock.now() + timedelta(hours=2))  # 11:00 UTC, 5 h before midnight in MY
    host.order_paid("US-1", "shop-old", "buyer-a", "US", "USD", "20.00")
    assert daemon.take_snapshots(refresh=True) == 0  # reads every shop: none is due yet
    full_reads: list[int] = []
    every_shop = daemon.storage.health.shop_markets
    monkeypatch.setattr(
        daemon.storage.health, "shop_markets", lambda: full_reads.append(1) or every_shop()
    )
    host.order_paid("MY-1", "shop-new", "buyer-b", "MY", "MYR", "20.00")
    midnight = next_local_midnight(clock.now(), ZoneInfo("Asia/Kuala_Lumpur"))
    assert midnight - clock.now() < timedelta(hours=6)  # before the next read of every shop
    clock.move_to(midnight + timedelta(minutes=1))
    assert daemon.take_snapshots(refresh=True) == 1  # shop-new's first midnight
    assert [day["taken_at"] for day in daemon.health_history("shop-new")] == [iso(midnight)]
    assert daemon.take_snapshots(refresh=True) == 0  # nothing twice
    assert full_reads == []  # learnt from the orders paid since, not from every shop
    # status: each shop's latest snapshot (shop-old's midnight has not come yet)
    assert daemon.status()["last_snapshots"] == {"shop-new": iso(midnight)}
    assert "last_snapshots" not in daemon.status(snapshots=False)  # the sweep's line
