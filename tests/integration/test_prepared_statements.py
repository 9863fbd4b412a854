"""Statements run on the driver behave as SQLAlchemy runs them: same values in, same values out,
same errors, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
import sqlalchemy
from sqlalchemy import bindparam, select

from aftersale.adapters.db import make_engine, upgrade
from aftersale.adapters.prepared import Link, Prepared
from aftersale.adapters.reads import SqlReads
from aftersale.adapters.rows import by_keys, insert_statement, keyed
from aftersale.adapters.schema import health_hours, policies, snapshots
from aftersale.adapters.unit_of_work import SqlUnitOfWork
from aftersale.errors import Conflict, StorageError

EIGHT_EAST = timezone(timedelta(hours=8))


@pytest.fixture
def database(sql_db_url: str) -> sqlalchemy.Engine:
    engine = make_engine(sql_db_url)
    upgrade(engine)
    return engine


def test_values_go_in_and_come_out_as_sqlalchemy_writes_and_reads_them(
    database: sqlalchemy.Engine,
) -> None:
    row = {
        "shop_id": "S1",
        "taken_at": datetime(2026, 3, 2, 16, 30, 0, 5, tzinfo=EIGHT_EAST),
        "score": 87.5,
        "tier": "good",
        "alert_open": True,
        "report": {"metrics": [{"name": "late_dispatch", "rate": 0.25}], "shop": "S1"},
    }
    with database.begin() as connection:
        insert_statement(snapshots, tuple(row)).run(connection, row)
        by_sqlalchemy = connection.execute(select(snapshots)).one()
        by_driver = Prepared(select(snapshots)).first(connection)
    assert tuple(by_driver) == tuple(by_sqlalchemy)
    assert by_driver.taken_at == datetime(2026, 3, 2, 8, 30, 0, 5, tzinfo=UTC)
    assert by_driver.taken_at.tzinfo is UTC
    assert by_driver.report == row["report"]
    assert by_driver.alert_open is True


def test_an_instant_written_by_the_driver_is_the_text_sqlalchemy_writes(
    sqlite_url: str,
) -> None:
    engine = make_engine(sqlite_url)
    upgrade(engine)
    instant = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)  # no microseconds: still written with them
    with engine.begin() as connection:
        values = {"version": "v1", "document": {}, "created_at": instant}
        insert_statement(policies, tuple(values)).run(connection, values)
        connection.execute(
            sqlalchemy.insert(policies).values(version="v2", document={}, created_at=instant)
        )
        stored = connection.exec_driver_sql(
            "SELECT created_at FROM policies ORDER BY version"
        ).all()
    assert [text for (text,) in stored] == ["2026-03-02 09:00:00.000000"] * 2


def test_rows_by_many_keys_come_back_once_each_in_key_order(database: sqlalchemy.Engine) -> None:
    hours = [
        {
            "shop_id": f"S{n}",
            "measure": "m",
            "hour": datetime(2026, 3, 2, tzinfo=UTC),
            "counted": n,
            "hits": 0,
        }
        for n in range(5)
    ]
    with database.begin() as connection:
        insert_statement(health_hours, tuple(hours[0])).run_many(connection, hours)
        count, params = keyed(["S3", "S0", "S4"])
        found = by_keys(health_hours, "shop_id", count).rows(connection, params)
    assert count == 4  # padded to a power of two with the last key again
    assert [row.shop_id for row in found] == ["S0", "S3", "S4"]


def test_every_parameter_is_required_by_name(database: sqlalchemy.Engine) -> None:
    query = Prepared(select(policies).where(policies.c.version == bindparam("k")))
    with database.begin() as connection, pytest.raises(KeyError, match="'k'"):
        query.rows(connection, {"version": "v1"})


def test_a_duplicate_is_a_conflict_and_the_transaction_writes_nothing(
    database: sqlalchemy.Engine,
) -> None:
    values = {"version": "v1", "document": {}, "created_at": datetime(2026, 3, 2, tzinfo=UTC)}
    add = insert_statement(policies, tuple(values))
    with SqlUnitOfWork(database, None, _now) as uow:
        add.run(uow.link, values)
        uow.commit()
    with pytest.raises(Conflict, match="duplicate"), SqlUnitOfWork(database, None, _now) as uow:
        add.run(uow.link, {**values, "version": "v2"})
        add.run(uow.link, values)  # v1 again
    with database.connect() as connection:
        assert connection.execute(select(policies.c.version)).scalars().all() == ["v1"]


def test_a_driver_error_is_raised_as_sqlalchemy_raises_it(database: sqlalchemy.Engine) -> None:
    with database.begin() as connection, pytest.raises(sqlalchemy.exc.IntegrityError):
        insert_statement(policies, ("version", "document", "created_at")).run(
            connection, {"version": None, "document": {}, "created_at": None}
        )


def test_a_broken_statement_is_a_storage_error_naming_the_database(
    database: sqlalchemy.Engine,
) -> None:
    broken = Prepared(sqlalchemy.text("SELECT no_such_column FROM policies"))
    with (
        pytest.raises(StorageError, match="no_such_column"),
        SqlReads(database)._reading() as connection,
    ):
        broken.rows(connection)


def test_a_link_is_the_driver_connection_under_a_sqlalchemy_connection(
    database: sqlalchemy.Engine,
) -> None:
    with database.connect() as connection:
        link = Link.of(connection)
        assert link.driver is connection.connection.dbapi_connection
        assert link.dialect is database.dialect


def _now() -> datetime:
    return datetime.now(UTC)
