"""The health score on hand-built shop records: windows, cohorts, points, eligibility, credit."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from aftersale.clock import iso
from aftersale.config import default_config_dir
from aftersale.domain.health.report import counts_from_events, counts_through, health_report
from aftersale.errors import PolicyError
from aftersale.health_config import load_health

SETTINGS, VERSION = load_health()
AS_OF = datetime(2026, 6, 1, tzinfo=UTC)
SPEC = {spec.metric_id: spec for spec in SETTINGS.metrics}


class Shop:
    """Events of one shop, written the way the engine records them."""

    def __init__(self) -> None:
        self.events: list[dict[str, Any]] = []

    def add(self, event_type: str, at: datetime, order_id: str | None, **data: Any) -> Shop:
        self.events.append(
            {
                "type": event_type,
                "at": iso(at),
                "order_id": order_id,
                "shop_id": "shop-a",
                "case_id": data.pop("case_id", None),
                **data,
            }
        )
        return self

    def order(
        self,
        order_id: str,
        paid: datetime,
        *,
        shipped: datetime | None = None,
        delivered: datetime | None = None,
        dispatch_by: datetime | None = None,
    ) -> Shop:
        self.add("order.paid", paid, order_id, dispatch_by=iso(dispatch_by))
        if shipped:
            self.add("order.shipped", shipped, order_id)
        if delivered:
            self.add("order.delivered", delivered, order_id)
        return self

    def step(
        self,
        order_id: str,
        at: datetime,
        kind: str,
        action: str,
        source: str | None,
        target: str,
        actor: str,
        responsibility: str,
        overturned: bool = False,
    ) -> Shop:
        return self.add(
            "case.transition",
            at,
            order_id,
            case_id=f"C-{order_id}",
            kind=kind,
            action=action,
            from_state=source,
            to_state=target,
            actor=actor,
            responsibility=responsibility,
            overturned=overturned,
        )

    def report(self, as_of: datetime = AS_OF) -> dict[str, Any]:
        return health_report("shop-a", self.events, as_of, SETTINGS, VERSION)


def _metric(report: dict[str, Any], metric_id: str) -> dict[str, Any]:
    return report["dimensions"][SPEC[metric_id].dimension]["metrics"][metric_id]


def test_the_window_excludes_exactly_w_days_ago_and_includes_one_second_later() -> None:
    edge = AS_OF - timedelta(days=60)
    shop = (
        Shop()
        .order("O-out", edge - timedelta(days=5), delivered=edge)
        .order("O-in", edge - timedelta(days=5), delivered=edge + timedelta(seconds=1))
    )
    assert _metric(shop.report(), "unsatisfied_order_rate")["denominator"] == 1


def test_only_the_first_review_counts_and_logistics_reviews_are_left_out() -> None:
    day = AS_OF - timedelta(days=10)
    shop = Shop()
    for name in ("O-bad", "O-good-then-bad", "O-courier"):
        shop.order(name, day - timedelta(days=5), delivered=day)
    shop.add("review.posted", day + timedelta(hours=1), "O-bad", rating=1, topic="product")
    shop.add(
        "review.posted", day + timedelta(hours=1), "O-good-then-bad", rating=5, topic="product"
    )
    shop.add(
        "review.posted", day + timedelta(hours=2), "O-good-then-bad", rating=1, topic="product"
    )
    shop.add("review.posted", day + timedelta(hours=1), "O-courier", rating=1, topic="logistics")
    metric = _metric(shop.report(), "unsatisfied_order_rate")
    assert (metric["numerator"], metric["denominator"], metric["examples"]) == (1, 3, ["O-bad"])


def test_a_late_review_counts_for_its_delivery_cohort_once_it_is_known() -> None:
    delivered = AS_OF - timedelta(days=50)
    shop = Shop().order("O-1", delivered - timedelta(days=3), delivered=delivered)
    shop.add("review.posted", AS_OF - timedelta(days=2), "O-1", rating=2, topic="service")
    assert (
        _metric(shop.report(AS_OF - timedelta(days=3)), "unsatisfied_order_rate")["numerator"] == 0
    )
    assert _metric(shop.report(), "unsatisfied_order_rate")["numerator"] == 1


def test_late_dispatch_leaves_out_orders_cancelled_before_they_were_due() -> None:
    due = AS_OF - timedelta(days=5)
    paid = due - timedelta(days=2)
    shop = (
        Shop()
        .order("O-late", paid, shipped=due + timedelta(hours=1), dispatch_by=due)
        .order("O-never", paid, dispatch_by=due)
        .order("O-on-time", paid, shipped=due, dispatch_by=due)
        .order("O-cancelled", paid, dispatch_by=due)
    )
    shop.step(
        "O-cancelled",
        due - timedelta(hours=3),
        "cancellation",
        "auto_approve",
        "pending_review",
        "cancelled",
        "system",
        "buyer",
    )
    metric = _metric(shop.report(), "late_dispatch_rate")
    assert (metric["numerator"], metric["denominator"]) == (2, 3)
    assert metric["examples"] == ["O-never", "O-late"]  # due at the same instant: ids descending


def test_seller_fault_rates_count_responsibility_as_of_the_report() -> None:
    paid = AS_OF - timedelta(days=10)
    shop = Shop().order("O-1", paid).order("O-2", paid)
    shop.step(
        "O-1",
        paid + timedelta(hours=5),
        "cancellation",
        "open",
        None,
        "pending_review",
        "seller",
        "seller",
    )
    shop.step(
        "O-1",
        paid + timedelta(hours=5),
        "cancellation",
        "seller_cancel",
        "pending_review",
        "cancelled",
        "system",
        "seller",
    )
    shop.step(
        "O-2",
        paid + timedelta(hours=5),
        "cancellation",
        "open",
        None,
        "pending_review",
        "buyer",
        "seller",
    )
    shop.step(
        "O-2",
        paid + timedelta(hours=6),
        "cancellation",
        "reject",
        "pending_review",
        "closed",
        "seller",
        "seller",
    )  # seller fault but not cancelled: not counted
    metric = _metric(shop.report(), "seller_fault_cancellation_rate")
    assert (metric["numerator"], metric["denominator"], metric["value"]) == (1, 2, 0.5)


def test_messages_not_yet_a_day_old_are_left_out_and_slow_answers_fail() -> None:
    shop = Shop()
    for name, received, replied in [
        ("M-fast", AS_OF - timedelta(days=3), AS_OF - timedelta(days=3) + timedelta(hours=2)),
        ("M-slow", AS_OF - timedelta(days=3), AS_OF - timedelta(days=1)),
        ("M-unanswered-old", AS_OF - timedelta(days=2), None),
        ("M-fresh", AS_OF - timedelta(hours=5), None),
    ]:
        shop.add("message.received", received, None, message_id=name)
        if replied:
            shop.add("message.replied", replied, None, message_id=name)
    metric = _metric(shop.report(), "chat_response_rate_24h")
    assert (metric["numerator"], metric["denominator"]) == (1, 3)
    assert metric["examples"] == ["M-unanswered-old", "M-slow"]  # the most recent first


def test_seller_deadlines_met_missed_and_not_counted() -> None:
    at = AS_OF - timedelta(days=3)
    shop = Shop().order("O-1", at).order("O-2", at).order("O-3", at)
    shop.step("O-1", at, "refund_only", "approve", "pending_review", "refunded", "seller", "none")
    shop.step(
        "O-2", at, "refund_only", "review_timeout", "pending_review", "refunded", "system", "none"
    )
    shop.step(
        "O-3", at, "refund_only", "withdraw", "pending_review", "withdrawn", "buyer", "none"
    )  # the buyer ended it: no seller deadline resolved
    metric = _metric(shop.report(), "after_sale_on_time_rate")
    assert (metric["numerator"], metric["denominator"], metric["examples"]) == (1, 2, ["O-2"])


def test_no_data_scores_full_points_and_29_delivered_orders_are_not_scored() -> None:
    day = AS_OF - timedelta(days=20)
    shop = Shop()
    for number in range(29):
        shop.order(f"O-{number}", day - timedelta(days=3), delivered=day)
    report = shop.report()
    assert (report["eligible"], report["score"], report["tier"]) == (False, None, None)
    assert _metric(report, "chat_response_rate_24h")["no_data"] is True
    assert _metric(report, "chat_response_rate_24h")["points"] == 5.0
    shop.order("O-29", day - timedelta(days=3), delivered=day)
    report = shop.report()
    assert (report["eligible"], report["score"], report["tier"]) == (True, 5.0, "excellent")


def test_the_score_is_the_weighted_sum_of_dimension_means() -> None:
    day = AS_OF - timedelta(days=20)
    shop = Shop()
    for number in range(40):
        shop.order(f"O-{number}", day - timedelta(days=3), delivered=day)
    shop.add("complaint.filed", day, "O-1")  # complaint rate 1/40 = 2.5 %
    report = shop.report()
    dims = report["dimensions"]
    expected = sum(
        d["weight"] * sum(m["points"] for m in d["metrics"].values()) / len(d["metrics"])
        for d in dims.values()
    )
    assert report["score"] == pytest.approx(expected, abs=0.01)
    assert _metric(report, "complaint_rate")["points"] == pytest.approx(3.25)


@pytest.mark.parametrize(
    ("metric_id", "value", "low", "high"),
    [
        ("seller_fault_cancellation_rate", 0.025, 4.0, 4.0),  # at most 2.5 %: 4 points
        ("late_dispatch_rate", 0.04, 4.0, 4.0),  # at most 4 %: 4 points
        ("unsatisfied_order_rate", 0.0119, 4.0, 5.0),  # under 1.2 %: at least 4
        ("seller_fault_cancellation_rate", 0.0, 5.0, 5.0),  # perfect
        ("chat_response_rate_24h", 1.0, 5.0, 5.0),
        ("after_sale_on_time_rate", 0.0, 0.0, 0.0),
    ],
)
def test_bands_follow_the_public_targets(
    metric_id: str, value: float, low: float, high: float
) -> None:
    assert low <= SPEC[metric_id].points(value) <= high


@pytest.mark.parametrize(
    ("score", "tier"),
    [
        (4.5, "excellent"),
        (4.49, "good"),
        (4.0, "good"),
        (3.99, "fair"),
        (3.0, "fair"),
        (2.99, "poor"),
        (None, None),
    ],
)
def test_tier_boundaries(score: float | None, tier: str | None) -> None:
    assert SETTINGS.tier(score) == tier


def test_each_overturned_rejection_costs_five_credits_and_below_80_loses_promotions() -> None:
    shop = Shop()
    for number in range(5):
        order_id = f"O-{number}"
        shop.order(order_id, AS_OF - timedelta(days=20))
        shop.step(
            order_id,
            AS_OF - timedelta(days=10),
            "refund_only",
            "rule",
            "platform_review",
            "refunded",
            "platform",
            "seller",
            overturned=True,
        )
    assert shop.report()["compliance"] == {
        "credit": 75,
        "overturned_rejections_90d": 5,
        "major_promotions_eligible": False,
    }


def test_a_broken_health_file_names_the_key(tmp_path: Path) -> None:
    folder = tmp_path / "config"
    shutil.copytree(default_config_dir(), folder)
    path = folder / "health.toml"
    path.write_text(path.read_text().replace("weight = 0.20", "weight = 0.25"))
    with pytest.raises(PolicyError, match=r"health\.toml: dimensions: weights add up"):
        load_health(folder)
    path.write_text(
        path.read_text()
        .replace("weight = 0.25", "weight = 0.20")
        .replace('kind = "complaint"', 'kind = "vibes"')
    )
    with pytest.raises(PolicyError, match=r"metrics\.complaint_rate\.kind"):
        load_health(folder)


def _alerts(scores: list[float | None]) -> list[str]:
    """Feed daily scores through the alert rule; what happened on each day."""
    from aftersale.domain.health.report import clearance_alert

    history: list[float | None] = []
    is_open, out = False, []
    for score in scores:
        history.insert(0, score)
        raised, cleared = clearance_alert(history, is_open, SETTINGS)
        is_open = raised or (is_open and not cleared)
        out.append("raised" if raised else "cleared" if cleared else "open" if is_open else "-")
    return out


def test_an_alert_is_raised_on_the_seventh_day_below_four() -> None:
    assert _alerts([3.9] * 7) == ["-"] * 6 + ["raised"]
    assert _alerts([3.9] * 6 + [4.0, 3.9]) == ["-"] * 8  # 4.0 is not below


def test_an_alert_clears_at_4_2_and_not_at_4_1() -> None:
    assert _alerts([3.5] * 7 + [4.1, 4.19, 4.2, 3.9]) == (
        ["-"] * 6 + ["raised", "open", "open", "cleared", "-"]
    )


def test_a_null_score_breaks_a_streak_and_raises_nothing() -> None:
    assert _alerts([3.0] * 3 + [None] + [3.0] * 6) == ["-"] * 10
    assert _alerts([3.0] * 7 + [None, None]) == ["-"] * 6 + ["raised", "open", "open"]


def test_examples_are_the_five_most_recent_orders_that_cost_points() -> None:
    shop = Shop()
    for n in range(8):  # paid a day apart, never shipped: all late
        paid = AS_OF - timedelta(days=20 - n)
        shop.order(f"O-{n}", paid, dispatch_by=paid + timedelta(days=2))
    metric = _metric(shop.report(), "late_dispatch_rate")
    assert metric["numerator"] == 8
    assert metric["examples"] == ["O-7", "O-6", "O-5", "O-4", "O-3"]


def test_backfill_counts_an_order_whose_facts_were_recorded_out_of_time_order() -> None:
    """The one-pass count of backfill agrees with a fold per day even when a fact with an
    earlier instant was recorded after a later one (the first review is the first recorded)."""
    paid = AS_OF - timedelta(days=10)
    shop = Shop().order(
        "O-1", paid, shipped=paid + timedelta(hours=5), delivered=paid + timedelta(days=1)
    )
    shop.add("review.posted", paid + timedelta(days=4), "O-1", rating=5, topic="product")
    shop.add("review.posted", paid + timedelta(days=3), "O-1", rating=1, topic="product")
    shop.order("O-2", paid, shipped=paid + timedelta(hours=5), delivered=paid + timedelta(days=1))
    instants = [paid + timedelta(days=n, hours=12) for n in range(2, 7)]
    through = dict(counts_through(shop.events, instants, SETTINGS))
    for instant in instants:
        assert through[instant] == counts_from_events(shop.events, instant, SETTINGS)
    unsatisfied = [through[i]["unsatisfied_order_rate"].numerator for i in instants]
    assert unsatisfied == [0, 1, 0, 0, 0]  # the 1-star review counts only until the 5-star one
