"""The health score's policy as frozen data, and the one piece of arithmetic it needs: bands."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

METRIC_KINDS = frozenset(
    {
        "review",
        "seller_fault_case",
        "late_dispatch",
        "complaint",
        "chat_response",
        "seller_deadline",
    }
)
COHORTS = frozenset({"paid", "delivered", "due", "event"})
DIRECTIONS = frozenset({"lower_is_better", "higher_is_better"})
POINTS_MAX = 5.0  # points, dimension scores and the score all lie in 0..POINTS_MAX


@dataclass(frozen=True)
class MetricSpec:
    metric_id: str
    dimension: str
    kind: str
    cohort: str
    window_days: int
    direction: str
    bands: tuple[tuple[float, float], ...]
    params: Mapping[str, Any] = field(default_factory=dict)

    def points(self, value: float | None) -> float:
        """Piecewise-linear between the bands, clamped; no data scores full points."""
        if value is None:
            return POINTS_MAX
        first, last = self.bands[0], self.bands[-1]
        if value <= first[0]:
            return first[1]
        if value >= last[0]:
            return last[1]
        for (x0, y0), (x1, y1) in zip(self.bands, self.bands[1:], strict=False):
            if x0 <= value <= x1:
                return y0 + (y1 - y0) * (value - x0) / (x1 - x0)
        raise AssertionError("bands are sorted and cover the value")  # pragma: no cover


@dataclass(frozen=True)
class HealthSettings:
    metrics: tuple[MetricSpec, ...]
    dimension_weights: Mapping[str, float]
    eligibility_min_delivered: int
    eligibility_window_days: int
    tiers: tuple[tuple[str, float], ...]  # best first
    privileges: Mapping[str, tuple[str, ...]]
    compliance_start: int
    compliance_per_overturned: int
    compliance_window_days: int
    major_promotions_min: int
    alert_raise_below: float
    alert_consecutive_days: int
    alert_clear_at_or_above: float

    def tier(self, score: float | None) -> str | None:
        if score is None:
            return None
        return next(name for name, floor in self.tiers if score >= floor)
