"""Load and validate config/health.toml into frozen :class:`HealthSettings`."""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any

from aftersale.config import default_config_dir
from aftersale.domain.health.settings import (
    COHORTS,
    DIRECTIONS,
    METRIC_KINDS,
    HealthSettings,
    MetricSpec,
)
from aftersale.errors import PolicyError

FILE = "health.toml"
REQUIRED_PARAMS = {"review": ("max_rating",), "seller_fault_case": ("kinds",)}


def load_health(config_dir: Path | None = None) -> tuple[HealthSettings, str]:
    """The settings and their version (a hash of the file's contents)."""
    path = (config_dir or default_config_dir()) / FILE
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise PolicyError(FILE, "(file)", "missing") from None
    except tomllib.TOMLDecodeError as error:
        raise PolicyError(FILE, "(syntax)", str(error)) from None
    canonical = json.dumps(document, sort_keys=True).encode()
    return settings_from(document), f"health-{hashlib.sha256(canonical).hexdigest()[:12]}"


def settings_from(doc: dict[str, Any]) -> HealthSettings:
    score, compliance, alerts = (
        _table(doc, "score"),
        _table(doc, "compliance"),
        _table(doc, "alerts"),
    )
    weights = {
        name: _number(t, "weight", f"dimensions.{name}")
        for name, t in _table(doc, "dimensions").items()
    }
    if abs(sum(weights.values()) - 1.0) > 1e-9:
        raise PolicyError(FILE, "dimensions", f"weights add up to {sum(weights.values())}, not 1")
    metrics = tuple(_metric(name, t, weights) for name, t in _table(doc, "metrics").items())
    tiers = tuple((str(name), float(floor)) for name, floor in score.get("tiers", []))
    if not tiers or [f for _, f in tiers] != sorted((f for _, f in tiers), reverse=True):
        raise PolicyError(FILE, "score.tiers", "must list [name, floor] pairs, best first")
    return HealthSettings(
        metrics=metrics,
        dimension_weights=weights,
        eligibility_min_delivered=_int(score, "eligibility_min_delivered", "score"),
        eligibility_window_days=_int(score, "eligibility_window_days", "score"),
        tiers=tiers,
        privileges={k: tuple(v) for k, v in doc.get("privileges", {}).items()},
        compliance_start=_int(compliance, "start", "compliance"),
        compliance_per_overturned=_int(compliance, "per_overturned_rejection", "compliance"),
        compliance_window_days=_int(compliance, "window_days", "compliance"),
        major_promotions_min=_int(compliance, "major_promotions_min", "compliance"),
        alert_raise_below=_number(alerts, "raise_below", "alerts"),
        alert_consecutive_days=_int(alerts, "consecutive_days", "alerts"),
        alert_clear_at_or_above=_number(alerts, "clear_at_or_above", "alerts"),
    )


def _metric(name: str, table: dict[str, Any], weights: dict[str, float]) -> MetricSpec:
    where = f"metrics.{name}"
    checks = (
        ("dimension", set(weights)),
        ("kind", METRIC_KINDS),
        ("cohort", COHORTS),
        ("direction", DIRECTIONS),
    )
    for key, allowed in checks:
        if table.get(key) not in allowed:
            raise PolicyError(
                FILE, f"{where}.{key}", f"must be one of {', '.join(sorted(allowed))}"
            )
    for key in REQUIRED_PARAMS.get(table["kind"], ()):
        if key not in table:
            raise PolicyError(FILE, f"{where}.{key}", f"a {table['kind']} metric needs it")
    bands = table.get("bands")
    if (
        not isinstance(bands, list)
        or len(bands) < 2
        or not all(isinstance(b, list) and len(b) == 2 for b in bands)
    ):
        raise PolicyError(FILE, f"{where}.bands", "must be at least two [value, points] pairs")
    pairs = tuple((float(v), float(p)) for v, p in bands)
    if [v for v, _ in pairs] != sorted(v for v, _ in pairs) or not all(
        0 <= p <= 5 for _, p in pairs
    ):
        raise PolicyError(FILE, f"{where}.bands", "values must rise; points lie in 0..5")
    spec = MetricSpec(
        name,
        table["dimension"],
        table["kind"],
        table["cohort"],
        _int(table, "window_days", where),
        table["direction"],
        pairs,
        {
            k: v
            for k, v in table.items()
            if k not in ("dimension", "kind", "cohort", "window_days", "direction", "bands")
        },
    )
    perfect = 0.0 if spec.direction == "lower_is_better" else 1.0
    if spec.points(perfect) != 5.0:
        raise PolicyError(FILE, f"{where}.bands", f"a perfect value ({perfect}) must score 5")
    return spec


def _table(doc: dict[str, Any], key: str) -> dict[str, Any]:
    value = doc.get(key)
    if not isinstance(value, dict):
        raise PolicyError(FILE, key, "missing table")
    return value


def _int(table: dict[str, Any], key: str, where: str) -> int:
    value = table.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PolicyError(FILE, f"{where}.{key}", f"must be a whole number, not {value!r}")
    return value


def _number(table: dict[str, Any], key: str, where: str) -> float:
    value = table.get(key)
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise PolicyError(FILE, f"{where}.{key}", f"must be a number, not {value!r}")
    return float(value)
