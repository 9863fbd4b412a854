"""The daemon as operators run it: real processes, a real PostgreSQL, signals and failures."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy

from tests.daemon.conftest import Daemons, seeded, states, timeout_counts, wait_for

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def _overdue(engine: object) -> int:
    return int(engine.status()["overdue"])  # type: ignore[attr-defined]


def test_three_daemons_fire_twenty_thousand_deadlines_exactly_once(
    pg_url: str, daemons: Daemons
) -> None:
    engine = seeded(pg_url, 20_000)
    workers = [daemons.start("--interval", "0.2", "--batch", "500") for _ in range(3)]
    wait_for(lambda: _overdue(engine) == 0, timeout=120, what="every deadline fired")
    assert [daemons.stop(worker) for worker in workers] == [0, 0, 0]
    counts = timeout_counts(pg_url)
    assert len(counts) == 20_000
    assert set(counts.values()) == {1}
    assert states(pg_url) == {"refunded": 20_000}
    fired = [
        sum(
            json.loads(line.split(" ", 3)[3])["fired"]
            for line in daemons.log(i).splitlines()
            if '"sweep": "done"' in line
        )
        for i in range(3)
    ]
    assert sum(fired) == 20_000
    assert sum(1 for share in fired if share > 0) >= 2, fired  # the work was shared


def test_a_daemon_killed_mid_batch_loses_and_doubles_nothing(
    pg_url: str, daemons: Daemons
) -> None:
    engine = seeded(pg_url, 5_000)
    first = daemons.start("--interval", "0.1", "--batch", "50")
    wait_for(lambda: len(timeout_counts(pg_url)) > 200, what="the first daemon at work")
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert 0 < len(timeout_counts(pg_url)) < 5_000
    second = daemons.start("--interval", "0.1", "--batch", "500")
    wait_for(lambda: _overdue(engine) == 0, what="the second daemon to finish")
    assert daemons.stop(second) == 0
    counts = timeout_counts(pg_url)
    assert len(counts) == 5_000 and set(counts.values()) == {1}
    assert states(pg_url) == {"refunded": 5_000}


def test_a_daemon_survives_its_connections_being_terminated(pg_url: str, daemons: Daemons) -> None:
    tagged = f"{pg_url}&application_name=aftersale-daemon-under-test"
    engine = seeded(pg_url, 6_000)
    worker = daemons.start("--interval", "0.1", "--batch", "100", url=tagged)
    admin = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    killed = 0
    try:
        for _ in range(3):
            wait_for(lambda: bool(timeout_counts(pg_url)), what="the daemon at work")
            with admin.begin() as connection:
                killed += len(
                    connection.exec_driver_sql(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = 'aftersale-daemon-under-test'"
                    ).all()
                )
            assert worker.poll() is None, daemons.log(0)
    finally:
        admin.dispose()
    assert killed >= 1
    wait_for(lambda: _overdue(engine) == 0, timeout=120, what="the rest fired after the cuts")
    assert worker.poll() is None
    assert daemons.stop(worker) == 0
    counts = timeout_counts(pg_url)
    assert len(counts) == 6_000 and set(counts.values()) == {1}


def test_sigterm_finishes_the_batch_in_hand_and_exits_0(pg_url: str, daemons: Daemons) -> None:
    seeded(pg_url, 20_000)
    worker = daemons.start("--interval", "0.1", "--batch", "2000")
    wait_for(lambda: len(timeout_counts(pg_url)) > 0, what="a first batch committed")
    assert daemons.stop(worker) == 0
    counts = timeout_counts(pg_url)
    by_state = states(pg_url)
    assert set(counts.values()) == {1}
    assert by_state.get("refunded", 0) == len(counts)  # no case moved without its event
    assert by_state.get("pending_review", 0) == 20_000 - len(counts)
    assert len(counts) % 2000 == 0  # whole batches only


def test_a_poison_case_is_quarantined_listed_and_retried(pg_url: str, tmp_path: Path) -> None:
    engine = seeded(pg_url, 300)
    admin = sqlalchemy.create_engine(pg_url.replace("postgresql://", "postgresql+psycopg://", 1))
    with admin.begin() as connection:
        connection.exec_driver_sql(
            "UPDATE cases SET deadline_action = 'pod_timeout' WHERE case_id = 'CD00000007'"
        )
    env = {**os.environ, "AFTERSALE_DB_URL": pg_url}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "aftersale", *args],
            env=env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )

    assert cli("daemon", "--once", "--remind-before", "0").returncode == 0
    assert len(timeout_counts(pg_url)) == 299
    status = json.loads(cli("status", "--json").stdout)
    assert [q["case_id"] for q in status["quarantined"]] == ["CD00000007"]
    assert "pod_timeout" in status["quarantined"][0]["error"]
    assert cli("daemon", "--once", "--remind-before", "0").returncode == 0
    assert len(timeout_counts(pg_url)) == 299  # skipped, not retried in a loop
    with admin.begin() as connection:  # the operator fixes the data, then retries
        connection.exec_driver_sql(
            "UPDATE cases SET deadline_action = 'review_timeout' WHERE case_id = 'CD00000007'"
        )
    admin.dispose()
    assert "back in the sweep" in cli("case", "retry", "CD00000007").stdout
    assert cli("daemon", "--once", "--remind-before", "0").returncode == 0
    assert len(timeout_counts(pg_url)) == 300
    assert _overdue(engine) == 0
