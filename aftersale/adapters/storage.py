"""The SQLAlchemy backend: units of work (:mod:`aftersale.adapters.unit_of_work`), the read
model (:mod:`aftersale.adapters.reads`) and the health store
(:mod:`aftersale.adapters.health_store`) over one engine."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import Engine

from aftersale.adapters.db import translate_errors
from aftersale.adapters.health_store import SqlHealth
from aftersale.adapters.outbox import renumber
from aftersale.adapters.reads import SqlReads
from aftersale.adapters.rollups import Rollups
from aftersale.adapters.unit_of_work import SqlUnitOfWork


class SqlStorage:
    def __init__(
        self, engine: Engine, rollups: Rollups | None, now: Callable[[], datetime]
    ) -> None:
        self.engine = engine
        self.rollups = rollups  # projected in every unit of work's commit when given
        self.now = now  # when events are recorded
        # BEGIN IMMEDIATE on SQLite: one writer at a time (see db.py)
        self.one_writer = engine.dialect.name == "sqlite"
        self.reads = SqlReads(engine)
        self.health = SqlHealth(engine, rollups)

    def unit_of_work(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(self.engine, self.rollups, self.now)

    def close(self) -> None:
        """Close the engine's pooled connections (the engine can still be used afterwards)."""
        self.engine.dispose()

    def renumber_outbox(self) -> int:
        """After a restore into another server: every event to transaction 0 (outbox.py)."""
        if not self.reads.outbox_from_another_server():
            return 0
        with translate_errors(self.engine), self.engine.begin() as connection:
            return renumber(connection)
