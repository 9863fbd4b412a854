"""The statements the store runs hot, and the event rows hosts see.

Hot statements are built once (``functools.cache``) and run on the driver
(:mod:`aftersale.adapters.prepared`): SQLAlchemy's per-call overhead is several times what
SQLite takes to run them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from sqlalchemy import Row, Table, bindparam, insert, select

from aftersale.adapters.prepared import Prepared
from aftersale.adapters.schema import cases, orders
from aftersale.clock import iso

EVENT_COLUMNS = ("event_id", "type", "at", "recorded_at", "case_id", "order_id", "shop_id", "data")


@cache
def claim_statement(postgres: bool) -> Prepared:
    """Due cases, oldest deadline first; on PostgreSQL locked with their orders, skipping rows
    another daemon holds."""
    query = (
        select(cases)
        .where(cases.c.deadline_at <= bindparam("until"), cases.c.quarantined_at.is_(None))
        .order_by(cases.c.deadline_at, cases.c.case_id)
        .limit(bindparam("n"))
    )
    if postgres:
        query = query.join(orders, orders.c.order_id == cases.c.order_id).with_for_update(
            skip_locked=True, of=[cases, orders]
        )
    return Prepared(query)


@cache
def by_key(table: Table, key: str) -> Prepared:
    return Prepared(select(table).where(table.c[key] == bindparam("k")))


@cache
def by_keys(table: Table, key: str, count: int) -> Prepared:
    """Rows by ``count`` keys (``k0``, ``k1``, …), in key order: :func:`keyed` fills them in."""
    wanted = table.c[key].in_([bindparam(f"k{n}") for n in range(count)])
    return Prepared(select(table).where(wanted).order_by(table.c[key]))


KEYS_AT_ONCE = 512  # keys per statement: far below any SQLite's limit on parameters


def keyed(keys: Sequence[str]) -> tuple[int, dict[str, str]]:
    """``keys`` as the parameters of :func:`by_keys`, padded (with the last key again) to a
    power of two so that a few statements serve every length."""
    count = 1 << max(len(keys) - 1, 0).bit_length()
    padded = [*keys, *[keys[-1]] * (count - len(keys))]
    return count, {f"k{n}": key for n, key in enumerate(padded)}


@cache
def insert_statement(table: Table, columns: tuple[str, ...]) -> Prepared:
    """``INSERT INTO table (columns)``; nothing read back (no ``RETURNING`` on PostgreSQL)."""
    return Prepared(insert(table).inline(), columns)


def as_utc(value: datetime) -> datetime:
    """Aggregates (min, max) skip the column type: SQLite hands back naive text or datetimes."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)


def event_dict(row: Row[Any]) -> dict[str, Any]:
    """An event as hosts see it: the envelope, then its own fields."""
    return {
        "seq": row.seq,
        "event_id": row.event_id,
        "type": row.type,
        "at": iso(row.at),
        "recorded_at": iso(row.recorded_at),
        "case_id": row.case_id,
        "order_id": row.order_id,
        "shop_id": row.shop_id,
        **row.data,
    }
