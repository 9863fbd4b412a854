"""``memory://``: an engine on the memory backend, of its own or shared by name in this
process, and refused clearly wherever another process would have to see it (the daemon, the
schema upgrade, every CLI command that reads a database)."""

from __future__ import annotations

import gc
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

import aftersale
from aftersale import VirtualClock
from aftersale.adapters.memory import MemoryStorage
from aftersale.bootstrap import daemon_engine, upgrade_database
from aftersale.cli import cli
from aftersale.errors import StorageError

PAID = datetime(2026, 3, 2, 9, tzinfo=UTC)


def _engine(url: str) -> aftersale.AfterSale:
    return aftersale.connect(url, clock=VirtualClock(PAID), require_identity=False)


def _paid(engine: aftersale.AfterSale, order_id: str = "US-1") -> None:
    engine.order_paid(order_id, "shop-a", "buyer-a", "US", "USD", "10.00", at=PAID)


def test_memory_is_an_engine_of_its_own_stamped_by_the_engines_clock() -> None:
    one, two = _engine("memory://"), _engine("memory://")
    assert isinstance(one.storage, MemoryStorage)
    _paid(one)
    assert two.storage.reads.order("US-1") is None  # another store
    (paid,) = one.log()
    assert paid["recorded_at"] == "2026-03-02T09:00:00Z"  # the engine's clock


def test_a_named_memory_store_is_shared_while_an_engine_holds_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AFTERSALE_DB_URL", "memory://shared-test")
    first = aftersale.connect(clock=VirtualClock(PAID), require_identity=False, migrate=False)
    _paid(first)
    second = _engine("memory://shared-test")
    assert second.order("US-1")["amount"] == "10.00"
    assert _engine("memory://other-test").storage.reads.order("US-1") is None
    del first, second
    gc.collect()
    assert _engine("memory://shared-test").storage.reads.order("US-1") is None  # gone


@pytest.mark.parametrize("url", ["memory:x", "memory://a b", "memory://a/b", "memory://a?b=1"])
def test_a_malformed_memory_url_is_refused(url: str) -> None:
    with pytest.raises(StorageError, match=r"memory://NAME"):
        _engine(url)


def test_the_daemon_and_the_upgrade_refuse_memory_naming_why() -> None:
    with pytest.raises(StorageError, match="a daemon runs in a process of its own"):
        daemon_engine("memory://")
    with pytest.raises(StorageError, match="no schema to upgrade"):
        upgrade_database("memory://")


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["case", "show", "RF-1"],
        ["verify", "--json"],
        ["db", "upgrade"],
        ["bench", "--scale", "tiny"],
        ["health", "report", "shop-a"],
        ["policy", "list"],
    ],
    ids=" ".join,
)
def test_cli_commands_on_memory_exit_3_with_a_message_not_a_traceback(args: list[str]) -> None:
    """In this process (the daemon's, whose logging setup is the process's, is run on the
    real command line in tests/e2e/test_cli_database.py)."""
    done = CliRunner().invoke(cli, [*args, "--db", "memory://"])
    assert done.exit_code == 3, done.output
    assert isinstance(done.exception, SystemExit)  # no traceback: an exit status
    assert "cannot use memory://" in done.output
