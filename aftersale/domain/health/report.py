"""The shop health report of health.md: metrics, points, dimensions, score, tier, compliance."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from aftersale.clock import iso
from aftersale.domain.health.facts import ShopRecord, apply, fold, subject_of
from aftersale.domain.health.items import COMPLIANCE, ELIGIBILITY, Count, count, measures
from aftersale.domain.health.settings import HealthSettings, MetricSpec


def metric(spec: MetricSpec, count: Count) -> dict[str, Any]:
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
        "examples": count.examples,
    }


def counts_from_events(
    events: Iterable[Mapping[str, Any]], as_of: datetime, settings: HealthSettings
) -> dict[str, Count]:
    """Every measure's count as of ``as_of``, folded from the shop's whole event log."""
    shop = fold(events, as_of)
    return {m.name: count(m, m.list_items(shop), as_of) for m in measures(settings)}


def counts_through(
    events: Sequence[Mapping[str, Any]], instants: Sequence[datetime], settings: HealthSettings
) -> Iterator[tuple[datetime, dict[str, Count]]]:
    """Every measure's count at each of ``instants`` (ascending), in one pass over the log.

    Equal to :func:`counts_from_events` at each instant. The log is applied in time order, which
    is what folding up to each instant does for every order or message whose events were
    recorded in time order; the rare one that was not (a timeout fired late, after a later fact)
    is folded again from its own events at each instant.
    """
    by_subject: dict[str, list[Mapping[str, Any]]] = {}
    for event in events:
        if (key := subject_of(event)) is not None:
            by_subject.setdefault(key, []).append(event)
    in_order: list[list[Mapping[str, Any]]] = []
    refolded: list[list[Mapping[str, Any]]] = []
    for story in by_subject.values():
        instants_of = [datetime.fromisoformat(event["at"]) for event in story]
        (in_order if instants_of == sorted(instants_of) else refolded).append(story)
    timeline = sorted(
        ((datetime.fromisoformat(event["at"]), event) for story in in_order for event in story),
        key=lambda pair: pair[0],
    )  # stable: a subject's events at one instant stay in the order they were recorded
    shop, applied, every = ShopRecord(), 0, measures(settings)
    for instant in instants:
        while applied < len(timeline) and timeline[applied][0] <= instant:
            apply(shop, timeline[applied][1], timeline[applied][0])
            applied += 1
        records = [shop, *(fold(story, instant) for story in refolded)]
        yield (
            instant,
            {
                m.name: count(m, (i for r in records for i in m.list_items(r)), instant)
                for m in every
            },
        )


def health_report(
    shop_id: str,
    events: Iterable[Mapping[str, Any]],
    as_of: datetime,
    settings: HealthSettings,
    policy_version: str,
) -> dict[str, Any]:
    """The report of health.md for ``shop_id`` as of ``as_of``, from the shop's events."""
    counts = counts_from_events(events, as_of, settings)
    return report_from_counts(shop_id, counts, as_of, settings, policy_version)


def report_from_counts(
    shop_id: str,
    counts: Mapping[str, Count],
    as_of: datetime,
    settings: HealthSettings,
    policy_version: str,
) -> dict[str, Any]:
    """The report of health.md from each measure's count, however they were counted."""
    dimensions: dict[str, dict[str, Any]] = {}
    for spec in settings.metrics:
        dimension = dimensions.setdefault(
            spec.dimension, {"weight": settings.dimension_weights[spec.dimension], "metrics": {}}
        )
        dimension["metrics"][spec.metric_id] = metric(spec, counts[spec.metric_id])
    score_parts = 0.0
    for dimension in dimensions.values():
        raw = [m.pop("_points") for m in dimension["metrics"].values()]
        dimension_score = sum(raw) / len(raw)
        dimension["score"] = round(dimension_score, 2)
        score_parts += dimension["weight"] * dimension_score
    delivered = counts[ELIGIBILITY].denominator
    eligible = delivered >= settings.eligibility_min_delivered
    score = round(score_parts, 2) if eligible else None
    tier = settings.tier(score)
    overturned = counts[COMPLIANCE].denominator
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
