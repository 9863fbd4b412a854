"""The tables, as SQLAlchemy Core metadata. Migrations (Alembic) create and upgrade them.

The aggregates' tables derive from the aggregates' fields (:func:`aggregate_table`).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    Float,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

from aftersale.domain.declared import attributes
from aftersale.domain.model import Case, Message, Order
from aftersale.domain.tickets.model import Punishment, Shop, Ticket


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC instants in, aware UTC instants out, on every backend."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        instant: datetime = value
        return instant.replace(tzinfo=UTC) if instant.tzinfo is None else instant.astimezone(UTC)

    # On SQLite an instant is text ("2026-03-02 09:00:00.000000", SQLAlchemy's format). Every
    # row a command reads or writes carries several: one C call each way instead of two
    # Python steps (this method and SQLAlchemy's own text conversion), same text.
    def bind_processor(self, dialect: Dialect) -> Any:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Any:
        if dialect.name != "sqlite":
            return super().result_processor(dialect, coltype)
        return _sqlite_instant


def _sqlite_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ", "microseconds")[:-6]  # without its "+00:00"


def _sqlite_instant(value: str | None) -> datetime | None:
    # the offset parsed with the text: several times cheaper than replace(tzinfo=UTC) after
    return None if value is None else datetime.fromisoformat(value + "+00:00")


# None is SQL NULL (a case without a refund yet), not the JSON text "null"
Json = JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")
Seq = BigInteger().with_variant(Integer(), "sqlite")
ID = 128

metadata = MetaData()


def aggregate_table(
    aggregate: type,
    name: str,
    key: str,
    sizes: dict[str, int],
    *extra: Column[Any] | Index,
    into: MetaData | None = None,
) -> Table:
    """The table of an aggregate: a column per stored field (aftersale.domain.declared), its
    type from the field's, nullable when the field may be None; ``sizes`` for the strings that
    are not identifiers; ``extra`` for what only storage keeps (and indexes); in the schema's
    metadata unless ``into`` another."""
    columns: list[Column[Any]] = []
    for field in attributes(aggregate):
        kind: Any
        if field.kind is str or field.choices is not None:
            kind = String(sizes.get(field.name, ID if field.kind is str else ENUM))
        else:
            kind = COLUMN_TYPES[field.kind]
        columns.append(
            Column(field.name, kind, primary_key=field.name == key, nullable=field.optional)
        )
    return Table(name, metadata if into is None else into, *columns, *extra)


ENUM = 32
COLUMN_TYPES: dict[type, Any] = {
    Decimal: String(40),  # exact money, as text
    datetime: UTCDateTime(),
    bool: Boolean(),
    int: Integer(),
    dict: Json,
    list: Json,
}

orders = aggregate_table(
    Order,
    "orders",
    "order_id",
    {"market": 8, "currency": 3},
    Index("ix_orders_shop_id", "shop_id"),
)

cases = aggregate_table(
    Case,
    "cases",
    "case_id",
    {
        "market": 8,
        "kind": 20,
        "reason": 64,
        "responsibility": 16,
        "currency": 3,
        "opened_by": 16,
        "policy_version": 64,
    },
    Column("quarantined_at", UTCDateTime()),
    Column("quarantine_error", Text),
    # the deadline a deadline.approaching reminder was sent for (one reminder per deadline)
    Column("reminded_for", UTCDateTime()),
    Index("ix_cases_order_id", "order_id"),
    Index("ix_cases_shop_state", "shop_id", "state"),
    Index("ix_cases_deadline", "deadline_at", "case_id"),
    # the few quarantined cases, for `status` and every sweep's log line without reading all
    Index(
        "ix_cases_quarantined",
        "quarantined_at",
        sqlite_where=text("quarantined_at IS NOT NULL"),
        postgresql_where=text("quarantined_at IS NOT NULL"),
    ),
)

messages = aggregate_table(
    Message, "messages", "message_id", {}, Index("ix_messages_shop_id", "shop_id")
)

# -- governance (governance.md): tickets, their punishments, and the shop they are against --


# the sweep's marks on a ticket or a punishment whose deadline failed (cases have the same)
def _quarantine_columns() -> tuple[Column[Any], Column[Any]]:
    return Column("quarantined_at", UTCDateTime()), Column("quarantine_error", Text)


tickets = aggregate_table(
    Ticket,
    "tickets",
    "ticket_id",
    {"market": 8, "reason": 200, "source": 80, "policy_version": 64},
    *_quarantine_columns(),
    Index("ix_tickets_shop_issued", "shop_id", "issued_at"),
    Index("ix_tickets_deadline", "deadline_at", "ticket_id"),
)

punishments = aggregate_table(
    Punishment,
    "punishments",
    "punishment_id",
    {"punishment_id": 2 * ID + 1, "kind": 64},
    *_quarantine_columns(),
    Index("ix_punishments_shop", "shop_id", "started_at"),
    # the running ones, by planned end: what the sweep ends
    Index(
        "ix_punishments_due",
        "ends_at",
        "punishment_id",
        sqlite_where=text("ended_at IS NULL"),
        postgresql_where=text("ended_at IS NULL"),
    ),
)

shops = aggregate_table(Shop, "shops", "shop_id", {"market": 8})

events = Table(
    "events",
    metadata,
    Column("seq", Seq, primary_key=True, autoincrement=True),
    Column("event_id", String(36), nullable=False, unique=True),
    Column("type", String(40), nullable=False),
    Column("at", UTCDateTime(), nullable=False),
    Column("recorded_at", UTCDateTime(), nullable=False),
    Column("case_id", String(ID), index=True),
    Column("order_id", String(ID), index=True),
    Column("shop_id", String(ID), index=True),
    Column("data", Json, nullable=False),
    # PostgreSQL only: the writing transaction's id (pg_current_xact_id), which makes the
    # outbox gap-free (aftersale.adapters.outbox). NULL on SQLite, where one writer at a time
    # makes seq the commit order.
    Column("tx_id", BigInteger),
    Index("ix_events_shop_at", "shop_id", "at"),
    Index(
        "ix_events_outbox",
        "tx_id",
        "seq",
        sqlite_where=text("tx_id IS NOT NULL"),
        postgresql_where=text("tx_id IS NOT NULL"),
    ),
)

policies = Table(
    "policies",
    metadata,
    Column("version", String(64), primary_key=True),
    Column("document", Json, nullable=False),
    Column("created_at", UTCDateTime(), nullable=False),
)

snapshots = Table(
    "snapshots",
    metadata,
    Column("shop_id", String(ID), primary_key=True),
    Column("taken_at", UTCDateTime(), primary_key=True),  # a local midnight of the shop's market
    Column("score", Float),
    Column("tier", String(16)),
    Column("alert_open", Boolean, nullable=False),  # clearance-risk alert open after this one
    Column("report", Json, nullable=False),
)

# -- the health rollups (aftersale.adapters.rollups): derived from the events, rebuilt at will --

MEASURE = 64
SUBJECT = ID + 16

health_subjects = Table(
    "health_subjects",
    metadata,
    Column("subject_id", String(SUBJECT), primary_key=True),  # an order id, or message:ID
    Column("shop_id", String(ID), nullable=False),
    Column("record", Json, nullable=False),
)

health_items = Table(
    "health_items",
    metadata,
    Column("shop_id", String(ID), primary_key=True),
    Column("measure", String(MEASURE), primary_key=True),
    Column("item_id", String(SUBJECT), primary_key=True),
    Column("at", UTCDateTime(), nullable=False),
    Column("hit", Boolean, nullable=False),
    Column("pending", Boolean, nullable=False),
    Column("example", String(SUBJECT), nullable=False),
    Index("ix_health_items_window", "shop_id", "measure", "at"),
)
# Only what cost points, newest first: where a report's examples come from. Partial, so the
# planner never takes it for the window counts (which read every item of a partial hour).
Index(
    "ix_health_items_hits",
    health_items.c.shop_id,
    health_items.c.measure,
    health_items.c.at,
    health_items.c.example,
    sqlite_where=text("hit = 1"),
    postgresql_where=text("hit"),
)

health_hours = Table(
    "health_hours",
    metadata,
    Column("shop_id", String(ID), primary_key=True),
    Column("measure", String(MEASURE), primary_key=True),
    Column("hour", UTCDateTime(), primary_key=True),  # the UTC hour of the items' instants
    Column("counted", Integer, nullable=False),
    Column("hits", Integer, nullable=False),
    # pruning finds old hours by it (a new hour row is written once per shop, measure and hour)
    Index("ix_health_hours_hour", "hour"),
)

health_rollups = Table(
    "health_rollups",
    metadata,
    Column("name", String(16), primary_key=True),
    Column("health_version", String(64), nullable=False),  # the health.toml they were built with
    Column("built_at", UTCDateTime(), nullable=False),
    # items and hours before this instant were pruned: older windows fold the event log
    Column("kept_from", UTCDateTime(), nullable=True),
)
