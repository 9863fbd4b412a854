"""Random orders with lines, random cases over random lines, offers, returns and rulings keep
the refund ledger of lines.md whole.

A hypothesis state machine pays orders of one to four lines (random quantities and prices in
the currencies config/markets.toml has, a random shipping fee, some without lines), opens cases
over random subsets of their lines and quantities (with and without ``lines`` and ``amount``),
and takes random actions: partial-refund offers accepted, declined or left to lapse, returns
shipped at a cost, approvals, rejections, escalations, rulings with responsibilities,
withdrawals, timeouts. After every step the order views must keep the ledger's invariants and
``verify()`` must find nothing; a refused command must change nothing.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import aftersale
from aftersale import CommandRefused, VirtualClock
from tests.conftest import pg_server_url
from tests.property.pg_schemas import Schemas

START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ACTIONS = [
    "approve",
    "reject",
    "withdraw",
    "escalate",
    "rule",
    "ship_return",
    "confirm_receipt",
    "refund",
    "reject_return",
    "request_pod",
    "submit_pod",
    "offer_partial_refund",
    "offer_partial_refund",
    "accept_offer",
    "decline_offer",
]
ACTOR_OF = {
    "approve": "seller",
    "reject": "seller",
    "withdraw": "buyer",
    "escalate": "buyer",
    "rule": "platform",
    "ship_return": "buyer",
    "confirm_receipt": "seller",
    "refund": "seller",
    "reject_return": "seller",
    "request_pod": "platform",
    "submit_pod": "seller",
    "offer_partial_refund": "seller",
    "accept_offer": "buyer",
    "decline_offer": "buyer",
}
PHOTO = [{"kind": "photo", "uri": "https://cdn.example/ev/1.jpg"}]
REASONS = {
    "cancellation": ["changed_mind", "no_longer_needed"],
    "refund_only": ["not_received", "damaged"],
    "return_refund": ["damaged", "changed_mind"],
}
TALLY: Counter[str] = Counter()


def _money(units: int, decimals: int) -> str:
    return str(Decimal(units).scaleb(-decimals))


def _ledger_holds(order: dict[str, Any]) -> None:
    """lines.md's invariants, read off an order view."""
    refunded = Decimal(0)
    for line in order["lines"]:
        value = line["quantity"] * Decimal(line["unit_price"])
        assert Decimal(line["value"]) == value, line
        assert Decimal(0) <= Decimal(line["refunded_amount"]) <= value, line
        assert 0 <= line["returned_quantity"] <= line["quantity"], line
        assert Decimal(line["refundable_amount"]) == value - Decimal(line["refunded_amount"])
        assert line["refundable_quantity"] == line["quantity"] - line["returned_quantity"]
        refunded += Decimal(line["refunded_amount"])
    shipping = Decimal(order["shipping_refunded"])
    assert shipping in (Decimal(0), Decimal(order["shipping_fee"])), order  # once, and whole
    assert Decimal(order["refunded_total"]) == refunded + shipping, order
    assert Decimal(order["refunded_total"]) <= Decimal(order["amount"]), order
    assert Decimal(order["refundable"]) == Decimal(order["amount"]) - Decimal(
        order["refunded_total"]
    )
    if order["cancelled_at"] is not None:
        assert all(line["refundable_quantity"] == 0 for line in order["lines"]), order


class LinesMachine(RuleBasedStateMachine):
    url = "sqlite://"

    def __init__(self) -> None:
        super().__init__()
        self.clock = VirtualClock(START)
        self.engine = aftersale.connect(self.url, clock=self.clock, require_identity=False)
        markets = self.engine.policy.markets
        self.markets = [(code, markets[code]) for code in sorted(markets)]
        self.orders: list[tuple[str, list[str], int]] = []  # id, line ids, decimals
        self.cases: list[str] = []  # the ones opened
        self.opened = 0

    def _state(self) -> tuple[Any, ...]:
        return (
            [self.engine.case(case_id) for case_id in self.cases if self._exists(case_id)],
            [self._order(order_id) for order_id, _, _ in self.orders],
            len(self.engine.log(0, 100_000)),
        )

    def _order(self, order_id: str) -> dict[str, Any] | None:
        try:
            return self.engine.order(order_id)
        except CommandRefused:
            return None  # its payment was refused

    def _exists(self, case_id: str) -> bool:
        try:
            self.engine.case(case_id)
        except CommandRefused:
            return False
        return True

    def _call(self, name: str, *args: Any, **kwargs: Any) -> bool:
        """Whether the command was applied (a refusal must have changed nothing)."""
        seen = self.engine.log(0, 100_000)
        before = self._state()
        try:
            getattr(self.engine, name)(*args, at=self.clock.now(), **kwargs)
            TALLY[f"{name} applied"] += 1
            return True
        except CommandRefused as refused:
            TALLY[refused.code] += 1
            new = self.engine.log(seen[-1]["seq"] if seen else 0, 100_000)
            # a refusal keeps the overdue timeouts taken before it, and writes nothing else
            assert all(e["action"].endswith("_timeout") and e["auto"] for e in new), new
            if not new:
                assert self._state() == before
            return False

    @precondition(lambda self: len(self.orders) < 3)
    @rule(
        market=st.integers(0, 20),
        lines=st.lists(
            st.tuples(st.integers(1, 6), st.integers(1, 5_000)), min_size=1, max_size=4
        ),
        fee=st.sampled_from([0, 0, 450, 1_000]),
        given=st.sampled_from(["lines"] * 4 + ["none"]),
    )
    def pay(self, market: int, lines: list[tuple[int, int]], fee: int, given: str) -> None:
        code, settings_ = self.markets[market % len(self.markets)]
        decimals = settings_.currency_decimals
        order_id = f"O-{len(self.orders)}"
        total = sum(quantity * price for quantity, price in lines) + fee
        extra: dict[str, Any] = {"shipping_fee": _money(fee, decimals)}
        line_ids = ["1"]
        if given == "lines":
            line_ids = [f"L{number}" for number in range(len(lines))]
            extra["lines"] = [
                {
                    "line_id": key,
                    "sku": f"sku-{key}",
                    "quantity": q,
                    "unit_price": _money(p, decimals),
                }
                for key, (q, p) in zip(line_ids, lines, strict=True)
            ]
        self.orders.append((order_id, line_ids, decimals))
        amount = _money(total, decimals)
        self._call(
            "order_paid", order_id, "shop", "buyer", code, settings_.currency, amount, **extra
        )

    @precondition(lambda self: self.orders)
    @rule(index=st.integers(0, 50), delivered=st.booleans())
    def ship(self, index: int, delivered: bool) -> None:
        order_id = self.orders[index % len(self.orders)][0]
        self._call("order_shipped", order_id)
        if delivered:
            self._call("order_delivered", order_id)

    @precondition(lambda self: self.orders)
    @rule(
        index=st.integers(0, 50),
        kind=st.sampled_from(["cancellation"] + ["refund_only", "return_refund"] * 2),
        reason=st.integers(0, 1),
        chosen=st.none()
        | st.lists(
            st.tuples(st.integers(0, 4), st.integers(1, 7)),
            max_size=4,
            unique_by=lambda item: item[0],
        ),
        amount=st.none() | st.integers(1, 20_000),
        seller=st.booleans(),
    )
    def open_case(
        self,
        index: int,
        kind: str,
        reason: int,
        chosen: list[tuple[int, int]] | None,
        amount: int | None,
        seller: bool,
    ) -> None:
        order_id, line_ids, decimals = self.orders[index % len(self.orders)]
        case_id = f"C-{self.opened}"
        self.opened += 1
        actor = "seller" if seller and kind == "cancellation" else "buyer"
        reasons = ["out_of_stock"] if actor == "seller" else REASONS[kind]
        extra: dict[str, Any] = {"item_unused": True}
        if chosen is not None:
            # an empty list is invalid_input; an index past the order's lines names a line it
            # does not have (not_found)
            extra["lines"] = [
                {"line_id": line_ids[i] if i < len(line_ids) else f"nope-{i}", "quantity": q}
                for i, q in chosen
            ]
        if amount is not None:
            extra["amount"] = _money(amount, decimals)
        reason_given = reasons[reason % len(reasons)]
        if self._call("open_case", case_id, order_id, kind, actor, reason_given, **extra):
            self.cases.append(case_id)

    @precondition(lambda self: self.cases)
    @rule(
        index=st.integers(0, 50),
        pending=st.integers(0, 4),
        action=st.sampled_from(ACTIONS),
        outcome=st.sampled_from(["refund", "return", "deny"]),
        responsibility=st.sampled_from([None, "seller", "buyer", "logistics", "platform"]),
        cost=st.none() | st.integers(0, 900),
        offer=st.integers(1, 6_000),
    )
    def act(
        self,
        index: int,
        pending: int,
        action: str,
        outcome: str,
        responsibility: str | None,
        cost: int | None,
        offer: int,
    ) -> None:
        views = [self.engine.case(case_id) for case_id in self.cases]
        still_open = [view for view in views if view["allowed_actions"]]
        choices = still_open if still_open and pending else views  # mostly a case still open
        view = choices[index % len(choices)]
        case_id = view["case_id"]
        allowed = [item["action"] for item in view["allowed_actions"]]
        if allowed and pending > 1:  # mostly an action the case allows now, else any
            action = allowed[(index + pending) % len(allowed)]
        decimals = next(d for o, _, d in self.orders if o == view["order_id"])
        fields: dict[str, Any] = {}
        if action == "rule":
            fields["outcome"] = outcome
            if responsibility is not None:
                fields["responsibility"] = responsibility
        elif action == "ship_return":
            fields["tracking"] = "RET-1"
            if cost is not None:
                fields["shipping_cost"] = _money(cost, decimals)
        elif action == "offer_partial_refund":
            fields["amount"] = _money(offer, decimals)
        elif action in ("reject", "reject_return"):
            fields["reject_reason"] = "item_used"
            if action == "reject_return":
                fields["evidence"] = PHOTO
        elif action == "submit_pod":
            fields["evidence"] = PHOTO
        self._call("act", case_id, action, ACTOR_OF[action], **fields)

    @rule(
        minutes=st.sampled_from([30, 60 * 5, 60 * 23, 60 * 25, 60 * 24 * 3]), sweep=st.booleans()
    )
    def time_passes(self, minutes: int, sweep: bool) -> None:
        """Offers lapse, reviews time out: by a sweep, or by the next command on the case."""
        self.clock.move_to(self.clock.now() + timedelta(minutes=minutes))
        if sweep:
            self.engine.fire_due()

    @invariant()
    def the_ledger_holds(self) -> None:
        for order_id, _, _ in self.orders:
            order = self._order(order_id)
            if order is not None:
                _ledger_holds(order)
        assert self.engine.verify() == []


SETTINGS = settings(
    derandomize=True,
    max_examples=25,
    stateful_step_count=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)


def _run(machine: type[LinesMachine], tuned: settings) -> None:
    from hypothesis.stateful import run_state_machine_as_test

    run_state_machine_as_test(machine, settings=tuned)


def test_the_ledger_holds_on_sqlite() -> None:
    TALLY.clear()
    _run(LinesMachine, SETTINGS)
    # the runs did real work: money moved, offers were made, lines were asked for and refused
    assert TALLY["act applied"] > 10 and TALLY["open_case applied"] > 10, TALLY
    assert TALLY["conflict"] > 0 and TALLY["not_allowed"] > 0, TALLY


class MemoryMachine(LinesMachine):
    url = "memory://"


def test_the_ledger_holds_in_memory() -> None:
    _run(MemoryMachine, SETTINGS)


class PostgresMachine(LinesMachine):
    """The same machine on a real PostgreSQL, each run in a schema of its own."""

    def __init__(self) -> None:
        self.__class__.url = SCHEMAS.fresh_url()
        super().__init__()


SCHEMAS = Schemas("l")


@pytest.mark.postgres
def test_the_ledger_holds_on_postgresql() -> None:
    pg_server_url()  # skipped, saying why, without a server
    with SCHEMAS.dropped_after():
        _run(PostgresMachine, settings(SETTINGS, max_examples=6))
