"""What holds the outbox back on PostgreSQL, and what does not.

An event is handed out once every transaction older than its own has ended, so a transaction
still open in this database delays the events committed after it began (and loses none: they
come once it ends). A transaction of another database on the same server (another
application's import, say) never writes this database's events and holds nothing back.
"""

from __future__ import annotations

import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import psycopg
import pytest

import aftersale
from aftersale import VirtualClock
from tests.conftest import pg_server_url

pytestmark = pytest.mark.postgres

NOW = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _database(role: str) -> Iterator[str]:
    """A database of its own on the same server, dropped afterwards (not a schema in the
    shared test database: other tests' transactions there would hold its outbox back)."""
    server = pg_server_url()
    name = f"outbox_{role}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(server, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")
    try:
        yield server.rsplit("/", 1)[0] + f"/{name}"
    finally:
        with psycopg.connect(server, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE {name} WITH (FORCE)")


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from _database("ours")


@pytest.fixture
def other_database() -> Iterator[str]:
    yield from _database("neighbour")


def _paid(engine: aftersale.AfterSale, order_id: str) -> None:
    engine.order_paid(order_id, "shop-lumen", "buyer-ada", "US", "USD", "10.00")


def _open_writing_transaction(url: str) -> psycopg.Connection[object]:
    """A connection holding a transaction that has written (so it has a transaction id)."""
    connection = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"))
    connection.execute("SELECT pg_current_xact_id()")  # assigns one, as a first write does
    return connection


def test_a_long_transaction_of_another_database_holds_nothing_back(
    pg_url: str, other_database: str
) -> None:
    engine = aftersale.connect(pg_url, clock=VirtualClock(NOW), require_identity=False)
    neighbour = _open_writing_transaction(other_database)
    try:
        _paid(engine, "US-1")  # committed after the neighbour's transaction began
        started = time.monotonic()
        page = engine.events_after(0)
        waited = time.monotonic() - started
    finally:
        neighbour.rollback()
        neighbour.close()
    assert [event["order_id"] for event in page] == ["US-1"]
    assert waited < 0.5, f"waited {waited:.2f} s for another database's transaction"


def test_an_open_transaction_here_delays_later_events_and_loses_none(pg_url: str) -> None:
    engine = aftersale.connect(pg_url, clock=VirtualClock(NOW), require_identity=False)
    _paid(engine, "US-1")
    (first,) = engine.events_after(0)
    holder = _open_writing_transaction(pg_url)
    try:
        _paid(engine, "US-2")  # its transaction id is above the holder's
        started = time.monotonic()
        assert engine.events_after(first["cursor"]) == []  # held back, after a bounded wait
        assert 0.5 < time.monotonic() - started < 5
    finally:
        holder.rollback()
        holder.close()
    (second,) = engine.events_after(first["cursor"])
    assert second["order_id"] == "US-2"
    assert engine.events_after(second["cursor"]) == []


def test_a_database_restored_into_another_server_is_found_and_renumbered(pg_url: str) -> None:
    """pg_dump into another server: the events keep the old server's transaction ids, ahead
    of the new one's counter, so new events would sort behind every relay's cursor. verify
    says so; `aftersale db upgrade` renumbers them, and a relay that had relayed them all
    resumes from "0.<its last seq>" and gets the new events."""
    engine = aftersale.connect(pg_url, clock=VirtualClock(NOW), require_identity=False)
    _paid(engine, "US-1")
    _paid(engine, "US-2")
    *_, last = engine.events_after(0)
    with psycopg.connect(pg_url.replace("postgresql+psycopg://", "postgresql://")) as db:
        db.execute("UPDATE events SET tx_id = tx_id + 1000000000")  # the old server's ids
    assert [v["rule"] for v in engine.verify()] == ["outbox"]
    upgraded = subprocess.run(
        [sys.executable, "-m", "aftersale", "db", "upgrade", "--db", pg_url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    assert "2 events renumbered" in upgraded.stdout
    assert engine.verify() == []
    _paid(engine, "US-3")
    resumed = engine.events_after(f"0.{last['seq']}")
    assert [event["order_id"] for event in resumed] == ["US-3"]
