"""One figure of ``aftersale bench``: ours, the baseline measured in the same run, the ratio."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class Figure:
    name: str
    unit: str
    ours: float
    baseline: float | None
    baseline_name: str
    target: str
    detail: str = ""

    @property
    def ratio(self) -> float | None:
        if not self.baseline:
            return None
        return self.ours / self.baseline

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "unit": self.unit,
            "ours": round(self.ours, 2),
            "baseline": None if self.baseline is None else round(self.baseline, 2),
            "baseline_name": self.baseline_name,
            # three significant digits: a ratio of 0.0254 must not print as 0.025
            "ratio": None if self.ratio is None else float(f"{self.ratio:.3g}"),
            "target": self.target,
            "detail": self.detail,
        }
