"""The tables, as SQLAlchemy Core metadata. Migrations (Alembic) create and upgrade them."""

from __future__ import annotations

from datetime import UTC, datetime
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
    return value.astimezone(UTC).replace(tzinfo=None).isoformat(" ", "microseconds")


def _sqlite_instant(value: str | None) -> datetime | None:
    return None if value is None else datetime.fromisoformat(value).replace(tzinfo=UTC)


Json = JSON().with_variant(JSONB(), "postgresql")
Seq = BigInteger().with_variant(Integer(), "sqlite")
ID = 128

metadata = MetaData()

orders = Table(
    "orders",
    metadata,
    Column("order_id", String(ID), primary_key=True),
    Column("shop_id", String(ID), nullable=False, index=True),
    Column("buyer_id", String(ID), nullable=False),
    Column("market", String(8), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("amount", String(40), nullable=False),
    Column("paid_at", UTCDateTime(), nullable=False),
    Column("dispatch_by", UTCDateTime()),
    Column("shipped_at", UTCDateTime()),
    Column("delivered_at", UTCDateTime()),
    Column("cancelled_at", UTCDateTime()),
    Column("tracking", String(ID)),
    Column("refunded_total", String(40), nullable=False),
    Column("open_case_id", String(ID)),
    Column("version", Integer, nullable=False),
)

cases = Table(
    "cases",
    metadata,
    Column("case_id", String(ID), primary_key=True),
    Column("order_id", String(ID), nullable=False, index=True),
    Column("shop_id", String(ID), nullable=False),
    Column("buyer_id", String(ID), nullable=False),
    Column("market", String(8), nullable=False),
    Column("kind", String(20), nullable=False),
    Column("state", String(32), nullable=False),
    Column("reason", String(64), nullable=False),
    Column("responsibility", String(16), nullable=False),
    Column("amount", String(40), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("opened_by", String(16), nullable=False),
    Column("opened_at", UTCDateTime(), nullable=False),
    Column("updated_at", UTCDateTime(), nullable=False),
    Column("policy_version", String(64), nullable=False),
    Column("request", Json, nullable=False),
    Column("deadline_at", UTCDateTime()),
    Column("deadline_action", String(32)),
    Column("rejected_by_seller", Boolean, nullable=False),
    Column("return_shipped", Boolean, nullable=False),
    Column("version", Integer, nullable=False),
    Column("quarantined_at", UTCDateTime()),
    Column("quarantine_error", Text),
    # the deadline a deadline.approaching reminder was sent for (one reminder per deadline)
    Column("reminded_for", UTCDateTime()),
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

messages = Table(
    "messages",
    metadata,
    Column("message_id", String(ID), primary_key=True),
    Column("shop_id", String(ID), nullable=False, index=True),
    Column("order_id", String(ID)),
    Column("received_at", UTCDateTime(), nullable=False),
    Column("replied_at", UTCDateTime()),
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
