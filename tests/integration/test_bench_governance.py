"""The breach-rules figure's two sides do the work they claim: the same shops on both, every
snapshot of two nights taken by each, the rules' tickets (and the punishments they start) on
one side only, and the rules' cooldown keeping the second night from ticketing a shop again."""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import psycopg
import pytest

from aftersale import AfterSale, VirtualClock, connect
from aftersale.bench.databases import clone, is_sqlite, own_database
from aftersale.bench.figures import SCALES
from aftersale.bench.governance import breach_rules, engines, two_nights
from aftersale.bench.governance_seed import PRIOR_POINTS
from aftersale.clock import iso
from aftersale.config import default_config_dir
from aftersale.governance_config import read_governance
from tests.conftest import pg_server_url

SHOPS = 80
PAID_MONDAY = datetime(2026, 3, 2, 9, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def server(request: pytest.FixtureRequest) -> Iterator[str]:
    """Where the bench makes its own databases: SQLite files, or schemas of a PostgreSQL
    database of this test's own on the server of ``AFTERSALE_TEST_PG_URL`` (not the shared
    test database, where another test checks that the bench leaves no schema behind)."""
    if request.param == "sqlite":
        yield "sqlite://"
        return
    server = pg_server_url()
    name = f"bench_governance_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


def test_only_the_side_with_the_rules_tickets_the_shops_over_their_thresholds(
    server: str,
) -> None:
    with engines(server, SHOPS) as (rules, bare, seeded):
        first, second = two_nights(rules, bare, seeded)
        ticketed = _by_rule(rules)
        # the same shops on both sides: every snapshot of both nights, scored alike
        nights = [first.until, second.until]
        for shop in seeded.shops:
            history = rules.health_history(shop, 2)
            assert [row["taken_at"] for row in history] == [iso(at) for at in nights], shop
            assert history == bare.health_history(shop, 2), shop
        # the rules ticketed a realistic share of the shops on the first night, and the
        # shops with an earlier ticket that got one crossed a milestone
        assert 0.05 * SHOPS <= first.shops_ticketed <= 0.3 * SHOPS
        assert first.tickets > 0
        assert first.tickets + second.tickets == sum(ticketed.values())
        assert first.punishments > 0
        assert all(
            p["kind"] == "campaign_ban" and p["cause_ticket_id"].startswith("auto-")
            for shop in seeded.ticketed
            for p in rules.shop(shop)["punishments"]
        )
        # the next night the same shops are still over their thresholds, but in cooldown: no
        # rule tickets a shop twice
        assert set(ticketed.values()) == {1}
        # and the side without rules has only the platform's earlier tickets, no punishment
        tickets = _tickets(bare)
        assert {t["ticket_id"] for t in tickets} == {f"earlier-{s}" for s in seeded.ticketed}
        assert all(t["points"] == PRIOR_POINTS for t in tickets)
        assert all(bare.shop(shop)["punishments"] == [] for shop in seeded.ticketed)
        # both sides timed every slice
        for night in (first, second):
            assert night.rules.wall > 0 and night.bare.wall > 0
        # the book without rules keeps every other setting as shipped
        with_rules, without = rules.governance.current, bare.governance.current
        assert with_rules == read_governance(default_config_dir())[0]
        assert with_rules.breach_rules and not without.breach_rules
        for setting in ("milestones", "points_window", "first_appeal_window"):
            assert getattr(without, setting) == getattr(with_rules, setting)
        assert without.version != with_rules.version  # tickets pin one book or the other


def test_the_figure_is_each_night_beside_the_same_night_without_rules() -> None:
    first, second = breach_rules(SCALES["tiny"], "sqlite://")
    assert first.name == "snapshots with breach rules"
    assert second.name == "snapshots with breach rules, next night"
    for figure in (first, second):
        assert figure.unit == "ms a shop" and figure.ours > 0 and figure.baseline
        assert figure.baseline_name == "the same night without breach rules, the same run"
        assert figure.target.startswith("≤ 1.2× the night without")
        assert "10 shops" in figure.detail and "sides alternating" in figure.detail
    assert "tickets issued to" in first.detail
    assert "in cooldown" in second.detail


def test_a_copied_database_holds_every_row_and_goes_on_numbering_its_events(
    server: str,
) -> None:
    with own_database(server, "seed") as seed_url, own_database(server, "copy") as copy_url:
        engine = connect(seed_url, clock=VirtualClock(PAID_MONDAY))
        engine.order_paid("O-1", "shop-a", "buyer-a", "US", "USD", "20.00", at=PAID_MONDAY)
        engine.order_shipped("O-1", at=PAID_MONDAY)
        seeded = engine.log()
        engine.close()
        if not is_sqlite(server):
            connect(copy_url).close()
        clone(seed_url, copy_url)
        copy = connect(copy_url, clock=VirtualClock(PAID_MONDAY))
        assert copy.log() == seeded
        assert copy.order("O-1") == connect(seed_url, migrate=False).order("O-1")
        copy.order_delivered("O-1", at=PAID_MONDAY)
        assert [event["seq"] for event in copy.log()][-1] > seeded[-1]["seq"]
        copy.close()


def _by_rule(engine: AfterSale) -> Counter[tuple[str, str]]:
    """How many tickets each (rule, shop) got."""
    return Counter(
        (t["source"], t["shop_id"]) for t in _tickets(engine) if t["source"] != "platform"
    )


def _tickets(engine: AfterSale) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    while page := engine.tickets(limit=1000, after=found[-1]["ticket_id"] if found else None):
        found += page
    return found
