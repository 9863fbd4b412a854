"""Reads outside any unit of work, on connections that only read.

On SQLite such a transaction begins without the write lock (WAL readers neither wait for the
writer nor hold it up), so a daemon's status line or a host's case view never queues behind a
sweep, a snapshot or a command.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine

from aftersale.adapters.db import READ_ONLY, translate_errors


class Reader:
    """What the read sides share: the engine, and connections that only read."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sqlite = engine.dialect.name == "sqlite"

    @contextmanager
    def _reading(self) -> Iterator[Connection]:
        with translate_errors(self.engine), self.engine.connect() as connection:
            yield connection.execution_options(**{READ_ONLY: True})
