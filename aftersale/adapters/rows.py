"""Rows and aggregates: converting between them, and the statements the store runs hot.

Hot statements are built once (``functools.cache``) and run on the driver
(:mod:`aftersale.adapters.prepared`): SQLAlchemy's per-call overhead is several times what
SQLite takes to run them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Row, Table, bindparam, insert, select, update

from aftersale.adapters.prepared import Prepared
from aftersale.adapters.schema import cases, orders
from aftersale.clock import iso
from aftersale.domain.model import Action, Actor, Case, Kind, Order, Responsibility, State

# What a command can change after a row is inserted; everything else is written once.
MUTABLE = {
    "cases": (
        "state",
        "responsibility",
        "updated_at",
        "deadline_at",
        "deadline_action",
        "rejected_by_seller",
        "return_shipped",
    ),
    "orders": (
        "shipped_at",
        "delivered_at",
        "cancelled_at",
        "tracking",
        "refunded_total",
        "open_case_id",
    ),
}


EVENT_COLUMNS = ("event_id", "type", "at", "recorded_at", "case_id", "order_id", "shop_id", "data")
MUTABLE_COLUMNS = frozenset(MUTABLE["cases"] + MUTABLE["orders"])


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


@cache
def update_statement(table: Table, key: str) -> Prepared:
    """``UPDATE table SET <mutable> WHERE key = :k AND version = :expected``, for executemany."""
    columns = (*MUTABLE[table.name], "version")
    return Prepared(
        update(table)
        .where(table.c[key] == bindparam("k"), table.c.version == bindparam("expected"))
        .values({name: bindparam(f"v_{name}") for name in columns})
    )


def versioned(values: dict[str, Any], key: str, version: int) -> dict[str, Any]:
    row = {f"v_{name}": value for name, value in values.items() if name in MUTABLE_COLUMNS}
    row.update(k=key, expected=version, v_version=version + 1)
    return row


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


def order_from(row: Row[Any]) -> Order:
    return Order(
        order_id=row.order_id,
        shop_id=row.shop_id,
        buyer_id=row.buyer_id,
        market=row.market,
        currency=row.currency,
        amount=Decimal(row.amount),
        paid_at=row.paid_at,
        dispatch_by=row.dispatch_by,
        shipped_at=row.shipped_at,
        delivered_at=row.delivered_at,
        cancelled_at=row.cancelled_at,
        tracking=row.tracking,
        refunded_total=Decimal(row.refunded_total),
        open_case_id=row.open_case_id,
        version=row.version,
    )


def order_values(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.order_id,
        "shop_id": order.shop_id,
        "buyer_id": order.buyer_id,
        "market": order.market,
        "currency": order.currency,
        "amount": str(order.amount),
        "paid_at": order.paid_at,
        "dispatch_by": order.dispatch_by,
        "shipped_at": order.shipped_at,
        "delivered_at": order.delivered_at,
        "cancelled_at": order.cancelled_at,
        "tracking": order.tracking,
        "refunded_total": str(order.refunded_total),
        "open_case_id": order.open_case_id,
    }


def case_from(row: Row[Any]) -> Case:
    return Case(
        case_id=row.case_id,
        order_id=row.order_id,
        shop_id=row.shop_id,
        buyer_id=row.buyer_id,
        market=row.market,
        kind=Kind(row.kind),
        state=State(row.state),
        reason=row.reason,
        responsibility=Responsibility(row.responsibility),
        amount=Decimal(row.amount),
        currency=row.currency,
        opened_by=Actor(row.opened_by),
        opened_at=row.opened_at,
        updated_at=row.updated_at,
        policy_version=row.policy_version,
        request=dict(row.request),
        deadline_at=row.deadline_at,
        deadline_action=None if row.deadline_action is None else Action(row.deadline_action),
        rejected_by_seller=row.rejected_by_seller,
        return_shipped=row.return_shipped,
        version=row.version,
    )


def case_values(case: Case) -> dict[str, Any]:
    return {
        "case_id": case.case_id,
        "order_id": case.order_id,
        "shop_id": case.shop_id,
        "buyer_id": case.buyer_id,
        "market": case.market,
        "kind": case.kind.value,
        "state": case.state.value,
        "reason": case.reason,
        "responsibility": case.responsibility.value,
        "amount": str(case.amount),
        "currency": case.currency,
        "opened_by": case.opened_by.value,
        "opened_at": case.opened_at,
        "updated_at": case.updated_at,
        "policy_version": case.policy_version,
        "request": case.request,
        "deadline_at": case.deadline_at,
        "deadline_action": None if case.deadline_action is None else case.deadline_action.value,
        "rejected_by_seller": case.rejected_by_seller,
        "return_shipped": case.return_shipped,
    }
