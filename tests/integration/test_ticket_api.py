"""issue_ticket and act_ticket as a hostile host calls them (governance.md): every refusal in
its order, every deadline before, at and after its instant, and the milestones a shop's points
cross. On memory, an SQLite file and a real PostgreSQL where storage is involved."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import aftersale
from aftersale import (
    AfterSale,
    Conflict,
    Forbidden,
    InvalidInput,
    NotAllowed,
    NotFound,
    OutOfOrder,
    PolicyError,
    VirtualClock,
)
from tests.conftest import AFTER_EVERY_INSTANT, EngineFactory
from tests.integration.ticketing import (
    EVIDENCE,
    ISSUED,
    PAID,
    TICK,
    appeal,
    events_of,
    governance_config,
    issue,
    shop,
)

SHOP, OTHER = "shop-harbour", "shop-lumen"


@pytest.fixture
def clock() -> VirtualClock:
    """After every instant these tests report, as for a host recording what has happened."""
    return VirtualClock(AFTER_EVERY_INSTANT)


@pytest.fixture
def any_db(make_engine: EngineFactory, db_url: str) -> AfterSale:
    """An engine on memory, an SQLite file and PostgreSQL, with the shops SHOP and OTHER."""
    engine = make_engine(db_url)
    shop(engine, SHOP)
    shop(engine, OTHER)
    return engine


@pytest.fixture
def harbour(engine: AfterSale) -> AfterSale:
    """A memory engine with the shops SHOP and OTHER: for what storage does not change."""
    shop(engine, SHOP)
    shop(engine, OTHER)
    return engine


def _history(engine: AfterSale, ticket_id: str) -> list[tuple[str, str]]:
    return [(step["action"], step["at"]) for step in engine.ticket(ticket_id)["history"]]


def _at(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


# -- issue_ticket: invalid_input, then the repeat or conflict, then not_found ------------------


@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("points", True, "points"),
        ("points", 2.0, "points"),
        ("points", "2", "points"),
        ("points", 0, "points"),
        ("points", 101, "points"),
        ("points", None, "points"),
        ("category", "shipping", "category"),
        ("category", None, "category"),
        ("reason", "", "reason"),
        ("reason", "   ", "reason"),
        ("reason", "r" * 201, "reason"),
        ("reason", 7, "reason"),
        ("note", "n" * 201, "note"),
        ("note", 7, "note"),
        ("evidence", {"kind": "photo", "uri": "https://e.example/a.jpg"}, "evidence"),
        ("evidence", [{"kind": "smell", "uri": "https://e.example/a.jpg"}], "evidence"),
        ("evidence", [{"kind": "photo"}], "evidence"),
        ("ticket_id", "", "ticket_id"),
        ("ticket_id", " TK-1", "ticket_id"),
        ("ticket_id", "T" * 129, "ticket_id"),
        ("order_id", 5, "order_id"),
    ],
)
def test_issue_refuses_a_malformed_field_naming_it(
    harbour: AfterSale, field: str, value: Any, named: str
) -> None:
    fields: dict[str, Any] = {
        "ticket_id": "TK-1",
        "shop_id": SHOP,
        "category": "fulfilment",
        "reason": "late",
        "points": 2,
    }
    fields[field] = value
    with pytest.raises(InvalidInput, match=named):
        harbour.issue_ticket(**fields, at=ISSUED)
    assert harbour.tickets() == []


def test_the_edges_of_each_field_are_accepted(harbour: AfterSale) -> None:
    for points in (1, 100):
        issue(harbour, f"TK-{points}", SHOP, points, ISSUED)
    harbour.issue_ticket(
        "TK-long", SHOP, "product", "r" * 200, 3, note="n" * 200, evidence=[], at=ISSUED
    )
    assert [t["points"] for t in harbour.tickets()] == [1, 100, 3]


def test_invalid_input_comes_before_the_repeat_the_conflict_and_not_found(
    harbour: AfterSale,
) -> None:
    issue(harbour, "TK-1", SHOP, 2, ISSUED)
    with pytest.raises(InvalidInput):  # not the conflict its id would be
        issue(harbour, "TK-1", SHOP, 0, ISSUED)
    with pytest.raises(InvalidInput):  # not the unknown shop
        issue(harbour, "TK-2", "shop-nowhere", 101, ISSUED)


def test_evidence_of_a_kind_the_shops_market_refuses_is_invalid_before_a_foreign_order(
    harbour: AfterSale,
) -> None:
    """Chat records count as evidence in Malaysia, not in the US: once the shop (and so its
    market) is known, that is invalid input, which comes before not_found."""
    chat = [{"kind": "chat", "uri": "https://evidence.example/chat.txt"}]
    with pytest.raises(InvalidInput, match="chat"):
        issue(harbour, "TK-1", SHOP, 2, ISSUED, evidence=chat, order_id=f"{OTHER}-first")
    shop(harbour, "shop-kl", "MY")
    ticket = issue(harbour, "TK-2", "shop-kl", 2, ISSUED, evidence=chat)
    assert ticket["shop_id"] == "shop-kl"


def test_the_same_ticket_again_is_a_no_op_and_other_fields_a_conflict(any_db: AfterSale) -> None:
    first = issue(any_db, "TK-1", SHOP, 2, ISSUED, order_id=f"{SHOP}-first", note="dock 4")
    again = issue(
        any_db,
        "TK-1",
        SHOP,
        2,
        ISSUED + timedelta(days=3),
        order_id=f"{SHOP}-first",
        note="dock 4",
    )
    assert again == first  # at apart, the same request: the ticket as it stands
    changes: list[tuple[int, dict[str, Any]]] = [
        (3, {}),
        (2, {"note": "dock 5"}),
        (2, {"order_id": None}),
        (2, {"evidence": EVIDENCE}),
    ]
    for points, changed in changes:
        fields = {"order_id": f"{SHOP}-first", "note": "dock 4", **changed}
        with pytest.raises(Conflict):
            issue(any_db, "TK-1", SHOP, points, ISSUED, **fields)
    with pytest.raises(Conflict):  # another shop under the id
        issue(any_db, "TK-1", OTHER, 2, ISSUED, order_id=f"{SHOP}-first", note="dock 4")
    with pytest.raises(Conflict):  # the repeat or conflict comes before not_found
        issue(any_db, "TK-1", "shop-nowhere", 2, ISSUED)
    assert len(events_of(any_db, "ticket.transition")) == 1
    assert any_db.shop(SHOP, at=ISSUED)["active_points"] == 2


def test_an_unknown_shop_or_an_order_not_the_shops_is_not_found(any_db: AfterSale) -> None:
    with pytest.raises(NotFound, match="shop-nowhere"):
        issue(any_db, "TK-1", "shop-nowhere", 2, ISSUED)
    with pytest.raises(NotFound, match=f"{OTHER}-first"):
        issue(any_db, "TK-1", SHOP, 2, ISSUED, order_id=f"{OTHER}-first")
    with pytest.raises(NotFound, match="US-404"):
        issue(any_db, "TK-1", SHOP, 2, ISSUED, order_id="US-404")
    with pytest.raises(NotFound):
        any_db.shop("shop-nowhere")
    assert any_db.tickets() == []
    ticket = issue(any_db, "TK-1", SHOP, 2, ISSUED, order_id=f"{SHOP}-first")
    assert ticket["order_id"] == f"{SHOP}-first"


def test_a_ticket_dated_before_the_shop_or_its_last_points_change_is_out_of_order(
    any_db: AfterSale,
) -> None:
    with pytest.raises(OutOfOrder):
        issue(any_db, "TK-0", SHOP, 2, PAID - TICK)
    issue(any_db, "TK-edge", SHOP, 2, PAID)  # at the first order's instant: the shop exists
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    with pytest.raises(OutOfOrder):
        issue(any_db, "TK-2", SHOP, 2, ISSUED - TICK)
    issue(any_db, "TK-3", SHOP, 2, ISSUED)  # the same instant runs nothing backwards
    assert any_db.shop(SHOP, at=ISSUED)["active_points"] == 6


def test_the_first_history_entry_is_the_issue_by_the_platform(any_db: AfterSale) -> None:
    view = issue(any_db, "TK-1", SHOP, 2, ISSUED)
    assert view["state"] == "issued" and view["appeals"] == 0 and view["source"] == "platform"
    assert view["deadline_at"] == _at(ISSUED + timedelta(days=30))
    assert view["deadline_action"] == "appeal_window_timeout"
    assert any_db.ticket("TK-1")["history"] == [
        {
            "action": "issue",
            "from": None,
            "to": "issued",
            "actor": "platform",
            "auto": False,
            "at": _at(ISSUED),
            "round": 0,
        }
    ]
    [event] = events_of(any_db, "ticket.transition")
    assert event["ticket_id"] == "TK-1" and event["shop_id"] == SHOP


# -- act_ticket: not_found, forbidden, not_allowed, invalid_input -----------------------------


def test_act_refusals_come_in_order(harbour: AfterSale) -> None:
    issue(harbour, "TK-1", SHOP, 2, ISSUED)
    later = ISSUED + timedelta(hours=1)
    with pytest.raises(NotFound):  # before the forbidden actor
        harbour.act_ticket("TK-404", "uphold", "seller", at=later, note=7)
    with pytest.raises(Forbidden):  # before not_allowed from issued
        harbour.act_ticket("TK-1", "uphold", "seller", at=later, note=7)
    with pytest.raises(Forbidden):
        harbour.act_ticket("TK-1", "appeal", "platform", at=later, evidence=EVIDENCE)
    with pytest.raises(NotAllowed) as refused:  # before the bad note
        harbour.act_ticket("TK-1", "uphold", "platform", at=later, note=7)
    assert refused.value.state == "issued" and refused.value.action == "uphold"
    malformed: list[dict[str, Any]] = [
        {},
        {"evidence": []},
        {"evidence": EVIDENCE, "note": "n" * 201},
    ]
    for fields in malformed:
        with pytest.raises(InvalidInput):
            harbour.act_ticket("TK-1", "appeal", "seller", at=later, **fields)
    with pytest.raises(InvalidInput, match="reject_reason"):
        harbour.act_ticket(
            "TK-1", "appeal", "seller", at=later, evidence=EVIDENCE, reject_reason="x"
        )
    with pytest.raises(InvalidInput, match="evidence"):
        harbour.act_ticket("TK-1", "revoke", "platform", at=later, evidence=EVIDENCE)
    assert _history(harbour, "TK-1") == [("issue", _at(ISSUED))]


def test_unknown_actions_and_actors_are_invalid_input(harbour: AfterSale) -> None:
    issue(harbour, "TK-1", SHOP, 2, ISSUED)
    with pytest.raises(InvalidInput, match="action"):
        harbour.act_ticket("TK-1", "approve", "platform")
    with pytest.raises(InvalidInput, match="actor"):
        harbour.act_ticket("TK-1", "revoke", "operator")


@pytest.mark.parametrize("actor", ["system", "platform", "seller", "buyer"])
def test_the_appeal_window_timeout_is_the_engines_own(harbour: AfterSale, actor: str) -> None:
    issue(harbour, "TK-1", SHOP, 2, ISSUED)
    with pytest.raises(Forbidden, match="appeal_window_timeout"):
        harbour.act_ticket("TK-1", "appeal_window_timeout", actor, at=ISSUED + timedelta(days=31))
    assert _history(harbour, "TK-1") == [("issue", _at(ISSUED))]  # nothing caught up either


def test_issue_is_no_action_on_a_ticket(harbour: AfterSale) -> None:
    issue(harbour, "TK-1", SHOP, 2, ISSUED)
    with pytest.raises(Forbidden, match="issue_ticket issues") as refused:
        harbour.act_ticket("TK-1", "issue", "platform", at=ISSUED)
    assert "not platform" not in str(refused.value)  # the platform does issue tickets
    assert _history(harbour, "TK-1") == [("issue", _at(ISSUED))]


def test_a_seller_acts_only_on_its_own_shops_tickets(harbour: AfterSale) -> None:
    issue(harbour, "TK-1", SHOP, 2, ISSUED)
    later = ISSUED + timedelta(hours=1)
    with pytest.raises(Forbidden, match=OTHER):
        harbour.act_ticket("TK-1", "appeal", "seller", at=later, actor_id=OTHER, evidence=EVIDENCE)
    view = harbour.act_ticket(
        "TK-1", "appeal", "seller", at=later, actor_id=SHOP, evidence=EVIDENCE
    )
    assert view["state"] == "under_review"


def test_with_identity_required_a_seller_names_its_shop(clock: VirtualClock) -> None:
    engine = aftersale.connect("memory://", clock=clock, require_platform_identity=True)
    shop(engine, SHOP)
    issue(engine, "TK-1", SHOP, 2, ISSUED)
    later = ISSUED + timedelta(hours=1)
    with pytest.raises(InvalidInput, match="actor_id"):
        appeal(engine, "TK-1", later)
    with pytest.raises(InvalidInput, match="actor_id"):  # before not_found, as for cases
        engine.act_ticket("TK-404", "appeal", "seller", at=later, evidence=EVIDENCE)
    engine.act_ticket("TK-1", "appeal", "seller", at=later, actor_id=SHOP, evidence=EVIDENCE)
    with pytest.raises(InvalidInput, match="actor_id"):
        engine.act_ticket("TK-1", "uphold", "platform", at=later)
    view = engine.act_ticket("TK-1", "uphold", "platform", at=later, actor_id="op-7")
    assert view["state"] == "upheld"
    [_, _, upheld] = events_of(engine, "ticket.transition")
    assert upheld["actor_id"] == "op-7"


def test_instants_ahead_of_the_clock_are_refused(harbour: AfterSale, clock: VirtualClock) -> None:
    ahead = clock.now() + timedelta(seconds=6)
    with pytest.raises(InvalidInput, match="later than the engine clock"):
        issue(harbour, "TK-1", SHOP, 2, ahead)
    issue(harbour, "TK-1", SHOP, 2, ISSUED)
    with pytest.raises(InvalidInput, match="later than the engine clock"):
        appeal(harbour, "TK-1", ahead)
    with pytest.raises(InvalidInput, match="later than the engine clock"):
        harbour.catch_up_ticket("TK-1", at=ahead)
    with pytest.raises(InvalidInput, match="later than the engine clock"):
        harbour.shop(SHOP, at=ahead)
    within = clock.now() + timedelta(seconds=4)  # inside the skew: taken as now
    issue(harbour, "TK-2", SHOP, 2, within)
    assert harbour.ticket("TK-2")["issued_at"] == _at(clock.now())


def test_an_act_dated_before_the_tickets_last_transition_is_out_of_order(
    any_db: AfterSale,
) -> None:
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    with pytest.raises(OutOfOrder):
        appeal(any_db, "TK-1", ISSUED - TICK)
    appeal(any_db, "TK-1", ISSUED + timedelta(hours=2))
    with pytest.raises(OutOfOrder):
        any_db.act_ticket("TK-1", "uphold", "platform", at=ISSUED + timedelta(hours=1))
    view = any_db.act_ticket("TK-1", "uphold", "platform", at=ISSUED + timedelta(hours=2))
    assert view["state"] == "upheld"  # the same instant as the appeal is in order


# -- the appeal windows: 30 days from the issue, 15 from the uphold ----------------------------


def test_an_appeal_a_moment_before_the_window_ends_lands(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    view = appeal(any_db, "TK-1", ISSUED + timedelta(days=30) - TICK)
    assert view["state"] == "under_review" and view["appeals"] == 1


def test_an_appeal_at_the_windows_end_finds_the_ticket_final(any_db: AfterSale) -> None:
    """workflows.md: a deadline at or before the action's instant is taken first."""
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    end = ISSUED + timedelta(days=30)
    with pytest.raises(NotAllowed) as refused:
        appeal(any_db, "TK-1", end)
    assert refused.value.state == "final"
    assert _history(any_db, "TK-1") == [
        ("issue", _at(ISSUED)),
        ("appeal_window_timeout", _at(end)),  # at the deadline, by the system
    ]
    step = any_db.ticket("TK-1")["history"][-1]
    assert (step["actor"], step["auto"], step["to"]) == ("system", True, "final")
    view = any_db.ticket("TK-1")
    assert view["deadline_at"] is None and view["allowed_actions"] == []


def test_the_sweep_closes_the_appeal_window_exactly_at_its_end(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    end = ISSUED + timedelta(days=30)
    assert any_db.fire_due(end - TICK) == 0
    assert any_db.ticket("TK-1")["state"] == "issued"
    assert any_db.fire_due(end) == 1
    assert any_db.fire_due(end + timedelta(days=1)) == 0  # fired once
    assert _history(any_db, "TK-1")[-1] == ("appeal_window_timeout", _at(end))


def test_catch_up_ticket_takes_the_deadline_at_its_own_instant(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    end = ISSUED + timedelta(days=30)
    assert any_db.catch_up_ticket("TK-1", at=end - TICK)["state"] == "issued"
    view = any_db.catch_up_ticket("TK-1", at=end + timedelta(days=9))
    assert view["state"] == "final" and view["updated_at"] == _at(end)


def test_the_second_window_is_15_days_from_the_uphold(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    issue(any_db, "TK-2", SHOP, 2, ISSUED)
    upheld = ISSUED + timedelta(days=3)
    for ticket_id in ("TK-1", "TK-2"):
        appeal(any_db, ticket_id, ISSUED + timedelta(days=1))
        view = any_db.act_ticket(ticket_id, "uphold", "platform", at=upheld)
        assert view["state"] == "upheld"
        assert view["deadline_at"] == _at(upheld + timedelta(days=15))
    second = appeal(any_db, "TK-1", upheld + timedelta(days=15) - TICK)
    assert second["state"] == "under_review" and second["appeals"] == 2
    with pytest.raises(NotAllowed):
        appeal(any_db, "TK-2", upheld + timedelta(days=15))
    assert _history(any_db, "TK-2")[-1] == ("appeal_window_timeout", _at(upheld + timedelta(15)))


def test_round_two_ends_the_appeals(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    appeal(any_db, "TK-1", ISSUED + timedelta(hours=1))
    any_db.act_ticket("TK-1", "uphold", "platform", at=ISSUED + timedelta(hours=2))
    appeal(any_db, "TK-1", ISSUED + timedelta(hours=3))
    final = any_db.act_ticket("TK-1", "uphold", "platform", at=ISSUED + timedelta(hours=4))
    assert (final["state"], final["appeals"], final["deadline_at"]) == ("final", 2, None)
    with pytest.raises(NotAllowed):
        appeal(any_db, "TK-1", ISSUED + timedelta(hours=5))
    with pytest.raises(NotAllowed):
        any_db.act_ticket("TK-1", "revoke", "platform", at=ISSUED + timedelta(hours=5))
    rounds = [step["round"] for step in any_db.ticket("TK-1")["history"]]
    assert rounds == [0, 1, 1, 2, 2]


def test_overturn_only_under_review_and_revoke_from_any_open_state(harbour: AfterSale) -> None:
    later = ISSUED + timedelta(hours=1)
    for ticket_id in ("TK-1", "TK-2", "TK-3"):
        issue(harbour, ticket_id, SHOP, 2, ISSUED)
    with pytest.raises(NotAllowed):
        harbour.act_ticket("TK-1", "overturn", "platform", at=later)
    assert harbour.act_ticket("TK-1", "revoke", "platform", at=later)["state"] == "revoked"
    appeal(harbour, "TK-2", later)
    assert harbour.act_ticket("TK-2", "overturn", "platform", at=later)["state"] == "overturned"
    appeal(harbour, "TK-3", later)
    harbour.act_ticket("TK-3", "uphold", "platform", at=later)
    assert harbour.act_ticket("TK-3", "revoke", "platform", at=later)["state"] == "revoked"


# -- the platform's SLA: 5 business days in the shop's market, non-interrupting ---------------


@pytest.mark.parametrize(
    ("market", "issued", "appealed", "due"),
    [
        # Friday 10:00 in New York, across the change to summer time: Friday 10:00 EDT
        ("US", "2026-03-02T15:00:00Z", "2026-03-06T15:00:00Z", "2026-03-13T14:00:00Z"),
        # Friday before Memorial Day: Monday is no business day
        ("US", "2026-05-20T14:00:00Z", "2026-05-22T14:00:00Z", "2026-06-01T14:00:00Z"),
        # Thursday before Easter in London: Good Friday and Easter Monday skipped
        ("UK", "2026-03-20T10:00:00Z", "2026-04-02T09:00:00Z", "2026-04-13T09:00:00Z"),
        # Kuala Lumpur, no summer time: Monday 09:00 to the next Monday 09:00
        ("MY", "2026-03-02T01:00:00Z", "2026-03-02T01:00:00Z", "2026-03-09T01:00:00Z"),
    ],
)
def test_the_sla_counts_business_days_in_the_shops_market(
    harbour: AfterSale, market: str, issued: str, appealed: str, due: str
) -> None:
    shop(harbour, f"shop-{market}", market, at=datetime.fromisoformat(issued))
    harbour.issue_ticket("TK-1", f"shop-{market}", "service", "slow", 1, at=issued)
    view = appeal(harbour, "TK-1", datetime.fromisoformat(appealed))
    assert (view["deadline_at"], view["deadline_action"]) == (due, "reply_overdue")


def test_a_passed_sla_records_one_reply_overdue_and_changes_nothing(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    appealed = datetime(2026, 3, 6, 15, tzinfo=UTC)
    due = datetime(2026, 3, 13, 14, tzinfo=UTC)
    appeal(any_db, "TK-1", appealed)
    assert any_db.fire_due(due - TICK) == 0
    assert any_db.fire_due(due) == 1
    assert any_db.fire_due(due + timedelta(days=30)) == 0  # once
    view = any_db.ticket("TK-1")
    assert (view["state"], view["deadline_at"], view["deadline_action"]) == (
        "under_review",
        None,
        None,
    )
    [overdue] = events_of(any_db, "ticket.reply_overdue")
    assert {k: overdue[k] for k in ("ticket_id", "shop_id", "state", "at", "round")} == {
        "ticket_id": "TK-1",
        "shop_id": SHOP,
        "state": "under_review",
        "at": _at(due),
        "round": 1,
    }
    assert [step["action"] for step in view["history"]] == ["issue", "appeal"]  # no transition
    late = any_db.act_ticket("TK-1", "uphold", "platform", at=due + timedelta(days=40))
    assert late["state"] == "upheld"  # the platform is late; nothing was decided for it


def test_an_act_dated_before_a_recorded_reply_overdue_is_out_of_order(any_db: AfterSale) -> None:
    """Once the sweep recorded that the SLA passed, an uphold dated an hour before it would
    make that record false: refused, as an action dated before a case's timeout is."""
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    appeal(any_db, "TK-1", datetime(2026, 3, 6, 15, tzinfo=UTC))
    due = datetime(2026, 3, 13, 14, tzinfo=UTC)
    any_db.fire_due(due)
    with pytest.raises(OutOfOrder):
        any_db.act_ticket("TK-1", "uphold", "platform", at=due - timedelta(hours=1))
    assert any_db.ticket("TK-1")["state"] == "under_review"
    assert any_db.act_ticket("TK-1", "uphold", "platform", at=due)["state"] == "upheld"


def test_an_uphold_at_the_sla_instant_comes_after_its_reply_overdue(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    appeal(any_db, "TK-1", datetime(2026, 3, 6, 15, tzinfo=UTC))
    due = datetime(2026, 3, 13, 14, tzinfo=UTC)
    view = any_db.act_ticket("TK-1", "uphold", "platform", at=due)
    assert view["state"] == "upheld"
    kinds = [e["type"] for e in any_db.log(0, 1000) if e.get("ticket_id") == "TK-1"]
    assert kinds == [
        "ticket.transition",
        "ticket.transition",
        "ticket.reply_overdue",  # at the deadline, first
        "ticket.transition",
    ]


def test_the_sla_starts_afresh_in_round_two(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 2, ISSUED)
    appeal(any_db, "TK-1", datetime(2026, 3, 6, 15, tzinfo=UTC))
    any_db.fire_due(datetime(2026, 3, 20, tzinfo=UTC))  # round 1's SLA passed
    any_db.act_ticket("TK-1", "uphold", "platform", at=datetime(2026, 3, 23, 14, tzinfo=UTC))
    view = appeal(any_db, "TK-1", datetime(2026, 3, 24, 14, tzinfo=UTC))  # Tuesday 10:00 EDT
    assert view["deadline_at"] == "2026-03-31T14:00:00Z"
    any_db.fire_due(datetime(2026, 4, 1, tzinfo=UTC))
    rounds = [e["round"] for e in events_of(any_db, "ticket.reply_overdue")]
    assert rounds == [1, 2]


# -- active points: issue <= T < issue + 90 days, unless withdrawn at or before T -------------


def test_points_count_from_the_issue_for_exactly_the_window(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 5, ISSUED)
    end = ISSUED + timedelta(days=90)
    points = [any_db.shop(SHOP, at=t)["active_points"] for t in (ISSUED - TICK, ISSUED)]
    assert points == [0, 5]
    points = [any_db.shop(SHOP, at=t)["active_points"] for t in (end - TICK, end)]
    assert points == [5, 0]


def test_a_revoked_or_overturned_ticket_stops_counting_at_that_instant(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 5, ISSUED)
    issue(any_db, "TK-2", SHOP, 3, ISSUED)
    revoked = ISSUED + timedelta(days=2)
    any_db.act_ticket("TK-1", "revoke", "platform", at=revoked)
    appeal(any_db, "TK-2", revoked)
    overturned = revoked + timedelta(days=1)
    any_db.act_ticket("TK-2", "overturn", "platform", at=overturned)
    at = [revoked - TICK, revoked, overturned - TICK, overturned]
    assert [any_db.shop(SHOP, at=t)["active_points"] for t in at] == [8, 3, 3, 0]


def test_a_final_ticket_keeps_counting(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 5, ISSUED)
    any_db.fire_due(ISSUED + timedelta(days=31))
    assert any_db.ticket("TK-1")["state"] == "final"
    assert any_db.shop(SHOP, at=ISSUED + timedelta(days=31))["active_points"] == 5


# -- milestones and punishments ---------------------------------------------------------------


def _punishments(engine: AfterSale, at: datetime) -> list[tuple[str, str, str | None, bool]]:
    return [
        (p["kind"], p["cause_ticket_id"], p["ended_at"], p["ended_early"])
        for p in engine.shop(SHOP, at=at)["punishments"]
    ]


def test_one_ticket_crossing_several_milestones_starts_each_punishment(
    any_db: AfterSale,
) -> None:
    issue(any_db, "TK-small", SHOP, 11, ISSUED)
    issue(any_db, "TK-big", SHOP, 40, ISSUED + timedelta(hours=1))
    started = ISSUED + timedelta(hours=1)
    view = any_db.shop(SHOP, at=started)
    assert view["active_points"] == 51
    assert [
        (p["kind"], p["started_at"], p["ends_at"], p["cause_ticket_id"])
        for p in view["punishments"]
    ] == [
        ("campaign_ban", _at(started), _at(started + timedelta(days=7)), "TK-big"),
        ("listing_restricted", _at(started), _at(started + timedelta(days=14)), "TK-big"),
        ("traffic_restricted", _at(started), _at(started + timedelta(days=30)), "TK-big"),
    ]
    first = events_of(any_db, "punishment.started")[0]
    assert {k: first[k] for k in ("shop_id", "kind", "at", "ends_at", "cause_ticket_id")} == {
        "shop_id": SHOP,
        "kind": "campaign_ban",
        "at": _at(started),
        "ends_at": _at(started + timedelta(days=7)),
        "cause_ticket_id": "TK-big",
    }


def test_a_milestone_reached_exactly_starts_its_punishment(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 11, ISSUED)
    assert _punishments(any_db, ISSUED) == []
    issue(any_db, "TK-2", SHOP, 1, ISSUED)
    assert _punishments(any_db, ISSUED) == [("campaign_ban", "TK-2", None, False)]


def test_a_running_punishment_is_not_started_twice(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 6, ISSUED)
    issue(any_db, "TK-2", SHOP, 6, ISSUED)  # 12: the ban, TK-2's
    later = ISSUED + timedelta(days=1)
    any_db.act_ticket("TK-1", "revoke", "platform", at=later)  # 6: TK-2's ban runs on
    assert _punishments(any_db, later) == [("campaign_ban", "TK-2", None, False)]
    issue(any_db, "TK-3", SHOP, 6, later)  # 12 again while the ban runs: no second one
    assert _punishments(any_db, later) == [("campaign_ban", "TK-2", None, False)]
    assert len(events_of(any_db, "punishment.started")) == 1


def test_a_punishment_the_sweep_already_ended_still_ran_at_an_earlier_instant(
    any_db: AfterSale,
) -> None:
    """TK-2's ban ran until day 8; a ticket dated day 2 crosses 12 while it ran, whether the
    sweep has ended it yet or not: no second ban."""
    issue(any_db, "TK-1", SHOP, 6, ISSUED)
    issue(any_db, "TK-2", SHOP, 6, ISSUED + timedelta(hours=1))  # 12: TK-2's ban
    any_db.act_ticket("TK-1", "revoke", "platform", at=ISSUED + timedelta(hours=2))  # 6
    any_db.fire_due(ISSUED + timedelta(days=9))  # the ban ended at its planned end
    issue(any_db, "TK-3", SHOP, 6, ISSUED + timedelta(days=2))  # 12 again, during the ban
    ends = _at(ISSUED + timedelta(hours=1, days=7))
    assert _punishments(any_db, ISSUED + timedelta(days=9)) == [
        ("campaign_ban", "TK-2", ends, False)
    ]


def test_a_punishment_ends_at_its_planned_end_and_can_start_again(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 12, ISSUED)
    ends = ISSUED + timedelta(days=7)
    assert any_db.fire_due(ends - TICK) == 0
    assert any_db.fire_due(ends) == 1
    assert _punishments(any_db, ends) == [("campaign_ban", "TK-1", _at(ends), False)]
    [ended] = events_of(any_db, "punishment.ended")
    assert {k: ended[k] for k in ("shop_id", "kind", "at", "ended_early", "cause_ticket_id")} == {
        "shop_id": SHOP,
        "kind": "campaign_ban",
        "at": _at(ends),
        "ended_early": False,
        "cause_ticket_id": "TK-1",
    }
    any_db.act_ticket("TK-1", "revoke", "platform", at=ends)  # 0: below, ends nothing again
    issue(any_db, "TK-2", SHOP, 12, ends)  # ended at this instant: not running, so a new one
    assert [p[:2] for p in _punishments(any_db, ends)] == [
        ("campaign_ban", "TK-1"),
        ("campaign_ban", "TK-2"),
    ]
    assert len(events_of(any_db, "punishment.ended")) == 1


def test_a_revoke_back_below_ends_early_only_the_punishments_that_ticket_started(
    any_db: AfterSale,
) -> None:
    issue(any_db, "TK-a", SHOP, 12, ISSUED)  # campaign_ban (a)
    issue(any_db, "TK-b", SHOP, 12, ISSUED + timedelta(hours=1))  # listing_restricted (b)
    revoked = ISSUED + timedelta(hours=2)
    any_db.act_ticket("TK-b", "revoke", "platform", at=revoked)  # 24 -> 12
    assert _punishments(any_db, revoked) == [
        ("campaign_ban", "TK-a", None, False),
        ("listing_restricted", "TK-b", _at(revoked), True),
    ]
    [ended] = events_of(any_db, "punishment.ended")
    assert (ended["at"], ended["ended_early"], ended["cause_ticket_id"]) == (
        _at(revoked),
        True,
        "TK-b",
    )
    assert any_db.fire_due(ISSUED + timedelta(days=20)) == 1  # only TK-a's ban is left to end


def test_an_overturn_that_stays_above_the_milestone_ends_nothing(any_db: AfterSale) -> None:
    issue(any_db, "TK-a", SHOP, 10, ISSUED)
    issue(any_db, "TK-b", SHOP, 4, ISSUED)  # 14: TK-b's ban
    issue(any_db, "TK-c", SHOP, 2, ISSUED)  # 16
    later = ISSUED + timedelta(hours=1)
    appeal(any_db, "TK-b", later)
    any_db.act_ticket("TK-b", "overturn", "platform", at=later)  # 12: still at the milestone
    assert _punishments(any_db, later) == [("campaign_ban", "TK-b", None, False)]
    appeal(any_db, "TK-c", later)
    any_db.act_ticket("TK-c", "overturn", "platform", at=later)  # 10: but TK-c started nothing
    assert _punishments(any_db, later) == [("campaign_ban", "TK-b", None, False)]


def test_an_overturn_below_several_milestones_ends_each_of_its_punishments(
    any_db: AfterSale,
) -> None:
    issue(any_db, "TK-1", SHOP, 40, ISSUED)
    appeal(any_db, "TK-1", ISSUED + timedelta(hours=1))
    overturned = ISSUED + timedelta(days=10)  # the ban ended at its own end on day 7
    any_db.fire_due(overturned)
    any_db.act_ticket("TK-1", "overturn", "platform", at=overturned)
    assert _punishments(any_db, overturned) == [
        ("campaign_ban", "TK-1", _at(ISSUED + timedelta(days=7)), False),
        ("listing_restricted", "TK-1", _at(overturned), True),
        ("traffic_restricted", "TK-1", _at(overturned), True),
    ]
    assert len(events_of(any_db, "punishment.ended")) == 3
    assert any_db.fire_due(ISSUED + timedelta(days=60)) == 0  # nothing ends twice


def test_a_withdrawal_dated_before_the_shops_points_last_changed_is_out_of_order(
    any_db: AfterSale,
) -> None:
    """Revoking TK-a an hour back would end its ban at 12 points although TK-b had already
    taken the shop to 24 on it: the history of the points would run backwards."""
    issue(any_db, "TK-a", SHOP, 12, ISSUED)  # campaign_ban (a)
    issue(any_db, "TK-b", SHOP, 12, ISSUED + timedelta(hours=2))  # listing_restricted (b)
    with pytest.raises(OutOfOrder, match="points last changed"):
        any_db.act_ticket("TK-a", "revoke", "platform", at=ISSUED + timedelta(hours=1))
    assert any_db.ticket("TK-a")["state"] == "issued"
    revoked = ISSUED + timedelta(hours=2)  # at the change itself: in order
    any_db.act_ticket("TK-a", "revoke", "platform", at=revoked)
    assert _punishments(any_db, revoked) == [  # 24 -> 12: nothing falls below its milestone
        ("campaign_ban", "TK-a", None, False),
        ("listing_restricted", "TK-b", None, False),
    ]


def test_a_withdrawal_dated_before_its_punishment_ended_is_out_of_order(
    any_db: AfterSale,
) -> None:
    """The sweep ended TK-1's ban at its planned end; an overturn dated a moment before would
    end it early before that end: refused, whether or not the sweep had been prompt."""
    issue(any_db, "TK-1", SHOP, 12, ISSUED)
    appeal(any_db, "TK-1", ISSUED + timedelta(days=3))  # its SLA passes after the ban
    ends = ISSUED + timedelta(days=7)
    any_db.fire_due(ends)
    with pytest.raises(OutOfOrder, match="campaign_ban ended"):
        any_db.act_ticket("TK-1", "overturn", "platform", at=ends - TICK)
    view = any_db.act_ticket("TK-1", "overturn", "platform", at=ends)
    assert view["state"] == "overturned"
    assert _punishments(any_db, ends) == [("campaign_ban", "TK-1", _at(ends), False)]
    assert len(events_of(any_db, "punishment.ended")) == 1


def test_points_expiring_never_end_a_punishment(
    make_engine: EngineFactory, db_url: str, tmp_path: Path
) -> None:
    config = governance_config(tmp_path, ('window = "90d"', 'window = "3d"'))
    engine = make_engine(db_url, config_dir=config)
    shop(engine, SHOP)
    issue(engine, "TK-1", SHOP, 12, ISSUED)
    expired = ISSUED + timedelta(days=3)
    assert engine.shop(SHOP, at=expired)["active_points"] == 0
    engine.fire_due(expired + timedelta(days=1))
    assert _punishments(engine, expired) == [("campaign_ban", "TK-1", None, False)]
    appeal(engine, "TK-1", expired + timedelta(days=1))
    engine.act_ticket("TK-1", "overturn", "platform", at=expired + timedelta(days=1))
    # the overturn takes nothing back below: the ticket no longer counted
    assert _punishments(engine, expired) == [("campaign_ban", "TK-1", None, False)]
    engine.fire_due(ISSUED + timedelta(days=7))
    ends = _at(ISSUED + timedelta(days=7))
    assert _punishments(engine, expired) == [("campaign_ban", "TK-1", ends, False)]


def test_a_shop_lists_every_punishment_ended_ones_included(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 12, ISSUED)
    any_db.fire_due(ISSUED + timedelta(days=8))
    issue(any_db, "TK-2", SHOP, 1, ISSUED + timedelta(days=8))
    view = any_db.shop(SHOP, at=ISSUED + timedelta(days=8))
    assert view["market"] == "US" and view["active_points"] == 13
    assert [p["ended_at"] is not None for p in view["punishments"]] == [True]


def test_an_in_memory_sqlite_database_takes_tickets(make_engine: EngineFactory) -> None:
    """``sqlite://`` has one connection, which a unit of work holds: nothing a ticket's
    command reads may take another (the stored governance versions were read inside it)."""
    engine = make_engine("sqlite://")
    shop(engine, SHOP)
    issue(engine, "TK-1", SHOP, 12, ISSUED)
    engine.act_ticket("TK-1", "revoke", "platform", at=ISSUED + timedelta(hours=1))
    fresh = make_engine("sqlite://")  # a snapshot's ticket first, before any command
    for n in range(10):
        order_id = f"US-{n}"
        due = ISSUED + timedelta(hours=1)
        fresh.order_paid(order_id, SHOP, "buyer-ada", "US", "USD", "20.00", due, at=ISSUED)
        fresh.order_shipped(order_id, "1Z", at=due + timedelta(minutes=1 if n else -1))
    fresh.take_snapshots(datetime(2026, 3, 3, 5, tzinfo=UTC))
    assert [t["source"] for t in fresh.tickets()] == ["rule:late_dispatch"]
    assert [p["ended_early"] for p in engine.shop(SHOP, at=ISSUED)["punishments"]] == [True]


def test_reading_a_shop_takes_no_write_lock_on_sqlite(
    make_engine: EngineFactory, sqlite_url: str
) -> None:
    """A writer holds SQLite's one write lock (a daemon's sweep): the shop's view still
    reads at once, as every other read does."""
    engine = make_engine(sqlite_url)
    shop(engine, SHOP)
    issue(engine, "TK-1", SHOP, 12, ISSUED)
    fresh = make_engine(sqlite_url, migrate=False)  # has read no governance version yet
    writer = sqlite3.connect(sqlite_url.removeprefix("sqlite:///"), timeout=1)
    writer.execute("BEGIN IMMEDIATE")
    try:
        started = time.monotonic()
        assert fresh.shop(SHOP, at=ISSUED)["active_points"] == 12
        assert time.monotonic() - started < 5
    finally:
        writer.rollback()
        writer.close()


def test_tickets_list_by_shop_and_state(any_db: AfterSale) -> None:
    issue(any_db, "TK-1", SHOP, 1, ISSUED)
    issue(any_db, "TK-2", OTHER, 1, ISSUED)
    issue(any_db, "TK-3", SHOP, 1, ISSUED)
    any_db.act_ticket("TK-3", "revoke", "platform", at=ISSUED)
    assert [t["ticket_id"] for t in any_db.tickets(shop_id=SHOP)] == ["TK-1", "TK-3"]
    assert [t["ticket_id"] for t in any_db.tickets(state="revoked")] == ["TK-3"]
    assert [t["ticket_id"] for t in any_db.tickets(limit=1, after="TK-1")] == ["TK-2"]
    with pytest.raises(InvalidInput):
        any_db.tickets(state="closed")
    with pytest.raises(NotFound):
        any_db.ticket("TK-404")


# -- governance.toml: pinned per ticket, refused naming the key ---------------------------------


def test_a_ticket_keeps_the_windows_it_was_issued_under(
    make_engine: EngineFactory, db_url: str, tmp_path: Path
) -> None:
    short = governance_config(
        tmp_path,
        ('first_window = "30d"', 'first_window = "10d"'),
        ('second_window = "15d"', 'second_window = "2d"'),
        ("reply_business_days = 5", "reply_business_days = 1"),
    )
    before = make_engine(db_url, config_dir=short)
    shop(before, SHOP)
    issue(before, "TK-old", SHOP, 2, ISSUED)
    after = make_engine(db_url, migrate=False)  # the shipped config, on the same database
    issue(after, "TK-new", SHOP, 2, ISSUED)
    assert after.ticket("TK-old")["deadline_at"] == _at(ISSUED + timedelta(days=10))
    assert after.ticket("TK-new")["deadline_at"] == _at(ISSUED + timedelta(days=30))
    monday = datetime(2026, 3, 9, 14, tzinfo=UTC)
    old = after.act_ticket("TK-old", "appeal", "seller", at=monday, evidence=EVIDENCE)
    new = after.act_ticket("TK-new", "appeal", "seller", at=monday, evidence=EVIDENCE)
    assert old["deadline_at"] == "2026-03-10T14:00:00Z"  # one business day, as pinned
    assert new["deadline_at"] == "2026-03-16T14:00:00Z"
    old = after.act_ticket("TK-old", "uphold", "platform", at=monday)
    assert old["deadline_at"] == _at(monday + timedelta(days=2))
    assert after.fire_due(monday + timedelta(days=2)) == 1  # TK-old's window; not TK-new's SLA
    assert after.ticket("TK-old")["state"] == "final"
    assert old["policy_version"] != new["policy_version"]


def test_a_ticket_keeps_the_points_window_it_was_issued_under(
    make_engine: EngineFactory, db_url: str, tmp_path: Path
) -> None:
    """TK-old counts 90 days as issued, though the platform now counts 30: 60 days on it
    still does, and TK-new takes the shop to 12; TK-new counts its own 30 days."""
    shipped = make_engine(db_url)
    shop(shipped, SHOP)
    issue(shipped, "TK-old", SHOP, 11, ISSUED)
    shorter = governance_config(tmp_path, ('window = "90d"', 'window = "30d"'))
    now = make_engine(db_url, migrate=False, config_dir=shorter)
    later = ISSUED + timedelta(days=60)
    assert now.shop(SHOP, at=later)["active_points"] == 11
    issue(now, "TK-new", SHOP, 1, later)
    assert [
        (p["kind"], p["cause_ticket_id"]) for p in now.shop(SHOP, at=later)["punishments"]
    ] == [("campaign_ban", "TK-new")]
    for engine in (shipped, now):
        points = [
            engine.shop(SHOP, at=later + timedelta(days=d))["active_points"] for d in (29, 30)
        ]
        assert points == [12, 0]  # TK-old's 90 days end at day 90, TK-new's 30 then too
        assert engine.shop(SHOP, at=later - TICK)["active_points"] == 11


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ('first_window = "30d"', "first_window = 30", "appeals.first_window"),
        ('second_window = "15d"', 'second_window = "-1d"', "appeals.second_window"),
        ("reply_business_days = 5", "reply_business_days = 0", "appeals.reply_business_days"),
        ('window = "90d"', 'window = "90d"\nfading = true', "points.fading"),
        ("points = 24", "points = 12", "milestones.listing_restricted.points"),
        ('lasts = "14d"', "", "milestones.listing_restricted.lasts"),
        ('metric = "late_dispatch_rate"', 'metric = "lateness"', "breach_rules.late_dispatch"),
        ("worse_than = 0.04", "worse_than = 4", "breach_rules.late_dispatch.worse_than"),
        ('category = "service"', 'category = "chat"', "breach_rules.slow_chat.category"),
        ("points = 1\n", "points = 0\n", "breach_rules.slow_chat.points"),
        ("[appeals]", "[appeals", "syntax"),
    ],
)
def test_a_malformed_governance_toml_is_refused_naming_the_key(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    config = governance_config(tmp_path, (old, new))
    with pytest.raises(PolicyError, match=key.replace(".", r"\.")) as refused:
        aftersale.connect("memory://", config_dir=config)
    assert "governance.toml" in str(refused.value)


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        ("[milestones.campaign_ban]", f"[milestones.{'b' * 65}]", "milestones.'bbbb"),
        ("[breach_rules.slow_chat]", f"[breach_rules.{'s' * 76}]", "breach_rules.'ssss"),
    ],
)
def test_names_longer_than_what_a_ticket_or_punishment_records_are_refused(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    """A punishment keeps 64 characters of its kind and a ticket 80 of its source
    ("rule:<id>"): longer names would be refused by PostgreSQL at the first ticket."""
    config = governance_config(tmp_path, (old, new))
    with pytest.raises(PolicyError, match=f"{key}.*at most"):
        aftersale.connect("memory://", config_dir=config)


def test_the_longest_names_allowed_are_recorded(
    make_engine: EngineFactory, db_url: str, tmp_path: Path
) -> None:
    kind = "b" * 64
    config = governance_config(tmp_path, ("[milestones.campaign_ban]", f"[milestones.{kind}]"))
    engine = make_engine(db_url, config_dir=config)
    shop(engine, SHOP)
    issue(engine, "TK-1", SHOP, 12, ISSUED)
    [punishment] = engine.shop(SHOP, at=ISSUED)["punishments"]
    assert punishment["kind"] == kind


# -- the calendar's ends --------------------------------------------------------------------


def test_instants_at_the_calendars_ends_never_overflow(make_engine: EngineFactory) -> None:
    last = datetime(9000, 12, 31, 23, 59, 59, 999999, tzinfo=UTC)
    engine = make_engine("memory://", clock=VirtualClock(last))
    shop(engine, SHOP, at=last)
    issue(engine, "TK-last", SHOP, 40, last)
    view = appeal(engine, "TK-last", last)
    assert view["deadline_at"].startswith("9001-01-")
    assert engine.shop(SHOP, at=last)["active_points"] == 40
    assert engine.act_ticket("TK-last", "overturn", "platform", at=last)["state"] == "overturned"
    assert [p["ended_early"] for p in engine.shop(SHOP, at=last)["punishments"]] == [True] * 3
    first = datetime(1970, 1, 1, tzinfo=UTC)
    shop(engine, OTHER, at=first)
    issue(engine, "TK-first", OTHER, 12, first)
    assert engine.fire_due(last) == 2  # its ban's end and its appeal window
    for moment in ("9999-12-31T23:59:59Z", "0001-01-01T00:00:00Z", "1969-12-31T23:59:59Z"):
        with pytest.raises(InvalidInput, match="at "):
            issue(engine, "TK-x", SHOP, 1, moment)  # type: ignore[arg-type]
        with pytest.raises(InvalidInput):
            engine.shop(SHOP, at=moment)
        with pytest.raises(InvalidInput):
            engine.act_ticket("TK-last", "revoke", "platform", at=moment)
