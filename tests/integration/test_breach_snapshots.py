"""Breach rules at the daily snapshots (governance.md), through the engine: a shop whose
report is worse than a rule's threshold over enough orders gets a ticket issued by the system
at the snapshot's instant, once per cooldown; on memory, an SQLite file and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aftersale import AfterSale, OutOfOrder, VirtualClock
from aftersale.clock import iso
from tests.conftest import AFTER_EVERY_INSTANT, EngineFactory
from tests.integration.ticketing import CURRENCIES, PAID, governance_config, issue

SHOP = "shop-harbour"
NEW_YORK_MIDNIGHT = datetime(2026, 3, 3, 5, tzinfo=UTC)  # the first after PAID, in EST
KL_MIDNIGHT = datetime(2026, 3, 2, 16, tzinfo=UTC)  # Kuala Lumpur, UTC+8 all year


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(AFTER_EVERY_INSTANT)


def dispatched(
    engine: AfterSale, shop_id: str, late: int, on_time: int, market: str = "US"
) -> list[str]:
    """Orders paid at PAID, due an hour later; ``late`` of them shipped after that. The late
    ones' ids."""
    late_ids = []
    for n in range(late + on_time):
        order_id = f"{shop_id}-O{n}"
        engine.order_paid(
            order_id,
            shop_id,
            "buyer-ada",
            market,
            CURRENCIES[market],
            "20.00",
            iso(PAID + timedelta(hours=1)),
            at=PAID,
        )
        shipped = PAID + timedelta(hours=2 if n < late else 0.5)
        engine.order_shipped(order_id, f"1Z{n}", at=shipped)
        if n < late:
            late_ids.append(order_id)
    return late_ids


def _auto(engine: AfterSale, shop_id: str = SHOP) -> list[dict[str, Any]]:
    return [t for t in engine.tickets(shop_id=shop_id) if t["source"] != "platform"]


def test_a_shop_over_a_threshold_gets_a_ticket_at_the_snapshot_instant(
    make_engine: EngineFactory, db_url: str
) -> None:
    engine = make_engine(db_url)
    late = dispatched(engine, SHOP, late=1, on_time=9)  # 0.1 > 0.04, over 10 >= 10
    engine.take_snapshots(NEW_YORK_MIDNIGHT - timedelta(microseconds=1))
    assert _auto(engine) == []  # no snapshot yet, no ticket
    engine.take_snapshots(NEW_YORK_MIDNIGHT)
    [ticket] = _auto(engine)
    assert ticket["ticket_id"] == f"auto-late_dispatch-{SHOP}-2026-03-03"  # the local date
    assert (ticket["category"], ticket["reason"], ticket["points"]) == (
        "fulfilment",
        "late_dispatch",
        2,
    )
    assert ticket["source"] == "rule:late_dispatch"
    assert ticket["issued_at"] == iso(NEW_YORK_MIDNIGHT)
    assert ticket["deadline_at"] == iso(NEW_YORK_MIDNIGHT + timedelta(days=30))
    reading = engine.health(SHOP, NEW_YORK_MIDNIGHT)["dimensions"]["fulfilment"]["metrics"][
        "late_dispatch_rate"
    ]
    assert ticket["metric"] == {
        "metric": "late_dispatch_rate",
        "value": reading["value"],
        "denominator": 10,
        "examples": reading["examples"],
    }
    assert ticket["metric"]["value"] == pytest.approx(0.1) and late[0] in reading["examples"]
    [first] = engine.ticket(ticket["ticket_id"])["history"]
    assert (first["action"], first["from"], first["actor"], first["auto"]) == (
        "issue",
        None,
        "system",
        True,
    )
    [event] = [e for e in engine.log(0, 10_000) if e["type"] == "ticket.transition"]
    assert event["metric"] == ticket["metric"] and event["source"] == "rule:late_dispatch"
    assert engine.shop(SHOP, at=NEW_YORK_MIDNIGHT)["active_points"] == 2


def test_no_ticket_below_the_threshold_below_the_denominator_or_without_data(
    make_engine: EngineFactory,
) -> None:
    engine = make_engine("memory://")
    dispatched(engine, "shop-few", late=1, on_time=8)  # 9 orders: under the minimum of 10
    dispatched(engine, "shop-edge", late=1, on_time=24)  # 0.04 exactly: not worse than it
    dispatched(engine, "shop-fine", late=0, on_time=30)
    engine.take_snapshots(NEW_YORK_MIDNIGHT + timedelta(days=3))
    assert engine.tickets() == []  # and chat_response_rate_24h, with no message, is null
    reading = engine.health("shop-fine", NEW_YORK_MIDNIGHT)["dimensions"]["customer_service"]
    assert reading["metrics"]["chat_response_rate_24h"]["value"] is None


def test_a_higher_is_better_metric_fires_below_its_threshold(
    make_engine: EngineFactory, db_url: str
) -> None:
    engine = make_engine(db_url)
    dispatched(engine, SHOP, late=0, on_time=1)
    for n in range(10):  # 7 of 10 answered within 24 h: 0.7 < 0.8
        engine.message_received(f"M-{n}", SHOP, at=PAID + timedelta(minutes=n))
        if n < 7:
            engine.message_replied(f"M-{n}", at=PAID + timedelta(hours=1))
    engine.take_snapshots(NEW_YORK_MIDNIGHT + timedelta(days=1, hours=1))
    [ticket] = _auto(engine)
    assert ticket["ticket_id"] == f"auto-slow_chat-{SHOP}-2026-03-04"  # after the 24 hours
    assert (ticket["category"], ticket["points"]) == ("service", 1)
    assert ticket["metric"]["value"] == pytest.approx(0.7)
    assert ticket["metric"]["denominator"] == 10


def _issued_days(engine: AfterSale, shop_id: str) -> list[str]:
    return [t["issued_at"] for t in _auto(engine, shop_id)]


def test_the_cooldown_is_half_open_seven_natural_days(
    make_engine: EngineFactory, db_url: str
) -> None:
    """Kuala Lumpur has no summer time: its midnights are 24 hours apart, so the snapshot 7
    days after a ticket is not within the cooldown (t - p < 7 days) and fires again."""
    engine = make_engine(db_url)
    dispatched(engine, "shop-kl", late=2, on_time=8, market="MY")
    for day in range(15):
        engine.take_snapshots(KL_MIDNIGHT + timedelta(days=day))
    assert _issued_days(engine, "shop-kl") == [
        iso(KL_MIDNIGHT),
        iso(KL_MIDNIGHT + timedelta(days=7)),
        iso(KL_MIDNIGHT + timedelta(days=14)),
    ]
    ids = [t["ticket_id"] for t in _auto(engine, "shop-kl")]
    assert ids[0] == "auto-late_dispatch-shop-kl-2026-03-03"  # the local date, not UTC's


def test_the_cooldown_counts_natural_time_across_a_summer_time_change(
    make_engine: EngineFactory,
) -> None:
    """New York's midnights of 3 and 10 March 2026 are 6 days 23 hours apart (the clocks
    went forward on the 8th): within the cooldown; the 11th is not."""
    engine = make_engine("memory://")
    dispatched(engine, SHOP, late=2, on_time=8)
    engine.take_snapshots(datetime(2026, 3, 12, 5, tzinfo=UTC))
    assert _issued_days(engine, SHOP) == [iso(NEW_YORK_MIDNIGHT), "2026-03-11T04:00:00Z"]


def test_a_custom_governance_toml_brings_its_own_rules(
    make_engine: EngineFactory, db_url: str, tmp_path: Path
) -> None:
    text = (governance_config(tmp_path / "probe")).joinpath("governance.toml").read_text()
    rules = text[text.index("[breach_rules.late_dispatch]") :]
    config = governance_config(
        tmp_path,
        (
            rules,
            "[breach_rules.very_late]\n"
            'metric = "late_dispatch_rate"\n'
            "worse_than = 0.5\n"
            "min_denominator = 4\n"
            'category = "product"\n'
            "points = 7\n"
            'cooldown = "2d"\n',
        ),
    )
    engine = make_engine(db_url, config_dir=config)
    dispatched(engine, SHOP, late=3, on_time=1)  # 0.75 over 4
    dispatched(engine, "shop-fair", late=2, on_time=2)  # 0.5: not worse than 0.5
    engine.take_snapshots(NEW_YORK_MIDNIGHT + timedelta(days=4, hours=1))
    assert [(t["ticket_id"], t["category"], t["points"]) for t in engine.tickets()] == [
        (f"auto-very_late-{SHOP}-2026-03-03", "product", 7),
        (f"auto-very_late-{SHOP}-2026-03-05", "product", 7),  # 2 days later
        (f"auto-very_late-{SHOP}-2026-03-07", "product", 7),
    ]


def test_a_breach_ticket_crossing_a_milestone_starts_its_punishment(
    make_engine: EngineFactory, db_url: str
) -> None:
    engine = make_engine(db_url)
    dispatched(engine, SHOP, late=1, on_time=9)
    issue(engine, "TK-1", SHOP, 10, PAID + timedelta(hours=3))
    engine.take_snapshots(NEW_YORK_MIDNIGHT)
    [punishment] = engine.shop(SHOP, at=NEW_YORK_MIDNIGHT)["punishments"]
    assert punishment["kind"] == "campaign_ban"
    assert punishment["cause_ticket_id"] == f"auto-late_dispatch-{SHOP}-2026-03-03"
    assert punishment["started_at"] == iso(NEW_YORK_MIDNIGHT)


def test_two_engines_taking_the_same_snapshot_issue_one_ticket(
    make_engine: EngineFactory, db_url: str
) -> None:
    first = make_engine(db_url)
    dispatched(first, SHOP, late=1, on_time=9)
    second = make_engine(db_url, migrate=False)
    first.take_snapshots(NEW_YORK_MIDNIGHT)
    second.take_snapshots(NEW_YORK_MIDNIGHT, refresh=True)
    assert len(_auto(first)) == 1
    issued = [e for e in first.log(0, 10_000) if e["type"] == "ticket.transition"]
    assert len(issued) == 1


def test_a_snapshot_taken_late_starts_no_second_punishment_of_a_running_kind(
    make_engine: EngineFactory, db_url: str
) -> None:
    """The platform's ticket at 00:30 took the shop to 12 (its ban) before the daemon took
    the midnight snapshot, whose breach ticket is dated 00:00: the ban runs from 00:30, and a
    second one from 00:00 would run beside it."""
    engine = make_engine(db_url)
    dispatched(engine, SHOP, late=1, on_time=9)
    issue(engine, "TK-base", SHOP, 10, PAID + timedelta(hours=3))
    half_past = NEW_YORK_MIDNIGHT + timedelta(minutes=30)
    issue(engine, "TK-platform", SHOP, 2, half_past)
    engine.take_snapshots(NEW_YORK_MIDNIGHT)
    assert len(_auto(engine)) == 1
    kinds = [(p["kind"], p["cause_ticket_id"]) for p in engine.shop(SHOP)["punishments"]]
    assert kinds == [("campaign_ban", "TK-platform")]
    assert engine.shop(SHOP, at=half_past)["active_points"] == 14


def test_a_snapshot_taken_late_does_not_move_the_shops_last_points_change_back(
    make_engine: EngineFactory, db_url: str
) -> None:
    engine = make_engine(db_url)
    dispatched(engine, SHOP, late=1, on_time=9)
    half_past = NEW_YORK_MIDNIGHT + timedelta(minutes=30)
    issue(engine, "TK-platform", SHOP, 2, half_past)
    engine.take_snapshots(NEW_YORK_MIDNIGHT)  # its breach ticket dated 00:00
    with pytest.raises(OutOfOrder, match="points last changed"):
        issue(engine, "TK-between", SHOP, 2, NEW_YORK_MIDNIGHT + timedelta(minutes=10))
    with pytest.raises(OutOfOrder, match="points last changed"):
        engine.act_ticket(
            f"auto-late_dispatch-{SHOP}-2026-03-03",
            "revoke",
            "platform",
            at=NEW_YORK_MIDNIGHT + timedelta(minutes=10),
        )
    issue(engine, "TK-after", SHOP, 2, half_past)
    assert engine.shop(SHOP, at=half_past)["active_points"] == 6


def test_two_rules_at_one_snapshot_issue_two_tickets_and_start_one_punishment(
    make_engine: EngineFactory, db_url: str, tmp_path: Path
) -> None:
    text = (governance_config(tmp_path / "probe")).joinpath("governance.toml").read_text()
    rules = text[text.index("[breach_rules.late_dispatch]") :]
    twin = "\n".join(
        f'[breach_rules.{name}]\nmetric = "late_dispatch_rate"\nworse_than = {threshold}\n'
        f'min_denominator = 10\ncategory = "fulfilment"\npoints = 2\ncooldown = "7d"\n'
        for name, threshold in (("late", 0.04), ("very_late", 0.08))
    )
    engine = make_engine(db_url, config_dir=governance_config(tmp_path, (rules, twin)))
    dispatched(engine, SHOP, late=1, on_time=9)  # 0.1: worse than both
    issue(engine, "TK-1", SHOP, 9, PAID + timedelta(hours=3))
    engine.take_snapshots(NEW_YORK_MIDNIGHT)
    assert [t["ticket_id"] for t in _auto(engine)] == [
        f"auto-late-{SHOP}-2026-03-03",
        f"auto-very_late-{SHOP}-2026-03-03",
    ]
    assert engine.shop(SHOP, at=NEW_YORK_MIDNIGHT)["active_points"] == 13
    [punishment] = engine.shop(SHOP, at=NEW_YORK_MIDNIGHT)["punishments"]
    assert punishment["cause_ticket_id"] == f"auto-very_late-{SHOP}-2026-03-03"  # 11 -> 13
