"""The demo's month: deterministic, valid line by line, and telling every kind of ending."""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime

import pytest

from aftersale.demo import month_scenario
from aftersale.replay import ReplayResult, replay

END = datetime(2026, 4, 30, tzinfo=UTC)
TERMINAL = {
    "cancellation": {"cancelled", "closed", "withdrawn"},
    "refund_only": {"refunded", "closed", "withdrawn"},
    "return_refund": {"refunded", "closed", "withdrawn"},
}


@pytest.fixture(scope="module")
def month() -> ReplayResult:
    return replay(month_scenario(seed=7), until=END)


def test_the_same_seed_gives_the_same_month_and_another_seed_another() -> None:
    assert month_scenario(seed=7) == month_scenario(seed=7)
    assert month_scenario(seed=7) != month_scenario(seed=8)


def test_the_month_replays_with_no_refused_line(month: ReplayResult) -> None:
    assert month.errors == []


def test_every_case_ends_and_every_ending_of_every_kind_happens(month: ReplayResult) -> None:
    endings: dict[str, set[str]] = {}
    for case in month.cases:
        endings.setdefault(case["kind"], set()).add(case["state"])
    assert endings == TERMINAL


def test_the_silent_seller_misses_deadlines_and_the_strict_one_is_overturned(
    month: ReplayResult,
) -> None:
    steps = [e for e in month.events if e["type"] == "case.transition"]
    timeouts = Counter(e["shop_id"] for e in steps if e["action"].endswith("_timeout"))
    assert timeouts.most_common(1)[0][0] == "shop-quiet-harbor"
    overturned = {e["shop_id"] for e in steps if e["overturned"]}
    assert overturned == {"shop-kedai-batik"}
    actions = {e["action"] for e in steps}
    assert {
        "review_timeout",
        "pod_timeout",
        "ship_back_timeout",
        "receipt_timeout",
        "refund_timeout",
        "escalation_timeout",
        "order_shipped",
    } <= actions


def test_every_id_carries_the_prefix() -> None:
    for text in month_scenario(seed=3, prefix="run2-"):
        line = json.loads(text)
        for key in ("order_id", "case_id", "message_id"):
            if key in line:
                assert line[key].startswith("run2-"), line
