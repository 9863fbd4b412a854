"""The health rollups agree with a full recomputation from the event log, on random shops.

A hypothesis state machine pays, ships and delivers orders of two shops, posts reviews and
complaints, sends and answers buyer messages, opens cases and acts on them, and lets time pass
with timers firing, and prunes the rollups' old rows. After every step each shop's report from the
rollups (as of now, and as of instants before some of its events, which the rollups must take
back) equals the report folded from the whole event log; at the end ``rebuild_health`` writes
exactly the rows the events did (of those a prune keeps).
"""

from __future__ import annotations

from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
import sqlalchemy
from hypothesis import HealthCheck, settings
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

import aftersale
from aftersale import CommandRefused, VirtualClock
from aftersale.adapters.schema import health_rollups
from aftersale.domain.health.report import counts_from_events, counts_through, health_report
from tests.conftest import pg_server_url, rollup_rows
from tests.property.pg_schemas import Schemas

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SHOPS = ("shop-a", "shop-b")
ACTIONS = ["approve", "reject", "escalate", "rule", "ship_return", "confirm_receipt", "refund"]
ACTORS = {"approve": "seller", "reject": "seller", "escalate": "buyer", "rule": "platform",
          "ship_return": "buyer", "confirm_receipt": "seller", "refund": "seller"}  # fmt: skip
FIELDS: dict[str, dict[str, Any]] = {
    "reject": {"reject_reason": "item_used"},
    "ship_return": {"tracking": "RET-1"},
}
REASONS = ["changed_mind", "damaged", "not_received", "out_of_stock", "wrong_item"]


class RollupMachine(RuleBasedStateMachine):
    url = "sqlite://"

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock(START)
        self.engine = aftersale.connect(self.url, clock=self.clock, require_identity=False)
        self.orders: list[tuple[str, str]] = []  # order, shop
        self.cases: list[str] = []
        self.messages: list[str] = []
        self.lookbacks = [timedelta(0)]
        self.pruned = 0  # item rows pruned

    def _try(self, name: str, *args: Any, **kwargs: Any) -> None:
        with suppress(CommandRefused):
            getattr(self.engine, name)(*args, **kwargs)

    def _order(self, index: int) -> tuple[str, str]:
        return self.orders[index % len(self.orders)]

    @rule(shop=st.sampled_from(SHOPS), hours=st.integers(1, 72))
    def pay(self, shop: str, hours: int) -> None:
        order_id = f"O-{len(self.orders)}"
        self.orders.append((order_id, shop))
        self._try("order_paid", order_id, shop, "buyer-a", "US", "USD", "20.00")

    @precondition(lambda self: self.orders)
    @rule(index=st.integers(0, 60), delivered=st.booleans())
    def ship(self, index: int, delivered: bool) -> None:
        self._try("order_delivered" if delivered else "order_shipped", self._order(index)[0])

    @precondition(lambda self: self.orders)
    @rule(
        index=st.integers(0, 60),
        rating=st.integers(1, 5),
        topic=st.sampled_from(["product", "logistics", "service"]),
    )
    def review(self, index: int, rating: int, topic: str) -> None:
        self._try("review_posted", self._order(index)[0], rating, topic)

    @precondition(lambda self: self.orders)
    @rule(index=st.integers(0, 60))
    def complain(self, index: int) -> None:
        self._try("complaint_filed", self._order(index)[0])

    @rule(shop=st.sampled_from(SHOPS), index=st.integers(0, 60), about_order=st.booleans())
    def message(self, shop: str, index: int, about_order: bool) -> None:
        message_id = f"M-{len(self.messages)}"
        self.messages.append(message_id)
        order = self._order(index) if about_order and self.orders else None
        if order is not None:
            shop = order[1]
        self._try("message_received", message_id, shop, None if order is None else order[0])

    @precondition(lambda self: self.messages)
    @rule(index=st.integers(0, 60))
    def reply(self, index: int) -> None:
        self._try("message_replied", self.messages[index % len(self.messages)])

    @precondition(lambda self: self.orders)
    @rule(
        index=st.integers(0, 60),
        kind=st.sampled_from(["cancellation", "refund_only", "return_refund"]),
        reason=st.sampled_from(REASONS),
    )
    def open_case(self, index: int, kind: str, reason: str) -> None:
        case_id = f"C-{len(self.cases)}"
        self.cases.append(case_id)
        opener = "seller" if reason == "out_of_stock" else "buyer"
        self._try("open_case", case_id, self._order(index)[0], kind, opener, reason)

    @precondition(lambda self: self.cases)
    @rule(
        index=st.integers(0, 60),
        action=st.sampled_from(ACTIONS),
        outcome=st.sampled_from(["refund", "return", "deny"]),
    )
    def act(self, index: int, action: str, outcome: str) -> None:
        fields = {"outcome": outcome} if action == "rule" else FIELDS.get(action, {})
        case_id = self.cases[index % len(self.cases)]
        self._try("act", case_id, action, ACTORS[action], **fields)

    @rule(minutes=st.integers(1, 60 * 24 * 4), sweep=st.booleans())
    def time_passes(self, minutes: int, sweep: bool) -> None:
        self.lookbacks.append(timedelta(minutes=minutes))
        self.clock.move_to(self.clock.now() + timedelta(minutes=minutes))
        if sweep:
            self.engine.fire_due()

    @rule(days=st.integers(30, 70))
    def months_pass(self, days: int) -> None:
        """Long enough for the pruning below to have old rows to delete."""
        self.time_passes(days * 24 * 60, sweep=True)

    @rule(keep_days=st.integers(90, 100))
    def prune(self, keep_days: int) -> None:
        self.pruned += self.engine.prune_health(keep_days)["items"]

    @invariant()
    def rollups_agree_with_the_event_log(self) -> None:
        now = self.clock.now()
        # now, just before the latest moves (taken back by the rollups), and long ago
        instants = {now, now - self.lookbacks[-1], now - sum(self.lookbacks[-3:], timedelta())}
        instants.add(now - timedelta(days=40, seconds=1))
        for shop in SHOPS:
            if not self.engine.storage.health.has_shop(shop):
                continue
            events = self.engine.storage.health.shop_events(shop)
            for as_of in sorted(instants):
                settings_, version = self.engine.health_settings
                expected = health_report(shop, events, as_of, settings_, version)
                assert self.engine.health(shop, as_of=as_of) == expected, (shop, as_of)

    def teardown(self) -> None:
        """Backfill's one pass over the log counts what a fold per day counts, and a rebuild
        from the log writes the very rows the events wrote one by one."""
        settings_ = self.engine.health_settings[0]
        days = (self.clock.now() - START).days + 2
        instants = [START + timedelta(days=n, hours=n % 7) for n in range(days)]
        for shop in SHOPS:
            events = self.engine.storage.health.shop_events(shop)
            for instant, counts in counts_through(events, instants, settings_):
                assert counts == counts_from_events(events, instant, settings_), (shop, instant)
        kept_from = _kept_from(self.engine)
        kept = _from(kept_from, rollup_rows(self.engine))
        self.engine.rebuild_health()
        assert _from(kept_from, rollup_rows(self.engine)) == kept


def _kept_from(engine: aftersale.AfterSale) -> datetime | None:
    with engine.storage.engine.connect() as connection:  # type: ignore[attr-defined]
        return connection.execute(sqlalchemy.select(health_rollups.c.kept_from)).scalar()


def _from(kept_from: datetime | None, rows: dict[str, Any]) -> dict[str, Any]:
    """The rollup rows a prune keeps: items and hours from ``kept_from`` on (all when None)."""
    if kept_from is None:
        return rows
    return {
        **rows,
        "health_items": [row for row in rows["health_items"] if row[3] >= kept_from],
        "health_hours": [row for row in rows["health_hours"] if row[2] >= kept_from],
    }


SETTINGS = settings(
    derandomize=True,
    max_examples=25,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def test_rollups_agree_with_a_full_recomputation_on_sqlite() -> None:
    run_state_machine_as_test(RollupMachine, settings=SETTINGS)


class PostgresRollupMachine(RollupMachine):
    def __init__(self) -> None:
        self.__class__.url = SCHEMAS.fresh_url()
        super().__init__()


SCHEMAS = Schemas("r")


@pytest.mark.postgres
def test_rollups_agree_with_a_full_recomputation_on_postgresql() -> None:
    pg_server_url()  # skipped, saying why, without a server
    with SCHEMAS.dropped_after():
        run_state_machine_as_test(
            PostgresRollupMachine, settings=settings(SETTINGS, max_examples=6)
        )
