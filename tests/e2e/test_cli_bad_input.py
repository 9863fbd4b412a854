"""Bad options on the real command line: exit 2 and a message naming the fault, never a
traceback, and nothing written."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.test_cli import LINES, _run

PAID_LONG_AGO = LINES[0]  # shop-a's order of 2026-03-02

BACKFILL = ["health", "backfill", "--shop", "shop-a"]


@pytest.fixture
def shop_db(tmp_path: Path) -> Path:
    """An SQLite file where shop-a was paid once, in March 2026, with its snapshots to the 5th."""
    scenario = tmp_path / "day.jsonl"
    scenario.write_text(json.dumps(PAID_LONG_AGO) + "\n", encoding="utf-8")
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    done = _run(tmp_path, "replay", str(scenario), "--db", db, "--until", "2026-03-05T12:00Z")
    assert done.returncode == 0, done.stderr
    return tmp_path


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["health", "shop-a", "--as-of", "0001-01-01T00:00:00Z"], "1970"),
        (["health", "shop-a", "--as-of", "9999-12-31T23:59:59-05:00"], "9000"),
        (["health", "shop-a", "--as-of", "next tuesday"], "not an ISO 8601 instant"),
        (["health", "prune", "--keep-days", "99999999999"], "at most 36500"),
        (["health", "prune", "--keep-days", "36501", "--json"], "at most 36500"),
        (["health", "prune", "--keep-days", "30"], "at least 90"),
        (
            [*BACKFILL, "--from", "2026-03-01T00:00:00Z", "--to", "2999-01-01T00:00:00Z"],
            "after the clock's now",
        ),
        (
            [*BACKFILL, "--from", "0001-01-01T00:00:00+01:00", "--to", "2026-03-04T00:00:00Z"],
            "1970",
        ),
        (["replay", "day.jsonl", "--until", "9999-12-31T23:59:59-05:00"], "9000"),
    ],
)
def test_bad_options_exit_2_with_a_message_and_change_nothing(
    shop_db: Path, args: list[str], message: str
) -> None:
    before = _run(shop_db, "health", "shop-a", "--history", "100", "--json")
    assert before.returncode == 0, before.stderr
    done = _run(shop_db, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert message in done.stderr
    assert "Traceback" not in done.stderr
    after = _run(shop_db, "health", "shop-a", "--history", "100", "--json")
    assert after.stdout == before.stdout  # no snapshot taken, rebuilt or deleted


def test_a_replay_line_with_a_five_thousand_digit_number_is_refused_and_the_rest_applied(
    tmp_path: Path,
) -> None:
    scenario = tmp_path / "huge.jsonl"
    huge = '{"at": "2026-03-03T09:00:00Z", "type": "clock.advance", "x": ' + "9" * 5000 + "}"
    scenario.write_text(f"{json.dumps(PAID_LONG_AGO)}\n{huge}\n", encoding="utf-8")
    done = _run(tmp_path, "replay", str(scenario), "--json")
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    output = json.loads(done.stdout)
    assert [(e["line"], e["code"]) for e in output["errors"]] == [(2, "invalid_json")]
    assert [e["type"] for e in output["events"]] == ["order.paid"]
