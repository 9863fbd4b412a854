"""Shared fixtures: databases (SQLite files and a real PostgreSQL) and engines on a virtual clock.

PostgreSQL tests use ``AFTERSALE_TEST_PG_URL``. When it is unset they are skipped and say why;
when it is set and the server cannot be reached they fail, so CI can never skip them silently.
Each PostgreSQL test gets a schema of its own, so tests can run in parallel on one database.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy

import aftersale
from aftersale import AfterSale, VirtualClock
from aftersale.adapters.memory import storage_at
from aftersale.adapters.schema import health_hours, health_items, health_subjects

PG_VARIABLE = "AFTERSALE_TEST_PG_URL"
MONDAY_9AM = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
# An engine clock later than any instant the storage and API tests report
AFTER_EVERY_INSTANT = datetime(2026, 9, 1, tzinfo=UTC)


def pg_server_url() -> str:
    """The PostgreSQL server of ``AFTERSALE_TEST_PG_URL`` as given; the test is skipped, and
    says why, when it is unset."""
    url = os.environ.get(PG_VARIABLE)
    if not url:
        pytest.skip(f"PostgreSQL tests need {PG_VARIABLE}=postgresql://user@host:port/db")
    return url


def _pg_base_url() -> str:
    return pg_server_url().replace("postgresql://", "postgresql+psycopg://", 1)


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a fresh schema, dropped afterwards."""
    base = _pg_base_url()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sqlalchemy.create_engine(base)
    try:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"CREATE SCHEMA {schema}")
    except sqlalchemy.exc.OperationalError as error:
        admin.dispose()
        pytest.fail(f"{PG_VARIABLE} is set but PostgreSQL is unreachable: {error.orig}")
    separator = "&" if "?" in base else "?"
    try:
        yield f"{base}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as connection:
            connection.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
        admin.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'aftersale.db'}"


@pytest.fixture
def memory_url() -> Iterator[str]:
    """A memory store of the test's own, held for the whole test: every engine connected to
    the URL shares it, as every engine on ``pg_url`` shares one schema."""
    url = f"memory://t-{uuid.uuid4().hex[:12]}"
    held = storage_at(url, lambda: MONDAY_9AM)  # the store lives while something holds it
    yield url
    del held


SQL_NAMES = {"sqlite": "sqlite_url", "postgres": "pg_url"}
SQL_BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


@pytest.fixture(params=[*SQL_BACKENDS, "memory"])
def db_url(request: pytest.FixtureRequest) -> str:
    """Every storage test runs over an SQLite file, a real PostgreSQL and the memory backend
    (tests/integration/test_storage_contract.py holds them to one contract)."""
    name = SQL_NAMES.get(request.param, "memory_url")
    url: str = request.getfixturevalue(name)
    return url


@pytest.fixture(params=SQL_BACKENDS)
def sql_db_url(request: pytest.FixtureRequest) -> str:
    """For tests of what only a SQL database has (its schema, its statements, its rows read
    or damaged with SQL, several processes on it): an SQLite file and a real PostgreSQL."""
    url: str = request.getfixturevalue(SQL_NAMES[request.param])
    return url


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock(MONDAY_9AM)


EngineFactory = Callable[..., AfterSale]


@pytest.fixture
def make_engine(clock: VirtualClock) -> EngineFactory:
    """Engines over a URL (default: a private in-memory SQLite), sharing the test's clock."""

    def build(url: str = "sqlite://", **options: object) -> AfterSale:
        # These engines speak for buyers and sellers; identity has tests of its own.
        options.setdefault("require_identity", False)
        return aftersale.connect(url, clock=options.pop("clock", clock), **options)  # type: ignore[arg-type]

    return build


@pytest.fixture
def engine(make_engine: EngineFactory) -> AfterSale:
    """An engine on a memory store of its own: for the service's behaviour, no database."""
    return make_engine("memory://")


def rollup_rows(engine: aftersale.AfterSale) -> dict[str, Any]:
    """Every health rollup row, comparable between two databases or before and after a
    rebuild."""
    rows: dict[str, Any] = {}
    with engine.storage.engine.connect() as connection:  # type: ignore[attr-defined]
        for table in (health_subjects, health_items, health_hours):
            found = [tuple(row) for row in connection.execute(sqlalchemy.select(table))]
            if table is health_hours:  # an hour whose items all went elsewhere sums to zero
                found = [row for row in found if row[-2:] != (0, 0)]
            rows[table.name] = sorted(found, key=repr)
    return rows
