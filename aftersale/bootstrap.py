"""The composition root: the one place that knows the concrete classes and wires them."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Engine

from aftersale.adapters.db import DEFAULT_URL, make_engine, require_schema, safe_url, upgrade
from aftersale.adapters.memory import in_memory, storage_at
from aftersale.adapters.rollups import Rollups
from aftersale.adapters.storage import SqlStorage
from aftersale.clock import Clock, SystemClock
from aftersale.config import policy_from_document, read_document
from aftersale.daemon_workers import connections
from aftersale.errors import StorageError
from aftersale.health_config import load_health
from aftersale.service.engine import DEFAULT_CLOCK_SKEW, AfterSale
from aftersale.service.governance_api import default_governance
from aftersale.service.policies import PolicyBook
from aftersale.service.ports import Storage

URL_VARIABLE = "AFTERSALE_DB_URL"


def database_url(url: str | None = None) -> str:
    """``url``, else ``$AFTERSALE_DB_URL``, else the embedded SQLite file ``aftersale.db``."""
    return url or os.environ.get(URL_VARIABLE) or DEFAULT_URL


def connect(
    url: str | None = None,
    *,
    config_dir: str | Path | None = None,
    clock: Clock | None = None,
    migrate: bool = True,
    require_identity: bool = True,
    require_platform_identity: bool = False,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> AfterSale:
    """An engine over the database at ``url`` with the policy in ``config_dir``.

    ``memory://`` is a database in this process's memory, of this engine alone
    (``memory://NAME``: shared with the other engines of this process connected to it), for
    tests and trials: no schema and no health rollups (``migrate`` does not apply), and
    nothing in another process (a daemon, the CLI) can reach it.

    ``migrate`` creates the schema or brings it to the newest revision first (the embedded
    default); turn it off where operators run ``aftersale db upgrade`` themselves: then the
    schema must be this release's already, or ``SchemaMissing``, ``SchemaOutdated`` or
    ``SchemaNewer`` is raised and nothing is created (not even an SQLite file).
    ``require_identity`` makes buyers and sellers name themselves (``actor_id``) on every open
    and action; tools that speak for them (replay, the operator CLI) turn it off and check an
    ``actor_id`` if given; ``require_platform_identity`` makes the platform name its operator
    the same way. ``clock_skew`` is how far a command's ``at`` may run ahead of ``clock``
    (default 5 s): later instants are refused, and one within it is taken as the clock's now.
    """
    policies = _policies(config_dir)
    url = database_url(url)
    database: Engine | str = url  # a memory URL: no schema to create or check
    if not in_memory(url):
        database = make_engine(url)
        if migrate:
            upgrade(database)
        else:
            require_schema(database)
    return _assemble(
        database,
        policies,
        config_dir,
        clock,
        adopt=migrate,
        require_identity=require_identity,
        require_platform_identity=require_platform_identity,
        clock_skew=clock_skew,
    )


def daemon_engine(
    url: str | None = None, config_dir: str | Path | None = None, workers: int = 1
) -> tuple[AfterSale, Callable[[], None]]:
    """The daemon's engine, its schema not checked yet, and the check the daemon runs before
    its first sweep: a database that is down at start is waited for like any blink, while a
    schema that is missing or another release's stops it (``require_schema``'s errors).
    Its pool holds a connection for each of ``workers`` sweeping at once and the daemon's
    jobs. ``memory://`` is refused (``StorageError``)."""
    url = lasting_url(
        url,
        "the daemon",
        "a memory database lives in the process that made it, and a daemon runs in a process "
        "of its own, which cannot see it (in the process that holds it, call fire_due)",
    )
    policies = _policies(config_dir)
    engine = make_engine(url, connections(workers))
    return _assemble(engine, policies, config_dir, None, adopt=False), partial(
        require_schema, engine
    )


def _policies(config_dir: str | Path | None) -> PolicyBook:
    document = read_document(None if config_dir is None else Path(config_dir))
    return PolicyBook(policy_from_document(document), document)


def lasting_url(url: str | None, who: str, why: str) -> str:
    """The database URL (``database_url``) for ``who``, which needs one outside this process:
    ``StorageError`` naming ``why`` for ``memory://``."""
    url = database_url(url)
    if in_memory(url):
        raise StorageError(f"{who} cannot use {url}: {why}; give it a database URL")
    return url


def _assemble(
    database: Engine | str,
    policies: PolicyBook,
    config_dir: str | Path | None,
    clock: Clock | None,
    *,
    adopt: bool,
    require_identity: bool = True,
    require_platform_identity: bool = False,
    clock_skew: timedelta = DEFAULT_CLOCK_SKEW,
) -> AfterSale:
    health = load_health(None if config_dir is None else Path(config_dir))
    clock = clock or SystemClock()
    storage: Storage
    if isinstance(database, str):  # a memory URL: no rollups to adopt
        storage = storage_at(database, clock.now)
    else:
        storage = SqlStorage(database, Rollups(*health), clock.now)
        if adopt:
            storage.health.adopt_rollups(clock.now())
    return AfterSale(
        storage,
        policies,
        clock,
        require_identity=require_identity,
        require_platform_identity=require_platform_identity,
        health=health,
        clock_skew=clock_skew,
        governance=default_governance(None if config_dir is None else Path(config_dir)),
    )


def upgrade_database(
    url: str | None = None, config_dir: str | Path | None = None
) -> tuple[bool, bool, int]:
    """Bring the schema at ``url`` to the newest migration: whether anything was applied,
    whether the health rollups are current under the health.toml in ``config_dir``, and how
    many events had their outbox transaction id renumbered (a database restored into another
    PostgreSQL server; 0 otherwise).

    On a database with no events yet, the (empty) rollups are marked as built; elsewhere
    ``aftersale health rebuild`` builds them (reports fold the event log until then).
    ``memory://`` is refused (``StorageError``): it has no schema.
    """
    url = lasting_url(
        url,
        "`aftersale db upgrade`",
        "a memory database has no schema to upgrade; connect() makes it whole, in the "
        "process that uses it, and it is gone when that process ends",
    )
    engine = make_engine(url)
    applied = upgrade(engine)
    health = load_health(None if config_dir is None else Path(config_dir))
    storage = SqlStorage(engine, Rollups(*health), SystemClock().now)
    current = storage.health.adopt_rollups(SystemClock().now())
    renumbered = storage.renumber_outbox()
    engine.dispose()
    return applied, current, renumbered


def shown_url(url: str | None = None) -> str:
    """The database URL as it may be printed: the password hidden."""
    return safe_url(database_url(url))
