"""`verify` over governance (governance.md): tickets against their events and pinned settings,
punishments against theirs and the points that started them, shops against their tickets.

One harbour shop is played through the public API, on SQLite, PostgreSQL and the memory
backend: six tickets at once cross 12 points and start a campaign ban, which the overturn of
its cause ticket ends early; a seventh crosses 12 again and starts one the sweep ends; one
ticket is appealed twice (its first SLA passing unanswered) and upheld to final, one revoked,
one appealed and left past its SLA, one appealed and waiting, two waiting out their windows.
A lantern shop that never dispatched its twelve orders gets the late_dispatch breach rule's
tickets at its daily snapshots. Each test damages one thing and expects exactly the findings
named.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
import sqlalchemy

import aftersale
from aftersale import AfterSale, VirtualClock
from aftersale.adapters import schema
from aftersale.service import verification
from tests.daemon.helpers import Daemons

SHOP, LANTERN = "shop-harbour", "shop-lantern"
PHOTO = [{"kind": "photo", "uri": "https://evidence.example/dock.jpg"}]
STORY_ENDS = datetime(2026, 3, 20, tzinfo=UTC)
FIRST_BAN, SECOND_BAN = "TK-6/campaign_ban", "TK-7/campaign_ban"
TICKETS = [f"TK-{n}" for n in range(1, 8)]
LATE_DISPATCH = f"auto-late_dispatch-{LANTERN}-2026-03-04"


def _play(url: str) -> AfterSale:
    clock = VirtualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    engine = aftersale.connect(url, clock=clock, require_identity=False)

    def at(text: str) -> str:
        clock.move_to(datetime.fromisoformat(text))
        return text

    def appeal(ticket_id: str, when: str) -> None:
        engine.act_ticket(
            ticket_id, "appeal", "seller", actor_id=SHOP, evidence=PHOTO, at=at(when)
        )

    engine.order_paid("US-1", SHOP, "buyer-ada", "US", "USD", "30.00", at=at("2026-03-02T09:00Z"))
    for n in range(12):
        engine.order_paid(
            f"L-{n}", LANTERN, f"buyer-{n}", "US", "USD", "10.00", dispatch_by="2026-03-03T09:00Z"
        )
    # a case stores the case policy, whose US calendar times the tickets' SLA
    engine.open_case(
        "CX-1", "US-1", "cancellation", "buyer", "changed_mind", at=at("2026-03-02T09:30Z")
    )
    issuing = at("2026-03-02T10:00Z")
    for ticket_id in TICKETS[:6]:
        engine.issue_ticket(ticket_id, SHOP, "fulfilment", "left the dock late", 2, at=issuing)
    appeal("TK-6", "2026-03-02T11:00Z")
    engine.act_ticket("TK-6", "overturn", "platform", at=at("2026-03-02T12:00Z"))
    engine.issue_ticket("TK-7", SHOP, "service", "chats unanswered", 2, at=at("2026-03-02T13:00Z"))
    appeal("TK-2", "2026-03-02T14:00Z")
    engine.act_ticket(
        "TK-3", "revoke", "platform", note="issued twice", at=at("2026-03-03T09:00Z")
    )
    engine.fire_due(at("2026-03-10T00:00Z"))  # TK-2's SLA passes, the second ban ends
    engine.act_ticket("TK-2", "uphold", "platform", at=at("2026-03-10T09:00Z"))
    appeal("TK-2", "2026-03-11T09:00Z")
    engine.act_ticket("TK-2", "uphold", "platform", at=at("2026-03-12T09:00Z"))
    appeal("TK-4", "2026-03-12T10:00Z")
    engine.fire_due(at("2026-03-19T12:00Z"))  # TK-4's SLA passes
    appeal("TK-5", "2026-03-19T13:00Z")
    clock.move_to(STORY_ENDS)
    engine.take_snapshots()  # the lantern's late dispatches, a ticket every 7 days
    return engine


@pytest.fixture
def harbour(db_url: str) -> Iterator[AfterSale]:
    engine = _play(db_url)
    yield engine
    engine.close()


def _found(engine: AfterSale) -> set[tuple[str, str]]:
    return {(v["rule"], v["subject"]) for v in engine.verify()}


# -- a clean history verifies clean --------------------------------------------------------------


def test_the_harbour_is_what_governance_md_says(db_url: str, harbour: AfterSale) -> None:
    states = {t["ticket_id"]: (t["state"], t["appeals"]) for t in harbour.tickets(SHOP)}
    assert states == {
        "TK-1": ("issued", 0),
        "TK-2": ("final", 2),
        "TK-3": ("revoked", 0),
        "TK-4": ("under_review", 1),
        "TK-5": ("under_review", 1),
        "TK-6": ("overturned", 1),
        "TK-7": ("issued", 0),
    }
    assert harbour.ticket("TK-4")["deadline_at"] is None  # its SLA passed
    assert harbour.ticket("TK-5")["deadline_action"] == "reply_overdue"
    bans = harbour.shop(SHOP)["punishments"]
    assert [(p["cause_ticket_id"], p["ended_early"]) for p in bans] == [
        ("TK-6", True),
        ("TK-7", False),
    ]
    assert [p["ended_at"] for p in bans] == ["2026-03-02T12:00:00Z", "2026-03-09T13:00:00Z"]
    overdue = [d for _, kind, d in Damage(db_url, harbour).events() if kind.endswith("overdue")]
    assert [(d["ticket_id"], d["round"]) for d in overdue] == [("TK-2", 1), ("TK-4", 1)]
    lantern = [(t["ticket_id"], t["source"]) for t in harbour.tickets(LANTERN)]
    assert lantern[0] == (LATE_DISPATCH, "rule:late_dispatch") and len(lantern) >= 2
    assert harbour.verify() == []


def test_the_harbour_verifies_clean_once_every_window_has_closed(harbour: AfterSale) -> None:
    harbour.clock.move_to(datetime(2026, 4, 10, tzinfo=UTC))  # type: ignore[attr-defined]
    assert harbour.fire_due() == 4  # TK-1's, TK-7's and the first breach window, TK-5's SLA
    assert harbour.verify() == []


def test_verify_between_every_batch_of_a_sweep_reports_nothing(harbour: AfterSale) -> None:
    """Deadlines due but not taken yet are the sweep's backlog, not damage: verify run
    between each batch of one a ticket at a time finds nothing."""
    harbour.clock.move_to(datetime(2026, 4, 10, tzinfo=UTC))  # type: ignore[attr-defined]
    runs: list[list[dict[str, str]]] = []

    def verify_then_go_on() -> bool:
        runs.append(harbour.verify())
        return False

    assert harbour.sweep(batch=1, should_stop=verify_then_go_on).fired == 4
    assert len(runs) >= 3 and [run for run in runs if run] == []


# -- damage, one thing at a time -----------------------------------------------------------------


class Damage:
    """Raw edits of the rows and events ``verify`` reads, on SQL or in memory."""

    def __init__(self, url: str, engine: AfterSale) -> None:
        self.url, self.engine = url, engine
        self.memory = url.startswith("memory")

    def _sql(self) -> sqlalchemy.Engine:
        return sqlalchemy.create_engine(
            self.url.replace("postgresql://", "postgresql+psycopg://", 1)
        )

    def _rows(self, table: str) -> dict[str, dict[str, Any]]:
        """A memory table's rows by key (the policies are a plain dict of rows)."""
        stored = getattr(self.engine.storage._db, table)  # type: ignore[attr-defined]
        rows: dict[str, dict[str, Any]] = getattr(stored, "rows", stored)
        return rows

    def set(self, table: str, key: str, **values: Any) -> None:
        """Columns of the row of ``table`` whose key is ``key``."""
        if self.memory:
            rows = self._rows(table)
            rows[key] = {**rows[key], **values}
            return
        mapped = getattr(schema, table)
        sql = self._sql()
        with sql.begin() as connection:
            done = connection.execute(
                sqlalchemy.update(mapped)
                .where(mapped.primary_key.columns[0] == key)
                .values(values)
            )
            assert done.rowcount == 1
        sql.dispose()

    def get(self, table: str, key: str, column: str) -> Any:
        if self.memory:
            return self._rows(table)[key][column]
        mapped = getattr(schema, table)
        sql = self._sql()
        with sql.connect() as connection:
            value = connection.execute(
                sqlalchemy.select(mapped.c[column]).where(mapped.primary_key.columns[0] == key)
            ).scalar_one()
        sql.dispose()
        return value

    def delete_row(self, table: str, key: str) -> None:
        if self.memory:
            self._rows(table).pop(key)
            return
        mapped = getattr(schema, table)
        sql = self._sql()
        with sql.begin() as connection:
            done = connection.execute(
                sqlalchemy.delete(mapped).where(mapped.primary_key.columns[0] == key)
            )
            assert done.rowcount == 1
        sql.dispose()

    def event(
        self, kind: str, matches: Callable[[dict[str, Any]], bool], last: bool = False
    ) -> int:
        """The seq of the first (or last) event of type ``kind`` whose data ``matches``."""
        found = [seq for seq, type_, data in self.events() if type_ == kind and matches(data)]
        assert found, kind
        return found[-1] if last else found[0]

    def events(self) -> list[tuple[int, str, dict[str, Any]]]:
        if self.memory:
            return [
                (row["seq"], row["type"], orjson.loads(row["data"]))
                for row in self.engine.storage._db.events  # type: ignore[attr-defined]
            ]
        events = schema.events
        sql = self._sql()
        with sql.connect() as connection:
            rows = connection.execute(
                sqlalchemy.select(events.c.seq, events.c.type, events.c.data).order_by(
                    events.c.seq
                )
            ).all()
        sql.dispose()
        return [(int(seq), type_, data) for seq, type_, data in rows]

    def edit_event(self, seq: int, **changes: Any) -> None:
        """Keys of one event's data set (a value of ``DROP``: the key removed)."""

        def edited(data: dict[str, Any]) -> dict[str, Any]:
            kept = {key: value for key, value in data.items() if changes.get(key) is not DROP}
            return {**kept, **{k: v for k, v in changes.items() if v is not DROP}}

        if self.memory:
            db = self.engine.storage._db  # type: ignore[attr-defined]
            index = next(i for i, row in enumerate(db.events) if row["seq"] == seq)
            row = db.events[index]
            db.events[index] = {**row, "data": orjson.dumps(edited(orjson.loads(row["data"])))}
            return
        events = schema.events
        sql = self._sql()
        with sql.begin() as connection:
            data = connection.execute(
                sqlalchemy.select(events.c.data).where(events.c.seq == seq)
            ).scalar_one()
            connection.execute(
                sqlalchemy.update(events).where(events.c.seq == seq).values(data=edited(data))
            )
        sql.dispose()

    def delete_event(self, seq: int) -> None:
        if self.memory:
            db = self.engine.storage._db  # type: ignore[attr-defined]
            db.events[:] = [row for row in db.events if row["seq"] != seq]
            return
        sql = self._sql()
        with sql.begin() as connection:
            done = connection.execute(
                sqlalchemy.delete(schema.events).where(schema.events.c.seq == seq)
            )
            assert done.rowcount == 1
        sql.dispose()


DROP = object()


@pytest.fixture
def damage(db_url: str, harbour: AfterSale) -> Damage:
    assert harbour.verify() == []
    return Damage(db_url, harbour)


def _of(ticket_id: str, action: str) -> Callable[[dict[str, Any]], bool]:
    return lambda data: data.get("ticket_id") == ticket_id and data.get("action") == action


def _ban(cause: str) -> Callable[[dict[str, Any]], bool]:
    return lambda data: data.get("cause_ticket_id") == cause


def _later(instant: Any, **delta: float) -> datetime:
    value = instant if isinstance(instant, datetime) else datetime.fromisoformat(instant)
    return (value if value.tzinfo else value.replace(tzinfo=UTC)) + timedelta(**delta)


def test_an_edited_ticket_state_is_found(damage: Damage) -> None:
    damage.set("tickets", "TK-5", state="final")
    assert _found(damage.engine) == {("history", "ticket TK-5")}
    assert any("its events end in under_review" in v["detail"] for v in damage.engine.verify())


def test_an_edited_ticket_deadline_is_found(damage: Damage) -> None:
    damage.set(
        "tickets", "TK-1", deadline_at=_later(damage.get("tickets", "TK-1", "deadline_at"), days=1)
    )
    assert _found(damage.engine) == {("deadline", "ticket TK-1")}


def test_a_deadline_moved_in_the_row_and_its_event_is_found_against_the_settings(
    damage: Damage,
) -> None:
    later = _later(damage.get("tickets", "TK-5", "deadline_at"), days=1)
    damage.set("tickets", "TK-5", deadline_at=later)
    damage.edit_event(
        damage.event("ticket.transition", _of("TK-5", "appeal")), deadline_at=later.isoformat()
    )
    violations = damage.engine.verify()
    assert {(v["rule"], v["subject"]) for v in violations} == {("deadline", "ticket TK-5")}
    assert "its settings give 2026-03-26T13:00:00Z" in violations[0]["detail"]


def test_an_sla_is_checked_against_the_policy_in_force_when_no_case_stored_one(
    db_url: str,
) -> None:
    """No case, so no stored case policy: the engine's own lends its US calendar."""
    engine = aftersale.connect(db_url, clock=VirtualClock(STORY_ENDS), require_identity=False)
    engine.order_paid("US-9", SHOP, "buyer-ada", "US", "USD", "9.00", at="2026-03-02T09:00Z")
    engine.issue_ticket("TK-9", SHOP, "product", "wrong colour", 3, at="2026-03-02T10:00Z")
    engine.act_ticket(
        "TK-9", "appeal", "seller", actor_id=SHOP, evidence=PHOTO, at="2026-03-19T13:00Z"
    )
    damage = Damage(db_url, engine)
    later = _later(damage.get("tickets", "TK-9", "deadline_at"), hours=1)
    damage.set("tickets", "TK-9", deadline_at=later)
    damage.edit_event(
        damage.event("ticket.transition", _of("TK-9", "appeal")), deadline_at=later.isoformat()
    )
    assert verification.verify(engine.storage.reads) == []  # no calendar to tell
    found = verification.verify(engine.storage.reads, engine.policy)
    assert [(v.rule, v.subject) for v in found] == [("deadline", "ticket TK-9")]
    assert "its settings give 2026-03-26T13:00:00Z" in found[0].detail


def test_edited_appeals_are_found(damage: Damage) -> None:
    damage.set("tickets", "TK-4", appeals=2)
    assert _found(damage.engine) == {("history", "ticket TK-4")}


def test_a_deleted_reply_overdue_leaves_the_sla_pending_in_the_events(damage: Damage) -> None:
    damage.delete_event(damage.event("ticket.reply_overdue", lambda d: d["ticket_id"] == "TK-4"))
    # the SLA left pending, and the row's updated_at (moved to the passed SLA) unexplained
    assert _found(damage.engine) == {("deadline", "ticket TK-4"), ("history", "ticket TK-4")}


def test_a_deleted_transition_is_found(damage: Damage) -> None:
    second_appeal = damage.event("ticket.transition", _of("TK-2", "appeal"), last=True)
    damage.delete_event(second_appeal)
    found = damage.engine.verify()
    assert {v["subject"] for v in found} == {"ticket TK-2"}
    assert {v["rule"] for v in found} == {"history", "transition"}
    assert any("leaves under_review, but the ticket was in upheld" in v["detail"] for v in found)


def test_a_timeout_before_its_window_closed_is_found(damage: Damage) -> None:
    revoke = damage.event("ticket.transition", _of("TK-3", "revoke"))
    damage.edit_event(
        revoke, action="appeal_window_timeout", actor="system", auto=True, to_state="final"
    )
    damage.set("tickets", "TK-3", state="final")
    # a timeout only at its deadline; and a revoke was a change of the shop's points
    assert _found(damage.engine) == {("deadline", "ticket TK-3"), ("shop", f"shop {SHOP}")}


def test_a_punishment_without_its_started_event_is_found(damage: Damage) -> None:
    damage.delete_event(damage.event("punishment.started", _ban("TK-7")))
    violations = damage.engine.verify()
    assert {(v["rule"], v["subject"]) for v in violations} == {
        ("punishment", f"punishment {SECOND_BAN}")
    }
    assert "0 punishment.started events" in violations[0]["detail"]


def test_two_bans_running_at_once_are_found(damage: Damage) -> None:
    damage.set("punishments", FIRST_BAN, ended_at=None, ended_early=False)
    damage.delete_event(damage.event("punishment.ended", _ban("TK-6")))
    assert _found(damage.engine) == {
        ("punishment", f"punishment {SECOND_BAN}"),  # runs while the first one still ran
        ("points", f"punishment {FIRST_BAN}"),  # its cause's overturn must have ended it
    }


def test_punishments_the_points_did_not_start_are_found(damage: Damage) -> None:
    """TK-1 worth 1 point in its row and its events: the six tickets reach 11, not 12."""
    damage.set("tickets", "TK-1", points=1)
    damage.edit_event(damage.event("ticket.transition", _of("TK-1", "issue")), points=1)
    violations = damage.engine.verify()
    assert {(v["rule"], v["subject"]) for v in violations} == {
        ("points", f"punishment {FIRST_BAN}"),
        ("points", f"punishment {SECOND_BAN}"),
    }
    assert any(
        "went from 9 to 11; a campaign_ban starts when they cross 12" in v["detail"]
        for v in violations
    )


def test_an_unreadable_ticket_row_is_listed_and_the_rest_still_checked(damage: Damage) -> None:
    damage.set("tickets", "TK-3", state="lost")
    damage.set("tickets", "TK-4", appeals=2)
    assert _found(damage.engine) == {("unreadable", "ticket TK-3"), ("history", "ticket TK-4")}


def test_an_unreadable_ticket_event_is_listed_once(damage: Damage) -> None:
    seq = damage.event("ticket.transition", _of("TK-2", "uphold"))
    damage.edit_event(seq, round=DROP)
    assert _found(damage.engine) == {("unreadable", f"event {seq}")}


def test_a_breach_tickets_issue_rewritten_as_the_platforms_is_found(damage: Damage) -> None:
    issue = damage.event("ticket.transition", _of(LATE_DISPATCH, "issue"))
    damage.edit_event(issue, actor="platform", auto=False)
    violations = damage.engine.verify()
    assert {(v["rule"], v["subject"]) for v in violations} == {
        ("transition", f"ticket {LATE_DISPATCH}")
    }
    assert "a rule:late_dispatch ticket is issued by system" in violations[0]["detail"]


def test_an_appeal_recorded_by_another_shops_seller_is_found(damage: Damage) -> None:
    appeal = damage.event("ticket.transition", _of("TK-5", "appeal"))
    damage.edit_event(appeal, actor_id="shop-elsewhere")
    violations = damage.engine.verify()
    assert {(v["rule"], v["subject"]) for v in violations} == {("transition", "ticket TK-5")}
    assert (
        "by seller shop-elsewhere, not the ticket's shop shop-harbour" in violations[0]["detail"]
    )


def test_pinned_governance_settings_that_do_not_parse_are_listed_once(damage: Damage) -> None:
    version = damage.engine.ticket("TK-1")["policy_version"]
    broken = {"appeals": {"first_window": "soon"}}
    damage.set("policies", version, document=orjson.dumps(broken) if damage.memory else broken)
    assert _found(damage.engine) == {("unreadable", f"policy {version}")}


def test_a_missing_pinned_governance_version_is_found(damage: Damage) -> None:
    version = damage.engine.ticket("TK-1")["policy_version"]
    damage.delete_row("policies", version)
    every = [t["ticket_id"] for t in damage.engine.tickets()]
    assert _found(damage.engine) == {("policy", f"ticket {ticket_id}") for ticket_id in every}


def test_a_ticket_whose_shop_row_is_gone_or_elsewhere_is_found(damage: Damage) -> None:
    damage.set("shops", SHOP, market="GB")
    assert _found(damage.engine) == {("shop", f"ticket {ticket_id}") for ticket_id in TICKETS}
    damage.delete_row("shops", SHOP)
    assert _found(damage.engine) == {("shop", f"ticket {ticket_id}") for ticket_id in TICKETS}


def test_a_shop_row_counting_other_changes_of_its_points_is_found(damage: Damage) -> None:
    damage.set("shops", SHOP, points_changes=3)
    assert _found(damage.engine) == {("shop", f"shop {SHOP}")}


# -- no false alarm while a daemon takes due deadlines -------------------------------------------

LOAD_SHOPS = 40


def _seed_due_governance(engine: AfterSale, now: datetime) -> int:
    """Each shop's six tickets issued 35 days ago (their windows closed 5 days ago, one
    appealed and past its SLA) and the campaign ban they started, over since 28 days: what
    the daemon owes; how many deadlines that is."""

    def ago(days: float) -> str:
        return (now - timedelta(days=days)).isoformat()

    for n in range(LOAD_SHOPS):
        shop = f"shop-{n}"
        engine.order_paid(f"O-{n}", shop, f"buyer-{n}", "US", "USD", "10.00", at=ago(40))
        if n == 0:  # stores the case policy, whose calendar times the SLA
            engine.open_case("CX-0", "O-0", "cancellation", "buyer", "changed_mind", at=ago(39))
        for k in range(6):
            engine.issue_ticket(f"T-{n}-{k}", shop, "fulfilment", "late", 2, at=ago(35))
        engine.act_ticket(
            f"T-{n}-0", "appeal", "seller", actor_id=shop, evidence=PHOTO, at=ago(34)
        )
    return LOAD_SHOPS * (5 + 1 + 1)  # five windows, one SLA, one ban's end


@pytest.mark.postgres
def test_verify_finds_nothing_while_a_daemon_takes_due_ticket_deadlines(
    pg_url: str, tmp_path: Path
) -> None:
    engine = aftersale.connect(pg_url, require_identity=False)  # the real clock, as the daemon's
    due = _seed_due_governance(engine, datetime.now(UTC))
    seeded = engine.storage.reads.count_events()
    daemons = Daemons(pg_url, tmp_path)
    runs: list[list[dict[str, str]]] = []
    during = 0  # runs in which the daemon committed while verify read
    try:
        daemon = daemons.start("--batch", "1", "--interval", "0.1", "--workers", "1")
        daemons.wait_started(daemon)
        deadline = time.monotonic() + 120
        while engine.storage.reads.count_events() < seeded + due:
            assert time.monotonic() < deadline, daemons.log(daemon)
            before = engine.storage.reads.count_events()
            runs.append(engine.verify())
            during += engine.storage.reads.count_events() > before
        assert daemons.stop(daemon) == 0
        assert daemons.tracebacks(daemon) == []
    finally:
        daemons.close()
    assert during > 0, "the daemon must have taken deadlines while verify ran"
    assert [run for run in runs if run] == []
    assert engine.verify() == []  # and once every deadline is taken
    assert engine.shop("shop-0")["punishments"][0]["ended_at"] is not None
