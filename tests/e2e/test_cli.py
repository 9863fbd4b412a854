"""The real command line, as an operator runs it, against an SQLite file."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

EVENT_FIELDS = {
    "seq",
    "event_id",
    "type",
    "case_id",
    "order_id",
    "shop_id",
    "kind",
    "action",
    "from_state",
    "to_state",
    "actor",
    "auto",
    "at",
    "recorded_at",
    "responsibility",
    "reason",
    "amount",
    "currency",
    "overturned",
    "deadline_at",
    "policy_version",
}
LINES = [
    {
        "at": "2026-03-02T09:00:00Z",
        "type": "order.paid",
        "order_id": "US-1",
        "shop_id": "shop-a",
        "buyer_id": "buyer-ada",
        "market": "US",
        "currency": "USD",
        "amount": "59.90",
    },
    {
        "at": "2026-03-02T10:00:00Z",
        "type": "order.paid",
        "order_id": "US-2",
        "shop_id": "shop-b",
        "buyer_id": "buyer-ben",
        "market": "US",
        "currency": "USD",
        "amount": "20.00",
    },
    {"at": "2026-03-03T09:00:00Z", "type": "order.shipped", "order_id": "US-1"},
    {"at": "2026-03-05T09:00:00Z", "type": "order.delivered", "order_id": "US-1"},
    {
        "at": "2026-03-06T09:00:00Z",
        "type": "case.open",
        "case_id": "RR-1",
        "order_id": "US-1",
        "kind": "return_refund",
        "actor": "buyer",
        "reason": "damaged",
    },
    {
        "at": "2026-03-06T10:00:00Z",
        "type": "case.open",
        "case_id": "CX-2",
        "order_id": "US-2",
        "kind": "cancellation",
        "actor": "buyer",
        "reason": "changed_mind",
    },
]


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AFTERSALE_DB_URL": f"sqlite:///{tmp_path / 'ops.db'}"}
    return subprocess.run(
        [sys.executable, "-m", "aftersale", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def _scenario(tmp_path: Path, lines: list[dict[str, Any]], name: str = "day.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def _json(done: subprocess.CompletedProcess[str]) -> Any:
    return json.loads(done.stdout)


def test_replay_prints_the_json_of_replay_md_and_exits_0(tmp_path: Path) -> None:
    done = _run(tmp_path, "replay", str(_scenario(tmp_path, LINES)), "--json")
    assert done.returncode == 0, done.stderr
    output = _json(done)
    assert set(output) == {"clock", "cases", "tickets", "shops", "events", "errors", "health"}
    assert output["clock"] == "2026-03-06T10:00:00Z"
    assert [c["case_id"] for c in output["cases"]] == ["CX-2", "RR-1"]
    assert set(output["cases"][1]) >= {
        "case_id",
        "order_id",
        "shop_id",
        "kind",
        "state",
        "responsibility",
        "amount",
        "currency",
        "opened_at",
        "deadline_at",
        "policy_version",
        "history",
    }
    transitions = [e for e in output["events"] if e["type"] == "case.transition"]
    assert all(set(e) >= EVENT_FIELDS for e in transitions)
    assert [e["seq"] for e in output["events"]] == sorted(e["seq"] for e in output["events"])


def test_until_takes_the_deadlines_and_ends_the_clock_there(tmp_path: Path) -> None:
    path = _scenario(tmp_path, LINES)
    output = _json(_run(tmp_path, "replay", str(path), "--json", "--until", "2026-03-20T00:00Z"))
    assert output["clock"] == "2026-03-20T00:00:00Z"
    states = {c["case_id"]: c["state"] for c in output["cases"]}
    assert states == {"CX-2": "cancelled", "RR-1": "closed"}  # review, then ship-back timeouts


def test_a_refused_line_exits_1_and_the_output_is_still_complete(tmp_path: Path) -> None:
    late = {
        "at": "2026-03-09T10:00:00Z",
        "type": "case.action",
        "case_id": "RR-1",
        "action": "approve",
        "actor": "seller",
    }
    done = _run(tmp_path, "replay", str(_scenario(tmp_path, [*LINES, late])), "--json")
    assert done.returncode == 1
    output = _json(done)
    assert [(e["line"], e["code"]) for e in output["errors"]] == [(7, "not_allowed")]
    assert len(output["cases"]) == 2


@pytest.mark.parametrize(
    "args",
    [
        ["replay", "missing.jsonl"],
        ["replay"],
        ["replay", "--example", "no_such_story"],
        ["replay", "day.jsonl", "--until", "2026-03-01T00:00:00Z"],
        ["replay", "day.jsonl", "--until", "next tuesday"],
    ],
)
def test_unreadable_files_and_wrong_options_exit_2(tmp_path: Path, args: list[str]) -> None:
    _scenario(tmp_path, LINES)
    done = _run(tmp_path, *args)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr


def test_the_human_summary_names_the_final_states(tmp_path: Path) -> None:
    done = _run(tmp_path, "replay", str(_scenario(tmp_path, LINES)))
    assert done.returncode == 0
    assert "pending_review" in done.stdout and "every line was applied" in done.stdout


def test_db_upgrade_creates_then_finds_the_schema_current(tmp_path: Path) -> None:
    assert "upgraded" in _run(tmp_path, "db", "upgrade").stdout
    assert "already up to date" in _run(tmp_path, "db", "upgrade").stdout
    assert "rebuild" not in _run(tmp_path, "db", "upgrade").stdout  # no events: built already


def test_db_upgrade_says_when_the_health_rollups_need_a_rebuild(tmp_path: Path) -> None:
    assert (
        _run(
            tmp_path, "replay", "--example", "cancellations", "--db", "sqlite:///ops.db"
        ).returncode
        == 0
    )
    with sqlite3.connect(tmp_path / "ops.db") as db:  # as a database from before the rollups
        db.execute("DELETE FROM health_rollups")
    assert "aftersale health rebuild" in _run(tmp_path, "db", "upgrade").stdout
    assert _run(tmp_path, "health", "rebuild").returncode == 0
    assert "rebuild" not in _run(tmp_path, "db", "upgrade").stdout


def test_an_operator_lists_shows_and_acts_on_cases(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    assert _run(tmp_path, "replay", str(_scenario(tmp_path, LINES)), "--db", db).returncode == 0
    listed = _json(_run(tmp_path, "case", "list", "--json"))
    assert ([c["case_id"] for c in listed["cases"]], listed["next"]) == (["CX-2", "RR-1"], None)

    def ids(*filters: str) -> list[str]:
        page = _json(_run(tmp_path, "case", "list", *filters, "--json"))
        return [c["case_id"] for c in page["cases"]]

    assert ids("--shop", "shop-b") == ["CX-2"]
    assert ids("--state", "refunded") == []
    assert ids("--kind", "return_refund") == ["RR-1"]
    shown = _json(_run(tmp_path, "case", "show", "RR-1", "--json"))
    assert shown["deadline_at"] == "2026-03-08T09:00:00Z"
    assert [a["action"] for a in shown["allowed_actions"]] == [
        "approve",
        "reject",
        "offer_partial_refund",  # lines.md
        "withdraw",
    ]
    acted = _run(
        tmp_path,
        "case",
        "act",
        "RR-1",
        "approve",
        "--actor",
        "seller",
        "--at",
        "2026-03-06T12:00:00Z",
        "--json",
    )
    assert acted.returncode == 0, acted.stderr
    assert _json(acted)["state"] == "awaiting_return_shipment"
    refused = _run(
        tmp_path,
        "case",
        "act",
        "RR-1",
        "refund",
        "--actor",
        "buyer",
        "--at",
        "2026-03-06T13:00:00Z",
        "--json",
    )
    assert refused.returncode == 1
    assert _json(refused)["error"]["code"] == "forbidden"
    order = _json(_run(tmp_path, "order", "show", "US-1", "--json"))
    assert (order["open_case_id"], order["refundable"]) == ("RR-1", "59.90")
    missing = _run(tmp_path, "case", "show", "RR-404", "--json")
    assert missing.returncode == 1 and _json(missing)["error"]["code"] == "not_found"


def test_diagram_prints_all_three_workflows(tmp_path: Path) -> None:
    done = _run(tmp_path, "diagram")
    assert done.returncode == 0
    assert done.stdout.count("stateDiagram-v2") == 3


def test_the_demo_plays_a_month_with_no_refused_line(tmp_path: Path) -> None:
    done = _run(tmp_path, "demo", "--db", f"sqlite:///{tmp_path / 'demo.db'}", "--json")
    assert done.returncode == 0, done.stderr
    output = _json(done)
    assert output["errors"] == []
    assert {c["kind"] for c in output["cases"]} == {"cancellation", "refund_only", "return_refund"}


def test_health_shows_a_report_and_the_snapshot_trend(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    path = _scenario(tmp_path, LINES)
    assert (
        _run(
            tmp_path, "replay", str(path), "--db", db, "--until", "2026-03-20T00:00:00Z"
        ).returncode
        == 0
    )
    report = _json(_run(tmp_path, "health", "shop-a", "--as-of", "2026-03-20T00:00:00Z", "--json"))
    assert (report["shop_id"], report["eligible"], report["score"]) == ("shop-a", False, None)
    assert report["orders_delivered_90d"] == 1
    human = _run(tmp_path, "health", "shop-a", "--as-of", "2026-03-20T00:00:00Z")
    assert "after_sale_on_time_rate" in human.stdout and "0 / 1" in human.stdout
    trend = _json(_run(tmp_path, "health", "shop-a", "--history", "3", "--json"))
    assert [day["taken_at"] for day in trend] == [
        "2026-03-17T04:00:00Z",
        "2026-03-18T04:00:00Z",
        "2026-03-19T04:00:00Z",
    ]
    # the operator's status says whether the nightly snapshots keep up, shop by shop
    status = _json(_run(tmp_path, "status", "--db", db, "--json"))
    latest = "2026-03-19T04:00:00Z"
    assert status["last_snapshots"] == {"shop-a": latest, "shop-b": latest}
    human_status = _run(tmp_path, "status", "--db", db).stdout
    assert f"snapshots: 2 shops, the latest of each taken {latest} to {latest}" in human_status
    assert _run(tmp_path, "health", "shop-nobody").returncode == 1
    for name, magic in (("trend.png", b"\x89PNG"), ("trend.svg", b"<?xml")):
        drawn = _run(tmp_path, "health", "shop-a", "--history", "3", "--chart", name)
        assert drawn.returncode == 0, drawn.stderr
        assert (tmp_path / name).read_bytes().startswith(magic)
    rebuilt = _run(
        tmp_path,
        "health",
        "backfill",
        "--shop",
        "shop-a",
        "--from",
        "2026-03-17T00:00:00Z",
        "--to",
        "2026-03-19T12:00:00Z",
    )
    assert rebuilt.returncode == 0 and "3 daily snapshots rebuilt" in rebuilt.stdout
    assert _json(_run(tmp_path, "health", "shop-a", "--history", "3", "--json")) == trend
    recounted = _run(tmp_path, "health", "rebuild")
    assert recounted.returncode == 0, recounted.stderr
    assert "health rollups rebuilt: 2 orders and messages" in recounted.stdout
    again = _run(tmp_path, "health", "shop-a", "--as-of", "2026-03-20T00:00:00Z", "--json")
    assert _json(again) == report


def test_health_prune_deletes_old_rollups_and_reports_stay_the_same(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    path = _scenario(tmp_path, LINES)  # March 2026: months before today, all of it prunable
    assert _run(tmp_path, "replay", str(path), "--db", db).returncode == 0
    as_of = ("health", "shop-a", "--as-of", "2026-03-20T00:00:00Z", "--json")
    report = _json(_run(tmp_path, *as_of))

    refused = _run(tmp_path, "health", "prune", "--keep-days", "30")
    assert refused.returncode != 0
    assert "keep_days must be a whole number of days, at least 90" in refused.stderr

    pruned = _json(_run(tmp_path, "health", "prune", "--json"))
    assert pruned["pruned"] is True and pruned["items"] > 0 and pruned["hours"] > 0
    assert _json(_run(tmp_path, *as_of)) == report  # now folded from the event log
    again = _run(tmp_path, "health", "prune")
    assert again.returncode == 0
    assert "0 items and 0 hourly sums deleted" in again.stdout
