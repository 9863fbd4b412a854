"""The composition root: the one place that knows the concrete classes and wires them."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import timedelta
from functools import partial
from pathlib import Path

from sqlalchemy import Engine

from aftersale.adapters.db import DEFAULT_URL, make_engine, require_schema, safe_url, upgrade
from aftersale.adapters.rollups import Rollups
from aftersale.adapters.store import SqlStore
from aftersale.clock import Clock, SystemClock
from aftersale.config import policy_from_document, read_document
from aftersale.health_config import load_health
from aftersale.service.engine import DEFAULT_CLOCK_SKEW, AfterSale
from aftersale.service.policies import PolicyBook

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
    engine = make_engine(database_url(url))
    if migrate:
        upgrade(engine)
    else:
        require_schema(engine)
    return _assemble(
        engine,
        policies,
        config_dir,
        clock,
        adopt=migrate,
        require_identity=require_identity,
        require_platform_identity=require_platform_identity,
        clock_skew=clock_skew,
    )


def daemon_engine(
    url: str | None = None, config_dir: str | Path | None = None
) -> tuple[AfterSale, Callable[[], None]]:
    """The daemon's engine, its schema not checked yet, and the check the daemon runs before
    its first sweep: a database that is down at start is waited for like any blink, while a
    schema that is missing or another release's stops it (``require_schema``'s errors)."""
    policies = _policies(config_dir)
    engine = make_engine(database_url(url))
    return _assemble(engine, policies, config_dir, None, adopt=False), partial(
        require_schema, engine
    )


def _policies(config_dir: str | Path | None) -> PolicyBook:
    document = read_document(None if config_dir is None else Path(config_dir))
    return PolicyBook(policy_from_document(document), document)


def _assemble(
    engine: Engine,
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
    store = SqlStore(engine, Rollups(*health))
    if adopt:
        store.adopt_rollups(clock.now())
    return AfterSale(
        store,
        policies,
        clock,
        require_identity=require_identity,
        require_platform_identity=require_platform_identity,
        health=health,
        clock_skew=clock_skew,
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
    """
    engine = make_engine(database_url(url))
    applied = upgrade(engine)
    health = load_health(None if config_dir is None else Path(config_dir))
    store = SqlStore(engine, Rollups(*health))
    current = store.adopt_rollups(SystemClock().now())
    renumbered = store.renumber_outbox()
    engine.dispose()
    return applied, current, renumbered


def shown_url(url: str | None = None) -> str:
    """The database URL as it may be printed: the password hidden."""
    return safe_url(database_url(url))
