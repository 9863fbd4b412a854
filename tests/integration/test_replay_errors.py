"""Every error code of replay.md, each with a line that triggers it and proof that nothing changed.

The proof: the scenario with the faulty line gives the same cases and events as the scenario
with the line replaced by a bare clock move to its instant (or by nothing, for a line refused
before its instant counts), so the refused line wrote nothing at all.
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from aftersale.replay import replay

BASE: list[dict[str, Any]] = [
    {
        "at": "2026-03-02T09:00:00Z",
        "type": "order.paid",
        "order_id": "US-1",
        "shop_id": "shop-lumen-audio",
        "buyer_id": "buyer-ada",
        "market": "US",
        "currency": "USD",
        "amount": "50.00",
    },
    {
        "at": "2026-03-02T09:00:00Z",
        "type": "order.paid",
        "order_id": "US-2",
        "shop_id": "shop-lumen-audio",
        "buyer_id": "buyer-ben",
        "market": "US",
        "currency": "USD",
        "amount": "30.00",
    },
    {"at": "2026-03-03T09:00:00Z", "type": "order.shipped", "order_id": "US-1"},
    {"at": "2026-03-05T09:00:00Z", "type": "order.delivered", "order_id": "US-1"},
    {
        "at": "2026-03-06T09:00:00Z",
        "type": "case.open",
        "case_id": "RR-1",
        "order_id": "US-1",
        "kind": "return_refund",
        "actor": "buyer",
        "reason": "damaged",
        "amount": "20.00",
    },
]
AT = "2026-03-06T12:00:00Z"


def _open(**fields: Any) -> dict[str, Any]:
    return {
        "at": AT,
        "type": "case.open",
        "case_id": "RR-2",
        "order_id": "US-1",
        "kind": "return_refund",
        "actor": "buyer",
        "reason": "damaged",
        **fields,
    }


def _act(**fields: Any) -> dict[str, Any]:
    return {
        "at": AT,
        "type": "case.action",
        "case_id": "RR-1",
        "actor": "seller",
        "action": "approve",
        **fields,
    }


# (why, the faulty line, its code, whether its instant still moves the clock)
FAULTS: list[tuple[str, Any, str, bool]] = [
    ("not json", '{"at": "2026-03-06T12:00:00Z", "type": "clock.adv', "invalid_json", False),
    ("an array", "[1, 2]", "invalid_json", False),
    (
        "unknown type",
        {"at": AT, "type": "order.refunded", "order_id": "US-1"},
        "invalid_input",
        False,
    ),
    ("unknown field", _act(rejectreason="item_used"), "invalid_input", False),
    (
        "missing field",
        {
            "at": AT,
            "type": "case.open",
            "case_id": "RR-2",
            "order_id": "US-1",
            "actor": "buyer",
            "reason": "damaged",
        },
        "invalid_input",
        False,
    ),
    ("reason not in the lists", _open(reason="bored"), "invalid_input", False),
    ("amount as a float", _open(amount=20.5), "invalid_input", False),
    ("at without offset", {**_act(), "at": "2026-03-06T12:00:00"}, "invalid_input", False),
    ("at going backwards", {**_act(), "at": "2026-03-06T08:00:00Z"}, "out_of_order", False),
    ("no such order", _open(order_id="US-404"), "not_found", True),
    ("no such case", _act(case_id="RR-404"), "not_found", True),
    ("a buyer approving", _act(actor="buyer"), "forbidden", True),
    ("an engine-only action", _act(action="review_timeout", actor="system"), "forbidden", True),
    ("refunding before receipt", _act(action="refund"), "not_allowed", True),
    (
        "delivered before shipped",
        {"at": AT, "type": "order.delivered", "order_id": "US-2"},
        "not_allowed",
        True,
    ),
    (
        "reject other without note",
        _act(action="reject", reject_reason="other"),
        "invalid_input",
        True,
    ),
    (
        "reject other, long note",
        _act(action="reject", reject_reason="other", note="x" * 201),
        "invalid_input",
        True,
    ),
    (
        "cancel a shipped order",
        _open(kind="cancellation", reason="changed_mind", case_id="CX-9"),
        "not_eligible",
        True,
    ),
    ("refund before shipping", _open(order_id="US-2", kind="refund_only"), "not_eligible", True),
    (
        "no_longer_needed, used",
        _open(order_id="US-1", reason="no_longer_needed"),
        "not_eligible",
        True,
    ),
    ("a second open case", _open(), "conflict", True),
    ("same case id, other fields", _open(case_id="RR-1", reason="defective"), "conflict", True),
    ("same order, other facts", {**BASE[1], "at": AT, "amount": "31.00"}, "conflict", True),
]


def _outcome(lines: list[Any]) -> tuple[list[Any], list[Any], list[Any]]:
    text = [line if isinstance(line, str) else json.dumps(line) for line in lines]
    result = replay(text, db_url="memory://").as_dict()
    events = [
        {k: v for k, v in e.items() if k not in ("event_id", "recorded_at")}
        for e in result["events"]
    ]
    errors = [(e["line"], e["code"]) for e in result["errors"]]
    return result["cases"], events, errors


@pytest.mark.parametrize(
    ("line", "code", "moves_clock"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS]
)
def test_a_refused_line_is_reported_and_changes_nothing(
    line: Any, code: str, moves_clock: bool
) -> None:
    cases, events, errors = _outcome([*BASE, line])
    assert errors == [(len(BASE) + 1, code)]
    stand_in = [{"at": AT, "type": "clock.advance"}] if moves_clock else []
    assert (cases, events) == _outcome([*BASE, *stand_in])[:2]


def test_a_refused_line_still_fires_the_deadlines_before_it() -> None:
    late = _act(at="2026-03-09T09:00:00Z")  # review deadline 2026-03-08T09:00Z already passed
    cases, _, errors = _outcome([*BASE, late])
    assert errors == [(len(BASE) + 1, "not_allowed")]
    assert [h["action"] for h in cases[0]["history"]] == ["open", "review_timeout"]


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (_act(case_id="RR-404", actor="buyer"), "not_found"),  # not_found before forbidden
        (_act(actor="buyer", action="refund"), "forbidden"),  # forbidden before not_allowed
        (_act(action="refund", note=7), "not_allowed"),  # not_allowed before fields
        ({**_open(reason="bored"), "at": "2026-03-01T00:00:00Z"}, "invalid_input"),  # shape first
        (_open(order_id="US-404", actor="seller"), "not_found"),  # open: not_found first
        (_open(actor="seller", reason="out_of_stock"), "forbidden"),  # forbidden before conflict
    ],
)
def test_several_faults_report_the_first_in_replay_md_order(line: Any, code: str) -> None:
    assert _outcome([*BASE, line])[2] == [(len(BASE) + 1, code)]


def test_repeating_a_line_that_took_effect_is_a_no_op() -> None:
    again = [{**BASE[0], "at": AT}, {**BASE[4], "at": AT}]
    cases, events, errors = _outcome([*BASE, *again])
    assert errors == []
    assert (cases, events) == _outcome([*BASE, {"at": AT, "type": "clock.advance"}])[:2]
