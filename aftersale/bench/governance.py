"""The nightly snapshots with governance.md's breach rules beside the same night without them.

Two engines over two databases seeded alike (:mod:`aftersale.bench.governance_seed`): one with
the shipped governance.toml, one with the same book but no breach rules. Each takes the same
two nights of snapshots of every shop: the first night at which the rules run (every shop over
a threshold gets its tickets, and those with an earlier ticket cross a milestone and start a
punishment), then the next night (the same shops over their thresholds, their rules now in
cooldown: the shop's recent tickets are read and nothing is issued, but to the few shops a
rule fires for the first time).

A night is taken in slices of shops, the two engines alternating slice by slice (and which
goes first), so a noisy minute on a shared machine slows both sides alike; each side's figure
is the sum of its slices. The detail also gives the ratio of this process's CPU time, which
other processes change far less than the wall clock. The issue's target: the rules add at
most 20 % to the night.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aftersale import AfterSale, VirtualClock, connect
from aftersale.bench.databases import SEEDED_TABLES, analyze, clone, is_sqlite, own_database
from aftersale.bench.figure import Figure
from aftersale.bench.governance_seed import (
    PRIOR_POINTS,
    SeededShops,
    issue_earlier_tickets,
    seed_shops,
)
from aftersale.bench.health import NOW
from aftersale.clock import next_local_midnight
from aftersale.config import default_config_dir
from aftersale.governance_config import read_governance

MOST = 1.2  # the issue's bound on a night with the rules beside one without
SLICES = 20  # slices of a night, the sides alternating
RULES_FILE = "governance.toml"
GOVERNANCE_TABLES = ("tickets", "shops", "punishments", "snapshots")


@dataclass
class Side:
    """One engine's share of the run: its seconds (wall clock, this process's CPU time)."""

    engine: AfterSale
    wall: float = 0.0
    cpu: float = 0.0

    def take(self, until: datetime, most: int) -> int:
        """Up to ``most`` of the snapshots due at or before ``until``, timed."""
        asked = 0

        def enough() -> bool:  # asked before each snapshot due
            nonlocal asked
            asked += 1
            return asked > most

        wall, cpu = time.perf_counter(), time.process_time()
        taken = self.engine.take_snapshots(until, should_stop=enough)
        self.wall += time.perf_counter() - wall
        self.cpu += time.process_time() - cpu
        return taken


@dataclass(frozen=True)
class Night:
    """What one night did on each side."""

    until: datetime  # the night's midnight
    rules: Side
    bare: Side
    tickets: int  # tickets the rules issued that night
    shops_ticketed: int  # shops they were issued to
    punishments: int  # punishments they started


def breach_rules(scale: dict[str, int], url: str) -> list[Figure]:
    """The two nights of ``health_shops`` shops, with the rules and without."""
    count = scale["health_shops"]
    with engines(url, count) as (rules, bare, seeded):
        first, second = two_nights(rules, bare, seeded)
    shops = (
        f"{count:,} shops of 20 to 80 orders, {seeded.breaching:,} with a bad "
        f"habit, {len(seeded.ticketed):,} with an earlier ticket of {PRIOR_POINTS} points"
    )
    issued = (
        f"{first.tickets:,} tickets issued to {first.shops_ticketed:,} shops, "
        f"{first.punishments:,} punishments started"
    )
    cooldown = (
        f"the rules in cooldown for the shops ticketed the night before, {second.tickets:,} "
        "tickets issued"
    )
    return [
        _figure("snapshots with breach rules", first, count, f"{shops}: {issued}"),
        _figure("snapshots with breach rules, next night", second, count, f"{shops}: {cooldown}"),
    ]


def two_nights(rules: AfterSale, bare: AfterSale, seeded: SeededShops) -> tuple[Night, Night]:
    """The first night the rules run, then the next one, on both sides."""
    midnight = _ready(rules, bare)
    return (
        _night(rules, bare, seeded, midnight + timedelta(days=1)),
        _night(rules, bare, seeded, midnight + timedelta(days=2)),
    )


def _figure(name: str, night: Night, count: int, detail: str) -> Figure:
    """A shop's snapshot, in ms, with the rules beside without (the night's each side: a
    night of the nightly snapshots figure; ms a shop keep their digits at every scale)."""
    wall, cpu = night.rules.wall / night.bare.wall, night.rules.cpu / night.bare.cpu
    return Figure(
        name,
        "ms a shop",
        night.rules.wall / count * 1000,
        night.bare.wall / count * 1000,
        "the same night without breach rules, the same run",
        f"≤ {MOST}× the night without (the rules add ≤ {MOST - 1:.0%})",
        detail=f"{detail}; the night {night.rules.wall:,.1f} s beside {night.bare.wall:,.1f} "
        f"s, in {SLICES} slices, the sides alternating; {cpu:.2f}× in this process's CPU "
        f"time ({wall:.2f}× wall clock)",
    )


def _night(rules: AfterSale, bare: AfterSale, seeded: SeededShops, until: datetime) -> Night:
    """Every shop's snapshot at ``until``, taken in slices, the sides alternating."""
    sides = (Side(rules), Side(bare))
    count = len(seeded.shops)
    before = _rule_tickets(rules), _rule_tickets(bare)
    punished = _punishments(rules, seeded)
    most = -(-count // SLICES)
    taken = [0, 0]
    for slice_number in range(SLICES):
        for index in (0, 1) if slice_number % 2 == 0 else (1, 0):
            taken[index] += sides[index].take(until, most)
    if taken != [count, count]:
        raise RuntimeError(f"the night took {taken} snapshots of {count} shops")
    if _rule_tickets(bare) != before[1]:
        raise RuntimeError("the engine without breach rules issued tickets")
    issued = _rule_tickets(rules) - before[0]
    return Night(
        until,
        *sides,
        tickets=len(issued),
        shops_ticketed=len({shop for _, shop in issued}),
        punishments=_punishments(rules, seeded) - punished,
    )


def _ready(rules: AfterSale, bare: AfterSale) -> datetime:
    """Have each engine learn its shops (untimed), none due before the first measured night:
    the midnight before it."""
    midnight = _yesterday(rules)
    for engine in (rules, bare):
        clock = engine.clock
        assert isinstance(clock, VirtualClock)
        clock.move_to(midnight + timedelta(days=3))  # no snapshot is taken of a day to come
        if engine.take_snapshots(midnight, refresh=True):
            raise RuntimeError("a snapshot was due before the measured nights")
    return midnight


def _yesterday(engine: AfterSale) -> datetime:
    """The last midnight before the seeded days end."""
    return next_local_midnight(NOW - timedelta(days=1), engine.policy.market("US").timezone)


def _snapshot_yesterday(engine: AfterSale, seeded: SeededShops) -> None:
    """Record every shop's snapshot of :func:`_yesterday`, as for a daemon that ran then (with
    no report to run the rules on), so the next night due is one snapshot a shop."""
    with engine.storage.unit_of_work() as uow:
        for shop in seeded.shops:
            uow.snapshots.add(
                {"shop_id": shop, "taken_at": _yesterday(engine), "score": None, "tier": None}
                | {"alert_open": False, "report": {}}
            )
        uow.commit()


def _rule_tickets(engine: AfterSale) -> set[tuple[str, str]]:
    """The breach rules' tickets in the engine's database (id, shop), through the reads."""
    return {
        (ticket["ticket_id"], ticket["shop_id"])
        for ticket in _tickets(engine)
        if ticket["source"] != "platform"
    }


def _punishments(engine: AfterSale, seeded: SeededShops) -> int:
    """Punishments of the shops with an earlier ticket (the only ones that may cross 12)."""
    return sum(len(engine.shop(shop)["punishments"]) for shop in seeded.ticketed)


def _tickets(engine: AfterSale) -> Iterator[dict[str, Any]]:
    after = None
    while page := engine.tickets(limit=1000, after=after):
        yield from page
        after = page[-1]["ticket_id"]


@contextmanager
def engines(url: str, count: int) -> Iterator[tuple[AfterSale, AfterSale, SeededShops]]:
    """An engine with the shipped governance.toml and one with no breach rules, each over a
    database of its own (see :func:`own_database`) seeded alike: seeded once, then copied to
    both, so neither side reads tables of another layout (a seeded table holds the dead rows
    of the rollups' upserts, a copied one none)."""
    with ExitStack() as stack:
        copies = [stack.enter_context(own_database(url, f"breach_{n}")) for n in ("rules", "bare")]
        with own_database(url, "breach_seed") as seed_url:
            seeder = connect(seed_url, clock=VirtualClock(NOW))
            seeded = seed_shops(seeder, count)
            _snapshot_yesterday(seeder, seeded)
            seeder.close()
            for copy in copies:
                if not is_sqlite(url):  # the copy's tables, made as the engine makes them
                    connect(copy, clock=VirtualClock(NOW)).close()
                clone(seed_url, copy)
        folders = (None, stack.enter_context(_no_rules()))
        sides = [
            connect(copy, config_dir=folder, clock=VirtualClock(NOW))
            for copy, folder in zip(copies, folders, strict=True)
        ]
        for engine in sides:
            stack.callback(engine.close)
            issue_earlier_tickets(engine, seeded)
        for copy in copies:  # as autovacuum would have, long before
            analyze(copy, (*SEEDED_TABLES, *GOVERNANCE_TABLES))
        yield sides[0], sides[1], seeded


@contextmanager
def _no_rules() -> Iterator[Path]:
    """The shipped configuration with a governance.toml whose breach rules are taken out
    (every other setting as shipped): a folder for ``connect(config_dir=...)``."""
    shipped = default_config_dir()
    with tempfile.TemporaryDirectory() as folder:
        for file in shipped.glob("*.toml"):
            shutil.copy(file, folder)
        text = (shipped / RULES_FILE).read_text(encoding="utf-8")
        Path(folder, RULES_FILE).write_text(_without_rules(text), encoding="utf-8")
        if read_governance(Path(folder))[0].breach_rules:
            raise RuntimeError("the governance book without breach rules still has some")
        yield Path(folder)


def _without_rules(text: str) -> str:
    """The TOML text without its ``[breach_rules.*]`` tables."""
    kept, skipping = [], False
    for line in text.splitlines(keepends=True):
        if line.startswith("["):
            skipping = line.startswith("[breach_rules")
        if not skipping:
            kept.append(line)
    return "".join(kept)
