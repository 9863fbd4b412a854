"""What a real ``aftersale daemon`` process writes to its log: one JSON object a line (or plain
text), a start line naming the database (password masked) and the policy, nothing for an idle
sweep, a heartbeat with the backlog, and only what ``--log-level`` lets through."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import make_url

import aftersale
from aftersale.config import load_policy
from tests.daemon.helpers import Daemons, run_cli, wait_for

TS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
PLAIN_LINE = re.compile(rf"^{TS.pattern} (DEBUG|INFO|WARNING|ERROR|CRITICAL) +\S")
PASSWORD = "s3cr3t-Pa55word"
QUIET = ("--interval", "0.1", "--heartbeat", "0.5", "--log-level", "info")


@pytest.fixture
def sqlite_daemons(tmp_path: Path) -> Any:
    url = f"sqlite:///{tmp_path / 'daemon.db'}"
    upgraded = run_cli("db", "upgrade", "--db", url)
    assert upgraded.returncode == 0, upgraded.stderr
    keeper = Daemons(url, tmp_path)
    yield keeper
    keeper.close()


def _one_due_review(url: str) -> None:
    """A refund-only case whose 2-day review ran out a day ago."""
    now = datetime.now(UTC)
    engine = aftersale.connect(url, migrate=False, require_identity=False)
    paid = now - timedelta(days=5)
    engine.order_paid("O-LATE", "shop-a", "buyer-a", "US", "USD", "30.00", at=paid)
    engine.order_shipped("O-LATE", at=now - timedelta(days=4))
    opened = now - timedelta(days=3)
    engine.open_case("RO-LATE", "O-LATE", "refund_only", "buyer", "not_received", at=opened)
    engine.storage.engine.dispose()  # type: ignore[attr-defined]


def _json_lines(text: str) -> list[dict[str, Any]]:
    """Every line of the log as the JSON object it must be."""
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    for line in lines:
        assert isinstance(line, dict), line
        assert TS.fullmatch(line["ts"]), line
        assert line["level"] in ("debug", "info", "warning", "error", "critical"), line
        assert isinstance(line["event"], str) and isinstance(line["message"], str), line
    return lines


def test_the_json_log_is_one_object_a_line_and_an_idle_daemon_only_says_it_is_alive(
    sqlite_daemons: Daemons,
) -> None:
    daemons = sqlite_daemons
    _one_due_review(daemons.url)
    worker = daemons.start("--log-format", "json", *QUIET)
    daemons.wait_started(worker)

    def heartbeats() -> list[dict[str, Any]]:
        return [entry for entry in daemons.records(worker) if entry["event"] == "heartbeat"]

    wait_for(lambda: len(heartbeats()) >= 3, what="three heartbeats")
    assert daemons.stop(worker) == 0

    lines = _json_lines(daemons.log(worker))
    assert [lines[0]["event"], lines[-1]["event"]] == ["daemon_started", "daemon_stopped"]
    started = lines[0]
    assert started["database"] == daemons.url
    assert started["policy_version"] == load_policy().version
    assert started["policy_version"] in started["message"] and daemons.url in started["message"]
    assert started["heartbeat_seconds"] == 0.5 and started["pid"] == worker.pid
    # the one sweep that did work logged it; the dozens of idle sweeps after it logged nothing
    (swept,) = [line for line in lines if line["event"] == "sweep"]
    assert (swept["fired"], swept["claimed"], swept["sweep"]) == (1, 1, "done")
    assert swept["lag_seconds"] > 86_000  # a day late
    last = heartbeats()[-1]
    assert (last["overdue"], last["lag_seconds"], last["quarantined"]) == (0, 0.0, 0)
    assert last["sweeps"] >= 10 and last["fired"] == 1  # 0.1 s apart, for over a second
    assert last["next_deadline_at"] is None
    assert lines[-1]["signal"] == "SIGTERM" and lines[-1]["fired"] == 1
    # SQLite takes one writer at a time: the default two workers are one, said once at start
    assert started["workers"] == 1 and lines[1]["event"] == "workers_reduced"
    events = {
        "daemon_started",
        "workers_reduced",
        "sweep",
        "snapshots",
        "heartbeat",
        "daemon_stopped",
    }
    assert {line["event"] for line in lines} <= events  # no warning, nothing from a library


@pytest.mark.postgres
def test_the_start_line_names_the_database_with_its_password_masked_and_the_policy(
    pg_url: str, tmp_path: Path
) -> None:
    url = make_url(pg_url)
    if url.password is None:  # the test server trusts local connections, as CI's does
        url = url.set(password=PASSWORD)
    secret = url.password
    with_password = url.render_as_string(hide_password=False)
    assert run_cli("db", "upgrade", "--db", with_password).returncode == 0
    daemons = Daemons(with_password, tmp_path)
    try:
        worker = daemons.start(*QUIET)  # JSON, the default
        daemons.wait_started(worker)
        assert daemons.stop(worker) == 0
    finally:
        daemons.close()
    text = daemons.log(worker)
    assert str(secret) not in text
    started = _json_lines(text)[0]
    assert started["event"] == "daemon_started"
    assert started["database"] == url.render_as_string(hide_password=True)
    assert ":***@" in started["database"] and ":***@" in started["message"]
    assert started["policy_version"] == load_policy().version


def test_plain_format_gives_plain_lines(sqlite_daemons: Daemons) -> None:
    daemons = sqlite_daemons
    _one_due_review(daemons.url)
    worker = daemons.start("--log-format", "plain", *QUIET)
    daemons.wait_started(worker)
    wait_for(lambda: daemons.log(worker).count(" alive ") >= 2, what="two heartbeats")
    assert daemons.stop(worker) == 0

    lines = daemons.log(worker).splitlines()
    assert lines and all(PLAIN_LINE.match(line) for line in lines), lines
    assert not any(line.lstrip().startswith("{") for line in lines)
    policy = load_policy().version
    assert f"INFO    daemon started: {daemons.url}, policy {policy}," in lines[0]
    assert f"policy_version={policy}" in lines[0]
    (swept,) = [line for line in lines if "sweep done" in line]
    assert " fired=1 claimed=1 " in swept and "sweep=done" not in swept
    assert any(" alive overdue=0 lag_seconds=0.0 " in line for line in lines)
    assert "daemon stopped (SIGTERM)" in lines[-1]


def test_log_level_warning_hides_the_info_lines_and_keeps_the_warnings(
    sqlite_daemons: Daemons,
) -> None:
    daemons = sqlite_daemons
    _one_due_review(daemons.url)
    worker = daemons.start(*QUIET, "--log-level", "warning")
    engine = aftersale.connect(daemons.url, migrate=False)
    wait_for(lambda: engine.case("RO-LATE")["state"] == "refunded", what="the timeout fired")
    engine.storage.engine.dispose()  # type: ignore[attr-defined]
    assert daemons.stop(worker) == 0
    assert daemons.log(worker) == ""  # no start, sweep, heartbeat or stop line

    unreachable = f"postgresql://aftersale:{PASSWORD}@127.0.0.1:1/shop"
    down = daemons.start(*QUIET, "--log-level", "warning", url=unreachable)
    wait_for(lambda: "retrying in" in daemons.log(down), what="a retry warning")
    assert daemons.stop(down) == 0
    lines = _json_lines(daemons.log(down))
    assert {line["level"] for line in lines} == {"warning"}
    assert {line["event"] for line in lines} == {"database_unavailable"}
    assert lines[0]["retry_in_seconds"] == 1 and PASSWORD not in daemons.log(down)


def test_a_daemon_that_cannot_start_says_why_in_one_json_line(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    done = run_cli("daemon", "--once", "--db", f"sqlite:///{missing}")
    assert done.returncode == 3
    (line,) = _json_lines(done.stderr)
    assert (line["level"], line["event"]) == ("error", "daemon_failed")
    assert line["code"] == "schema_missing"
    assert "aftersale db upgrade" in line["message"] and line["exit_status"] == 3
    assert not missing.exists()

    bad = run_cli("daemon", "--once", "--db", f"sqlite:///{missing}", "--heartbeat", "0")
    assert bad.returncode == 2 and "--heartbeat" in bad.stderr


def test_sigint_stops_the_daemon_and_the_stop_line_says_so(sqlite_daemons: Daemons) -> None:
    daemons = sqlite_daemons
    worker = daemons.start(*QUIET)
    daemons.wait_started(worker)
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=60) == 0
    last = _json_lines(daemons.log(worker))[-1]
    assert (last["event"], last["signal"]) == ("daemon_stopped", "SIGINT")


def test_daemon_help_documents_the_log_options() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "aftersale", "daemon", "--help"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0
    for option in ("--log-format", "--log-level", "--heartbeat", "json", "plain", "warning"):
        assert option in done.stdout
