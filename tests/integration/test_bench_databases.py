"""Each benchmark figure gets a database of its own, so ``aftersale bench --db URL`` can run
again on the same server (fixed keys in one figure's seed once collided with the last run's)."""

from __future__ import annotations

from pathlib import Path

import pytest
import sqlalchemy

from aftersale.bench.databases import own_database
from aftersale.bootstrap import connect
from tests.conftest import pg_server_url


def _schemas(url: str) -> set[str]:
    engine = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with engine.connect() as connection:
        names = connection.exec_driver_sql("SELECT nspname FROM pg_namespace").scalars().all()
    engine.dispose()
    return set(names)


@pytest.mark.postgres
def test_a_figure_on_postgresql_runs_in_a_schema_of_its_own_dropped_afterwards() -> None:
    base = pg_server_url()
    before = _schemas(base)
    for _ in range(2):  # the same seed twice: no duplicate keys
        with own_database(base, "timers") as url:
            engine = connect(url)
            engine.order_paid("O1", "S1", "B1", "US", "USD", "10.00")
            assert engine.order("O1")["order_id"] == "O1"
            engine.close()
            assert len(_schemas(base) - before) == 1
    assert _schemas(base) == before


def test_a_figure_on_sqlite_runs_in_a_file_of_its_own_removed_afterwards() -> None:
    with own_database("sqlite://", "timers") as url:
        path = Path(url.removeprefix("sqlite:///"))
        connect(url).order_paid("O1", "S1", "B1", "US", "USD", "10.00")
        assert path.exists()
    assert not path.exists()
