"""The benchmark harness runs end to end (its numbers are printed, never asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest
import sqlalchemy

from tests.conftest import pg_server_url

FIGURES = {
    "transition",
    "commands",
    "commands (floor)",
    "approve, same statements",
    "approve, set-based raw",
    "timers, 1 process",
    "timers, 1 process, vs idle jobs",
    "timers, same statements",
    "timers, set-based raw",
    "timers, 2 processes",
    "commands over lines",
    "sweep over lines",
    "replay",
    "health report",
    "health backfill",
    "nightly snapshots",
    "snapshots with breach rules",
    "snapshots with breach rules, next night",
    "daemon memory",
    "timer lateness p99",
    "running daemon memory",
    "outbox relay",
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
    # the running daemon's memory is read from /proc
    expected = FIGURES if sys.platform.startswith("linux") else FIGURES - {"running daemon memory"}
    assert {figure["name"] for figure in report["figures"]} == expected
    by_name = {figure["name"]: figure for figure in report["figures"]}
    # on SQLite the commands' baseline replays the very statements our run sent to the driver
    assert by_name["commands"]["baseline"] is not None
    assert "statements a command" in by_name["commands"]["detail"]
    # the alternative does the same work: each job takes its case's timeout
    assert "taking its case's timeout" in by_name["timers, 1 process"]["baseline_name"]
    assert "doing nothing" in by_name["timers, 1 process, vs idle jobs"]["baseline_name"]
    # and so does the sweep's
    sweep = by_name["timers, same statements"]
    assert sweep["baseline_name"] == "the same statements, bare sqlite3"
    assert "statement runs a deadline" in sweep["detail"]
    # and beside the same work in the fewest statements, leaving the same rows
    for name in ("timers, set-based raw", "approve, set-based raw"):
        raw = by_name[name]
        assert raw["baseline_name"] == "the same work in the fewest statements, bare sqlite3"
        assert "the same rows left as ours" in raw["detail"]
    assert by_name["timers, set-based raw"]["ours"] == sweep["ours"]
    assert by_name["replay"]["baseline_name"] == "the same statements, bare sqlite3 in memory"
    # cases over lines beside whole-order cases, the same run, against the 1.2x
    for name in ("commands over lines", "sweep over lines"):
        assert "whole-order cases" in by_name[name]["baseline_name"]
        assert "1.2× a whole-order case" in by_name[name]["target"]
    for figure in report["figures"]:
        assert figure["ours"] > 0, figure
        if figure["baseline"] is not None:
            # the ratio comes from unrounded numbers
            assert figure["ratio"] == pytest.approx(figure["ours"] / figure["baseline"], rel=0.01)


def _bench_on_postgresql(only: str, url: str | None = None) -> list[dict[str, Any]]:
    """``aftersale bench --db URL --scale tiny --only ONLY`` (by default the server of
    ``AFTERSALE_TEST_PG_URL``): its figures."""
    base = url or pg_server_url()
    command = ["bench", "--db", base, "--scale", "tiny", "--json", "--only", only]
    done = subprocess.run(
        [sys.executable, "-m", "aftersale", *command],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    figures: list[dict[str, Any]] = json.loads(done.stdout)["figures"]
    return figures


@pytest.mark.postgres
def test_bench_on_postgresql_replays_the_same_statements_with_bare_psycopg() -> None:
    (commands, _floor, same, raw) = _bench_on_postgresql("commands")
    assert commands["baseline_name"] == "the same statements, bare psycopg"
    assert commands["baseline"] > 0 and commands["ours"] > 0
    assert same["baseline_name"] == "the same statements, bare psycopg"
    assert raw["baseline_name"] == "the same work in the fewest statements, bare psycopg"
    assert "2 round trips an approve" in raw["detail"]
    assert raw["baseline"] > 0 and raw["ours"] == same["ours"]


@pytest.mark.postgres
def test_bench_timers_on_postgresql_beside_the_same_statements_and_two_processes() -> None:
    by_name = {figure["name"]: figure for figure in _bench_on_postgresql("timers")}
    assert set(by_name) == {
        "timers, 1 process",
        "timers, 1 process, vs idle jobs",
        "timers, same statements",
        "timers, set-based raw",
        "timers, 2 processes",
    }
    assert (
        by_name["timers, same statements"]["baseline_name"] == "the same statements, bare psycopg"
    )
    raw = by_name["timers, set-based raw"]
    assert raw["baseline_name"] == "the same work in the fewest statements, bare psycopg"
    assert "2 round trips a batch" in raw["detail"]
    assert all(figure["ours"] > 0 for figure in by_name.values())


@pytest.mark.postgres
def test_bench_lines_on_postgresql_beside_whole_order_cases() -> None:
    figures = _bench_on_postgresql("lines")
    assert [figure["name"] for figure in figures] == ["commands over lines", "sweep over lines"]
    assert all(figure["ours"] > 0 and figure["baseline"] > 0 for figure in figures)


@pytest.mark.postgres
@pytest.mark.parametrize("only", ["memory", "lateness"])
def test_bench_on_postgresql_leaves_nothing_in_the_database_it_measures(
    pg_url: str, only: str
) -> None:
    """Each figure seeds a schema of its own and drops it, even when the URL names a schema."""
    url = pg_url.replace("postgresql+psycopg://", "postgresql://", 1)
    assert _bench_on_postgresql(only, url)[0]["ours"] > 0
    engine = sqlalchemy.create_engine(pg_url)
    with engine.connect() as connection:
        left = connection.exec_driver_sql(
            "SELECT table_schema, table_name FROM information_schema.tables "
            "WHERE table_schema = current_schema() OR table_schema LIKE 'bench_%%'"
        ).all()
    engine.dispose()
    assert left == []
