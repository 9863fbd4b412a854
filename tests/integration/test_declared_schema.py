"""Each aggregate is declared once, by its dataclass: the migrations must build exactly the
tables that declaration gives, and a new field reaches the table, the rows and the view alone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal

import sqlalchemy
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import MetaData, select

from aftersale.adapters.db import make_engine, upgrade
from aftersale.adapters.mapping import Mapped
from aftersale.adapters.schema import aggregate_table, metadata
from aftersale.domain.declared import attributes, changeable
from aftersale.domain.model import ONCE, UNSHOWN, VERSION, Kind
from aftersale.service.views import shown


def test_the_migrations_build_exactly_the_declared_tables(sql_db_url: str) -> None:
    """A field added to Order, Case or Message without its migration fails here (and so
    does a migration that drifts from the declaration: a type, a null, an index)."""
    database = make_engine(sql_db_url)
    try:
        upgrade(database)
        with database.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, metadata) == []
    finally:
        database.dispose()


@dataclass(slots=True, kw_only=True)
class Parcel:
    """A throwaway aggregate: what adding a field to one costs."""

    parcel_id: str = field(metadata=ONCE)
    kind: Kind = field(metadata=ONCE)
    weight: Decimal
    sealed_at: datetime | None = None
    note: str = field(default="", metadata=UNSHOWN)
    version: int = field(default=0, metadata=VERSION)


def test_a_field_is_a_column_a_row_value_a_changeable_write_and_a_view_key() -> None:
    table = aggregate_table(Parcel, "parcels", "parcel_id", {"note": 12}, into=MetaData())
    assert [c.name for c in table.c] == [
        "parcel_id",
        "kind",
        "weight",
        "sealed_at",
        "note",
        "version",
    ]
    assert not table.c.weight.nullable and table.c.sealed_at.nullable
    assert table.c.note.type.length == 12
    assert changeable(Parcel) == ("weight", "sealed_at", "note", "version")
    assert [a.name for a in attributes(Parcel) if a.shown] == [
        "parcel_id",
        "kind",
        "weight",
        "sealed_at",
    ]

    mapped = Mapped(Parcel, table, "parcel_id")
    parcel = Parcel(
        parcel_id="P-1",
        kind=Kind.return_refund,
        weight=Decimal("1.250"),
        sealed_at=datetime(2026, 3, 2, 9, tzinfo=UTC),
        note="fragile",
    )
    database = sqlalchemy.create_engine("sqlite://")
    table.metadata.create_all(database)
    with database.begin() as connection:
        connection.execute(table.insert(), [mapped.values(parcel)])
        back = mapped.load(connection.execute(select(table)).one())
    assert back == parcel
    assert shown(back) == {
        "parcel_id": "P-1",
        "kind": "return_refund",
        "weight": "1.250",
        "sealed_at": "2026-03-02T09:00:00Z",
    }


def test_the_tables_own_columns_are_kept_beside_the_declared_ones() -> None:
    lost_at = sqlalchemy.Column("lost_at", sqlalchemy.DateTime)
    table = aggregate_table(Parcel, "parcels", "parcel_id", {}, lost_at, into=MetaData())
    assert table.c.keys()[-1] == "lost_at"
    assert "parcels" not in metadata.tables  # the engine's schema is left alone
