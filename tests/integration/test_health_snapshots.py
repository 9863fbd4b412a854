"""Daily snapshots at each shop's local midnight, taken by replay in time order, and alerts."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aftersale
from aftersale.clock import iso
from aftersale.demo import month_scenario
from aftersale.replay import replay

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
    events = len(engine.events_after(0, 100_000))
    rebuilt = engine.backfill_health(
        "shop-quiet-harbor", "2026-03-10T00:00:00Z", "2026-04-20T00:00:00Z"
    )
    assert rebuilt == 41
    assert engine.health_history("shop-quiet-harbor", days=400) == before
    assert len(engine.events_after(0, 100_000)) == events
