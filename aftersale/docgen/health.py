"""docs/health.md's blocks: the metrics, bands, score, tiers, compliance and alerts of the
shipped config/health.toml, and a report and snapshots the engine computed."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache

from aftersale.docgen.markdown import code, codes, json_block, table
from aftersale.docgen.samples import samples
from aftersale.domain.health.settings import HealthSettings
from aftersale.health_config import load_health


@cache
def settings() -> HealthSettings:
    """The shipped health.toml (never a deployment's)."""
    return load_health()[0]


def _percent(rate: float) -> str:
    return f"{rate * 100:g} %"


def _params(params: dict[str, object]) -> str:
    return ", ".join(
        f"{key} {codes(v) if isinstance(v, list | tuple) else code(v)}"
        for key, v in params.items()
    )


def metrics() -> str:
    health = settings()
    rows = []
    for spec in health.metrics:
        weight = health.dimension_weights[spec.dimension]
        bands = ", ".join(f"{_percent(value)} → {points:g}" for value, points in spec.bands)
        kind = code(spec.kind) + (f" ({_params(dict(spec.params))})" if spec.params else "")
        rows.append(
            (
                code(spec.metric_id),
                f"{code(spec.dimension)} ({weight:g})",
                kind,
                code(spec.direction),
                f"{spec.window_days} d, {code(spec.cohort)}",
                bands,
            )
        )
    header = ("metric", "dimension (weight)", "kind", "direction", "window, cohort")
    return table((*header, "bands: value → points"), rows)


def score() -> str:
    health = settings()
    tiers = "; ".join(
        f"{code(name)} ≥ {floor:g}: {codes(health.privileges.get(name, ()), 'no privileges')}"
        for name, floor in health.tiers
    )
    rows = [
        (
            "eligibility",
            f"at least {health.eligibility_min_delivered} orders delivered in "
            f"{health.eligibility_window_days} days, else `score` and `tier` are null",
            "`score.eligibility_min_delivered`, `score.eligibility_window_days`",
        ),
        ("tiers and privileges", tiers, "`score.tiers`, `privileges`"),
        (
            "compliance credit",
            f"{health.compliance_start}, minus {health.compliance_per_overturned} per "
            f"overturned rejection in {health.compliance_window_days} days (floor 0); "
            f"major promotions from {health.major_promotions_min}",
            "`compliance`",
        ),
        (
            "clearance-risk alert",
            f"raised after {health.alert_consecutive_days} consecutive daily snapshots below "
            f"{health.alert_raise_below:g}, cleared at {health.alert_clear_at_or_above:g} "
            "or above",
            "`alerts`",
        ),
    ]
    return table(("rule", "default", "health.toml"), rows)


def report() -> str:
    return json_block(samples().report)


def history() -> str:
    return json_block(list(samples().history))


BLOCKS: dict[str, Callable[[], str]] = {
    "health-metrics": metrics,
    "health-score": score,
    "health-report-example": report,
    "health-history-example": history,
}
