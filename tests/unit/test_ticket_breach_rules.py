"""Breach rules at one snapshot: the threshold's edge, the minimum denominator, the cooldown,
no data, and the ticket each rule issues (governance.md)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from aftersale.domain.tickets.breach import breach_tickets
from aftersale.domain.tickets.issue import TicketRequest
from aftersale.domain.tickets.model import Ticket
from tests.unit.ticket_world import GOVERNANCE, RULES, US

SNAPSHOT_MIDNIGHT = datetime(2026, 4, 1, 4, 0, tzinfo=UTC)  # local midnight in New York
LOCAL_DAY = date(2026, 4, 1)
# rule -> (metric, threshold, min denominator, direction), from governance.md's table
DEFAULTS = {
    "late_dispatch": ("late_dispatch_rate", 0.04, 10, "lower_is_better"),
    "seller_fault_cancellation": ("seller_fault_cancellation_rate", 0.025, 10, "lower_is_better"),
    "negative_reviews": ("unsatisfied_order_rate", 0.05, 20, "lower_is_better"),
    "seller_fault_returns": ("seller_fault_return_refund_rate", 0.05, 20, "lower_is_better"),
    "slow_chat": ("chat_response_rate_24h", 0.80, 10, "higher_is_better"),
}
STEP = 0.0001  # the report's precision


def report(metric: str, value: float | None, denominator: int, direction: str) -> dict[str, Any]:
    reading = {
        "value": value,
        "denominator": denominator,
        "direction": direction,
        "examples": ["order-1", "order-2"],
    }
    return {"shop_id": "shop-harbour", "dimensions": {"d": {"metrics": {metric: reading}}}}


def fired(
    rep: dict[str, Any], tickets: list[Ticket] | None = None, at: datetime = SNAPSHOT_MIDNIGHT
) -> list[TicketRequest]:
    return breach_tickets(rep, tickets or [], at, LOCAL_DAY, GOVERNANCE)


@pytest.mark.parametrize("rule", DEFAULTS)
def test_each_default_rule_fires_just_past_its_threshold_and_not_at_it(rule: str) -> None:
    metric, threshold, minimum, direction = DEFAULTS[rule]
    worse = threshold + STEP if direction == "lower_is_better" else threshold - STEP
    better = threshold - STEP if direction == "lower_is_better" else threshold + STEP
    assert fired(report(metric, threshold, minimum, direction)) == []
    assert fired(report(metric, better, minimum, direction)) == []
    (ticket,) = fired(report(metric, round(worse, 4), minimum, direction))
    assert ticket.ticket_id == f"auto-{rule}-shop-harbour-2026-04-01"
    assert (ticket.reason, ticket.source) == (rule, f"rule:{rule}")
    assert ticket.metric == {
        "metric": metric,
        "value": round(worse, 4),
        "denominator": minimum,
        "examples": ["order-1", "order-2"],
    }


@pytest.mark.parametrize("rule", DEFAULTS)
def test_each_default_rule_needs_its_minimum_denominator(rule: str) -> None:
    metric, _, minimum, direction = DEFAULTS[rule]
    worst = 1.0 if direction == "lower_is_better" else 0.0
    assert fired(report(metric, worst, minimum - 1, direction)) == []
    assert len(fired(report(metric, worst, minimum, direction))) == 1


@pytest.mark.parametrize("rule", DEFAULTS)
def test_no_data_never_fires(rule: str) -> None:
    metric, _, minimum, direction = DEFAULTS[rule]
    assert fired(report(metric, None, minimum * 10, direction)) == []


@pytest.mark.parametrize("rule", DEFAULTS)
def test_each_default_rule_keeps_a_seven_day_half_open_cooldown(rule: str) -> None:
    metric, _, minimum, direction = DEFAULTS[rule]
    worst = report(metric, 1.0 if direction == "lower_is_better" else 0.0, minimum, direction)
    (request,) = fired(worst, at=SNAPSHOT_MIDNIGHT - timedelta(days=7))
    previous, _ = RULES.issue(request, GOVERNANCE, US, SNAPSHOT_MIDNIGHT - timedelta(days=7))
    assert fired(worst, [previous], SNAPSHOT_MIDNIGHT - timedelta(microseconds=1)) == []
    assert len(fired(worst, [previous], SNAPSHOT_MIDNIGHT)) == 1
    other_rule = next(r for r in DEFAULTS if r != rule)
    assert previous.rule == rule and other_rule != rule


def test_a_platform_ticket_does_not_start_a_rules_cooldown() -> None:
    from tests.unit.ticket_world import issued

    by_hand = issued(at=SNAPSHOT_MIDNIGHT - timedelta(days=1))
    late = report("late_dispatch_rate", 0.5, 40, "lower_is_better")
    assert len(fired(late, [by_hand])) == 1


def test_a_metric_missing_from_the_report_fires_nothing() -> None:
    assert fired({"shop_id": "shop-harbour", "dimensions": {}}) == []
