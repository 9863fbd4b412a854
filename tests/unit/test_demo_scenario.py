"""The demo's month: deterministic, valid line by line, and telling every kind of ending."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from aftersale.demo import SHOPS, month_scenario
from aftersale.replay import ReplayResult, replay

START = datetime(2026, 3, 1, tzinfo=UTC)
END = START + timedelta(days=60)  # as far as ``aftersale demo`` plays
MEMORY = "memory://"  # the scenario, not a database, is under test
TERMINAL = {
    "cancellation": {"cancelled", "closed", "withdrawn"},
    "refund_only": {"refunded", "closed", "withdrawn"},
    "return_refund": {"refunded", "closed", "withdrawn"},
}
TYPES = {
    "order.paid",
    "order.shipped",
    "order.delivered",
    "case.open",
    "case.action",
    "review.posted",
    "complaint.filed",
    "message.received",
    "message.replied",
}


@pytest.fixture(scope="module")
def lines() -> list[str]:
    return month_scenario(seed=7)


@pytest.fixture(scope="module")
def month(lines: list[str]) -> ReplayResult:
    return replay(lines, db_url=MEMORY, until=END)


def _steps(result: ReplayResult) -> list[dict[str, Any]]:
    return [e for e in result.events if e["type"] == "case.transition"]


def test_the_same_seed_gives_the_same_month_and_another_seed_another(lines: list[str]) -> None:
    assert month_scenario(seed=7) == lines
    assert month_scenario(seed=8) != lines


def test_lines_are_json_objects_of_known_types_in_time_order(lines: list[str]) -> None:
    parsed = [json.loads(line) for line in lines]
    assert {line["type"] for line in parsed} == TYPES
    instants = [datetime.fromisoformat(line["at"]) for line in parsed]
    assert instants == sorted(instants) and instants[0] >= START
    for line in parsed:
        if "amount" in line:
            assert re.fullmatch(r"\d+\.\d\d", line["amount"]), line


def test_a_month_of_three_shops_in_two_markets_with_a_case_on_a_quarter_of_orders(
    lines: list[str], month: ReplayResult
) -> None:
    paid = [json.loads(line) for line in lines if '"order.paid"' in line]
    assert 150 <= len(paid) <= 250
    assert {(o["shop_id"], o["market"], o["currency"]) for o in paid} == {
        (shop.shop_id, shop.market, shop.currency) for shop in SHOPS
    }
    assert {shop.market for shop in SHOPS} == {"US", "MY"}
    assert 0.2 <= len(month.cases) / len(paid) <= 0.3


@pytest.mark.parametrize("seed", [7, 1, 2])
def test_the_month_replays_with_no_refused_line(seed: int, month: ReplayResult) -> None:
    result = month if seed == 7 else replay(month_scenario(seed=seed), db_url=MEMORY, until=END)
    assert result.errors == []


def test_every_case_ends_and_every_ending_of_every_kind_happens(month: ReplayResult) -> None:
    endings: dict[str, set[str]] = {}
    for case in month.cases:
        endings.setdefault(case["kind"], set()).add(case["state"])
    assert endings == TERMINAL
    states = Counter((case["kind"], case["state"]) for case in month.cases)
    assert all(states[kind, state] > 0 for kind, ends in TERMINAL.items() for state in ends)


def test_the_silent_seller_never_answers_and_its_timers_decide(month: ReplayResult) -> None:
    silent = [e for e in _steps(month) if e["shop_id"] == "shop-quiet-harbor"]
    assert not [e for e in silent if e["actor"] == "seller" and e["action"] != "open"]
    timeouts = {e["action"] for e in silent if e["auto"] and e["action"].endswith("_timeout")}
    assert {"review_timeout", "pod_timeout", "receipt_timeout", "refund_timeout"} <= timeouts
    per_shop = Counter(e["shop_id"] for e in _steps(month) if e["action"].endswith("_timeout"))
    assert per_shop.most_common(1)[0][0] == "shop-quiet-harbor"


def test_the_strict_shop_rejects_and_the_platform_overturns_some(month: ReplayResult) -> None:
    steps = _steps(month)
    overturned = [e for e in steps if e["overturned"]]
    assert overturned and {e["shop_id"] for e in overturned} == {"shop-kedai-batik"}
    assert {e["to_state"] for e in overturned} == {"refunded", "awaiting_return_shipment"}
    rulings = Counter(e["to_state"] for e in steps if e["action"] == "rule")
    assert rulings["closed"] > 0  # and sometimes the platform denies
    assert {e["action"] for e in steps} >= {
        "auto_approve",
        "seller_cancel",
        "order_shipped",
        "request_pod",
        "submit_pod",
        "escalate",
        "ship_return",
        "confirm_receipt",
        "refund",
        "reject_return",
        "ship_back_timeout",
        "escalation_timeout",
    }


def test_every_id_carries_the_prefix() -> None:
    lines = [json.loads(text) for text in month_scenario(seed=3, prefix="run2-")]
    keys = Counter(
        key for line in lines for key in ("order_id", "case_id", "message_id") if key in line
    )
    assert set(keys) == {"order_id", "case_id", "message_id"}
    for line in lines:
        for key in ("order_id", "case_id", "message_id"):
            if key in line:
                assert line[key].startswith("run2-"), line
