"""The storage ports (:mod:`aftersale.service.ports`) in memory: no database, same behaviour.

For unit tests, the demo and the docs: the behaviour of the SQL backend
(:mod:`aftersale.adapters.storage`), errors included, which
``tests/integration/test_storage_contract.py`` holds both to. The parts, each for one reason:

- :mod:`.tables`: the rows, kept as the SQL columns keep them, under one lock;
- :mod:`.unit_of_work` and :mod:`.repositories`: a transaction, staged, checked whole and
  applied whole or not at all;
- :mod:`.reads` and :mod:`.health`: the read sides (there are no health rollups: reports fold
  the event log).

``aftersale.connect("memory://")`` is an engine on a store of its own. ``memory://NAME`` is
the store of that name in this process, shared by every engine connected to it while any of
them lives (SQLite's shared in-memory databases behave alike): engines that must see each
other's writes, as two connections to one database do. Either way the store is in this
process's memory only, so nothing in another process (a daemon, a CLI command) can reach it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from datetime import datetime
from weakref import WeakValueDictionary

from aftersale.adapters.memory.health import MemoryHealth
from aftersale.adapters.memory.reads import MemoryReads
from aftersale.adapters.memory.tables import Database
from aftersale.adapters.memory.unit_of_work import MemoryUnitOfWork
from aftersale.errors import StorageError
from aftersale.service.ports import HealthStore, ReadModel

__all__ = ["MEMORY_SCHEME", "MemoryStorage", "MemoryUnitOfWork", "in_memory", "storage_at"]

MEMORY_SCHEME = "memory://"
_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
# Named stores live while an engine holds them, then go, as their memory would on exit.
_named: WeakValueDictionary[str, Database] = WeakValueDictionary()
_naming = threading.Lock()


class MemoryStorage:
    """A backend in memory: units of work, and the two read sides. ``now`` is the clock the
    commits stamp their events' ``recorded_at`` with; ``database`` the tables to share with
    other storages (by default a store of its own)."""

    def __init__(self, now: Callable[[], datetime], database: Database | None = None) -> None:
        self._db = database or Database()
        self._now = now
        self.reads: ReadModel = MemoryReads(self._db)
        self.health: HealthStore = MemoryHealth(self._db)
        # commits take one lock, but claims are held per unit of work: sweeps may run at once
        self.one_writer = False

    def unit_of_work(self) -> MemoryUnitOfWork:
        return MemoryUnitOfWork(self._db, self._now)

    def close(self) -> None:
        """Nothing to let go: no connections, and the rows stay for as long as the engine."""


def in_memory(url: str) -> bool:
    """Whether ``url`` names a memory store (``memory://`` or ``memory://NAME``)."""
    return url.startswith("memory:")


def storage_at(url: str, now: Callable[[], datetime]) -> MemoryStorage:
    """The storage of a memory URL: ``memory://`` a store of its own, ``memory://NAME`` the
    one of that name in this process (made when no engine holds it)."""
    name = url.removeprefix(MEMORY_SCHEME)
    if not url.startswith(MEMORY_SCHEME) or (name and not _NAME.fullmatch(name)):
        raise StorageError(
            "not a memory database URL: memory:// (a store of its own) or memory://NAME "
            "(one shared in this process; NAME of letters, digits, '.', '_' and '-')"
        )
    if not name:
        return MemoryStorage(now)
    with _naming:
        database = _named.get(name)
        if database is None:
            database = _named[name] = Database()
    return MemoryStorage(now, database)
