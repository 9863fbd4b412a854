"""Violation tickets on the real command line (governance.md): `ticket issue / act / show /
list`, `shop show`, and `status` counting the platform's overdue replies. Bad input is a bad
option naming what is wrong (exit 2) or the engine's refusal (exit 1), never a traceback."""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path
from typing import Any

import pytest

from tests.daemon.helpers import Daemons, wait_for
from tests.e2e.test_cli import _json, _run, _scenario

# two shops of the US market, one order each, paid on Monday 2 March 2026
TWO_SHOPS: list[dict[str, Any]] = [
    {
        "at": "2026-03-02T09:00:00Z",
        "type": "order.paid",
        "order_id": "US-501",
        "shop_id": "shop-harbor-goods",
        "buyer_id": "buyer-ivo",
        "market": "US",
        "currency": "USD",
        "amount": "42.00",
    },
    {
        "at": "2026-03-02T10:00:00Z",
        "type": "order.paid",
        "order_id": "US-502",
        "shop_id": "shop-lumen-audio",
        "buyer_id": "buyer-ada",
        "market": "US",
        "currency": "USD",
        "amount": "18.00",
    },
]
HARBOR = "shop-harbor-goods"
ISSUE_LATE_DISPATCH = [
    *("ticket", "issue", "TK-LATE", "--shop", HARBOR, "--category", "fulfilment"),
    *("--reason", "dispatched 6 days late", "--points", "12", "--order", "US-501"),
    *("--evidence", "photo=https://evidence.example/tk-late.png"),
    *("--at", "2026-03-03T09:00:00Z"),
]
APPEAL_AT = "2026-03-04T09:00:00Z"
TICKET_FIELDS = {
    *("ticket_id", "shop_id", "market", "category", "reason", "points", "order_id", "source"),
    *("metric", "state", "appeals", "issued_at", "updated_at", "deadline_at"),
    *("deadline_action", "policy_version", "allowed_actions"),
}
PUNISHMENT_FIELDS = {"kind", "started_at", "ends_at", "ended_at", "ended_early", "cause_ticket_id"}


@pytest.fixture
def shops(tmp_path: Path) -> Path:
    """A folder whose ops.db holds the two shops' orders and no ticket yet."""
    scenario = _scenario(tmp_path, TWO_SHOPS)
    played = _run(tmp_path, "replay", str(scenario), "--db", f"sqlite:///{tmp_path / 'ops.db'}")
    assert played.returncode == 0, played.stderr
    return tmp_path


def _ok(folder: Path, *args: str) -> Any:
    done = _run(folder, *args, "--json")
    assert done.returncode == 0, done.stderr
    return _json(done)


def _refused(done: subprocess.CompletedProcess[str], status: int, message: str) -> None:
    assert done.returncode == status, (done.stdout, done.stderr)
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def _appeal(folder: Path, *more: str) -> subprocess.CompletedProcess[str]:
    return _run(
        folder,
        *("ticket", "act", "TK-LATE", "appeal", "--actor", "seller", "--at", APPEAL_AT),
        *("--evidence", "tracking=https://carrier.example/1Z999", *more),
    )


# -- ticket issue -----------------------------------------------------------------------------


def test_the_platform_issues_a_ticket_and_its_points_start_a_punishment(shops: Path) -> None:
    ticket = _ok(shops, *ISSUE_LATE_DISPATCH)
    assert set(ticket) == TICKET_FIELDS | {"history"}
    assert (ticket["state"], ticket["points"], ticket["order_id"], ticket["source"]) == (
        "issued",
        12,
        "US-501",
        "platform",
    )
    assert (ticket["deadline_at"], ticket["deadline_action"]) == (
        "2026-04-02T09:00:00Z",  # 30 natural days to appeal
        "appeal_window_timeout",
    )
    assert ticket["allowed_actions"] == [
        {"action": "appeal", "actors": ["seller"]},
        {"action": "revoke", "actors": ["platform"]},
    ]
    assert ticket["history"] == [
        {
            "action": "issue",
            "from": None,
            "to": "issued",
            "actor": "platform",
            "auto": False,
            "at": "2026-03-03T09:00:00Z",
            "round": 0,
        }
    ]
    again = _run(shops, *ISSUE_LATE_DISPATCH, "--json")  # the same ticket again: a no-op
    assert again.returncode == 0, again.stderr
    assert _json(again) == ticket

    shop = _ok(shops, "shop", "show", HARBOR, "--at", "2026-03-05T00:00:00Z")
    assert set(shop) == {"shop_id", "market", "active_points", "punishments"}
    assert (shop["shop_id"], shop["market"], shop["active_points"]) == (HARBOR, "US", 12)
    (ban,) = shop["punishments"]
    assert set(ban) == PUNISHMENT_FIELDS
    assert (ban["kind"], ban["started_at"], ban["ends_at"], ban["cause_ticket_id"]) == (
        "campaign_ban",
        "2026-03-03T09:00:00Z",
        "2026-03-10T09:00:00Z",  # 7 days
        "TK-LATE",
    )
    later = _ok(shops, "shop", "show", HARBOR, "--at", "2026-06-02T09:00:00Z")
    assert later["active_points"] == 0  # 90 days on: the ticket no longer counts


def test_ticket_show_prints_the_ticket_its_deadline_what_comes_next_and_its_history(
    shops: Path,
) -> None:
    assert _run(shops, *ISSUE_LATE_DISPATCH).returncode == 0
    assert _appeal(shops, "--note", "the carrier scanned it on day one").returncode == 0
    shown = _run(shops, "ticket", "show", "TK-LATE")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert (
        "TK-LATE fulfilment ticket against shop shop-harbor-goods (order US-501): "
        "under_review, 12 points, 1 appeal(s)"
    ) in text
    assert "issued 2026-03-03T09:00:00Z by platform, governance governance-" in text
    assert "reason: dispatched 6 days late" in text
    assert "deadline 2026-03-11T08:00:00Z: then reply_overdue" in text  # 5 business days
    assert "allowed next: uphold (platform), overturn (platform), revoke (platform)" in text
    history = text[text.index("history") :]
    appeal_row = next(row for row in history.splitlines() if "appeal" in row)
    for cell in (APPEAL_AT, "issued", "under_review", "seller", "1"):
        assert cell in appeal_row, cell
    view = _ok(shops, "ticket", "show", "TK-LATE")
    assert [step["action"] for step in view["history"]] == ["issue", "appeal"]


# -- ticket act -------------------------------------------------------------------------------


def test_a_seller_appeals_twice_and_the_platform_decides_each_round(shops: Path) -> None:
    assert _run(shops, *ISSUE_LATE_DISPATCH).returncode == 0
    appealed = _appeal(shops, "--actor-id", HARBOR, "--json")
    assert appealed.returncode == 0, appealed.stderr
    first = _json(appealed)
    assert (first["state"], first["appeals"], first["deadline_action"]) == (
        "under_review",
        1,
        "reply_overdue",
    )
    upheld = _ok(
        shops,
        *("ticket", "act", "TK-LATE", "uphold", "--actor", "platform"),
        *("--note", "the scan came after the dispatch deadline", "--at", "2026-03-06T09:00:00Z"),
    )
    assert (upheld["state"], upheld["deadline_at"]) == ("upheld", "2026-03-21T09:00:00Z")
    _ok(
        shops,
        *("ticket", "act", "TK-LATE", "appeal", "--actor", "seller", "--actor-id", HARBOR),
        *("--evidence", "photo=https://evidence.example/label.jpg", "--at", "2026-03-07T09:00Z"),
    )
    final = _ok(
        shops,
        "ticket",
        "act",
        "TK-LATE",
        "uphold",
        "--actor",
        "platform",
        "--at",
        "2026-03-09T09:00Z",
    )
    assert (final["state"], final["appeals"], final["allowed_actions"]) == ("final", 2, [])
    assert [(step["action"], step["to"], step["round"]) for step in final["history"]] == [
        ("issue", "issued", 0),
        ("appeal", "under_review", 1),
        ("uphold", "upheld", 1),
        ("appeal", "under_review", 2),
        ("uphold", "final", 2),
    ]
    assert _ok(shops, "ticket", "show", "TK-LATE") == final  # act prints the view as it is
    human = _run(shops, "ticket", "show", "TK-LATE").stdout
    assert "allowed next: nothing (terminal)" in human


def test_a_revoke_ends_the_punishment_the_ticket_started_early(shops: Path) -> None:
    assert _run(shops, *ISSUE_LATE_DISPATCH).returncode == 0
    revoked = _ok(
        shops,
        "ticket",
        "act",
        "TK-LATE",
        "revoke",
        "--actor",
        "platform",
        "--at",
        "2026-03-05T09:00Z",
    )
    assert revoked["state"] == "revoked"
    shop = _ok(shops, "shop", "show", HARBOR, "--at", "2026-03-06T00:00:00Z")
    assert shop["active_points"] == 0
    (ban,) = shop["punishments"]
    assert (ban["ended_at"], ban["ended_early"]) == ("2026-03-05T09:00:00Z", True)
    human = _run(shops, "shop", "show", HARBOR, "--at", "2026-03-06T00:00:00Z")
    assert human.returncode == 0, human.stderr
    text = human.stdout
    assert "shop shop-harbor-goods (market US): 0 active points as of 2026-03-06T00:00:00Z" in text
    ban_row = next(row for row in text.splitlines() if "campaign_ban" in row)
    for cell in ("2026-03-03T09:00:00Z", "2026-03-10T09:00:00Z", "(early)", "TK-LATE"):
        assert cell in ban_row, cell


# -- ticket list ------------------------------------------------------------------------------


def test_ticket_list_filters_by_shop_and_state_and_pages_by_ticket_id(shops: Path) -> None:
    for ticket_id, shop, points in (
        ("TK-3", HARBOR, "2"),
        ("TK-1", "shop-lumen-audio", "1"),
        ("TK-2", HARBOR, "2"),
    ):
        issued = _run(
            shops,
            *("ticket", "issue", ticket_id, "--shop", shop, "--category", "service"),
            *("--reason", "slow chat replies", "--points", points, "--at", "2026-03-03T09:00Z"),
        )
        assert issued.returncode == 0, issued.stderr
    first = _ok(shops, "ticket", "list", "--limit", "2")
    assert set(first) == {"tickets", "next"}
    assert ([t["ticket_id"] for t in first["tickets"]], first["next"]) == (
        ["TK-1", "TK-2"],
        "TK-2",
    )
    assert set(first["tickets"][0]) == TICKET_FIELDS  # no history in a list
    last = _ok(shops, "ticket", "list", "--limit", "2", "--after", "TK-2")
    assert ([t["ticket_id"] for t in last["tickets"]], last["next"]) == (["TK-3"], None)
    exactly = _ok(shops, "ticket", "list", "--limit", "3")
    assert (len(exactly["tickets"]), exactly["next"]) == (3, None)  # no empty page to ask for

    def ids(*filters: str) -> list[str]:
        return [t["ticket_id"] for t in _ok(shops, "ticket", "list", *filters)["tickets"]]

    assert ids("--shop", HARBOR) == ["TK-2", "TK-3"]
    assert ids("--state", "issued", "--shop", "shop-lumen-audio") == ["TK-1"]
    assert ids("--state", "under_review") == []

    table = _run(shops, "ticket", "list", "--limit", "2")
    assert table.returncode == 0, table.stderr
    row = next(line for line in table.stdout.splitlines() if "TK-1" in line)
    for cell in ("shop-lumen-audio", "service", "issued", "2026-04-02T09:00:00Z"):
        assert cell in row, cell
    assert "2 ticket(s) shown; more: run with --after TK-2" in table.stdout
    assert "no more" in _run(shops, "ticket", "list", "--after", "TK-2").stdout
    assert "no tickets" in _run(shops, "ticket", "list", "--state", "final").stdout


# -- bad input --------------------------------------------------------------------------------


MALFORMED_POINTS = (
    ("twelve", "'twelve' is not a whole number"),
    ("1.5", "'1.5' is not a whole number"),
    ("-3", "'-3' is not a whole number"),
    ("0", "'0': points must be a whole number from 1 to 100"),
    ("101", "'101': points must be a whole number from 1 to 100"),
    ("9" * 5000, "points must be a whole number from 1 to 100"),
)
MALFORMED_EVIDENCE = ("photo", "=https://evidence.example/a", "photo=")


def test_malformed_points_exit_2_naming_the_option_and_issue_nothing(shops: Path) -> None:
    # one database for every value: each command is a process that costs a second or two
    for points, message in MALFORMED_POINTS:
        issue = [*ISSUE_LATE_DISPATCH]
        issue[issue.index("--points") + 1] = points
        done = _run(shops, *issue)
        _refused(done, 2, message)
        assert "Invalid value for --points: " in done.stderr
    assert _run(shops, "ticket", "show", "TK-LATE").returncode == 1  # not_found: nothing written


def test_malformed_evidence_exits_2_naming_the_option_on_issue_and_act(shops: Path) -> None:
    for evidence in MALFORMED_EVIDENCE:
        issue = [*ISSUE_LATE_DISPATCH, "--evidence", evidence]
        wrong = f"Invalid value for --evidence: {evidence!r} is not KIND=URI"
        _refused(_run(shops, *issue), 2, wrong)
    assert _run(shops, "ticket", "show", "TK-LATE").returncode == 1
    assert _run(shops, *ISSUE_LATE_DISPATCH).returncode == 0
    for evidence in MALFORMED_EVIDENCE:
        wrong = f"Invalid value for --evidence: {evidence!r} is not KIND=URI"
        _refused(_appeal(shops, "--evidence", evidence), 2, wrong)
    assert _ok(shops, "ticket", "show", "TK-LATE")["state"] == "issued"


def test_an_unknown_ticket_or_shop_is_not_found_with_exit_1(shops: Path) -> None:
    for args, message in (
        (["ticket", "show", "TK-404"], "no ticket TK-404"),
        (["ticket", "act", "TK-404", "revoke", "--actor", "platform"], "no ticket TK-404"),
        (["shop", "show", "shop-nobody"], "no shop shop-nobody"),
    ):
        done = _run(shops, *args, "--json")
        _refused(done, 1, f"error [not_found]: {message}")
        assert _json(done) == {"error": {"code": "not_found", "message": message}}
    unknown_shop = [*ISSUE_LATE_DISPATCH]
    unknown_shop[unknown_shop.index("--shop") + 1] = "shop-nobody"
    _refused(_run(shops, *unknown_shop), 1, "error [not_found]: no shop shop-nobody")
    others_order = [*ISSUE_LATE_DISPATCH]
    others_order[others_order.index("--order") + 1] = "US-502"  # shop-lumen-audio's
    _refused(_run(shops, *others_order), 1, "no order US-502 of shop shop-harbor-goods")


def test_the_engine_refuses_what_an_actor_may_not_do_with_exit_1(shops: Path) -> None:
    assert _run(shops, *ISSUE_LATE_DISPATCH).returncode == 0
    buyer = _run(shops, "ticket", "act", "TK-LATE", "appeal", "--actor", "buyer", "--json")
    _refused(buyer, 1, "error [forbidden]: ticket TK-LATE: appeal may be taken by seller")
    assert _json(buyer)["error"]["code"] == "forbidden"
    seller = _run(shops, "ticket", "act", "TK-LATE", "revoke", "--actor", "seller")
    _refused(seller, 1, "error [forbidden]: ticket TK-LATE: revoke may be taken by platform")
    other = _appeal(shops, "--actor-id", "shop-lumen-audio", "--json")
    _refused(
        other, 1, "error [forbidden]: ticket TK-LATE: seller shop-lumen-audio is not its shop"
    )
    no_evidence = _run(
        shops, "ticket", "act", "TK-LATE", "appeal", "--actor", "seller", "--at", APPEAL_AT
    )
    _refused(no_evidence, 1, "error [invalid_input]: evidence needs at least one item")
    unknown = _run(shops, "ticket", "act", "TK-LATE", "dismiss", "--actor", "platform")
    _refused(unknown, 1, "error [invalid_input]: action 'dismiss' is not one of")
    not_yet = _run(
        shops, "ticket", "act", "TK-LATE", "uphold", "--actor", "platform", "--at", APPEAL_AT
    )
    _refused(not_yet, 1, "error [not_allowed]: ticket TK-LATE: uphold is not allowed in state")
    assert _ok(shops, "ticket", "show", "TK-LATE")["state"] == "issued"  # nothing written
    # now, months on: the appeal window that closed on 2 April stands though the act is refused
    late = _run(shops, "ticket", "act", "TK-LATE", "uphold", "--actor", "platform")
    _refused(late, 1, "uphold is not allowed in state final")
    closed = _ok(shops, "ticket", "show", "TK-LATE")
    assert [(step["action"], step["actor"], step["at"]) for step in closed["history"]][-1] == (
        "appeal_window_timeout",
        "system",
        "2026-04-02T09:00:00Z",
    )


def test_issue_refuses_a_conflicting_repeat_and_bad_fields(shops: Path) -> None:
    assert _run(shops, *ISSUE_LATE_DISPATCH).returncode == 0
    heavier = [*ISSUE_LATE_DISPATCH]
    heavier[heavier.index("--points") + 1] = "24"
    conflict = _run(shops, *heavier, "--json")
    _refused(conflict, 1, "error [conflict]: ticket TK-LATE was already issued with other fields")
    assert _json(conflict)["error"]["code"] == "conflict"
    category = [*ISSUE_LATE_DISPATCH]
    category[category.index("--category") + 1] = "rudeness"
    _refused(_run(shops, *category), 2, "Invalid value for '--category'")
    blank = [*ISSUE_LATE_DISPATCH]
    blank[0:3] = ["ticket", "issue", "TK-BLANK"]
    blank[blank.index("--reason") + 1] = "   "
    _refused(_run(shops, *blank), 1, "error [invalid_input]: reason must not be empty")
    _refused(_run(shops, "ticket", "list", "--state", "pending"), 2, "state 'pending' is not")
    _refused(_run(shops, "ticket", "list", "--limit", "0"), 2, "--limit")
    _refused(_run(shops, "shop", "show", HARBOR, "--at", "next week"), 2, "--at")
    _refused(_run(shops, "shop", "show", HARBOR, "--at", "2100-01-01T00:00Z"), 2, "later than")


# -- status: the platform's overdue replies ----------------------------------------------


def test_status_counts_a_ticket_under_review_past_its_sla(shops: Path) -> None:
    assert _run(shops, *ISSUE_LATE_DISPATCH).returncode == 0
    before = _ok(shops, "status")
    assert before["overdue_replies"] == 0  # issued: the seller's turn, not the platform's
    assert _appeal(shops).returncode == 0  # in March: the 5 business days are long gone
    status = _ok(shops, "status")
    assert status["overdue_replies"] == 1
    human = _run(shops, "status")
    assert human.returncode == 0, human.stderr
    assert "platform replies overdue: 1 (tickets under review past their SLA)" in human.stdout
    _ok(shops, "ticket", "act", "TK-LATE", "overturn", "--actor", "platform")
    assert _ok(shops, "status")["overdue_replies"] == 0  # answered, if late
    assert "platform replies overdue: 0" in _run(shops, "status").stdout


def test_the_daemons_heartbeat_keeps_counting_the_reply_once_its_overdue_is_recorded(
    shops: Path,
) -> None:
    assert _run(shops, *ISSUE_LATE_DISPATCH).returncode == 0
    assert _appeal(shops).returncode == 0
    daemons = Daemons(f"sqlite:///{shops / 'ops.db'}", shops)
    try:
        worker = daemons.start("--interval", "0.1", "--heartbeat", "0.3")
        daemons.wait_started(worker)

        def beats() -> list[dict[str, Any]]:
            return [r for r in daemons.records(worker) if r["event"] == "heartbeat"]

        wait_for(lambda: any(beat["overdue"] == 0 for beat in beats()), what="a swept beat")
        assert daemons.stop(worker) == 0
    finally:
        daemons.close()
    swept = next(beat for beat in beats() if beat["overdue"] == 0)
    assert swept["overdue_replies"] == 1  # ticket.reply_overdue recorded; still no reply
    view = _ok(shops, "ticket", "show", "TK-LATE")
    assert (view["state"], view["deadline_at"]) == ("under_review", None)
    assert _ok(shops, "status")["overdue_replies"] == 1


def test_a_breach_rules_ticket_shows_the_reading_that_fired_it(tmp_path: Path) -> None:
    """Ten orders due out by Wednesday 4 March and none shipped: the snapshot at the shop's
    next local midnight finds every one late and issues the rule's ticket."""
    paid = [
        {
            "at": f"2026-03-02T09:{number:02d}:00Z",
            "type": "order.paid",
            "order_id": f"US-{number}",
            "shop_id": "shop-slow-post",
            "buyer_id": f"buyer-{number}",
            "market": "US",
            "currency": "USD",
            "amount": "10.00",
            "dispatch_by": "2026-03-04T09:00:00Z",
        }
        for number in range(1, 11)
    ]
    scenario = _scenario(tmp_path, paid)
    db = f"sqlite:///{tmp_path / 'ops.db'}"
    played = _run(tmp_path, "replay", str(scenario), "--db", db, "--until", "2026-03-06T00:00Z")
    assert played.returncode == 0, played.stderr
    ticket_id = "auto-late_dispatch-shop-slow-post-2026-03-05"  # the local date of the snapshot
    (listed,) = _ok(tmp_path, "ticket", "list", "--shop", "shop-slow-post")["tickets"]
    assert (listed["ticket_id"], listed["source"], listed["reason"]) == (
        ticket_id,
        "rule:late_dispatch",
        "late_dispatch",
    )
    assert {key: listed["metric"][key] for key in ("metric", "value", "denominator")} == {
        "metric": "late_dispatch_rate",
        "value": 1.0,
        "denominator": 10,
    }
    shown = _run(tmp_path, "ticket", "show", ticket_id)
    assert shown.returncode == 0, shown.stderr
    assert "issued 2026-03-05T05:00:00Z by rule:late_dispatch" in shown.stdout
    assert "metric: late_dispatch_rate 100.00% of 10 (examples: US-" in shown.stdout
    system_row = next(row for row in shown.stdout.splitlines() if " issue " in row)
    assert "system" in system_row


def test_a_ticket_the_sweep_cannot_read_is_listed_by_status_and_retried_by_an_operator(
    shops: Path,
) -> None:
    assert _run(shops, *ISSUE_LATE_DISPATCH).returncode == 0
    db = shops / "ops.db"
    with sqlite3.connect(db) as connection:  # damaged by hand: a state no workflow has
        connection.execute("UPDATE tickets SET state = 'bogus' WHERE ticket_id = 'TK-LATE'")
    once = _run(shops, "daemon", "--once", "--db", f"sqlite:///{db}", "--remind-before", "0")
    assert once.returncode == 0, once.stderr  # the sweep goes on past it
    held = _ok(shops, "status")["quarantined_tickets"]
    assert [entry["ticket_id"] for entry in held] == ["TK-LATE"]
    assert "bogus" in held[0]["error"]
    human = _run(shops, "status").stdout
    assert "quarantined tickets: 1" in human and "TK-LATE since" in human

    with sqlite3.connect(db) as connection:  # the operator repairs the row
        connection.execute("UPDATE tickets SET state = 'issued' WHERE ticket_id = 'TK-LATE'")
    retried = _run(shops, "ticket", "retry", "TK-LATE")
    assert retried.returncode == 0 and "TK-LATE: back in the sweep" in retried.stdout
    again = _run(shops, "ticket", "retry", "TK-LATE")
    assert "TK-LATE: was not quarantined" in again.stdout
    _refused(_run(shops, "ticket", "retry", "TK-NONE"), 1, "no ticket TK-NONE")
    assert _run(shops, "daemon", "--once", "--db", f"sqlite:///{db}").returncode == 0
    ticket = _ok(shops, "ticket", "show", "TK-LATE")
    assert [entry["action"] for entry in ticket["history"]] == ["issue", "appeal_window_timeout"]
    assert _ok(shops, "status")["quarantined_tickets"] == []
