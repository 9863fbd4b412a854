"""The set-based raw baseline on bare ``sqlite3`` (the rows: :mod:`aftersale.bench.raw`).

A sweep's batch of N due cases is one ``BEGIN IMMEDIATE`` transaction: one claim SELECT (the
cases joined with their orders and health records), then one ``executemany`` per table written
(cases and orders each a compare-and-set on the version, checked by the row count; events;
health records, items and hourly sums), then COMMIT: 9 driver calls a batch. An approve is the
same in a transaction of its own: its read by case id, the same six writes, COMMIT.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from aftersale.bench.raw import CLAIMED, JOINED, Batch, Claimed, refunded

CLAIM = (
    f"SELECT {CLAIMED} FROM {JOINED} WHERE c.deadline_at <= ? AND c.quarantined_at IS NULL "
    "ORDER BY c.deadline_at, c.case_id LIMIT ?"
)
ONE = f"SELECT {CLAIMED} FROM {JOINED} WHERE c.case_id = ?"
UPDATE_CASES = (
    "UPDATE cases SET state = :state, updated_at = :updated_at, deadline_at = :deadline_at, "
    "deadline_action = :deadline_action, refund = :refund, version = :expected + 1 "
    "WHERE case_id = :case_id AND version = :expected"
)
UPDATE_ORDERS = (
    "UPDATE orders SET refunded_total = :refunded_total, "
    "shipping_refunded = :shipping_refunded, lines = :lines, open_case_id = :open_case_id, "
    "version = :expected + 1 WHERE order_id = :order_id AND version = :expected"
)
INSERT_EVENTS = (
    "INSERT INTO events (event_id, type, at, recorded_at, case_id, order_id, shop_id, data) "
    "VALUES (:event_id, :type, :at, :recorded_at, :case_id, :order_id, :shop_id, :data)"
)
UPDATE_SUBJECTS = "UPDATE health_subjects SET record = :record WHERE subject_id = :subject_id"
INSERT_ITEMS = (
    "INSERT INTO health_items (shop_id, measure, item_id, at, hit, pending, example) "
    "VALUES (:shop_id, :measure, :item_id, :at, :hit, :pending, :example)"
)
ADD_HOURS = (
    "INSERT INTO health_hours (shop_id, measure, hour, counted, hits) "
    "VALUES (:shop_id, :measure, :hour, :counted, :hits) "
    "ON CONFLICT (shop_id, measure, hour) DO UPDATE SET "
    "counted = health_hours.counted + excluded.counted, hits = health_hours.hits + excluded.hits"
)


def sweep(db: sqlite3.Connection, until: datetime, batch: int, measure: str) -> int:
    """Take every review timeout due at or before ``until``, ``batch`` cases a transaction;
    how many were taken."""
    fired = 0
    while True:
        db.execute("BEGIN IMMEDIATE")
        rows = db.execute(CLAIM, (text(until), batch)).fetchall()
        write(db, refunded([claimed(row) for row in rows], measure, text, datetime.now(UTC)))
        db.execute("COMMIT")
        fired += len(rows)
        if len(rows) < batch:
            return fired


def approve(
    db: sqlite3.Connection, commands: Sequence[tuple[str, str]], at: datetime, measure: str
) -> None:
    """Each (case id, shop id): the seller approves the case at ``at``, a transaction each."""
    for case_id, shop_id in commands:
        db.execute("BEGIN IMMEDIATE")
        row = db.execute(ONE, (case_id,)).fetchone()
        if row is None:
            db.execute("ROLLBACK")
            raise RuntimeError(f"no case {case_id}")
        changes = refunded([claimed(row)], measure, text, datetime.now(UTC), at, [shop_id])
        write(db, changes)
        db.execute("COMMIT")


def write(db: sqlite3.Connection, batch: Batch) -> None:
    """Every row of the batch, one ``executemany`` a table, in the open transaction."""
    for case in batch.cases:
        case["refund"] = orjson.dumps(case["refund"]).decode()
    for order in batch.orders:
        order["lines"] = orjson.dumps(order["lines"]).decode()
    _compare_and_set(db, UPDATE_CASES, batch.cases, "cases")
    _compare_and_set(db, UPDATE_ORDERS, batch.orders, "orders")
    _write_events(db, batch)
    _write_health(db, batch)


def _compare_and_set(
    db: sqlite3.Connection, statement: str, rows: list[dict[str, Any]], table: str
) -> None:
    if db.executemany(statement, rows).rowcount != len(rows):
        db.execute("ROLLBACK")
        raise RuntimeError(f"the raw baseline's compare-and-set on {table} failed")


def _write_events(db: sqlite3.Connection, batch: Batch) -> None:
    for event in batch.events:
        event["data"] = orjson.dumps(event["data"]).decode()
    db.executemany(INSERT_EVENTS, batch.events)


def _write_health(db: sqlite3.Connection, batch: Batch) -> None:
    for subject in batch.subjects:
        subject["record"] = orjson.dumps(subject["record"]).decode()
    db.executemany(UPDATE_SUBJECTS, batch.subjects)
    db.executemany(INSERT_ITEMS, batch.items)
    db.executemany(ADD_HOURS, batch.hour_rows(text))


def claimed(row: Sequence[Any]) -> Claimed:
    """A claimed row, its instant and its JSON (the health record, the order's and the case's
    lines) decoded as the engine stores them."""
    deadline = row[4]
    return Claimed._make(
        (
            *row[:4],
            None if deadline is None else datetime.fromisoformat(deadline).replace(tzinfo=UTC),
            *row[5:16],
            orjson.loads(row[16]),
            orjson.loads(row[17]),
            *row[18:20],
            orjson.loads(row[20]),
            bool(row[21]),
        )
    )


def text(instant: datetime) -> str:
    """An instant as the engine stores it on SQLite (UTC, microseconds, a space)."""
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")
