"""Thousands of due ticket deadlines and punishment ends, written by the engine itself.

Each shop's first order is paid weeks ago; then its tickets are issued through the façade
(``issue_ticket``: the active points, the milestones and the punishments they start included)
and some of them appealed (``act_ticket``), each command at its own instant on a virtual clock,
and each shop's latest daily snapshot is taken (``backfill_health``), as the daemon that ran
every night would have left it: a daemon starts after a shop's latest snapshot, so the daemons
under test have no month of nights to catch up. By now every appeal window is closed, every SLA
passed and every punishment past its planned end.

The commands run on memory stores (a few shops each, in two processes), whose rows are the SQL
columns' own (aftersale/adapters/memory/tables.py); what they hold is then written into the
PostgreSQL schema in one unit of work of the SQL store (its events appended and projected into
the health rollups by its own commit) and each row given the version its writes gave it. Per
command on PostgreSQL the engine's commit round trips would make the seed most of the test.
``test_ticket_daemons.py`` holds the seed to rows the engine writes on PostgreSQL directly.
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy
from sqlalchemy import bindparam, update

import aftersale
from aftersale import VirtualClock
from aftersale.adapters.schema import orders, punishments, shops, tickets
from aftersale.domain.events import Event
from aftersale.domain.model import Order
from aftersale.domain.tickets.model import Punishment, Shop, Ticket

SHOPS_A_STORE = 10  # few: a memory store finds a shop's tickets by reading all of its own
SEED_WORKERS = 2
PHOTO = {"kind": "photo", "uri": "https://cdn.example/ev/appeal.jpg"}
POINTS = 3  # a ticket's: a shop's 16 tickets cross 12, 24, 36 (three punishments) and 48
MARKETS = (("US", "USD"), ("UK", "GBP"))


@dataclass
class Seeded:
    """What was seeded, by id: what the daemons must each take once."""

    windows: list[str] = field(default_factory=list)  # issued, the appeal window closed
    slas: list[str] = field(default_factory=list)  # under review, the SLA passed
    punishments: list[str] = field(default_factory=list)  # running, past their planned end

    def extend(self, other: Seeded) -> None:
        self.windows += other.windows
        self.slas += other.slas
        self.punishments += other.punishments


@dataclass(frozen=True)
class Shops:
    """Shops ``first`` to ``stop - 1``, each first paid at ``base``, with ``windows`` tickets
    left to their appeal window and ``slas`` appealed ones the platform never answers."""

    first: int
    stop: int
    windows: int
    slas: int
    base: datetime
    prefix: str

    def ids(self) -> Iterator[tuple[int, str]]:
        for number in range(self.first, self.stop):
            yield number, f"{self.prefix}shop-{number:04d}"


def play(engine: aftersale.AfterSale, clock: VirtualClock, part: Shops, now: datetime) -> Seeded:
    """The shops' story through the façade: the first order, the tickets a minute apart from
    an hour later, the appeals a day after their issue, and the snapshot of the last night
    before ``now``."""
    seeded = Seeded()
    for number, shop_id in part.ids():
        market, currency = MARKETS[number % len(MARKETS)]
        clock.move_to(part.base)
        engine.order_paid(
            f"O-{shop_id}", shop_id, f"buyer-{number}", market, currency, "30.00", at=part.base
        )
        issued = [
            part.base + timedelta(hours=1, minutes=k) for k in range(part.windows + part.slas)
        ]
        for k, at in enumerate(issued):
            clock.move_to(at)
            ticket_id = f"{shop_id}/T{k:02d}"
            engine.issue_ticket(ticket_id, shop_id, "fulfilment", "dispatched late", POINTS, at=at)
            (seeded.windows if k < part.windows else seeded.slas).append(ticket_id)
        for k in range(part.windows, part.windows + part.slas):
            clock.move_to(at := issued[k] + timedelta(days=1))
            engine.act_ticket(
                f"{shop_id}/T{k:02d}",
                "appeal",
                "seller",
                actor_id=shop_id,
                evidence=[PHOTO],
                at=at,
            )
        started = engine.shop(shop_id, at=clock.now())["punishments"]
        seeded.punishments += [f"{p['cause_ticket_id']}/{p['kind']}" for p in started]
    clock.move_to(now)
    for _, shop_id in part.ids():
        engine.backfill_health(shop_id, now - timedelta(days=1), now)
    return seeded


@dataclass
class _Played:
    """What one memory store holds after :func:`play`, to be written elsewhere."""

    seeded: Seeded
    policy: tuple[str, dict[str, Any], datetime]
    aggregates: list[Order | Shop | Ticket | Punishment]
    events: list[tuple[Any, ...]]  # Event's fields: the events are made again where written
    snapshots: list[dict[str, Any]]


def _in_memory(part_and_now: tuple[Shops, datetime]) -> _Played:
    part, now = part_and_now
    clock = VirtualClock(part.base)
    engine = aftersale.connect("memory://", clock=clock, require_identity=False)
    seeded = play(engine, clock, part, now)
    version = engine.governance.current.version
    aggregates: list[Order | Shop | Ticket | Punishment] = []
    snapshots = []
    with engine.storage.unit_of_work() as uow:
        document = uow.policies.get(version)
        assert document is not None
        for _, shop_id in part.ids():
            order, shop = uow.orders.get(f"O-{shop_id}"), uow.shops.get(shop_id)
            assert order is not None and shop is not None
            aggregates += [order, shop, *uow.tickets.of_shop(shop_id, part.base)]
            aggregates += uow.punishments.of_shop(shop_id)
            snapshots += engine.storage.health.snapshots(shop_id, 1)
    # the settings were stored by the first ticket's issue, as the engine stores them
    policy = (version, document, part.base + timedelta(hours=1))
    return _Played(seeded, policy, aggregates, list(_events(engine)), snapshots)


def _events(engine: aftersale.AfterSale) -> Iterator[tuple[Any, ...]]:
    """The store's event log, in order: the fields of the events its commits were handed."""
    for table, row in engine.storage.reads.verification_rows():
        if table == "events":
            yield (
                row["type"],
                row["at"],
                row["order_id"],
                row["shop_id"],
                row["case_id"],
                row["data"],
            )


def seed_due_governance(
    url: str,
    shops_count: int,
    *,
    windows: int = 12,
    slas: int = 4,
    days_ago: int = 40,
    prefix: str = "",
    now: datetime | None = None,
) -> Seeded:
    """``shops_count`` shops, each with ``windows`` issued tickets whose appeal window closed
    and ``slas`` appealed ones whose SLA passed, ``POINTS`` points each, and the punishments
    their milestones started, all past their end, written into the database at ``url``."""
    now = now or datetime.now(UTC).replace(microsecond=0)
    base = now - timedelta(days=days_ago)
    parts = [
        (Shops(first, min(shops_count, first + SHOPS_A_STORE), windows, slas, base, prefix), now)
        for first in range(0, shops_count, SHOPS_A_STORE)
    ]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(SEED_WORKERS, mp_context=context) as pool:
        played = list(pool.map(_in_memory, parts))
    _write(url, played)
    seeded = Seeded()
    for part in played:
        seeded.extend(part.seeded)
    return seeded


def _write(url: str, played: list[_Played]) -> None:
    """Everything the memory stores hold, in one unit of work of the SQL store at ``url``;
    then each row's version, which counts the writes the commands made of it."""
    # each row's version, before the commit makes every added aggregate's 1
    versions: dict[Any, list[dict[str, Any]]] = {}
    for part in played:
        for aggregate in part.aggregates:
            if aggregate.version != 1:
                key = KEYS[type(aggregate)]
                row = {"k": getattr(aggregate, key.name), "v": aggregate.version}
                versions.setdefault(key, []).append(row)
    engine = aftersale.connect(url)  # the schema, brought up to date
    try:
        with engine.storage.unit_of_work() as uow:
            version, document, created = played[0].policy
            if uow.policies.get(version) is None:
                uow.policies.add(version, document, created)
            for part in played:
                for aggregate in part.aggregates:
                    _add(uow, aggregate)
                for row in part.snapshots:
                    uow.snapshots.add(row)
                for fields in part.events:  # in log order: events are written by creation
                    uow.events.record(Event(*fields))
            uow.commit()
        sql = engine.storage.engine  # type: ignore[attr-defined]
        with sql.begin() as connection:
            for key, rows in versions.items():
                statement = update(key.table).where(key == bindparam("k"))
                connection.execute(statement.values(version=bindparam("v")), rows)
    finally:
        engine.storage.engine.dispose()  # type: ignore[attr-defined]


KEYS: dict[type, sqlalchemy.Column[Any]] = {
    Order: orders.c.order_id,
    Shop: shops.c.shop_id,
    Ticket: tickets.c.ticket_id,
    Punishment: punishments.c.punishment_id,
}


def _add(uow: Any, aggregate: Order | Shop | Ticket | Punishment) -> None:
    if isinstance(aggregate, Order):
        uow.orders.add(aggregate)
    elif isinstance(aggregate, Shop):
        uow.shops.add(aggregate)
    elif isinstance(aggregate, Ticket):
        uow.tickets.add(aggregate)
    else:
        uow.punishments.add(aggregate)
