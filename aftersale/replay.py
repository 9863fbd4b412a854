"""Replay a JSON Lines scenario through the real engine on a virtual clock (replay.md).

Each line is checked in the order of replay.md: JSON, the shape of the line, its instant against
the clock; then every deadline up to the line's instant is taken, each at its own deadline, and
the line is applied through the same façade a host calls. A refused line is reported with its
code and changes nothing; the replay goes on. The ticket lines and the tickets and shops of the
output are in :mod:`aftersale.replay_tickets`; how the tickets' deadlines and the punishments'
ends take their place among the cases' in :mod:`aftersale.replay_deadlines`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from importlib.resources import files
from pathlib import Path
from typing import Any

from aftersale.bootstrap import connect
from aftersale.clock import VirtualClock, iso
from aftersale.domain import validation as check
from aftersale.domain.model import Action, Actor
from aftersale.domain.orders import parse_paid
from aftersale.domain.requests import ACTION_FIELDS, parse_open
from aftersale.errors import AfterSaleError, CommandRefused, InvalidInput, OutOfOrder
from aftersale.replay_deadlines import AT_ONE_INSTANT, TICK, GovernanceDeadlines
from aftersale.replay_tickets import (
    TICKET_LINE_FIELDS,
    check_ticket_shape,
    replay_shops,
    replay_tickets,
    ticket_appliers,
)
from aftersale.service.engine import AfterSale

MEMORY_URL = "sqlite://"
MAX_LINE_CHARACTERS = 1_000_000  # far above any real line (notes are at most 200 characters)
ACTION_LINE_FIELDS = frozenset({"case_id", "action", "actor", "actor_id"}).union(
    *ACTION_FIELDS.values()
)
# type -> the fields a line of that type may carry besides ``at`` and ``type``
LINE_FIELDS: Mapping[str, frozenset[str]] = {
    "order.paid": frozenset(
        {
            "order_id",
            "shop_id",
            "buyer_id",
            "market",
            "currency",
            "amount",
            "dispatch_by",
            "lines",
            "shipping_fee",
        }
    ),
    "order.shipped": frozenset({"order_id", "tracking"}),
    "order.delivered": frozenset({"order_id"}),
    "case.open": frozenset(
        {
            "case_id",
            "order_id",
            "kind",
            "actor",
            "actor_id",
            "reason",
            "amount",
            "item_unused",
            "evidence",
            "note",
            "lines",
        }
    ),
    "case.action": ACTION_LINE_FIELDS,
    "review.posted": frozenset({"order_id", "rating", "topic"}),
    "complaint.filed": frozenset({"order_id"}),
    "message.received": frozenset({"message_id", "shop_id", "order_id"}),
    "message.replied": frozenset({"message_id"}),
    **TICKET_LINE_FIELDS,
    "clock.advance": frozenset(),
}
# lines whose action's own fields the engine checks, last (replay.md's order)
ACTION_LINES = frozenset({"case.action", "ticket.action"})


class ReplayFileError(AfterSaleError):
    """The scenario cannot be read, or the options are wrong (exit status 2)."""


@dataclass
class LineError:
    line: int
    code: str
    message: str

    def as_dict(self) -> dict[str, Any]:
        return {"line": self.line, "code": self.code, "message": self.message}


@dataclass
class ReplayResult:
    clock: datetime | None
    cases: list[dict[str, Any]]
    events: list[dict[str, Any]]
    errors: list[LineError] = field(default_factory=list)
    health: dict[str, Any] = field(default_factory=dict)
    tickets: list[dict[str, Any]] = field(default_factory=list)
    shops: list[dict[str, Any]] = field(default_factory=list)

    @property
    def exit_status(self) -> int:
        return 1 if self.errors else 0

    def as_dict(self) -> dict[str, Any]:
        return {
            "clock": iso(self.clock),
            "cases": self.cases,
            "tickets": self.tickets,
            "shops": self.shops,
            "events": self.events,
            "errors": [error.as_dict() for error in self.errors],
            "health": self.health,
        }


def example_names() -> list[str]:
    folder = files("aftersale.scenarios")
    return sorted(
        p.name.removesuffix(".jsonl") for p in folder.iterdir() if p.name.endswith(".jsonl")
    )


def read_scenario(path: str | None = None, example: str | None = None) -> list[str]:
    """The lines of a scenario file, or of a scenario shipped with the package."""
    try:
        if example is not None:
            if example not in example_names():
                known = ", ".join(example_names())
                raise ReplayFileError(f"no example scenario {example!r} (known: {known})")
            text = (files("aftersale.scenarios") / f"{example}.jsonl").read_text("utf-8")
        else:
            assert path is not None
            text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ReplayFileError(f"cannot read {path}: {error}") from None
    return text.splitlines()


def replay(
    lines: Iterable[str],
    *,
    db_url: str | None = None,
    until: datetime | str | None = None,
    config_dir: str | Path | None = None,
) -> ReplayResult:
    if until is not None:
        try:
            until = check.instant(until, "--until")
        except InvalidInput as wrong:
            raise ReplayFileError(wrong.message) from None
    clock = VirtualClock(datetime.min.replace(tzinfo=UTC))
    engine = connect(
        db_url or MEMORY_URL, config_dir=config_dir, clock=clock, require_identity=False
    )
    player = _Player(engine, clock)
    cursor = player.deadlines.seq  # the report covers the events this replay writes
    for number, text in enumerate(lines, start=1):
        stripped = text.strip()
        if stripped and not stripped.startswith("#"):
            player.play(number, stripped)
    if until is not None:
        if player.started and until < clock.now():
            raise ReplayFileError(
                f"--until {iso(until)} is before the last line ({iso(clock.now())})"
            )
        player.advance(until)
    return _result(engine, player, cursor)


class _Player:
    def __init__(self, engine: AfterSale, clock: VirtualClock) -> None:
        self.engine = engine
        self.clock = clock
        self.started = False
        self.errors: list[LineError] = []
        self.appliers = _appliers(engine)
        self.deadlines = GovernanceDeadlines()
        self.deadlines.read(engine)  # a database of --db may hold tickets already

    def play(self, number: int, text: str) -> None:
        try:
            line = _parse(text)
            at = check.instant(line.get("at"), "at")
            _check_shape(self.engine, line)
            if self.started and at < self.clock.now():
                raise OutOfOrder(
                    f"at {iso(at)} is before the previous line ({iso(self.clock.now())})"
                )
            self.advance(at)
            try:
                self.appliers[line["type"]](**_arguments(line), at=at)
            finally:
                if line["type"] in TICKET_LINE_FIELDS:  # its deadlines, its punishments
                    self.deadlines.read(self.engine)
        except _InvalidJson as error:
            self.errors.append(LineError(number, "invalid_json", str(error)))
        except CommandRefused as refused:
            self.errors.append(LineError(number, refused.code, refused.message))

    def advance(self, instant: datetime) -> None:
        """Take every deadline and snapshot at or before ``instant``, in time order (at one
        midnight, deadlines first), then move the clock there."""
        for midnight in self.engine.snapshot_instants(instant):
            self._fire_through(midnight)
            self.engine.take_snapshots(midnight)
            self.deadlines.read(self.engine)  # the breach rules' tickets and punishments
        self._fire_through(instant)
        self.started = True

    def _fire_through(self, instant: datetime) -> None:
        """Every deadline at or before ``instant`` in one global order: at each instant a
        ticket's deadline or a punishment's end falls on, first what is due before it (cases
        only), then what is due at it (replay_deadlines)."""
        for stop in self.deadlines.due(instant):
            self._move_clock(stop)
            self.engine.fire_due(stop - TICK)
            self.engine.fire_due(stop, batch=AT_ONE_INSTANT)
        self._move_clock(instant)
        self.engine.fire_due(instant)

    def _move_clock(self, instant: datetime) -> None:
        # the clock first: the engine takes no timeout before its clock reaches it
        self.clock.move_to(max(self.clock.now(), instant))


class _InvalidJson(Exception):
    pass


def _parse(text: str) -> dict[str, Any]:
    if len(text) > MAX_LINE_CHARACTERS:
        raise InvalidInput(f"the line is longer than {MAX_LINE_CHARACTERS:,} characters")
    try:
        line = json.loads(text)
    except json.JSONDecodeError as error:
        where = error.msg.removesuffix(" at")  # "Unterminated string starting at"
        raise _InvalidJson(f"not JSON: {where} at column {error.colno}") from None
    except RecursionError:
        raise _InvalidJson("not JSON this engine reads: nested too deeply") from None
    except ValueError:  # not JSONDecodeError: an integer of more digits than int() converts
        digits = sys.get_int_max_str_digits()
        raise _InvalidJson(
            f"not JSON this engine reads: a number of more than {digits:,} digits"
        ) from None
    if not isinstance(line, dict):
        raise _InvalidJson("a line must be a JSON object")
    kind = line.get("type")
    if not isinstance(kind, str) or kind not in LINE_FIELDS:
        known = f"(known: {', '.join(LINE_FIELDS)})"
        if kind is None:
            raise InvalidInput(f"the line has no type {known}")
        if not isinstance(kind, str):
            raise InvalidInput(f"type must be a string {known}")
        raise InvalidInput(f"unknown type {kind[:60]!r} {known}")
    unknown = sorted(set(line) - LINE_FIELDS[kind] - {"at", "type"})
    if unknown:
        raise InvalidInput(f"{kind} does not take field(s) {', '.join(unknown)}")
    return line


def _arguments(line: Mapping[str, Any]) -> dict[str, Any]:
    """Every field the line's type takes, None where the line leaves it out."""
    kind = line["type"]
    if kind in ACTION_LINES:  # the action's own fields are checked by the engine, last
        return {key: value for key, value in line.items() if key not in ("at", "type")}
    return {name: line.get(name) for name in LINE_FIELDS[kind]}


def _check_shape(engine: AfterSale, line: Mapping[str, Any]) -> None:
    """Refuse a malformed line before its instant is even looked at (replay.md's order)."""
    kind = line["type"]
    if kind == "order.paid":
        parse_paid(engine.policy, dict(line))
    elif kind == "case.open":
        parse_open(engine.policy, line)
    elif kind == "case.action":
        check.identifier(line.get("case_id"), "case_id")
        check.choice(line.get("action"), "action", frozenset(Action.__members__))
        check.choice(line.get("actor"), "actor", frozenset(Actor.__members__))
    elif kind in TICKET_LINE_FIELDS:
        check_ticket_shape(engine, line)
    else:
        for name in ("order_id", "message_id"):
            if name in LINE_FIELDS[kind] and (name != "order_id" or kind != "message.received"):
                check.identifier(line.get(name), name)


def _appliers(engine: AfterSale) -> dict[str, Callable[..., Any]]:
    """The façade method each line type calls; its parameters are named like the fields."""
    return {
        "order.paid": engine.order_paid,
        "order.shipped": engine.order_shipped,
        "order.delivered": engine.order_delivered,
        "case.open": engine.open_case,
        "case.action": engine.act,
        "review.posted": engine.review_posted,
        "complaint.filed": engine.complaint_filed,
        "message.received": engine.message_received,
        "message.replied": engine.message_replied,
        **ticket_appliers(engine),
        "clock.advance": lambda at: None,
    }


# A replay reads its own events from the log by seq, not from the outbox: they are all
# committed when it reads, and a transaction another session holds open on the server must
# not hide them from its report.
def _result(engine: AfterSale, player: _Player, seq: int) -> ReplayResult:
    events: list[dict[str, Any]] = []
    while page := engine.log(seq, 10_000):
        events.extend(page)
        seq = page[-1]["seq"]
    case_ids = sorted({e["case_id"] for e in events if e["case_id"] is not None})
    cases = [_replay_case(engine.case(case_id)) for case_id in case_ids]
    clock = player.clock.now() if player.started else None
    shops = sorted({e["shop_id"] for e in events if e["shop_id"] is not None})
    health = {shop: engine.health(shop, clock) for shop in shops} if clock else {}
    return ReplayResult(
        clock,
        cases,
        events,
        player.errors,
        health=health,
        tickets=replay_tickets(engine, events),
        shops=replay_shops(engine, events, clock),
    )


def _replay_case(view: dict[str, Any]) -> dict[str, Any]:
    keys = (
        "case_id",
        "order_id",
        "shop_id",
        "kind",
        "state",
        "responsibility",
        "amount",
        "currency",
        "opened_at",
        "deadline_at",
        "policy_version",
        "lines",
        "offers",
        "refund",
        "history",
    )
    return {key: view[key] for key in keys}
