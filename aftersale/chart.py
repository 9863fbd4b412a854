"""The health trend as a picture: daily scores over the tier bands and the alert thresholds
(PNG or SVG, matplotlib)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from aftersale.domain.health.settings import HealthSettings

BAND_COLOURS = {"excellent": "#cfe8cf", "good": "#e3f0c8", "fair": "#f6e7c1", "poor": "#f3cccc"}
FORMATS = (".png", ".svg")


class ChartPathError(ValueError):
    """The chart cannot be written there: an unsupported format or an unwritable place."""


def check_chart_path(path: Path) -> None:
    """Refuse, before anything is read or drawn, a path the chart could not be written to."""
    if path.suffix.lower() not in FORMATS:
        shown = path.suffix or "no suffix"
        raise ChartPathError(f"{path}: a chart is .png or .svg, not {shown}")
    folder = path.parent
    if not folder.is_dir():
        raise ChartPathError(f"{path}: there is no folder {folder}")
    if path.is_dir():
        raise ChartPathError(f"{path} is a folder")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ChartPathError(f"{path}: cannot be written (permission denied)")


def draw_trend(
    shop_id: str, trend: Sequence[dict[str, Any]], settings: HealthSettings, path: Path
) -> Path:
    """Write the chart to ``path`` (its suffix, .png or .svg, picks the format); a path that
    cannot be written is a :class:`ChartPathError`."""
    check_chart_path(path)
    import matplotlib

    matplotlib.use("Agg")  # no screen needed
    import matplotlib.pyplot as plt

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
    _thresholds(axes, settings)
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
    try:
        with matplotlib.rc_context({"svg.fonttype": "none"}):  # SVG text stays text
            figure.savefig(path)
    except OSError as error:  # the folder went away, a full disk
        raise ChartPathError(f"{path}: cannot be written ({error.strerror or error})") from None
    finally:
        plt.close(figure)
    return path


def _thresholds(axes: Any, settings: HealthSettings) -> None:
    """The clearance-risk alert's two levels as labelled lines: raised after
    ``alert_consecutive_days`` snapshots below the one, cleared at or above the other (the
    lower line labelled under it, the upper over it, so the labels never overlap)."""
    raise_below, clear_at = settings.alert_raise_below, settings.alert_clear_at_or_above
    days = settings.alert_consecutive_days
    lines = (
        (raise_below, f"alert raised: {days} snapshots below {raise_below:g}"),
        (clear_at, f"alert cleared: at or above {clear_at:g}"),
    )
    low = min(raise_below, clear_at)
    for level, label in lines:
        axes.axhline(level, color="#b00020", linestyle="--", linewidth=0.9, zorder=1)
        axes.text(
            0.995,
            level,
            f" {label} ",
            ha="right",
            va="top" if level == low and raise_below != clear_at else "bottom",
            fontsize=7,
            color="#b00020",
            transform=axes.get_yaxis_transform(),
            zorder=1,
        )
