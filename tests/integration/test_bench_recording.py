"""The same-statements baseline of ``aftersale bench``: what our run sends to the driver is
recorded and replayed with the bare driver, and the replay must have done the same work."""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing
from datetime import UTC, datetime, timedelta

import pytest

from aftersale import AfterSale, VirtualClock, connect
from aftersale.bench.databases import sqlite_path
from aftersale.bench.recording import COMMIT, same_statements, same_statements_in_memory
from aftersale.demo import month_scenario
from aftersale.replay import replay
from tests.conftest import pg_server_url

START = datetime(2026, 3, 2, 9, tzinfo=UTC)
LINE = {"line_id": "1", "sku": None, "quantity": 1, "unit_price": "20.00"} | {
    "refunded_amount": "0.00",
    "returned_quantity": 0,
    "open_case_id": None,
}


def _seeded(url: str) -> AfterSale:
    clock = VirtualClock(START)
    engine = connect(url, clock=clock)
    for number in range(3):
        engine.order_paid(f"O{number}", "S1", "B1", "US", "USD", "20.00")
        engine.order_shipped(f"O{number}")
    clock.move_to(START + timedelta(days=1))
    return engine


def _open_and_approve(engine: AfterSale) -> None:
    for number in range(3):
        engine.open_case(
            f"C{number}", f"O{number}", "refund_only", "buyer", "not_received", actor_id="B1"
        )
        engine.act(f"C{number}", "approve", "seller", actor_id="S1")


def _check(url: str, driver: str) -> None:
    run = same_statements(url, "recording", _seeded, _open_and_approve)
    assert run.driver == driver
    assert run.commits == 6  # one transaction a command
    assert run.executed >= 6 * 4  # at least: read, write the case, the order and the event
    assert run.runs >= run.executed
    sent = " ".join(sql for sql, _, _ in run.statements if sql != COMMIT)
    for written in ("INSERT INTO cases", "UPDATE orders", "INSERT INTO events", "health_hours"):
        assert written in sent
    assert run.seconds > 0 and run.bare_seconds > 0


def test_on_sqlite_the_bare_sqlite3_replay_does_the_same_work() -> None:
    _check("sqlite://", "sqlite3")


@pytest.mark.postgres
def test_on_postgresql_the_bare_psycopg_replay_does_the_same_work() -> None:
    _check(pg_server_url(), "psycopg")


def test_a_replay_that_did_less_work_fails_the_figure() -> None:
    seeded: list[str] = []

    def remembered(url: str) -> AfterSale:
        seeded.append(url)
        return _seeded(url)

    def behind_the_recording(engine: AfterSale) -> None:
        # an order written with a bare sqlite3 connection: it never reaches the recording
        with closing(sqlite3.connect(sqlite_path(seeded[0]), isolation_level=None)) as db:
            db.execute(
                "INSERT INTO orders (order_id, shop_id, buyer_id, market, currency, amount, "
                "refunded_total, paid_at, version, lines) VALUES ('O9', 'S1', 'B1', 'US', "
                "'USD', '20.00', '0', '2026-03-02 09:00:00.000000', 1, ?)",
                (json.dumps([LINE]),),
            )

    with pytest.raises(RuntimeError, match=r"the bare replay did not do the same work: orders"):
        same_statements("sqlite://", "recording", remembered, behind_the_recording)


def test_in_memory_the_whole_run_schema_included_replays_on_a_bare_database() -> None:
    lines = month_scenario(seed=3, orders=5)
    played = same_statements_in_memory(lambda: len(replay(lines).events))
    sent = [sql for sql, _, _ in played.statements]
    assert any(sql.strip().startswith("CREATE TABLE events") for sql in sent)  # the migrations too
    assert played.commits > len(lines) / 2
    assert played.seconds > 0 and played.bare_seconds > 0


def test_in_memory_a_replay_holding_other_events_fails_the_figure() -> None:
    lines = month_scenario(seed=3, orders=5)
    with pytest.raises(RuntimeError, match="did not do the same work"):
        same_statements_in_memory(lambda: len(replay(lines).events) + 1)
