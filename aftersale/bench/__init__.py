"""``aftersale bench``: capacity figures, each beside a baseline measured in the same run."""

from __future__ import annotations

import platform
from typing import Any

from rich.progress import Progress

from aftersale.bench.figure import Figure
from aftersale.bench.figures import FIGURES, SCALES


def run(url: str, scale: str = "small", only: str | None = None) -> dict[str, Any]:
    """Measure every figure (or ``only`` one) and return them with the machine they ran on."""
    names = [only] if only else list(FIGURES)
    figures: list[Figure] = []
    with Progress(transient=True) as progress:
        task = progress.add_task("measuring", total=len(names))
        for name in names:
            progress.update(task, description=f"measuring {name}")
            figures += FIGURES[name](SCALES[scale], url)
            progress.advance(task)
    return {
        "scale": scale,
        "database": url.split(":", 1)[0],
        "machine": f"{platform.machine()}, {_cpus()} cores, Python {platform.python_version()}",
        "figures": [figure.as_dict() for figure in figures],
    }


def _cpus() -> int:
    import os

    return (
        len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    )
