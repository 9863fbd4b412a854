"""`verify` names each kind of damage done with raw SQL, reports unreadable rows instead of
crashing on them, and re-derives every case, order and fact from the event log.

One small shop is played through the public API (a return refunded by its timers, a
cancellation the seller rejected before the order shipped, a refund_only the seller let time
out, a withdrawn refund_only followed by another on the same order, a review, a complaint and an
answered chat message); each test damages one thing and expects exactly the violations named.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from importlib.resources import files

import pytest
import sqlalchemy

import aftersale
from aftersale import VirtualClock
from aftersale.replay import replay

RR1_OPENING = "(SELECT min(seq) FROM events WHERE case_id = 'RR-1')"
RO1_TIMEOUT = "(SELECT max(seq) FROM events WHERE case_id = 'RO-1')"  # its review_timeout
CX1_OPENING = "(SELECT min(seq) FROM events WHERE case_id = 'CX-1')"


def _play_the_shop(url: str) -> None:
    clock = VirtualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    engine = aftersale.connect(url, clock=clock, require_identity=False)

    def at(text: str) -> str:
        clock.move_to(datetime.fromisoformat(text))
        return text

    paid = engine.order_paid
    paid("US-1", "shop-lumen", "buyer-ada", "US", "USD", "59.90", at=at("2026-03-02T09:00:00Z"))
    paid("US-2", "shop-lumen", "buyer-ben", "US", "USD", "20.00", at=at("2026-03-02T09:00:00Z"))
    paid("US-3", "shop-lumen", "buyer-cy", "US", "USD", "30.00", at=at("2026-03-02T10:00:00Z"))
    paid("US-4", "shop-lumen", "buyer-di", "US", "USD", "40.00", at=at("2026-03-02T11:00:00Z"))
    engine.open_case(
        "CX-1", "US-2", "cancellation", "buyer", "changed_mind", at=at("2026-03-02T12:00:00Z")
    )
    engine.act(
        "CX-1",
        "reject",
        "seller",
        reject_reason="order_packed_awaiting_pickup",
        at=at("2026-03-02T13:00:00Z"),
    )
    engine.order_shipped("US-2", "1Z-2", at=at("2026-03-02T15:00:00Z"))
    engine.message_received("M-1", "shop-lumen", "US-2", at=at("2026-03-02T16:00:00Z"))
    engine.message_replied("M-1", at=at("2026-03-02T17:00:00Z"))
    engine.order_shipped("US-4", "1Z-4", at=at("2026-03-03T09:00:00Z"))
    engine.order_shipped("US-1", "1Z-1", at=at("2026-03-03T10:00:00Z"))
    engine.order_shipped("US-3", "1Z-3", at=at("2026-03-03T11:00:00Z"))
    opening = at("2026-03-03T12:00:00Z")
    engine.open_case("RO-1", "US-3", "refund_only", "buyer", "not_received", at=opening)
    engine.open_case(
        "RO-2", "US-4", "refund_only", "buyer", "not_received", amount="5.00", at=opening
    )
    engine.act("RO-2", "withdraw", "buyer", at=at("2026-03-03T13:00:00Z"))
    opening_again = at("2026-03-03T14:00:00Z")
    engine.open_case(
        "RO-3", "US-4", "refund_only", "buyer", "not_received", amount="5.00", at=opening_again
    )
    engine.act("RO-3", "approve", "seller", at=at("2026-03-03T15:00:00Z"))
    engine.complaint_filed("US-3", at=at("2026-03-04T09:00:00Z"))
    engine.order_delivered("US-2", at=at("2026-03-04T10:00:00Z"))
    engine.order_delivered("US-1", at=at("2026-03-05T16:00:00Z"))
    returning = at("2026-03-06T08:00:00Z")
    engine.open_case("RR-1", "US-1", "return_refund", "buyer", "damaged", at=returning)
    engine.review_posted("US-1", 2, "product", at=at("2026-03-06T10:00:00Z"))
    engine.act("RR-1", "approve", "seller", at=at("2026-03-06T12:00:00Z"))
    engine.act("RR-1", "ship_return", "buyer", tracking="RET-1", at=at("2026-03-07T09:00:00Z"))
    assert engine.fire_due(at("2026-03-20T00:00:00Z")) == 3  # RO-1's review, RR-1's two


@pytest.fixture
def shop(sql_db_url: str) -> str:
    _play_the_shop(sql_db_url)
    return sql_db_url


def _dialect(url: str) -> str:
    return "sqlite" if url.startswith("sqlite") else "postgresql"


def _instant(url: str, text: str) -> str:
    """An instant as an SQL literal of the column type (text on SQLite)."""
    value = datetime.fromisoformat(text).astimezone(UTC)
    if _dialect(url) == "sqlite":
        return f"'{value.replace(tzinfo=None).isoformat(' ', 'microseconds')}'"
    return f"'{value.isoformat()}'"


def _set_key(url: str, key: str, json_value: str) -> str:
    """SQL for event data with ``key`` set to ``json_value`` (JSON text)."""
    if _dialect(url) == "sqlite":
        return f"json_set(data, '$.{key}', json('{json_value}'))"
    return f"jsonb_set(data, '{{{key}}}', '{json_value}')"


def _damage(url: str, *statements: str) -> None:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.begin() as connection:
        for sql in statements:
            assert connection.exec_driver_sql(sql).rowcount >= 1, sql
    engine.dispose()


def _seq(url: str, select: str) -> int:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        seq = int(connection.exec_driver_sql(f"SELECT {select}").scalar_one())
    engine.dispose()
    return seq


def _found(url: str) -> set[tuple[str, str]]:
    return {(v["rule"], v["subject"]) for v in aftersale.connect(url).verify()}


def test_the_shop_verifies_clean(shop: str) -> None:
    assert aftersale.connect(shop).verify() == []


def test_every_shipped_scenario_verifies_clean(db_url: str) -> None:
    lines: list[str] = []
    for name in ("returns", "cancellations", "refund_only", "silent_seller"):
        text = (files("aftersale.scenarios") / f"{name}.jsonl").read_text("utf-8")
        lines += [line for line in text.splitlines() if line.startswith("{")]
    lines.sort(key=lambda line: datetime.fromisoformat(json.loads(line)["at"]).astimezone(UTC))
    assert replay(lines, db_url=db_url).errors == []
    assert aftersale.connect(db_url).verify() == []


# -- rows that cannot be read: listed, and the report goes on ---------------------------------


def test_a_state_that_is_no_state_is_listed_and_the_rest_still_checked(shop: str) -> None:
    _damage(
        shop,
        "UPDATE cases SET state = 'lost' WHERE case_id = 'RR-1'",
        "UPDATE orders SET refunded_total = '0.00' WHERE order_id = 'US-4'",
    )
    assert _found(shop) == {("unreadable", "case RR-1"), ("money", "order US-4")}


def test_an_amount_that_is_no_number_is_listed(shop: str) -> None:
    _damage(shop, "UPDATE orders SET amount = 'lots' WHERE order_id = 'US-3'")
    assert _found(shop) == {("unreadable", "order US-3")}


def test_an_unparsable_instant_in_event_data_is_listed(shop: str) -> None:
    seq = _seq(shop, RR1_OPENING)
    soon = _set_key(shop, "deadline_at", '"soon"')
    _damage(shop, f"UPDATE events SET data = {soon} WHERE seq = {seq}")
    assert _found(shop) == {("unreadable", f"event {seq}")}


def test_event_data_lacking_a_key_is_listed(shop: str) -> None:
    seq = _seq(shop, RO1_TIMEOUT)
    removed = "json_remove(data, '$.action')" if _dialect(shop) == "sqlite" else "data - 'action'"
    _damage(shop, f"UPDATE events SET data = {removed} WHERE seq = {seq}")
    assert _found(shop) == {("unreadable", f"event {seq}")}


def test_event_data_that_is_not_a_json_object_is_listed(shop: str) -> None:
    seq = _seq(shop, CX1_OPENING)
    text = "'{not json'" if _dialect(shop) == "sqlite" else "'\"just text\"'::jsonb"
    _damage(shop, f"UPDATE events SET data = {text} WHERE seq = {seq}")
    assert _found(shop) == {("unreadable", f"event {seq}")}


def test_an_unparsable_instant_column_is_listed_on_sqlite(sqlite_url: str) -> None:
    _play_the_shop(sqlite_url)  # PostgreSQL's timestamptz holds no such text
    _damage(sqlite_url, "UPDATE cases SET opened_at = 'sometime' WHERE case_id = 'RR-1'")
    assert _found(sqlite_url) == {("unreadable", "case RR-1")}


def test_the_command_lists_unreadable_rows_and_exits_1_without_a_traceback(shop: str) -> None:
    _damage(shop, "UPDATE cases SET state = 'lost' WHERE case_id = 'RR-1'")
    done = subprocess.run(
        [sys.executable, "-m", "aftersale", "verify", "--db", shop, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        env={**os.environ},
    )
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    listed = json.loads(done.stdout)["violations"]
    assert [(v["rule"], v["subject"]) for v in listed] == [("unreadable", "case RR-1")]
    assert "'lost' is not a state" in listed[0]["detail"]


# -- damage the old checks missed ---------------------------------------------------------------


def test_an_order_row_deleted_under_its_case_is_found(shop: str) -> None:
    _damage(shop, "DELETE FROM orders WHERE order_id = 'US-1'")
    assert _found(shop) == {("order", "order US-1")}


def test_a_timeout_rewritten_into_an_approval_is_found(shop: str) -> None:
    seq = _seq(shop, RO1_TIMEOUT)  # the seller let RO-1's review deadline pass
    approve = _set_key(shop, "action", '"approve"')
    _damage(shop, f"UPDATE events SET data = {approve} WHERE seq = {seq}")
    # the system may not approve, and no approval comes at the deadline: the timeout is due
    assert _found(shop) == {("transition", "case RO-1"), ("deadline", "case RO-1")}


def test_a_timeout_rewritten_into_the_sellers_own_approval_is_found(shop: str) -> None:
    seq = _seq(shop, RO1_TIMEOUT)
    for key, value in (("action", '"approve"'), ("actor", '"seller"'), ("auto", "false")):
        _damage(shop, f"UPDATE events SET data = {_set_key(shop, key, value)} WHERE seq = {seq}")
    assert _found(shop) == {("deadline", "case RO-1")}  # a missed deadline turned into a met one


def test_a_deleted_order_paid_event_is_found(shop: str) -> None:
    _damage(shop, "DELETE FROM events WHERE type = 'order.paid' AND order_id = 'US-3'")
    assert _found(shop) == {("facts", "order US-3")}


def test_a_duplicated_order_shipped_event_is_found(shop: str) -> None:
    _damage(
        shop,
        "INSERT INTO events (event_id, type, at, recorded_at, case_id, order_id, shop_id, data) "
        "SELECT 'copy-of-a-shipment', type, at, recorded_at, case_id, order_id, shop_id, data "
        "FROM events WHERE type = 'order.shipped' AND order_id = 'US-3'",
    )
    assert _found(shop) == {("facts", "order US-3")}


def test_a_changed_kind_is_found(shop: str) -> None:
    _damage(shop, "UPDATE cases SET kind = 'refund_only' WHERE case_id = 'RR-1'")
    assert _found(shop) == {("kind", "case RR-1")}


def test_a_rewritten_responsibility_is_found(shop: str) -> None:
    buyer = _set_key(shop, "responsibility", '"buyer"')
    _damage(
        shop,
        "UPDATE cases SET responsibility = 'buyer' WHERE case_id = 'RR-1'",
        f"UPDATE events SET data = {buyer} WHERE case_id = 'RR-1'",
    )
    assert _found(shop) == {("responsibility", "case RR-1")}  # "damaged" is the seller's fault


# -- what the engine must refuse, found when it is in the database ----------------------------


def _move_fact(url: str, order_id: str, column: str, kind: str, to: str) -> None:
    _damage(
        url,
        f"UPDATE orders SET {column} = {_instant(url, to)} WHERE order_id = '{order_id}'",
        f"UPDATE events SET at = {_instant(url, to)} "
        f"WHERE type = '{kind}' AND order_id = '{order_id}'",
    )


def test_a_return_opened_before_delivery_is_found(shop: str) -> None:
    _move_fact(shop, "US-1", "delivered_at", "order.delivered", "2026-03-06T09:00:00Z")
    assert _found(shop) == {("eligibility", "case RR-1")}  # opened at 08:00


def test_a_refund_only_opened_before_shipping_is_found(shop: str) -> None:
    _move_fact(shop, "US-3", "shipped_at", "order.shipped", "2026-03-03T13:00:00Z")
    assert _found(shop) == {("eligibility", "case RO-1")}  # opened at 12:00


def test_a_case_opened_while_another_on_its_order_was_open_is_found(shop: str) -> None:
    later = _instant(shop, "2026-03-03T14:30:00Z")  # RO-3 was opened at 14:00
    _damage(
        shop,
        f"UPDATE cases SET updated_at = {later} WHERE case_id = 'RO-2'",
        f"UPDATE events SET at = {later} "
        "WHERE seq = (SELECT max(seq) FROM events WHERE case_id = 'RO-2')",
    )
    assert _found(shop) == {("one_open_case", "case RO-3")}


def test_a_shipment_dated_before_a_cancellations_last_transition_is_found(shop: str) -> None:
    _move_fact(shop, "US-2", "shipped_at", "order.shipped", "2026-03-02T12:30:00Z")
    assert _found(shop) == {("shipping", "order US-2")}  # CX-1 was rejected at 13:00


def test_a_service_fact_dated_before_its_order_was_paid_is_found(shop: str) -> None:
    early = _instant(shop, "2026-03-02T08:00:00Z")
    _damage(shop, f"UPDATE events SET at = {early} WHERE type = 'review.posted'")
    assert _found(shop) == {("facts", "order US-1")}
