"""The set-based raw baseline on bare ``psycopg`` (the rows: :mod:`aftersale.bench.raw`).

Everything runs in pipeline mode with prepared statements (``prepare=True``), the transactions
begun and committed by BEGIN and COMMIT statements sent in the pipeline. A sweep's batch of N
due cases is two round trips: BEGIN and the claim SELECT (cases joined with their orders and
health records, ``FOR UPDATE ... SKIP LOCKED``, so daemons could share the work); then, sent at
once, one statement per table written, each taking the whole batch as one JSON parameter
(``jsonb_to_recordset``): the cases and the orders each a compare-and-set on the version whose
row count the statement checks itself (a short count divides by zero, so the transaction fails
and nothing is written), the events (``tx_id`` the writing transaction's id, as the engine
writes it), the health records, items and hourly sums, and COMMIT. An approve is the same two
round trips: its read by case id (its health record locked), then the six writes and COMMIT.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from aftersale.bench.raw import CLAIMED, JOINED, Batch, Claimed, refunded

CLAIM = (
    f"SELECT {CLAIMED} FROM {JOINED} WHERE c.deadline_at <= %s AND c.quarantined_at IS NULL "
    "ORDER BY c.deadline_at, c.case_id LIMIT %s FOR UPDATE OF c, o, s SKIP LOCKED"
)
ONE = f"SELECT {CLAIMED} FROM {JOINED} WHERE c.case_id = %s FOR UPDATE OF s"
UPDATE_CASES = """WITH changed AS (
  UPDATE cases SET state = v.state, updated_at = v.updated_at, deadline_at = v.deadline_at,
         deadline_action = v.deadline_action, refund = v.refund, version = v.expected + 1
    FROM jsonb_to_recordset(%s::jsonb) AS v(case_id text, expected int, state text,
         updated_at timestamptz, deadline_at timestamptz, deadline_action text, refund jsonb)
   WHERE cases.case_id = v.case_id AND cases.version = v.expected
  RETURNING 1)
SELECT 1 / (count(*) = %s)::int FROM changed"""
UPDATE_ORDERS = """WITH changed AS (
  UPDATE orders SET refunded_total = v.refunded_total,
         shipping_refunded = v.shipping_refunded, lines = v.lines,
         open_case_id = v.open_case_id, version = v.expected + 1
    FROM jsonb_to_recordset(%s::jsonb) AS v(order_id text, expected int, refunded_total text,
         shipping_refunded text, lines jsonb, open_case_id text)
   WHERE orders.order_id = v.order_id AND orders.version = v.expected
  RETURNING 1)
SELECT 1 / (count(*) = %s)::int FROM changed"""
INSERT_EVENTS = """INSERT INTO events
       (event_id, type, at, recorded_at, case_id, order_id, shop_id, data, tx_id)
SELECT v.event_id, v.type, v.at, v.recorded_at, v.case_id, v.order_id, v.shop_id, v.data,
       pg_current_xact_id()::text::bigint
  FROM ROWS FROM (jsonb_to_recordset(%s::jsonb) AS (event_id text, type text,
       at timestamptz, recorded_at timestamptz, case_id text, order_id text, shop_id text,
       data jsonb)) WITH ORDINALITY AS v
 ORDER BY v.ordinality"""
UPDATE_SUBJECTS = """UPDATE health_subjects SET record = v.record
  FROM jsonb_to_recordset(%s::jsonb) AS v(subject_id text, record jsonb)
 WHERE health_subjects.subject_id = v.subject_id"""
INSERT_ITEMS = """INSERT INTO health_items (shop_id, measure, item_id, at, hit, pending, example)
SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v(shop_id text, measure text, item_id text,
       at timestamptz, hit boolean, pending boolean, example text)"""
ADD_HOURS = """INSERT INTO health_hours (shop_id, measure, hour, counted, hits)
SELECT * FROM jsonb_to_recordset(%s::jsonb) AS v(shop_id text, measure text,
       hour timestamptz, counted int, hits int)
    ON CONFLICT (shop_id, measure, hour) DO UPDATE
   SET counted = health_hours.counted + excluded.counted,
       hits = health_hours.hits + excluded.hits"""


def sweep(db: Any, until: datetime, batch: int, measure: str) -> int:
    """Take every review timeout due at or before ``until``, ``batch`` cases a transaction;
    how many were taken."""
    _set_up(db)
    fired = 0
    with db.pipeline() as pipeline, db.cursor() as cursor:
        while True:
            db.execute("BEGIN", prepare=True)
            cursor.execute(CLAIM, (until, batch), prepare=True)
            rows = cursor.fetchall()  # round trip 1: BEGIN, the claim
            write(db, refunded([Claimed(*row) for row in rows], measure, _same, _now()))
            _commit(db, pipeline)  # round trip 2: the writes, COMMIT
            fired += len(rows)
            if len(rows) < batch:
                return fired


def approve(db: Any, commands: Sequence[tuple[str, str]], at: datetime, measure: str) -> None:
    """Each (case id, shop id): the seller approves the case at ``at``, a transaction each."""
    _set_up(db)
    with db.pipeline() as pipeline, db.cursor() as cursor:
        for case_id, shop_id in commands:
            db.execute("BEGIN", prepare=True)
            cursor.execute(ONE, (case_id,), prepare=True)
            row = cursor.fetchone()  # round trip 1: BEGIN, the read
            if row is None:
                db.execute("ROLLBACK")
                pipeline.sync()
                raise RuntimeError(f"no case {case_id}")
            write(db, refunded([Claimed(*row)], measure, _same, _now(), at, [shop_id]))
            _commit(db, pipeline)  # round trip 2: the writes, COMMIT


def write(db: Any, batch: Batch) -> None:
    """Every row of the batch, one statement a table, queued in the pipeline."""
    _compare_and_set(db, UPDATE_CASES, batch.cases)
    _compare_and_set(db, UPDATE_ORDERS, batch.orders)
    _write_events(db, batch)
    _write_health(db, batch)


def _compare_and_set(db: Any, statement: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        db.execute(statement, (_json(rows), len(rows)), prepare=True)


def _write_events(db: Any, batch: Batch) -> None:
    if batch.events:
        db.execute(INSERT_EVENTS, (_json(batch.events),), prepare=True)


def _write_health(db: Any, batch: Batch) -> None:
    if batch.subjects:
        db.execute(UPDATE_SUBJECTS, (_json(batch.subjects),), prepare=True)
    if batch.items:
        db.execute(INSERT_ITEMS, (_json(batch.items),), prepare=True)
    hours = batch.hour_rows(_same)
    if hours:
        db.execute(ADD_HOURS, (_json(hours),), prepare=True)


def _commit(db: Any, pipeline: Any) -> None:
    """COMMIT and the one Sync of the batch's writes; a failed compare-and-set skips the rest
    (the server ignores a pipeline after an error), so the transaction is rolled back."""
    import psycopg

    db.execute("COMMIT", prepare=True)
    try:
        pipeline.sync()
    except psycopg.errors.DivisionByZero:
        db.execute("ROLLBACK")
        pipeline.sync()
        raise RuntimeError("the raw baseline's compare-and-set failed: nothing written") from None


def _set_up(db: Any) -> None:
    """Transactions begun and committed by statements of ours, sent in the pipeline with the
    statements around them (psycopg waits for the BEGIN it sends itself: a round trip more),
    and the health records decoded as fast as the engine decodes them."""
    from psycopg.types.json import set_json_loads

    db.autocommit = True
    set_json_loads(orjson.loads, db)


def _json(rows: list[dict[str, Any]]) -> str:
    return orjson.dumps(rows).decode()


def _same(instant: datetime) -> datetime:
    return instant  # orjson writes aware instants as RFC 3339, which timestamptz reads


def _now() -> datetime:
    return datetime.now(UTC)
