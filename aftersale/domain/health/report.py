"""The shop health report of health.md: metrics, points, dimensions, score, tier, compliance."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from aftersale.clock import iso
from aftersale.domain.health.facts import OrderRecord, ShopRecord, fold
from aftersale.domain.health.settings import HealthSettings, MetricSpec

MAX_EXAMPLES = 5


@dataclass
class Count:
    numerator: int
    denominator: int
    examples: list[str]  # what cost points


def _in(window_end: datetime, days: int, instant: datetime | None) -> bool:
    return instant is not None and window_end - timedelta(days=days) < instant <= window_end


def _cohort(spec: MetricSpec, order: OrderRecord) -> datetime | None:
    return {"paid": order.paid_at, "delivered": order.delivered_at, "due": order.dispatch_by}.get(
        spec.cohort
    )


def _orders(
    spec: MetricSpec,
    shop: ShopRecord,
    as_of: datetime,
    hit: Callable[[OrderRecord], bool],
    keep: Callable[[OrderRecord], bool] = lambda order: True,
) -> Count:
    cohort = [
        o
        for o in shop.orders.values()
        if _in(as_of, spec.window_days, _cohort(spec, o)) and keep(o)
    ]
    hits = sorted(o.order_id for o in cohort if hit(o))
    return Count(len(hits), len(cohort), hits)


def _review(spec: MetricSpec, shop: ShopRecord, as_of: datetime) -> Count:
    worst, excluded = int(spec.params["max_rating"]), set(spec.params.get("exclude_topics", []))
    return _orders(
        spec,
        shop,
        as_of,
        lambda o: (
            o.first_review is not None
            and o.first_review[0] <= worst
            and o.first_review[1] not in excluded
        ),
    )


def _seller_fault_case(spec: MetricSpec, shop: ShopRecord, as_of: datetime) -> Count:
    kinds, ends = set(spec.params["kinds"]), spec.params.get("end_states")
    return _orders(
        spec,
        shop,
        as_of,
        lambda o: any(
            kind in kinds and responsibility == "seller" and (ends is None or state in ends)
            for kind, state, responsibility in o.cases.values()
        ),
    )


def _late_dispatch(spec: MetricSpec, shop: ShopRecord, as_of: datetime) -> Count:
    def late(o: OrderRecord) -> bool:
        assert o.dispatch_by is not None
        return o.shipped_at is None or o.shipped_at > o.dispatch_by

    def counted(o: OrderRecord) -> bool:
        return not (
            o.cancelled_at is not None
            and o.dispatch_by is not None
            and o.cancelled_at <= o.dispatch_by
        )

    return _orders(spec, shop, as_of, late, counted)


def _complaint(spec: MetricSpec, shop: ShopRecord, as_of: datetime) -> Count:
    return _orders(spec, shop, as_of, lambda o: o.complained)


def _chat_response(spec: MetricSpec, shop: ShopRecord, as_of: datetime) -> Count:
    limit = timedelta(hours=float(spec.params.get("answer_hours", 24)))
    counted, failed, met = 0, [], 0
    for message in shop.messages.values():
        if not _in(as_of, spec.window_days, message.received_at):
            continue
        answered = message.replied_at is not None
        if not answered and as_of - message.received_at <= limit:
            continue  # not answered yet, but not late yet either
        counted += 1
        if answered and message.replied_at - message.received_at <= limit:  # type: ignore[operator]
            met += 1
        else:
            failed.append(message.order_id or message.message_id)
    return Count(met, counted, sorted(failed))


def _seller_deadline(spec: MetricSpec, shop: ShopRecord, as_of: datetime) -> Count:
    resolved = [
        (order_id, met)
        for at, order_id, met in shop.seller_deadlines
        if _in(as_of, spec.window_days, at)
    ]
    missed = sorted({order_id for order_id, met in resolved if not met})
    return Count(sum(1 for _, met in resolved if met), len(resolved), missed)


KINDS: Mapping[str, Callable[[MetricSpec, ShopRecord, datetime], Count]] = {
    "review": _review,
    "seller_fault_case": _seller_fault_case,
    "late_dispatch": _late_dispatch,
    "complaint": _complaint,
    "chat_response": _chat_response,
    "seller_deadline": _seller_deadline,
}


def metric(spec: MetricSpec, shop: ShopRecord, as_of: datetime) -> dict[str, Any]:
    count = KINDS[spec.kind](spec, shop, as_of)
    value = None if count.denominator == 0 else count.numerator / count.denominator
    return {
        "value": None if value is None else round(value, 4),
        "numerator": count.numerator,
        "denominator": count.denominator,
        "points": round(spec.points(value), 2),
        "_points": spec.points(value),
        "window_days": spec.window_days,
        "cohort": spec.cohort,
        "direction": spec.direction,
        "no_data": value is None,
        "examples": count.examples[:MAX_EXAMPLES],
    }


def health_report(
    shop_id: str,
    events: Iterable[Mapping[str, Any]],
    as_of: datetime,
    settings: HealthSettings,
    policy_version: str,
) -> dict[str, Any]:
    """The report of health.md for ``shop_id`` as of ``as_of``, from the shop's events."""
    shop = fold(events, as_of)
    dimensions: dict[str, dict[str, Any]] = {}
    for spec in settings.metrics:
        dimension = dimensions.setdefault(
            spec.dimension, {"weight": settings.dimension_weights[spec.dimension], "metrics": {}}
        )
        dimension["metrics"][spec.metric_id] = metric(spec, shop, as_of)
    score_parts = 0.0
    for dimension in dimensions.values():
        raw = [m.pop("_points") for m in dimension["metrics"].values()]
        dimension_score = sum(raw) / len(raw)
        dimension["score"] = round(dimension_score, 2)
        score_parts += dimension["weight"] * dimension_score
    delivered = sum(
        1
        for o in shop.orders.values()
        if _in(as_of, settings.eligibility_window_days, o.delivered_at)
    )
    eligible = delivered >= settings.eligibility_min_delivered
    score = round(score_parts, 2) if eligible else None
    tier = settings.tier(score)
    overturned = sum(
        1 for at in shop.overturned if _in(as_of, settings.compliance_window_days, at)
    )
    credit = max(0, settings.compliance_start - settings.compliance_per_overturned * overturned)
    return {
        "shop_id": shop_id,
        "as_of": iso(as_of),
        "policy_version": policy_version,
        "eligible": eligible,
        "orders_delivered_90d": delivered,
        "score": score,
        "tier": tier,
        "privileges": list(settings.privileges.get(tier, ())) if tier else [],
        "dimensions": dimensions,
        "compliance": {
            "credit": credit,
            "overturned_rejections_90d": overturned,
            "major_promotions_eligible": credit >= settings.major_promotions_min,
        },
        "alerts": [],
    }


def clearance_alert(
    streak: list[float | None], was_open: bool, settings: HealthSettings
) -> tuple[bool, bool]:
    """(raised, cleared) for a new snapshot; ``streak`` is its score, then earlier ones newest
    first. Raised after N consecutive scores below the line (a null breaks the streak);
    cleared only at or above the clearing line."""
    days = settings.alert_consecutive_days
    below = len(streak) >= days and all(
        score is not None and score < settings.alert_raise_below for score in streak[:days]
    )
    now = streak[0]
    cleared = was_open and now is not None and now >= settings.alert_clear_at_or_above
    return (not was_open and below), cleared
