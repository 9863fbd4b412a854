"""The health trend as a picture: daily scores over the tier bands (PNG or SVG, matplotlib)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aftersale.domain.health.settings import HealthSettings

BAND_COLOURS = {"excellent": "#cfe8cf", "good": "#e3f0c8", "fair": "#f6e7c1", "poor": "#f3cccc"}


def draw_trend(
    shop_id: str, trend: Sequence[dict[str, Any]], settings: HealthSettings, path: Path
) -> Path:
    """Write the chart to ``path`` (its suffix, .png or .svg, picks the format)."""
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError("the chart file must end in .png or .svg")
    days: Any = [datetime.fromisoformat(day["taken_at"]) for day in trend]  # matplotlib takes them
    scores = [day["score"] for day in trend]
    figure, axes = plt.subplots(figsize=(9, 3.6))
    ceiling = 5.0
    for name, floor in settings.tiers:  # best first: each band runs up to the previous floor
        axes.axhspan(floor, ceiling, color=BAND_COLOURS.get(name, "#eeeeee"), zorder=0)
        axes.text(
            0.005,
            (floor + ceiling) / 2,
            name,
            va="center",
            fontsize=8,
            color="#555555",
            transform=axes.get_yaxis_transform(),
        )
        ceiling = floor
    axes.plot(
        days,
        [float("nan") if s is None else s for s in scores],
        marker="o",
        markersize=3,
        color="#1f4e79",
        zorder=2,
    )
    alerts = [d for d, day in zip(days, trend, strict=True) if day["alert_open"]]
    if alerts:
        axes.scatter(
            alerts,
            [0.1] * len(alerts),
            marker="|",
            color="#b00020",
            zorder=3,
            label="clearance-risk alert open",
        )
        axes.legend(loc="lower right", fontsize=8)
    axes.set_ylim(0, 5)
    axes.set_ylabel("score")
    axes.set_title(f"{shop_id}: daily health snapshots")
    figure.autofmt_xdate()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
