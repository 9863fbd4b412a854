"""The benchmark harness runs end to end (its numbers are printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FIGURES = {
    "transition",
    "commands",
    "commands (floor)",
    "timers, 1 process",
    "replay",
    "health report",
    "health backfill",
    "nightly snapshots",
    "daemon memory",
    "timer lateness p99",
}


def test_bench_prints_every_figure_beside_its_baseline() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aftersale", "bench", "--scale", "tiny", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert {figure["name"] for figure in report["figures"]} == FIGURES
    by_name = {figure["name"]: figure for figure in report["figures"]}
    # on SQLite the commands' baseline replays the very statements our run sent to the driver
    assert by_name["commands"]["baseline"] is not None
    assert "statements a command" in by_name["commands"]["detail"]
    for figure in report["figures"]:
        assert figure["ours"] > 0, figure
        if figure["baseline"] is not None:
            # the ratio comes from unrounded numbers
            assert figure["ratio"] == pytest.approx(figure["ours"] / figure["baseline"], rel=0.01)
