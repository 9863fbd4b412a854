"""One contract, every backend: the same storage behaviour on an SQLite file, on PostgreSQL
and in memory (``db_url``). What only a SQL database has, its migrations, is checked on the two
SQL ones (``sql_db_url``)."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

import aftersale
from aftersale import Conflict, VirtualClock
from aftersale.adapters.db import make_engine as build_engine
from aftersale.config import default_config_dir
from aftersale.domain.events import Event
from aftersale.domain.model import Action, Responsibility
from tests.conftest import AFTER_EVERY_INSTANT, MONDAY_9AM, EngineFactory

PAID = MONDAY_9AM
SHIPPED = PAID + timedelta(days=1)


@pytest.fixture
def clock() -> VirtualClock:
    """The engine's clock runs after every instant these tests report, as for a host that
    records facts once they have happened (an ``at`` ahead of the clock is refused:
    tests/integration/test_engine_clock.py)."""
    return VirtualClock(AFTER_EVERY_INSTANT)


def _paid_and_shipped(engine: aftersale.AfterSale, order_id: str = "US-100231") -> None:
    engine.order_paid(order_id, "shop-lumen-audio", "buyer-ada", "US", "USD", "59.90", at=PAID)
    engine.order_shipped(order_id, "1Z999AA10123456784", at=SHIPPED)


def test_an_order_reads_back_with_exact_money_and_utc_instants(
    db_url: str, make_engine: EngineFactory
) -> None:
    engine = make_engine(db_url)
    eastern = datetime(2026, 3, 1, 23, 0, tzinfo=ZoneInfo("America/New_York"))
    engine.order_paid("US-7", "shop-lumen-audio", "buyer-ada", "US", "USD", "1234.50", at=eastern)
    order = engine.order("US-7")
    assert order["amount"] == "1234.50"
    assert order["paid_at"] == "2026-03-02T04:00:00Z"


def test_opening_writes_case_deadline_and_event_together(
    db_url: str, make_engine: EngineFactory
) -> None:
    engine = make_engine(db_url)
    _paid_and_shipped(engine)
    before = len(engine.log())
    view = engine.open_case(
        "RF-1", "US-100231", "refund_only", "buyer", "not_received", at=SHIPPED + timedelta(days=3)
    )
    assert view["state"] == "pending_review"
    assert view["deadline_at"] == "2026-03-08T09:00:00Z"
    new = engine.log()[before:]
    assert [e["action"] for e in new] == ["open"]
    assert new[0]["deadline_at"] == view["deadline_at"]
    assert new[0]["policy_version"] == view["policy_version"]


def test_the_same_open_twice_is_a_no_op_and_other_fields_are_a_conflict(
    db_url: str, make_engine: EngineFactory
) -> None:
    engine = make_engine(db_url)
    _paid_and_shipped(engine)
    at = SHIPPED + timedelta(hours=5)
    engine.open_case("RF-1", "US-100231", "refund_only", "buyer", "not_received", at=at)
    count = len(engine.log())
    again = engine.open_case(
        "RF-1", "US-100231", "refund_only", "buyer", "not_received", at=at + timedelta(hours=1)
    )
    assert again["state"] == "pending_review"
    with pytest.raises(Conflict):
        engine.open_case("RF-1", "US-100231", "refund_only", "buyer", "damaged", at=at)
    assert len(engine.log()) == count


def test_of_two_writers_on_one_case_exactly_one_wins_and_the_loser_writes_nothing(
    db_url: str, make_engine: EngineFactory
) -> None:
    engine = make_engine(db_url)
    _paid_and_shipped(engine)
    engine.open_case("RF-1", "US-100231", "refund_only", "buyer", "not_received", at=SHIPPED)
    storage = engine.storage
    events_before = len(engine.log())
    with storage.unit_of_work() as loser_unit:
        loser = loser_unit.cases.get("RF-1")
        assert loser is not None
        _another_writer_moves(engine, loser_unit, "RF-1")
        loser.responsibility = Responsibility.buyer
        loser.recorded.append(Event("review.posted", PAID, "US-100231", "shop-lumen-audio"))
        with pytest.raises(Conflict, match="case RF-1 was changed by another writer"):
            loser_unit.commit()
    assert engine.case("RF-1")["responsibility"] != "buyer"
    assert len(engine.log()) == events_before


def _another_writer_moves(engine: aftersale.AfterSale, unit: Any, case_id: str) -> None:
    """Another writer commits a change of the case after ``unit`` read it. On SQLite, where
    ``unit`` holds the one write lock, the change goes in on its own transaction instead. In
    memory, another unit of work loads the case, changes it and commits, while ``unit`` holds
    its copy."""
    from aftersale.adapters.schema import cases

    if not hasattr(engine.storage, "engine"):  # the memory backend
        with engine.storage.unit_of_work() as other:
            case = other.cases.get(case_id)
            assert case is not None and case.responsibility != Responsibility.seller
            case.responsibility = Responsibility.seller
            other.commit()
        return
    moved = (
        cases.update()
        .where(cases.c.case_id == case_id)
        .values(responsibility="seller", version=cases.c.version + 1)
    )
    database = engine.storage.engine  # type: ignore[attr-defined]
    if database.dialect.name == "sqlite":
        unit.link.driver.execute(
            "UPDATE cases SET version = version + 1 WHERE case_id = ?", (case_id,)
        )
        return
    with database.begin() as connection:
        connection.execute(moved)


def test_events_after_a_cursor_are_in_seq_order_and_pages_do_not_overlap(
    db_url: str, make_engine: EngineFactory
) -> None:
    engine = make_engine(db_url)
    for number in range(5):
        _paid_and_shipped(engine, f"US-{number}")
    first = engine.events_after(0, limit=4)
    rest = engine.events_after(first[-1]["cursor"], limit=100)
    seqs = [e["seq"] for e in first + rest]
    assert seqs == sorted(seqs) and len(set(seqs)) == 10
    assert len({e["event_id"] for e in first + rest}) == 10


def test_due_deadlines_fire_in_deadline_order_each_at_its_own_instant(
    db_url: str, make_engine: EngineFactory
) -> None:
    engine = make_engine(db_url)
    for number, hours in enumerate([5, 1, 3]):
        order_id = f"US-{number}"
        _paid_and_shipped(engine, order_id)
        engine.open_case(
            f"RF-{number}",
            order_id,
            "refund_only",
            "buyer",
            "not_received",
            at=SHIPPED + timedelta(hours=hours),
        )
    fired = engine.fire_due(SHIPPED + timedelta(days=10), batch=1)
    assert fired == 3
    timeouts = [e for e in engine.log() if e.get("action") == "review_timeout"]
    assert [e["case_id"] for e in timeouts] == ["RF-1", "RF-2", "RF-0"]
    assert [e["at"] for e in timeouts] == [
        "2026-03-05T10:00:00Z",
        "2026-03-05T12:00:00Z",
        "2026-03-05T14:00:00Z",
    ]
    assert engine.fire_due(SHIPPED + timedelta(days=30)) == 0


def test_a_case_keeps_the_policy_it_was_opened_under_when_config_changes(
    db_url: str, tmp_path: Path, clock: VirtualClock
) -> None:
    engine = aftersale.connect(db_url, clock=clock, require_identity=False)
    engine.order_paid("US-1", "shop-lumen-audio", "buyer-ada", "US", "USD", "59.90", at=PAID)
    engine.order_shipped("US-1", at=SHIPPED)
    engine.order_delivered("US-1", at=SHIPPED + timedelta(days=1))
    opened = engine.open_case(
        "RR-1", "US-1", "return_refund", "buyer", "damaged", at=SHIPPED + timedelta(days=2)
    )
    config = tmp_path / "config"
    shutil.copytree(default_config_dir(), config)
    timers = config / "timers.toml"
    timers.write_text(
        timers.read_text().replace(
            'awaiting_return_shipment = "5d"', 'awaiting_return_shipment = "9d"'
        )
    )
    changed = aftersale.connect(db_url, config_dir=config, clock=clock, require_identity=False)
    assert changed.policy.version != opened["policy_version"]
    moved = changed.act("RR-1", "approve", "seller", at=SHIPPED + timedelta(days=3))
    assert moved["policy_version"] == opened["policy_version"]
    assert moved["deadline_at"] == "2026-03-11T09:00:00Z"  # 5 days, not the new 9


def test_a_failing_timeout_is_quarantined_and_the_others_still_fire(
    db_url: str, make_engine: EngineFactory
) -> None:
    engine = make_engine(db_url)
    for number in range(2):
        _paid_and_shipped(engine, f"US-{number}")
        engine.open_case(
            f"RF-{number}",
            f"US-{number}",
            "refund_only",
            "buyer",
            "not_received",
            at=SHIPPED + timedelta(hours=number),
        )
    _a_timeout_the_workflow_does_not_know(engine, "RF-0")
    assert engine.fire_due(SHIPPED + timedelta(days=5)) == 1
    assert engine.case("RF-1")["state"] == "refunded"
    assert engine.case("RF-0")["state"] == "pending_review"
    assert engine.fire_due(SHIPPED + timedelta(days=6)) == 0
    assert engine.storage.reads.next_deadline() is None


def _a_timeout_the_workflow_does_not_know(engine: aftersale.AfterSale, case_id: str) -> None:
    """Bad data: the case's deadline takes a timeout its workflow (refund only) has not. In
    memory, another unit of work stores it (the backend keeps what it is given)."""
    from aftersale.adapters.schema import cases

    if not hasattr(engine.storage, "engine"):  # the memory backend
        with engine.storage.unit_of_work() as unit:
            case = unit.cases.get(case_id)
            assert case is not None
            case.deadline_action = Action.pod_timeout
            unit.commit()
        return
    with engine.storage.engine.begin() as connection:  # type: ignore[attr-defined]
        connection.execute(
            cases.update().where(cases.c.case_id == case_id).values(deadline_action="pod_timeout")
        )


def test_schema_migrations_are_idempotent(sql_db_url: str) -> None:
    from aftersale.adapters.db import current_revision, head_revision, upgrade

    engine = build_engine(sql_db_url)
    assert upgrade(engine) is True
    assert upgrade(engine) is False
    assert current_revision(engine) == head_revision()


def test_money_is_stored_as_exact_decimals(db_url: str, make_engine: EngineFactory) -> None:
    engine = make_engine(db_url)
    engine.order_paid("US-9", "shop-lumen-audio", "buyer-ada", "US", "USD", "0.10", at=PAID)
    engine.order_paid("US-8", "shop-lumen-audio", "buyer-ada", "US", "USD", "0.20", at=PAID)
    total = sum(Decimal(engine.order(o)["amount"]) for o in ("US-9", "US-8"))
    assert total == Decimal("0.30")


def test_the_migrations_build_exactly_the_schema_the_code_declares(sql_db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from aftersale.adapters.db import make_engine, upgrade
    from aftersale.adapters.schema import metadata

    engine = make_engine(sql_db_url)
    upgrade(engine)
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), metadata)
    engine.dispose()
    assert differences == []
