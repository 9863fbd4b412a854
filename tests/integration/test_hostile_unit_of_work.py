"""Hostile tests of the unit of work's write paths: what the SQLite and memory backends store
exactly, the PostgreSQL jsonb path (``aftersale.adapters.set_based``: compare-and-set updates and
event inserts encoded by orjson) must store exactly too, and bad text is ``invalid_input`` on
every backend, never a raw encoder error.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

import aftersale
from aftersale import VirtualClock
from tests.conftest import MONDAY_9AM

SHOP, BUYER = "shop-lumen-audio", "buyer-ada"
SHIPPED = MONDAY_9AM + timedelta(days=1)


class Stamp(datetime):
    """A datetime subclass, as pandas.Timestamp, pendulum.DateTime and freezegun's
    FakeDatetime are: an aware instant the engine accepts."""


def _comparable(engine: aftersale.AfterSale) -> tuple[Any, ...]:
    events = [
        {k: v for k, v in event.items() if k not in ("event_id", "cursor", "seq")}
        for event in engine.events_after(0)
    ]
    return engine.order("US-1"), engine.case("RF-1"), events


@pytest.mark.postgres
def test_an_instant_given_as_a_datetime_subclass_is_stored_on_postgresql(pg_url: str) -> None:
    """On SQLite and in memory (and on PostgreSQL before the jsonb path) these commands
    succeed; on PostgreSQL the update and the event insert hand the subclass to orjson, which
    refuses it: a raw TypeError, nothing recorded."""
    clock = VirtualClock(SHIPPED + timedelta(hours=3))
    engine = aftersale.connect(pg_url, clock=clock, require_identity=False)
    try:
        paid = Stamp(2026, 3, 2, 9, 0, tzinfo=UTC)
        engine.order_paid("US-1", SHOP, BUYER, "US", "USD", "40.00", at=paid)
        engine.order_shipped("US-1", "1Z999", at=Stamp(2026, 3, 3, 9, 0, 0, 250, tzinfo=UTC))
        engine.open_case(
            "RF-1",
            "US-1",
            "refund_only",
            "buyer",
            "not_received",
            at=Stamp(2026, 3, 3, 10, 0, tzinfo=UTC),
        )
        engine.act("RF-1", "approve", "seller", at=Stamp(2026, 3, 3, 11, 0, tzinfo=UTC))
        assert engine.order("US-1")["shipped_at"] == "2026-03-03T09:00:00.000250Z"
        assert engine.case("RF-1")["state"] == "refunded"
        assert [e["type"] for e in engine.events_after(0)] == [
            "order.paid",
            "order.shipped",
            "case.transition",
            "case.transition",
        ]
        assert engine.verify() == []
    finally:
        engine.close()


@pytest.mark.postgres
def test_a_frozen_system_clock_works_on_postgresql(pg_url: str) -> None:
    """freezegun (a test dependency of this project) makes datetime.now() a FakeDatetime:
    the engine on the system clock must still write on PostgreSQL as it does on SQLite."""
    freezegun = pytest.importorskip("freezegun")
    engine = aftersale.connect(pg_url, require_identity=False)
    try:
        with freezegun.freeze_time("2026-03-03T12:00:00Z"):
            engine.order_paid("US-1", SHOP, BUYER, "US", "USD", "40.00", at="2026-03-02T09:00:00Z")
            engine.order_shipped("US-1", "1Z999")
        assert engine.order("US-1")["shipped_at"] == "2026-03-03T12:00:00Z"
    finally:
        engine.close()


def _story_on_a_clock_with_an_odd_offset(url: str) -> tuple[Any, ...]:
    # the same instants as MONDAY_9AM..., told by a clock whose UTC offset has seconds
    odd = timezone(timedelta(hours=5, minutes=30, seconds=20))
    start = (MONDAY_9AM + timedelta(microseconds=123456)).astimezone(odd)
    clock = VirtualClock(start)
    engine = aftersale.connect(url, clock=clock, require_identity=False)
    try:
        engine.order_paid("US-1", SHOP, BUYER, "US", "USD", "40.00")
        clock.move_to(start + timedelta(days=1))
        engine.order_shipped("US-1", "1Z999")
        clock.move_to(start + timedelta(days=1, hours=1))
        engine.open_case("RF-1", "US-1", "refund_only", "buyer", "not_received")
        clock.move_to(start + timedelta(days=1, hours=2))
        engine.act("RF-1", "approve", "seller")
        return _comparable(engine)
    finally:
        engine.close()


@pytest.mark.postgres
def test_instants_of_a_clock_whose_offset_has_seconds_are_stored_exactly_on_postgresql(
    pg_url: str, sqlite_url: str
) -> None:
    """orjson writes an offset of +05:30:20 as +05:30: the jsonb path stores every updated
    instant and every event's ``at`` 20 s late on PostgreSQL (the inserts, bound by
    SQLAlchemy, are exact), so the same story reads back differently from SQLite."""
    on_sqlite = _story_on_a_clock_with_an_odd_offset(sqlite_url)
    on_postgres = _story_on_a_clock_with_an_odd_offset(pg_url)
    assert on_sqlite[0]["shipped_at"] == "2026-03-03T09:00:00.123456Z"
    assert on_postgres[0] == on_sqlite[0]
    assert on_postgres[1] == on_sqlite[1]
    assert on_postgres[2] == on_sqlite[2]


@pytest.mark.parametrize("text", ["\ud800", "ok \udfff ok"])
def test_a_note_with_a_lone_surrogate_is_invalid_input_and_writes_nothing(
    db_url: str, clock: VirtualClock, text: str
) -> None:
    """A lone surrogate cannot be stored (not UTF-8): every backend crashed with a raw
    TypeError or UnicodeEncodeError, not the ``invalid_input`` naming the field that the
    README promises for bad input."""
    clock.move_to(SHIPPED + timedelta(hours=3))
    engine = aftersale.connect(db_url, clock=clock, require_identity=False)
    try:
        engine.order_paid("US-1", SHOP, BUYER, "US", "USD", "40.00", at=MONDAY_9AM)
        engine.order_shipped("US-1", "1Z999", at=SHIPPED)
        engine.order_paid("US-2", SHOP, BUYER, "US", "USD", "40.00", at=MONDAY_9AM)
        written = len(engine.log())
        with pytest.raises(aftersale.InvalidInput, match="note"):
            engine.open_case(
                "RF-1",
                "US-1",
                "refund_only",
                "buyer",
                "not_received",
                note=text,
                at=SHIPPED + timedelta(hours=1),
            )
        with pytest.raises(aftersale.InvalidInput, match="tracking"):
            engine.order_shipped("US-2", text, at=SHIPPED)
        assert len(engine.log()) == written
        assert engine.verify() == []
    finally:
        engine.close()
