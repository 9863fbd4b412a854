"""Random sequences of facts, actions by random actors and clock moves keep every invariant.

A hypothesis state machine drives the façade the way hosts and timers do, checks the database
with ``verify()`` after every step, checks that a refused command changed nothing at all, and at
the end plays the same commands again with timers fired only once, a week late: the histories
must be the same.
"""

from __future__ import annotations

from collections import Counter
from contextlib import suppress
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis.strategies as st
import pytest
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
from tests.conftest import pg_server_url
from tests.property.pg_schemas import Schemas

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTIONS = [
    "approve",
    "reject",
    "withdraw",
    "request_pod",
    "submit_pod",
    "escalate",
    "rule",
    "ship_return",
    "confirm_receipt",
    "refund",
    "reject_return",
    "review_timeout",
]
ACTORS = ["buyer", "seller", "platform", "system"]
REASONS = ["changed_mind", "damaged", "not_received", "no_longer_needed", "out_of_stock", "bored"]
PHOTO = [{"kind": "photo", "uri": "https://cdn.example/ev/1.jpg"}]
FIELDS: dict[str, dict[str, Any]] = {
    "reject": {"reject_reason": "item_used"},
    "submit_pod": {"evidence": PHOTO},
    "ship_return": {"tracking": "RET-1"},
    "reject_return": {"reject_reason": "item_used", "evidence": PHOTO},
}


def _snapshot(engine: aftersale.AfterSale) -> tuple[Any, ...]:
    return (
        [(c["case_id"], c["state"], c["deadline_at"]) for c in engine.cases()],
        len(engine.log(0, 10_000)),
        [
            (o.order_id, o.refunded_total, o.open_case_id, o.shipped_at)
            for o in engine.storage.reads.all_orders()
        ],  # type: ignore[attr-defined]
    )


def _histories(engine: aftersale.AfterSale) -> dict[str, list[tuple[Any, ...]]]:
    return {
        case["case_id"]: [
            (h["action"], h["to"], h["actor"], h["at"])
            for h in engine.case(case["case_id"])["history"]
        ]
        for case in engine.cases()
    }


class AfterSaleMachine(RuleBasedStateMachine):
    url = "sqlite://"

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock(START)
        self.engine = aftersale.connect(self.url, clock=self.clock)
        self.orders: list[str] = []
        self.cases: list[str] = []
        self.log: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []

    def _call(self, name: str, *args: Any, **kwargs: Any) -> None:
        before = _snapshot(self.engine)
        seen = self.engine.log(0, 10_000)
        kwargs["at"] = self.clock.now()
        self.log.append((name, args, kwargs))
        try:
            getattr(self.engine, name)(*args, **kwargs)
            TALLY["applied"] += 1
        except CommandRefused as refused:
            TALLY[refused.code] += 1
            new = self.engine.log(seen[-1]["seq"] if seen else 0, 10_000)
            # a refusal keeps the overdue timeouts taken before it, and writes nothing else
            assert all(e["action"].endswith("_timeout") and e["auto"] for e in new), new
            if not new:
                assert _snapshot(self.engine) == before

    @rule(amount=st.sampled_from(["10.00", "59.90", "250.00"]))
    def pay(self, amount: str) -> None:
        order_id = f"US-{len(self.orders)}"
        self.orders.append(order_id)
        self._call("order_paid", order_id, "shop-a", "buyer-a", "US", "USD", amount)

    @precondition(lambda self: self.orders)
    @rule(index=st.integers(0, 50), delivered=st.booleans())
    def ship(self, index: int, delivered: bool) -> None:
        order_id = self.orders[index % len(self.orders)]
        self._call("order_delivered" if delivered else "order_shipped", order_id)

    @precondition(lambda self: self.orders)
    @rule(
        index=st.integers(0, 50),
        kind=st.sampled_from(["cancellation", "refund_only", "return_refund"]),
        actor=st.sampled_from(["buyer", "seller"]),
        reason=st.sampled_from(REASONS),
        amount=st.sampled_from([None, "5.00", "300.00"]),
        unused=st.booleans(),
        who=st.sampled_from(["right"] * 8 + ["wrong", "missing"]),
    )
    def open_case(
        self,
        index: int,
        kind: str,
        actor: str,
        reason: str,
        amount: str | None,
        unused: bool,
        who: str,
    ) -> None:
        case_id = f"AS-{len(self.cases)}"
        self.cases.append(case_id)
        order_id = self.orders[index % len(self.orders)]
        self._call(
            "open_case",
            case_id,
            order_id,
            kind,
            actor,
            reason,
            amount=amount,
            item_unused=unused,
            actor_id=_identity(actor, who),
        )

    @precondition(lambda self: self.cases)
    @rule(
        index=st.integers(0, 50),
        action=st.sampled_from(ACTIONS),
        actor=st.sampled_from(ACTORS),
        outcome=st.sampled_from(["refund", "return", "deny"]),
        who=st.sampled_from(["right"] * 8 + ["wrong", "missing"]),
    )
    def act(self, index: int, action: str, actor: str, outcome: str, who: str) -> None:
        fields = {"outcome": outcome} if action == "rule" else FIELDS.get(action, {})
        case_id = self.cases[index % len(self.cases)]
        self._call("act", case_id, action, actor, actor_id=_identity(actor, who), **fields)

    @rule(minutes=st.integers(1, 60 * 24 * 6), sweep=st.booleans())
    def time_passes(self, minutes: int, sweep: bool) -> None:
        self.clock.move_to(self.clock.now() + timedelta(minutes=minutes))
        if sweep:
            self.engine.fire_due()

    @invariant()
    def every_invariant_holds(self) -> None:
        assert self.engine.verify() == []

    def teardown(self) -> None:
        """The same commands, timers fired only a week after the end: the same histories."""
        end = self.clock.now() + timedelta(days=30)
        self.clock.move_to(end)
        self.engine.fire_due()
        late_clock = VirtualClock(START)
        late = aftersale.connect(self._fresh_url(), clock=late_clock)
        for name, args, kwargs in self.log:
            late_clock.move_to(kwargs["at"])
            with suppress(CommandRefused):
                getattr(late, name)(*args, **kwargs)
        late_clock.move_to(end)
        late.fire_due()
        assert _histories(late) == _histories(self.engine)
        assert late.verify() == []

    def _fresh_url(self) -> str:
        return "sqlite://"


SETTINGS = settings(
    derandomize=True,  # the same runs in CI as on a laptop
    max_examples=30,
    stateful_step_count=35,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
TALLY: Counter[str] = Counter()


def _identity(actor: str, who: str) -> str | None:
    """Mostly the right id; sometimes another party's, sometimes none (then refused)."""
    if actor not in ("buyer", "seller") or who == "missing":
        return None
    right = "buyer-a" if actor == "buyer" else "shop-a"
    return right if who == "right" else f"{right}-impostor"


def test_the_invariants_hold_on_sqlite() -> None:
    TALLY.clear()
    run_state_machine_as_test(AfterSaleMachine, settings=SETTINGS)
    # the runs did real work, and identity was checked both ways
    assert TALLY["applied"] > 100, TALLY
    assert TALLY["forbidden"] > 0 and TALLY["invalid_input"] > 0, TALLY


class PostgresMachine(AfterSaleMachine):
    """The same machine on a real PostgreSQL, each run in a schema of its own."""

    def __init__(self) -> None:
        self.__class__.url = SCHEMAS.fresh_url()
        super().__init__()

    def _fresh_url(self) -> str:
        return SCHEMAS.fresh_url()


SCHEMAS = Schemas("p")


@pytest.mark.postgres
def test_the_invariants_hold_on_postgresql() -> None:
    pg_server_url()  # skipped, saying why, without a server
    with SCHEMAS.dropped_after():
        run_state_machine_as_test(PostgresMachine, settings=settings(SETTINGS, max_examples=8))
