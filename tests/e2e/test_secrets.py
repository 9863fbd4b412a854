"""A database password never appears in output, errors or logs."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

PASSWORD = "s3cr3t-Pa55word"
UNREACHABLE = f"postgresql://aftersale:{PASSWORD}@127.0.0.1:1/shop"


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aftersale", *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.mark.parametrize(
    "args",
    [
        ["status", "--db", UNREACHABLE],
        ["status", "--db", UNREACHABLE, "--json"],
        ["daemon", "--once", "--db", UNREACHABLE],
        ["verify", "--db", UNREACHABLE],
        ["case", "show", "AS-1", "--db", UNREACHABLE],
        ["db", "upgrade", "--db", UNREACHABLE],
    ],
)
def test_a_database_failure_is_exit_3_and_hides_the_password(args: list[str]) -> None:
    done = _run(*args)
    assert done.returncode == 3, done.stderr
    assert PASSWORD not in done.stdout + done.stderr
    assert "***" in done.stdout + done.stderr  # the URL is named, masked


def test_a_running_daemon_logs_its_retries_without_the_password(tmp_path: Path) -> None:
    log = (tmp_path / "daemon.log").open("wb")
    daemon = subprocess.Popen(
        [sys.executable, "-m", "aftersale", "daemon", "--db", UNREACHABLE, "--interval", "0.2"],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 30
        text = ""
        while "retrying in" not in text and time.monotonic() < deadline:
            time.sleep(0.2)
            text = (tmp_path / "daemon.log").read_text(errors="replace")
        assert daemon.poll() is None, text  # the database blinked: the daemon stays up
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0
    finally:
        if daemon.poll() is None:
            daemon.kill()
    text = (tmp_path / "daemon.log").read_text(errors="replace")
    assert "database unavailable" in text and "retrying in" in text
    assert PASSWORD not in text
