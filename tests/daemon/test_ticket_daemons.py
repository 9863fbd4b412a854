"""Ticket deadlines and punishment ends under real daemon processes on a real PostgreSQL, with
the guarantees of cases' deadlines (daemon.md): several daemons share them and take each
exactly once, a daemon killed mid-run loses none and its successor doubles none, and a ticket
whose deadline cannot be taken is set aside while the others go on.

Each test seeds shops whose appeal windows closed, whose SLAs passed and whose punishments
ran past their planned end weeks ago (tests/daemon/ticket_seed.py), starts ``aftersale daemon``
processes, polls the tables until nothing is due (no fixed sleeps), and checks the event log,
the ground truth: one ``appeal_window_timeout`` per issued ticket, one ``ticket.reply_overdue``
per ticket under review, one ``punishment.ended`` per punishment, each at its own deadline.
"""

from __future__ import annotations

import signal
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Table, func, select

import aftersale
from aftersale import VirtualClock
from aftersale.adapters.schema import (
    events,
    health_hours,
    health_items,
    health_subjects,
    orders,
    punishments,
    shops,
    snapshots,
    tickets,
)
from aftersale.clock import iso
from tests.daemon.helpers import Daemons, Db, run_cli, wait_for
from tests.daemon.ticket_seed import Seeded, Shops, play, seed_due_governance

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

APPEAL_WINDOW = timedelta(days=30)  # config/governance.toml's first_window
# what a database adds to an event when it writes it: not part of what the engine wrote
WRITTEN = ("seq", "event_id", "recorded_at", "tx_id")


def _tagged(url: str) -> tuple[str, str]:
    """The URL with an ``application_name`` of its own, so a test finds a daemon's sessions
    (and only those, even with other tests running against the same server)."""
    tag = f"aftersale-ticket-test-{uuid.uuid4().hex[:8]}"
    return f"{url}&application_name={tag}", tag


def _sessions(pg: Db, tag: str) -> int:
    query = "SELECT count(*) FROM pg_stat_activity WHERE application_name = :tag"
    return int(pg.execute(query, tag=tag)[0][0])


def _waiting(pg: Db, tags: list[str]) -> set[str]:
    """Which of the daemons named by ``tags`` have a session waiting for a lock."""
    query = (
        "SELECT DISTINCT application_name FROM pg_stat_activity "
        "WHERE wait_event_type = 'Lock' AND application_name = ANY(:tags)"
    )
    return {row[0] for row in pg.execute(query, tags=tags)}


def _due(pg: Db) -> int:
    """Ticket deadlines and punishment ends at or before now, not set aside."""
    now = datetime.now(UTC)
    ticket_query = select(func.count()).where(
        tickets.c.deadline_at <= now, tickets.c.quarantined_at.is_(None)
    )
    punishment_query = select(func.count()).where(
        punishments.c.ended_at.is_(None),
        punishments.c.ends_at <= now,
        punishments.c.quarantined_at.is_(None),
    )
    with pg.engine.connect() as connection:
        return int(connection.execute(ticket_query).scalar_one()) + int(
            connection.execute(punishment_query).scalar_one()
        )


def _taken(pg: Db) -> list[dict[str, Any]]:
    """The events the timers wrote (and only those): appeal windows, SLAs, planned ends."""
    query = (
        select(events.c.type, events.c.at, events.c.data)
        .where(
            events.c.type.in_(("ticket.transition", "ticket.reply_overdue", "punishment.ended"))
        )
        .order_by(events.c.seq)
    )
    with pg.engine.connect() as connection:
        rows = connection.execute(query).all()
    taken = []
    for type_, at, data in rows:
        if type_ == "ticket.transition" and not data["auto"]:
            continue
        assert data.get("at", iso(at)) == iso(at)  # the field says the column's instant
        taken.append({**data, "type": type_, "at": at})
    return taken


def _progress(pg: Db) -> int:
    query = select(func.count()).where(
        events.c.type.in_(("ticket.reply_overdue", "punishment.ended"))
        | (events.c.data["action"].as_string() == "appeal_window_timeout")
    )
    with pg.engine.connect() as connection:
        return int(connection.execute(query).scalar_one())


def _rows(pg: Db) -> tuple[dict[str, Any], dict[str, Any]]:
    with pg.engine.connect() as connection:
        found = {row.ticket_id: row for row in connection.execute(select(tickets))}
        ended = {row.punishment_id: row for row in connection.execute(select(punishments))}
    return found, ended


def _each_once(pg: Db, seeded: Seeded) -> None:
    """Every seeded deadline was taken exactly once, at its own instant, and left its row as
    its event says; nothing else was taken."""
    taken = _taken(pg)
    windows = Counter(e["ticket_id"] for e in taken if e["type"] == "ticket.transition")
    replies = Counter(e["ticket_id"] for e in taken if e["type"] == "ticket.reply_overdue")
    ends = Counter(
        f"{e['cause_ticket_id']}/{e['kind']}" for e in taken if e["type"] == "punishment.ended"
    )
    assert windows == Counter(seeded.windows), "appeal windows: missing or doubled"
    assert replies == Counter(seeded.slas), "SLAs: missing or doubled"
    assert ends == Counter(seeded.punishments), "punishment ends: missing or doubled"
    rows, ended = _rows(pg)
    for event in taken:
        if event["type"] == "ticket.transition":
            row = rows[event["ticket_id"]]
            assert event["action"] == "appeal_window_timeout" and event["to_state"] == "final"
            assert event["at"] == row.issued_at + APPEAL_WINDOW
        elif event["type"] == "ticket.reply_overdue":
            assert (event["state"], event["round"]) == ("under_review", 1)
            # a passed SLA moves the ticket's updated_at to its instant (no act before it)
            assert event["at"] == rows[event["ticket_id"]].updated_at
        else:
            punishment = ended[f"{event['cause_ticket_id']}/{event['kind']}"]
            assert event["at"] == punishment.ends_at and event["ended_early"] is False
    for ticket_id in seeded.windows:
        assert (rows[ticket_id].state, rows[ticket_id].deadline_at) == ("final", None)
    for ticket_id in seeded.slas:
        row = rows[ticket_id]
        assert (row.state, row.deadline_at, row.deadline_action) == ("under_review", None, None)
    assert all(row.ended_at == row.ends_at and not row.ended_early for row in ended.values())
    assert _due(pg) == 0


@contextmanager
def _held(pg: Db) -> Iterator[None]:
    """The tickets and punishments tables locked against every claim (``FOR UPDATE``) but not
    against reads, until the block ends: daemons started meanwhile all wait at their first
    claim, and the due deadlines reach all of them at once."""
    connection = pg.engine.connect()
    transaction = connection.begin()
    try:
        connection.exec_driver_sql("LOCK TABLE tickets, punishments IN EXCLUSIVE MODE")
        yield
    finally:
        transaction.rollback()
        connection.close()


def test_three_daemons_take_thousands_of_ticket_deadlines_and_punishment_ends_once_each(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    seeded = seed_due_governance(pg_url, 250)
    assert (len(seeded.windows), len(seeded.slas), len(seeded.punishments)) == (3000, 1000, 750)
    total = _due(pg)
    assert total == 4750
    urls, tags = zip(*(_tagged(pg_url) for _ in range(3)), strict=True)
    with _held(pg):
        workers = [daemons.start("--interval", "0.2", url=url) for url in urls]
        wait_for(
            lambda: _waiting(pg, list(tags)) == set(tags),
            what="three daemons waiting at their first claim",
        )
        started = time.monotonic()
    wait_for(lambda: _due(pg) == 0, timeout=90, what="no ticket deadline or end left due")
    took = time.monotonic() - started
    assert [daemons.stop(worker) for worker in workers] == [0, 0, 0]
    assert [daemons.tracebacks(worker) for worker in workers] == [[], [], []]
    _each_once(pg, seeded)
    shares = [daemons.fired(worker) for worker in workers]
    assert sum(shares) == total, shares  # what the logs claim is what the event log holds
    assert sum(1 for share in shares if share > 0) >= 2, shares  # SKIP LOCKED shared them
    print(f"3 daemons took {total} ticket deadlines and ends in {took:.1f} s, shares {shares}")


def test_a_daemon_killed_mid_run_loses_no_ticket_deadline_and_its_successor_doubles_none(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    seeded = seed_due_governance(pg_url, 75, prefix="k")
    total = len(seeded.windows) + len(seeded.slas) + len(seeded.punishments)
    assert _due(pg) == total == 1425
    url, tag = _tagged(pg_url)
    first = daemons.start("--interval", "0.1", "--batch", "10", url=url)
    wait_for(lambda: _progress(pg) >= 100, what="the first daemon some batches in")
    first.send_signal(signal.SIGKILL)
    assert first.wait(timeout=30) == -signal.SIGKILL
    # its server side ends too: the batch in flight is rolled back (or, if its COMMIT had
    # already been sent, committed) before anything is counted
    wait_for(lambda: _sessions(pg, tag) == 0, what="the killed daemon's sessions to end")
    before = _progress(pg)
    assert 0 < before < total, "the kill must land part-way through the work"
    # no half-written batch: each row moved exactly when its event was written
    rows, ended = _rows(pg)
    taken = _taken(pg)
    final = {t for t, row in rows.items() if row.state == "final"}
    assert final == {e["ticket_id"] for e in taken if e["type"] == "ticket.transition"}
    passed = {t for t in seeded.slas if rows[t].deadline_at is None}
    assert passed == {e["ticket_id"] for e in taken if e["type"] == "ticket.reply_overdue"}
    over = {p for p, row in ended.items() if row.ended_at is not None}
    assert len(over) == sum(1 for e in taken if e["type"] == "punishment.ended")
    assert _due(pg) == total - before
    second = daemons.start("--interval", "0.1", "--batch", "10")
    wait_for(lambda: _due(pg) == 0, timeout=90, what="the second daemon to finish the rest")
    assert daemons.stop(second) == 0
    assert daemons.tracebacks(second) == []
    _each_once(pg, seeded)
    assert daemons.fired(second) == total - before


def test_a_poison_ticket_is_quarantined_skipped_and_the_other_deadlines_go_on(
    pg_url: str, pg: Db, daemons: Daemons
) -> None:
    seeded = seed_due_governance(pg_url, 10, prefix="p")
    total = _due(pg)
    lost = seeded.windows[7]  # pinned to governance settings this database never stored
    wrong = seeded.slas[3]  # under review, told its deadline closes an appeal window
    pg.execute(
        "UPDATE tickets SET policy_version = 'governance-gone' WHERE ticket_id = :t", t=lost
    )
    pg.execute(
        "UPDATE tickets SET deadline_action = 'appeal_window_timeout' WHERE ticket_id = :t",
        t=wrong,
    )
    once = ("daemon", "--once", "--db", pg_url, "--remind-before", "0", "--batch", "1000")

    first = run_cli(*once)  # one batch holds them all: the two must not hold up the rest
    assert first.returncode == 0, first.stderr
    assert f'"fired": {total - 2}' in first.stderr, first.stderr
    assert '"quarantined": 2' in first.stderr, first.stderr
    rows, _ = _rows(pg)
    set_aside = {t: row.quarantine_error for t, row in rows.items() if row.quarantined_at}
    assert set(set_aside) == {lost, wrong}
    assert "governance-gone" in set_aside[lost]
    assert "appeal_window_timeout" in set_aside[wrong]
    assert (rows[lost].state, rows[wrong].state) == ("issued", "under_review")  # untouched
    assert _due(pg) == 0  # everything else was taken, once
    taken = _taken(pg)
    assert Counter(e["type"] for e in taken) == {
        "ticket.transition": len(seeded.windows) - 1,
        "ticket.reply_overdue": len(seeded.slas) - 1,
        "punishment.ended": len(seeded.punishments),
    }
    assert lost not in {e.get("ticket_id") for e in taken}
    assert wrong not in {e.get("ticket_id") for e in taken}
    operator = aftersale.connect(pg_url, migrate=False)
    try:
        assert operator.status(snapshots=False)["overdue"] == 0  # set aside: no backlog
    finally:
        operator.storage.engine.dispose()  # type: ignore[attr-defined]

    # a running daemon skips them sweep after sweep: they are not retried in a loop
    worker = daemons.start("--interval", "0.1")
    wait_for(lambda: len(daemons.sweeps(worker)) >= 5, what="five sweeps of a running daemon")
    assert daemons.stop(worker) == 0
    assert all(s["fired"] == s["quarantined"] == s["claimed"] == 0 for s in daemons.sweeps(worker))
    assert "failed, quarantined" not in daemons.log(worker)
    assert len(_taken(pg)) == len(taken)
    rows_after, _ = _rows(pg)
    assert rows_after[lost].quarantined_at == rows[lost].quarantined_at  # not marked again


def _written(pg: Db, prefix: str) -> dict[str, list[str]]:
    """Every row about the shops whose ids start with ``prefix``, table by table, as text with
    the prefix taken out (events in log order, the others sorted)."""
    by_shop: list[tuple[Table, str]] = [
        (orders, "shop_id"),
        (shops, "shop_id"),
        (tickets, "shop_id"),
        (punishments, "shop_id"),
        (snapshots, "shop_id"),
        (health_subjects, "shop_id"),
        (health_items, "shop_id"),
        (health_hours, "shop_id"),
        (events, "shop_id"),
    ]
    found: dict[str, list[str]] = {}
    with pg.engine.connect() as connection:
        for table, column in by_shop:
            query = select(table).where(table.c[column].startswith(prefix))
            if table is events:
                query = query.order_by(events.c.seq)
            rows = [
                repr(
                    {
                        k: v
                        for k, v in row._mapping.items()
                        if table is not events or k not in WRITTEN
                    }
                )
                for row in connection.execute(query)
            ]
            rows = [row.replace(prefix, "") for row in rows]
            found[table.name] = rows if table is events else sorted(rows)
    return found


def test_the_seed_writes_what_the_engine_writes_on_postgresql_command_by_command(
    pg_url: str, pg: Db
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    copied = seed_due_governance(pg_url, 2, prefix="copied-", now=now)
    clock = VirtualClock(now)
    engine = aftersale.connect(pg_url, clock=clock, require_identity=False)
    try:
        direct = play(engine, clock, Shops(0, 2, 12, 4, now - timedelta(days=40), "direct-"), now)
    finally:
        engine.storage.engine.dispose()  # type: ignore[attr-defined]
    assert len(copied.punishments) == 6  # 48 points a shop: 12, 24 and 36 (48 is a notice)
    for name in ("windows", "slas", "punishments"):
        mine = [key.removeprefix("copied-") for key in getattr(copied, name)]
        assert mine == [key.removeprefix("direct-") for key in getattr(direct, name)]
    a, b = _written(pg, "copied-"), _written(pg, "direct-")
    assert all(a[name] for name in ("orders", "tickets", "punishments", "snapshots", "events"))
    for name in a:
        assert a[name] == b[name], name
