"""A fresh PostgreSQL schema per hypothesis example, dropped when the test ends: the state
machines run each example on an empty database without creating one per example."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy


class Schemas:
    """The schemas made for one test, each named ``{prefix}_{random}``."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.made: list[str] = []

    def fresh_url(self) -> str:
        schema = f"{self.prefix}_{uuid.uuid4().hex[:12]}"
        _run(f"CREATE SCHEMA {schema}")
        self.made.append(schema)
        return f"{_base()}?options=-csearch_path%3D{schema}"

    @contextmanager
    def dropped_after(self) -> Iterator[None]:
        try:
            yield
        finally:
            while self.made:
                _run(f"DROP SCHEMA {self.made.pop()} CASCADE")


def _base() -> str:
    return os.environ["AFTERSALE_TEST_PG_URL"].replace("postgresql://", "postgresql+psycopg://")


def _run(sql: str) -> None:
    admin = sqlalchemy.create_engine(_base())
    with admin.begin() as connection:
        connection.exec_driver_sql(sql)
    admin.dispose()
