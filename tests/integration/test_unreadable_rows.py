"""A claimed row that cannot be read (damaged by hand, or written by another release) is set
aside with its error, and every other due deadline is still taken: one bad row is no poison
pill, for cases and tickets alike, on every backend. (A value the driver itself cannot convert,
such as text that is no instant in an SQLite instant column, fails the claim's fetch whole:
that is left to ``verify``, which reads rows unconverted.)"""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import create_engine, text

import aftersale
from aftersale.clock import VirtualClock
from tests.conftest import EngineFactory

SHOPS = range(3)


def _seed(engine: aftersale.AfterSale) -> None:
    """Per shop: a refund_only case waiting for review, a 12-point ticket (its appeal window
    open, and the campaign ban it starts running)."""
    for n in SHOPS:
        engine.order_paid(f"O{n}", f"shop-{n}", f"buyer-{n}", "US", "USD", "20.00")
        engine.order_shipped(f"O{n}", f"TRK{n}")
        engine.open_case(
            f"C{n}", f"O{n}", "refund_only", "buyer", "missing_item", actor_id=f"buyer-{n}"
        )
        engine.issue_ticket(f"T{n}", f"shop-{n}", "fulfilment", "late", 12)


def _damage(url: str, engine: aftersale.AfterSale) -> None:
    """C1's and T1's states made words no workflow has."""
    if url.startswith("memory"):
        db = engine.storage._db  # type: ignore[attr-defined]
        db.cases.rows["C1"] = {**db.cases.rows["C1"], "state": "bogus"}
        db.tickets.rows["T1"] = {**db.tickets.rows["T1"], "state": "bogus"}
        return
    sql = create_engine(url)
    with sql.begin() as connection:
        connection.execute(text("UPDATE cases SET state = 'bogus' WHERE case_id = 'C1'"))
        connection.execute(text("UPDATE tickets SET state = 'bogus' WHERE ticket_id = 'T1'"))
    sql.dispose()


def test_an_unreadable_row_is_quarantined_and_every_other_deadline_is_taken(
    db_url: str, make_engine: EngineFactory, clock: VirtualClock
) -> None:
    engine = make_engine(db_url)
    _seed(engine)
    _damage(db_url, engine)
    clock.move_to(clock.now() + timedelta(days=40))

    engine.fire_due()

    for n in (0, 2):  # T1's ban ends too: only its ticket is damaged
        assert engine.case(f"C{n}")["state"] != "pending_review"
        assert engine.ticket(f"T{n}")["state"] == "final"
        (ban,) = engine.shop(f"shop-{n}")["punishments"]
        assert ban["ended_at"] is not None and not ban["ended_early"]
    status = engine.status(snapshots=False)
    assert [entry["case_id"] for entry in status["quarantined"]] == ["C1"]
    assert "bogus" in status["quarantined"][0]["error"]
    assert [entry["ticket_id"] for entry in status["quarantined_tickets"]] == ["T1"]
    (ban,) = engine.storage.reads.punishments("shop-1")
    assert ban.ended_at == ban.ends_at
    assert status["quarantined_punishments"] == []
    assert status["overdue"] == 0  # quarantined rows are not backlog
    assert engine.fire_due() == 0  # nothing is retried forever


def test_a_quarantined_ticket_put_back_by_an_operator_is_taken_once(
    db_url: str, make_engine: EngineFactory, clock: VirtualClock
) -> None:
    engine = make_engine(db_url)
    _seed(engine)
    _damage(db_url, engine)
    clock.move_to(clock.now() + timedelta(days=40))
    engine.fire_due()
    if db_url.startswith("memory"):
        db = engine.storage._db  # type: ignore[attr-defined]
        db.tickets.rows["T1"] = {**db.tickets.rows["T1"], "state": "issued"}
    else:
        sql = create_engine(db_url)
        with sql.begin() as connection:
            connection.execute(text("UPDATE tickets SET state = 'issued' WHERE ticket_id = 'T1'"))
        sql.dispose()

    assert engine.retry_ticket("T1") is True
    assert engine.retry_ticket("T1") is False  # not quarantined any more
    engine.fire_due()

    history = engine.ticket("T1")["history"]
    assert [entry["action"] for entry in history] == ["issue", "appeal_window_timeout"]
    assert engine.status(snapshots=False)["quarantined_tickets"] == []
