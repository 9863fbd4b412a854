"""Load and validate config/governance.toml into frozen :class:`GovernanceSettings`.

Every key is checked by :mod:`aftersale.config_checks` (type, range, unknown keys refused),
each fault naming its dotted key; the version is hashed only once the whole file is valid.
A breach rule must name a metric of health.toml: the loader is given those names.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection
from pathlib import Path
from typing import Any

from aftersale import config_checks as check
from aftersale.config import default_config_dir
from aftersale.config_checks import Key
from aftersale.domain.tickets.model import Category
from aftersale.domain.tickets.settings import (
    CLEARANCE_NOTICE,
    MAX_KIND_LENGTH,
    MAX_RULE_ID_LENGTH,
    MAX_TICKET_POINTS,
    VERSION_PREFIX,
    BreachRule,
    GovernanceSettings,
    Milestone,
)

FILE = "governance.toml"
TABLES = ("appeals", "points", "milestones", "breach_rules")
APPEALS: dict[str, check.Check] = {
    "first_window": check.duration,
    "second_window": check.duration,
    "reply_business_days": check.days,
}
POINTS: dict[str, check.Check] = {"window": check.duration}


def _rate(raw: Any, where: Key) -> float:
    return check.number(raw, where, 0, 1)


def _ticket_points(raw: Any, where: Key) -> int:
    return check.whole(raw, where, 1, MAX_TICKET_POINTS)


def _category(raw: Any, where: Key) -> Category:
    return Category(check.choice(raw, where, [c.value for c in Category]))


def _milestone_points(raw: Any, where: Key) -> int:
    return check.whole(raw, where, 1, check.MAX_COUNT)


RULE: dict[str, check.Check] = {
    "metric": check.code,
    "worse_than": _rate,
    "min_denominator": check.count,
    "category": _category,
    "points": _ticket_points,
    "cooldown": check.duration,
}


def load_governance(
    config_dir: Path | None = None, metrics: Collection[str] | None = None
) -> GovernanceSettings:
    """The settings of ``config_dir``'s governance.toml; ``metrics`` are the metric ids a
    breach rule may name (health.toml's, read from the same folder when not given)."""
    return read_governance(config_dir, metrics)[0]


def read_governance(
    config_dir: Path | None = None, metrics: Collection[str] | None = None
) -> tuple[GovernanceSettings, dict[str, Any]]:
    """The settings of ``config_dir``'s governance.toml and the document they came from (the
    engine stores it under the settings' version, for the tickets pinned to them)."""
    folder = config_dir or default_config_dir()
    if metrics is None:
        from aftersale.health_config import load_health

        metrics = [spec.metric_id for spec in load_health(folder)[0].metrics]
    document = check.read_toml(folder, FILE)
    return settings_from(document, metrics), document


def governance_version(document: dict[str, Any]) -> str:
    canonical = json.dumps(document, sort_keys=True, separators=(",", ":"), default=str)
    return f"{VERSION_PREFIX}{hashlib.sha256(canonical.encode()).hexdigest()[:12]}"


def settings_from(doc: dict[str, Any], metrics: Collection[str] | None) -> GovernanceSettings:
    """The settings of one parsed governance.toml; a PolicyError names the first bad key.
    ``metrics`` are the metric ids a rule may name (None: settings stored when they were
    checked, read back whatever health.toml now has)."""
    file = Key(FILE)
    check.table(doc, file, TABLES)
    appeals = check.fields(doc.get("appeals"), file / "appeals", APPEALS)
    points = check.fields(doc.get("points"), file / "points", POINTS)
    milestones = _milestones(doc.get("milestones"), file / "milestones")
    rules = _rules(doc.get("breach_rules"), file / "breach_rules", metrics)
    return GovernanceSettings(
        version=governance_version(doc),
        first_appeal_window=appeals["first_window"],
        second_appeal_window=appeals["second_window"],
        reply_business_days=appeals["reply_business_days"],
        points_window=points["window"],
        milestones=milestones,
        breach_rules=rules,
    )


def _milestones(raw: Any, where: Key) -> tuple[Milestone, ...]:
    found = []
    for kind, table in check.table(raw, where).items():
        at = where / kind
        check.code(kind, at)
        if len(kind) > MAX_KIND_LENGTH:  # a punishment records its kind
            at.refuse(f"a milestone's name may have at most {MAX_KIND_LENGTH} characters")
        keys = ("points",) if kind == CLEARANCE_NOTICE else ("points", "lasts")
        values = check.fields(table, at, {key: _MILESTONE[key] for key in keys})
        found.append(Milestone(kind, values["points"], values.get("lasts")))
    seen: dict[int, str] = {}
    for milestone in found:
        if milestone.points in seen:
            (where / milestone.kind / "points").refuse(
                f"{milestone.points} is also {seen[milestone.points]}'s: one milestone a number"
            )
        seen[milestone.points] = milestone.kind
    return tuple(sorted(found, key=lambda m: m.points))


_MILESTONE: dict[str, check.Check] = {"points": _milestone_points, "lasts": check.duration}


def _rules(raw: Any, where: Key, metrics: Collection[str] | None) -> tuple[BreachRule, ...]:
    rules = []
    for rule_id, table in check.table(raw, where, optional=True).items():
        at = where / rule_id
        check.code(rule_id, at)
        if ":" in rule_id or "/" in rule_id:
            at.refuse("a rule id may not contain ':' or '/' (it is part of ticket ids)")
        if len(rule_id) > MAX_RULE_ID_LENGTH:  # a ticket records "rule:<id>" as its source
            at.refuse(f"a rule id may have at most {MAX_RULE_ID_LENGTH} characters")
        values = check.fields(table, at, RULE)
        if metrics is not None and values["metric"] not in metrics:
            (at / "metric").refuse(f"unknown metric; health.toml has: {', '.join(metrics)}")
        rules.append(BreachRule(rule_id, **values))
    return tuple(rules)
