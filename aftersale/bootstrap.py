"""The composition root: the one place that knows the concrete classes and wires them."""

from __future__ import annotations

import os
from pathlib import Path

from aftersale.adapters.db import DEFAULT_URL, make_engine, safe_url, upgrade
from aftersale.adapters.store import SqlStore
from aftersale.clock import Clock, SystemClock
from aftersale.config import policy_from_document, read_document
from aftersale.health_config import load_health
from aftersale.service.engine import AfterSale
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
) -> AfterSale:
    """An engine over the database at ``url`` with the policy in ``config_dir``.

    ``migrate`` brings the schema to the newest revision first (the embedded default); turn it
    off where operators run ``aftersale db upgrade`` themselves. ``require_identity`` makes
    buyers and sellers name themselves (``actor_id``) on every open and action; tools that
    speak for them (replay, the operator CLI) turn it off and check an ``actor_id`` if given.
    """
    document = read_document(None if config_dir is None else Path(config_dir))
    policies = PolicyBook(policy_from_document(document), document)
    engine = make_engine(database_url(url))
    if migrate:
        upgrade(engine)
    folder = None if config_dir is None else Path(config_dir)
    return AfterSale(
        SqlStore(engine),
        policies,
        clock or SystemClock(),
        require_identity=require_identity,
        health=load_health(folder),
    )


def upgrade_database(url: str | None = None) -> bool:
    """Bring the schema at ``url`` to the newest migration; True when anything was applied."""
    return upgrade(make_engine(database_url(url)))


def shown_url(url: str | None = None) -> str:
    """The database URL as it may be printed: the password hidden."""
    return safe_url(database_url(url))
