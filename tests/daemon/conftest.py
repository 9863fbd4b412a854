"""Fixtures of the daemon tests: daemon processes and a direct view of a PostgreSQL database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.daemon.helpers import Daemons, Db


@pytest.fixture
def daemons(pg_url: str, tmp_path: Path) -> Iterator[Daemons]:
    """Daemon processes on the test's PostgreSQL schema; any still running are killed after."""
    keeper = Daemons(pg_url, tmp_path)
    yield keeper
    keeper.close()


@pytest.fixture
def pg(pg_url: str) -> Iterator[Db]:
    db = Db(pg_url)
    yield db
    db.close()
