"""Replay's ticket lines and its tickets and shops (governance.md "Replay lines and output").

The lines call the façade's issue_ticket and act_ticket; refusals come in governance.md's order
and change nothing; the output lists tickets and shops; and every deadline, whatever its kind,
is taken in one global order: at one instant cases, then tickets, then punishment ends, each
by id, then the day's snapshots with the breach tickets they issue, then the line. The events
are the same whether the lines are dense or sparse in time.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

import pytest

from aftersale.clock import iso
from aftersale.replay import read_scenario, replay

SHOP = "shop-brass-owl"
PAID = "2026-05-01T04:00:00Z"  # midnight in New York (EDT): the shop's first order
PHOTO = [{"kind": "photo", "uri": "https://cdn.example/ev/brass-owl.jpg"}]


def paid(order_id: str, at: str = PAID, shop_id: str = SHOP) -> dict[str, Any]:
    return {
        "at": at,
        "type": "order.paid",
        "order_id": order_id,
        "shop_id": shop_id,
        "buyer_id": f"buyer-of-{order_id}",
        "market": "US",
        "currency": "USD",
        "amount": "20.00",
    }


def issue(ticket_id: str, at: str, points: Any = 2, **fields: Any) -> dict[str, Any]:
    line = {
        "at": at,
        "type": "ticket.issue",
        "ticket_id": ticket_id,
        "shop_id": SHOP,
        "category": "fulfilment",
        "reason": "shipped late",
        "points": points,
    }
    return {**line, **fields}


def act(ticket_id: str, action: str, actor: str, at: str, **fields: Any) -> dict[str, Any]:
    return {"at": at, "type": "ticket.action", "ticket_id": ticket_id, "action": action,
            "actor": actor, **fields}  # fmt: skip


def advance(at: str) -> dict[str, Any]:
    return {"at": at, "type": "clock.advance"}


def run(lines: list[Any], db_url: str = "memory://", **options: Any) -> dict[str, Any]:
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    return replay(text, db_url=db_url, **options).as_dict()


def written(output: dict[str, Any]) -> dict[str, Any]:
    """What a replay left, without what differs between two runs of one scenario (event ids)
    or with the clock steps (when an event was written)."""
    events = [
        {k: v for k, v in e.items() if k not in ("event_id", "recorded_at")}
        for e in output["events"]
    ]
    kept = ("cases", "tickets", "shops", "clock")
    return {"events": events, **{key: output[key] for key in kept}}


def codes(output: dict[str, Any]) -> list[tuple[int, str]]:
    return [(e["line"], e["code"]) for e in output["errors"]]


BASE = [paid("US-1"), issue("TK-1", "2026-05-02T15:00:00Z")]
AT = "2026-05-03T15:00:00Z"


# -- the lines --------------------------------------------------------------------------------


def test_ticket_lines_issue_appeal_and_overturn_through_the_facade() -> None:
    output = run(
        [
            *BASE,
            issue("TK-2", AT, 10, order_id="US-1", note="three parcels", evidence=PHOTO),
            act(
                "TK-2",
                "appeal",
                "seller",
                "2026-05-04T15:00:00Z",
                evidence=PHOTO,
                actor_id=SHOP,
                note="the carrier lost them",
            ),
            act("TK-2", "overturn", "platform", "2026-05-05T15:00:00Z", note="it did"),
        ]
    )
    assert output["errors"] == []
    first, second = output["tickets"]
    assert (first["ticket_id"], first["state"], first["appeals"]) == ("TK-1", "issued", 0)
    assert first["deadline_at"] == "2026-06-01T15:00:00Z"  # 30 natural days to appeal
    assert (second["state"], second["appeals"], second["deadline_at"]) == ("overturned", 1, None)
    assert [h["action"] for h in second["history"]] == ["issue", "appeal", "overturn"]
    transitions = [e for e in output["events"] if e["type"] == "ticket.transition"]
    appeal = next(e for e in transitions if e["action"] == "appeal")
    assert (appeal["actor_id"], appeal["note"], appeal["evidence"]) == (
        SHOP,
        "the carrier lost them",
        PHOTO,
    )
    # 12 points start a campaign_ban; the overturn of the ticket that started it ends it
    (ban,) = output["shops"][0]["punishments"]
    assert (ban["cause_ticket_id"], ban["ended_at"], ban["ended_early"]) == (
        "TK-2",
        "2026-05-05T15:00:00Z",
        True,
    )


def test_the_output_lists_tickets_and_shops_with_governance_mds_fields() -> None:
    output = run([*BASE, paid("UK-1", AT, "shop-quiet-fern") | {"market": "UK",
                                                                 "currency": "GBP"}])  # fmt: skip
    assert list(output) == ["clock", "cases", "tickets", "shops", "events", "errors", "health"]
    (ticket,) = output["tickets"]
    assert ticket == {
        "ticket_id": "TK-1",
        "shop_id": SHOP,
        "category": "fulfilment",
        "reason": "shipped late",
        "points": 2,
        "source": "platform",
        "metric": None,
        "state": "issued",
        "appeals": 0,
        "issued_at": "2026-05-02T15:00:00Z",
        "deadline_at": "2026-06-01T15:00:00Z",
        "history": [
            {
                "action": "issue",
                "from": None,
                "to": "issued",
                "actor": "platform",
                "auto": False,
                "at": "2026-05-02T15:00:00Z",
                "round": 0,
            }
        ],
    }
    # every shop with an order, by shop_id, its points as of the replay's clock
    assert output["shops"] == [
        {"shop_id": SHOP, "market": "US", "active_points": 2, "punishments": []},
        {"shop_id": "shop-quiet-fern", "market": "UK", "active_points": 0, "punishments": []},
    ]


def test_active_points_are_those_of_the_replays_clock() -> None:
    # TK-1 counts for 90 days from 2 May 15:00: up to, not at, 31 July 15:00
    inside = run([*BASE, advance("2026-07-31T14:59:59Z")])["shops"][0]["active_points"]
    after = run([*BASE, advance("2026-07-31T15:00:00Z")])["shops"][0]["active_points"]
    assert (inside, after) == (2, 0)


def test_a_shop_with_no_order_is_not_listed() -> None:
    message = {"at": AT, "type": "message.received", "message_id": "M-1", "shop_id": "shop-new"}
    output = run([*BASE, message])
    assert [shop["shop_id"] for shop in output["shops"]] == [SHOP]


def test_until_takes_the_ticket_deadlines_after_the_last_line() -> None:
    output = run(BASE, until="2026-06-02T00:00:00Z")
    (ticket,) = output["tickets"]
    assert ticket["state"] == "final"
    assert ticket["history"][-1]["at"] == "2026-06-01T15:00:00Z"


def test_a_breach_rule_issues_its_ticket_at_the_snapshot_of_the_replay() -> None:
    messages = [
        {"at": "2026-05-02T02:00:00Z", "type": "message.received", "message_id": f"M-{n}",
         "shop_id": SHOP}
        for n in range(10)
    ]  # fmt: skip
    output = run([paid("US-1"), *messages, advance("2026-05-04T12:00:00Z")])
    (ticket,) = output["tickets"]
    # none answered and all over 24 h old at the midnight of 3 May (New York): slow_chat;
    # its cooldown of 7 days keeps the next midnight's from issuing another
    assert ticket["ticket_id"] == f"auto-slow_chat-{SHOP}-2026-05-03"
    assert (ticket["source"], ticket["issued_at"]) == ("rule:slow_chat", "2026-05-03T04:00:00Z")
    assert ticket["metric"]["metric"] == "chat_response_rate_24h"
    assert (ticket["metric"]["value"], ticket["metric"]["denominator"]) == (0.0, 10)
    assert ticket["history"][0]["actor"] == "system"


# -- errors, in governance.md's order ---------------------------------------------------------

# (what, line, code); a refusal after the line's instant counts moves the clock there
ISSUE_FAULTS = [
    ("points true", issue("TK-9", AT, True), "invalid_input"),
    ("points 2.0", issue("TK-9", AT, 2.0), "invalid_input"),
    ("points as text", issue("TK-9", AT, "2"), "invalid_input"),
    ("points 0", issue("TK-9", AT, 0), "invalid_input"),
    ("points 101", issue("TK-9", AT, 101), "invalid_input"),
    ("no points", {k: v for k, v in issue("TK-9", AT).items() if k != "points"}, "invalid_input"),
    ("unknown category", issue("TK-9", AT, category="rudeness"), "invalid_input"),
    ("blank reason", issue("TK-9", AT, reason="  "), "invalid_input"),
    ("reason of 201", issue("TK-9", AT, reason="r" * 201), "invalid_input"),
    ("note of 201", issue("TK-9", AT, note="n" * 201), "invalid_input"),
    ("evidence unshaped", issue("TK-9", AT, evidence=[{"kind": "photo"}]), "invalid_input"),
    ("evidence of no market", issue("TK-9", AT, evidence=[{"kind": "smell", "uri": "x:y"}]),
     "invalid_input"),
    ("invalid before out of order", issue("TK-9", "2026-05-01T00:00:00Z", 0), "invalid_input"),
    ("out of order before conflict", issue("TK-1", "2026-05-01T00:00:00Z", 3), "out_of_order"),
    ("same id, other fields", issue("TK-1", AT, 3), "conflict"),
    ("conflict before not found", issue("TK-1", AT, shop_id="shop-nowhere"), "conflict"),
    ("no such shop", issue("TK-9", AT, shop_id="shop-nowhere"), "not_found"),
    ("no such order", issue("TK-9", AT, order_id="US-404"), "not_found"),
    ("another shop's order", issue("TK-9", AT, order_id="UK-1"), "not_found"),
]  # fmt: skip
ACTION_FAULTS = [
    ("no such ticket", act("TK-404", "appeal", "buyer", AT), "not_found"),
    ("not found before forbidden", act("TK-404", "uphold", "seller", AT), "not_found"),
    ("a buyer appealing", act("TK-1", "appeal", "buyer", AT, evidence=PHOTO), "forbidden"),
    ("a seller upholding", act("TK-1", "uphold", "seller", AT), "forbidden"),
    ("another shop's seller", act("TK-1", "appeal", "seller", AT, evidence=PHOTO,
                                   actor_id="shop-quiet-fern"), "forbidden"),
    ("asking for the timeout", act("TK-1", "appeal_window_timeout", "platform", AT),
     "forbidden"),
    ("forbidden before not allowed", act("TK-1", "overturn", "seller", AT), "forbidden"),
    ("overturn before an appeal", act("TK-1", "overturn", "platform", AT), "not_allowed"),
    ("not allowed before fields", act("TK-1", "uphold", "platform", AT, evidence=PHOTO),
     "not_allowed"),
    ("an appeal without evidence", act("TK-1", "appeal", "seller", AT), "invalid_input"),
    ("a field the action does not take", act("TK-1", "revoke", "platform", AT, evidence=PHOTO),
     "invalid_input"),
    ("unknown action", act("TK-1", "forgive", "platform", AT), "invalid_input"),
    ("unknown actor", act("TK-1", "revoke", "auditor", AT), "invalid_input"),
    ("note of 201", act("TK-1", "revoke", "platform", AT, note="n" * 201), "invalid_input"),
]  # fmt: skip
WITH_ANOTHER_SHOP = [*BASE, paid("UK-1", "2026-05-02T16:00:00Z", "shop-quiet-fern")]
# refused before the line's instant counts (its shape, or the clock): the clock stays put
BEFORE_THE_CLOCK = {"invalid before out of order", "out of order before conflict",
                    "unknown action", "unknown actor"}  # fmt: skip


@pytest.mark.parametrize(
    ("what", "line", "code"),
    ISSUE_FAULTS + ACTION_FAULTS,
    ids=[fault[0] for fault in ISSUE_FAULTS + ACTION_FAULTS],
)
def test_a_refused_ticket_line_is_reported_in_governance_mds_order_and_changes_nothing(
    what: str, line: dict[str, Any], code: str
) -> None:
    output = run([*WITH_ANOTHER_SHOP, line])
    assert codes(output) == [(len(WITH_ANOTHER_SHOP) + 1, code)]
    assert output["errors"][0]["message"]
    shaped = line["type"] == "ticket.issue" and code == "invalid_input"
    stand_in = [] if shaped or what in BEFORE_THE_CLOCK else [advance(line["at"])]
    assert written(output) == written(run([*WITH_ANOTHER_SHOP, *stand_in]))


@pytest.mark.parametrize("kind", ["ticket.issue", "ticket.action"])
def test_a_field_the_line_type_does_not_take_is_refused_by_name(kind: str) -> None:
    line = issue("TK-9", AT) if kind == "ticket.issue" else act("TK-1", "revoke", "platform", AT)
    output = run([*BASE, {**line, "severity": "high", "amount": "1.00"}])
    assert codes(output) == [(3, "invalid_input")]
    assert output["errors"][0]["message"] == f"{kind} does not take field(s) amount, severity"


def test_the_same_ticket_issued_again_is_a_no_op() -> None:
    again = run([*BASE, {**BASE[1], "at": AT}])
    assert again["errors"] == []
    assert written(again)["events"] == written(run([*BASE, advance(AT)]))["events"]


def test_a_refused_action_still_takes_the_deadlines_before_it() -> None:
    late = act("TK-1", "appeal", "seller", "2026-06-01T15:00:00Z", evidence=PHOTO)
    output = run([*BASE, late])
    assert codes(output) == [(3, "not_allowed")]  # the window closed at that very instant
    assert [h["action"] for h in output["tickets"][0]["history"]] == [
        "issue",
        "appeal_window_timeout",
    ]


# -- one order for every deadline -------------------------------------------------------------

MIDNIGHT = "2026-06-01T04:00:00Z"  # 00:00 in New York: 30 days after TK-W and TK-X


def crowded_instant() -> list[dict[str, Any]]:
    """Two cases, two tickets and a punishment all due at MIDNIGHT, a breach rule firing at
    its snapshot, and a line at that instant, each pair given out of id order."""
    cancellation = {"type": "case.open", "kind": "cancellation", "actor": "buyer",
                    "reason": "changed_mind", "at": "2026-05-30T04:00:00Z"}  # fmt: skip
    messages = [
        {"at": "2026-05-30T22:00:00Z", "type": "message.received", "message_id": f"M-{n}",
         "shop_id": SHOP}
        for n in range(10)
    ]  # fmt: skip
    return [
        paid("US-1"),
        issue("TK-X", "2026-05-02T04:00:00Z"),  # appeal window: 30 days, to MIDNIGHT
        issue("TK-W", "2026-05-02T04:00:00Z"),
        issue("TK-Y", "2026-05-25T04:00:00Z", 12),  # 16 points: a 7-day ban, to MIDNIGHT
        paid("US-2", "2026-05-30T02:00:00Z"),
        paid("US-3", "2026-05-30T02:00:00Z"),
        {**cancellation, "case_id": "CX-2", "order_id": "US-2"},  # 48 h of review: MIDNIGHT
        {**cancellation, "case_id": "CX-1", "order_id": "US-3"},
        *messages,  # 30 h old, none answered, at MIDNIGHT: slow_chat fires there
        issue("TK-Z", MIDNIGHT, 1),
    ]


def test_at_one_instant_cases_then_tickets_then_punishments_then_snapshots_then_the_line() -> None:
    output = run(crowded_instant())
    assert output["errors"] == []
    at_midnight = [
        (e["type"], e.get("case_id") or e.get("ticket_id") or e.get("cause_ticket_id"))
        for e in output["events"]
        if e["at"] == MIDNIGHT
    ]
    assert at_midnight == [
        ("case.transition", "CX-1"),
        ("case.transition", "CX-2"),
        ("ticket.transition", "TK-W"),
        ("ticket.transition", "TK-X"),
        ("punishment.ended", "TK-Y"),
        ("ticket.transition", f"auto-slow_chat-{SHOP}-2026-06-01"),
        ("ticket.transition", "TK-Z"),
    ]


def test_deadlines_of_one_day_come_in_their_own_order_not_the_sweeps() -> None:
    # on 17 May, between two midnights: a punishment ends at 13:00, a ticket's second window
    # closes at 14:00, a case's review times out at 15:00; one sweep takes them the other way
    output = run(
        [
            paid("US-1"),
            issue("TK-Q", "2026-05-01T10:00:00Z"),
            act("TK-Q", "appeal", "seller", "2026-05-01T11:00:00Z", evidence=PHOTO),
            act("TK-Q", "uphold", "platform", "2026-05-02T14:00:00Z"),  # 15 days: 17 May
            issue("TK-P", "2026-05-10T13:00:00Z", 12),  # 14 points: a ban of 7 days
            paid("US-2", "2026-05-15T13:00:00Z"),
            {
                "at": "2026-05-15T15:00:00Z",
                "type": "case.open",
                "case_id": "CX-1",
                "order_id": "US-2",
                "kind": "cancellation",
                "actor": "buyer",
                "reason": "changed_mind",
            },
            advance("2026-05-17T20:00:00Z"),
        ]
    )
    assert output["errors"] == []
    last = [(e["type"], e.get("action"), e["at"]) for e in output["events"][-3:]]
    assert last == [
        ("punishment.ended", None, "2026-05-17T13:00:00Z"),
        ("ticket.transition", "appeal_window_timeout", "2026-05-17T14:00:00Z"),
        ("case.transition", "review_timeout", "2026-05-17T15:00:00Z"),
    ]


def dense(lines: list[dict[str, Any]], instants: list[str]) -> list[dict[str, Any]]:
    """``lines`` with a clock.advance at every instant of ``instants`` and every 6 hours: each
    step of the clock then passes one deadline at most."""
    step, moment = timedelta(hours=6), datetime.fromisoformat(lines[0]["at"])
    steps = set(instants)
    while moment < datetime.fromisoformat(lines[-1]["at"]):
        stamp = iso(moment)
        assert stamp is not None
        steps.add(stamp)
        moment += step
    extra = [advance(at) for at in sorted(steps)]
    # clock steps after the lines of their instant (a line at a deadline stays after it)
    merged = [(datetime.fromisoformat(x["at"]), 0, i, x) for i, x in enumerate(lines)]
    merged += [(datetime.fromisoformat(x["at"]), 1, i, x) for i, x in enumerate(extra)]
    return [line for *_, line in sorted(merged, key=lambda m: m[:3])]


def _scenario_lines(name: str) -> list[dict[str, Any]]:
    return [
        json.loads(text)
        for text in read_scenario(example=name)
        if text.strip() and not text.startswith("#")
    ]


@pytest.mark.parametrize("scenario", ["crowded instant", "tickets"])
def test_the_same_events_whether_the_lines_are_dense_or_sparse_in_time(scenario: str) -> None:
    lines = crowded_instant() if scenario == "crowded instant" else _scenario_lines("tickets")
    sparse = run(lines)
    stepped = dense(lines, [e["at"] for e in sparse["events"]])
    assert len(stepped) > 2 * len(lines)
    dense_output = run(stepped)
    assert written(dense_output) == written(sparse)
    assert codes(sparse) == _line_numbers(lines, stepped, dense_output)


def _line_numbers(
    lines: list[dict[str, Any]], stepped: list[dict[str, Any]], output: dict[str, Any]
) -> list[tuple[int, str]]:
    """The dense run's refusals, numbered as the lines of the sparse run."""
    where = {id(line): n for n, line in enumerate(lines, start=1)}
    return [(where[id(stepped[e["line"] - 1])], e["code"]) for e in output["errors"]]


def test_the_tickets_scenario_gives_the_same_tickets_and_shops_on_every_backend(
    db_url: str,
) -> None:
    lines = _scenario_lines("tickets")
    here, in_memory = run(lines, db_url), run(lines)
    assert written(here) == written(in_memory)
    assert codes(here) == codes(in_memory) == [(22, "not_allowed")]
