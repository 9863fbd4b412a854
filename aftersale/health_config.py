"""Load and validate config/health.toml into frozen :class:`HealthSettings`.

Every key is checked by :mod:`aftersale.config_checks` (type, range, unknown keys refused);
the version is hashed only once the whole file is known to be valid.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from aftersale import config_checks as check
from aftersale.config import default_config_dir
from aftersale.config_checks import Key
from aftersale.domain.health.settings import (
    COHORTS,
    DIRECTIONS,
    METRIC_KINDS,
    POINTS_MAX,
    HealthSettings,
    MetricSpec,
)
from aftersale.domain.model import Kind, State
from aftersale.domain.policy import MAX_WINDOW_DAYS

FILE = "health.toml"
TABLES = ("score", "privileges", "compliance", "alerts", "dimensions", "metrics")
METRIC_KEYS = ("dimension", "kind", "cohort", "window_days", "direction", "bands")


def _hours(raw: Any, where: Key) -> float:
    return check.number(raw, where, 0, MAX_WINDOW_DAYS * 24)


def _points(raw: Any, where: Key) -> float:
    return check.number(raw, where, 0, POINTS_MAX)


def _rating(raw: Any, where: Key) -> int:
    return check.whole(raw, where, 1, 5)


def _kinds(raw: Any, where: Key) -> list[str]:
    return check.codes(raw, where, Kind)


def _states(raw: Any, where: Key) -> list[str]:
    return check.codes(raw, where, State)


def _tiers(raw: Any, where: Key) -> tuple[tuple[str, float], ...]:
    floor = check.is_number(0, POINTS_MAX)
    tiers = tuple(
        (str(name), float(low))
        for name, low in check.pairs(raw, where, "[name, floor]", check.is_code, floor, 1)
    )
    floors = [low for _, low in tiers]
    if floors != sorted(floors, reverse=True) or len({name for name, _ in tiers}) < len(tiers):
        where.refuse("must list [name, floor] pairs, best first, each name once")
    if floors[-1] != 0:
        where.refuse("the last tier's floor must be 0, so that every score has a tier")
    return tiers


# each kind's parameters: name -> (required, check)
PARAMS: dict[str, dict[str, tuple[bool, check.Check]]] = {
    "review": {"max_rating": (True, _rating), "exclude_topics": (False, check.codes)},
    "seller_fault_case": {"kinds": (True, _kinds), "end_states": (False, _states)},
    "late_dispatch": {},
    "complaint": {},
    "chat_response": {"answer_hours": (False, _hours)},
    "seller_deadline": {},
}

SCORE: dict[str, check.Check] = {
    "eligibility_min_delivered": check.count,
    "eligibility_window_days": check.days,
    "tiers": _tiers,
}
COMPLIANCE: dict[str, check.Check] = {
    "start": check.count,
    "per_overturned_rejection": check.count,
    "window_days": check.days,
    "major_promotions_min": check.count,
}
ALERTS: dict[str, check.Check] = {
    "raise_below": _points,
    "consecutive_days": check.days,
    "clear_at_or_above": _points,
}


def load_health(config_dir: Path | None = None) -> tuple[HealthSettings, str]:
    """The settings and their version (a hash of the file's contents)."""
    document = check.read_toml(config_dir or default_config_dir(), FILE)
    settings = settings_from(document)
    canonical = json.dumps(document, sort_keys=True).encode()
    return settings, f"health-{hashlib.sha256(canonical).hexdigest()[:12]}"


def settings_from(doc: dict[str, Any]) -> HealthSettings:
    file = Key(FILE)
    check.table(doc, file, TABLES)
    weights = _weights(doc.get("dimensions"), file / "dimensions")
    metrics = _metrics(doc.get("metrics"), file / "metrics", weights)
    score = check.fields(doc.get("score"), file / "score", SCORE)
    compliance = check.fields(doc.get("compliance"), file / "compliance", COMPLIANCE)
    alerts = check.fields(doc.get("alerts"), file / "alerts", ALERTS)
    if alerts["clear_at_or_above"] < alerts["raise_below"]:
        (file / "alerts" / "clear_at_or_above").refuse("must be at least raise_below")
    return HealthSettings(
        metrics=metrics,
        dimension_weights=weights,
        eligibility_min_delivered=score["eligibility_min_delivered"],
        eligibility_window_days=score["eligibility_window_days"],
        tiers=score["tiers"],
        privileges=_privileges(doc.get("privileges"), file / "privileges", score["tiers"]),
        compliance_start=compliance["start"],
        compliance_per_overturned=compliance["per_overturned_rejection"],
        compliance_window_days=compliance["window_days"],
        major_promotions_min=compliance["major_promotions_min"],
        alert_raise_below=alerts["raise_below"],
        alert_consecutive_days=alerts["consecutive_days"],
        alert_clear_at_or_above=alerts["clear_at_or_above"],
    )


def _weights(raw: Any, where: Key) -> dict[str, float]:
    weights: dict[str, float] = {}
    for name, table in check.table(raw, where).items():
        check.code(name, where / name)
        weight = check.table(table, where / name, ("weight",)).get("weight")
        weights[name] = check.number(weight, where / name / "weight", 0, 1)
    if abs(sum(weights.values()) - 1.0) > 1e-9:
        where.refuse(f"weights add up to {sum(weights.values())}, not 1")
    return weights


def _privileges(
    raw: Any, where: Key, tiers: tuple[tuple[str, float], ...]
) -> dict[str, tuple[str, ...]]:
    table = check.table(raw, where, [name for name, _ in tiers], optional=True)
    return {tier: tuple(check.codes(names, where / tier)) for tier, names in table.items()}


def _metrics(raw: Any, where: Key, weights: Mapping[str, float]) -> tuple[MetricSpec, ...]:
    metrics = tuple(
        _metric(str(name), table, where / name, weights)
        for name, table in check.table(raw, where).items()
    )
    for dimension in weights:
        if not any(spec.dimension == dimension for spec in metrics):
            (Key(FILE) / "dimensions" / dimension).refuse("no metric is in this dimension")
    return metrics


def _metric(name: str, raw: Any, where: Key, weights: Mapping[str, float]) -> MetricSpec:
    check.code(name, where)
    table = check.table(raw, where)
    kind = check.choice(table.get("kind"), where / "kind", sorted(METRIC_KINDS))
    params = PARAMS.get(kind, {})
    check.table(table, where, [*METRIC_KEYS, *params])
    for key, (required, _) in params.items():
        if required and key not in table:
            (where / key).refuse(f"a {kind} metric needs it")
    spec = MetricSpec(
        name,
        check.choice(table.get("dimension"), where / "dimension", weights),
        kind,
        check.choice(table.get("cohort"), where / "cohort", sorted(COHORTS)),
        check.days(table.get("window_days"), where / "window_days"),
        check.choice(table.get("direction"), where / "direction", sorted(DIRECTIONS)),
        _bands(table.get("bands"), where / "bands"),
        {key: test(table[key], where / key) for key, (_, test) in params.items() if key in table},
    )
    perfect = 0.0 if spec.direction == "lower_is_better" else 1.0
    if spec.points(perfect) != POINTS_MAX:
        (where / "bands").refuse(f"a perfect value ({perfect}) must score {POINTS_MAX:g}")
    return spec


def _bands(raw: Any, where: Key) -> tuple[tuple[float, float], ...]:
    """Rates (0 to 1) and the points (0 to 5) they score, the rates rising."""
    rate, points = check.is_number(0, 1), check.is_number(0, POINTS_MAX)
    bands = tuple(
        (float(value), float(score))
        for value, score in check.pairs(raw, where, "[value, points]", rate, points, 2)
    )
    values = [value for value, _ in bands]
    if values != sorted(values):
        where.refuse("values must rise")
    return bands
