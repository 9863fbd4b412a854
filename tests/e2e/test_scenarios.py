"""The shipped scenarios, replayed by the real CLI, give exactly the histories the rules predict.

Every expected instant below was worked out by hand from workflows.md and config/ (48 h review,
24 h proof of delivery, 48 h to escalate, 5 days to ship back, 8 days in transit, 2 days to
refund; 4 US business days for a high-value review), not produced by running the engine.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

Step = tuple[str, str | None, str, str, str]  # action, from, to, actor, at
Y = "system"


def _replay(name: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "aftersale", "replay", "--example", name, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return done.returncode, json.loads(done.stdout)


def _histories(output: dict[str, Any]) -> dict[str, list[Step]]:
    return {
        case["case_id"]: [
            (h["action"], h["from"], h["to"], h["actor"], h["at"]) for h in case["history"]
        ]
        for case in output["cases"]
    }


P, R, W = "pending_review", "rejected", "withdrawn"
ARS, RIT, RRC, PR = (
    "awaiting_return_shipment",
    "return_in_transit",
    "return_received",
    "platform_review",
)

CANCELLATIONS: dict[str, list[Step]] = {
    "CX-1": [
        ("open", None, P, "buyer", "2026-03-02T09:40:00Z"),
        ("auto_approve", P, "cancelled", Y, "2026-03-02T09:40:00Z"),
    ],
    "CX-2": [
        ("open", None, P, "buyer", "2026-03-02T11:00:00Z"),  # exactly 1 h: end included
        ("auto_approve", P, "cancelled", Y, "2026-03-02T11:00:00Z"),
    ],
    "CX-3": [
        ("open", None, P, "buyer", "2026-03-02T13:00:01Z"),  # 1 h 1 s: the seller decides
        ("approve", P, "cancelled", "seller", "2026-03-02T18:00:00Z"),
    ],
    "CX-4": [
        ("open", None, P, "seller", "2026-03-02T16:00:00Z"),
        ("seller_cancel", P, "cancelled", Y, "2026-03-02T16:00:00Z"),
    ],
    "CX-5": [
        ("open", None, P, "buyer", "2026-03-03T10:00:00Z"),
        ("reject", P, "closed", "seller", "2026-03-03T12:00:00Z"),
    ],
    "CX-6": [
        ("open", None, P, "buyer", "2026-03-03T15:00:00Z"),
        ("order_shipped", P, "closed", Y, "2026-03-03T20:00:00Z"),
    ],
    "CX-7": [
        ("open", None, P, "buyer", "2026-03-03T18:00:00Z"),
        ("withdraw", P, W, "buyer", "2026-03-04T09:00:00Z"),
    ],
    "CX-8": [
        ("open", None, P, "buyer", "2026-03-04T12:00:00Z"),
        ("review_timeout", P, "cancelled", Y, "2026-03-06T12:00:00Z"),
    ],
}

REFUND_ONLY: dict[str, list[Step]] = {
    "RF-1": [
        ("open", None, P, "buyer", "2026-03-09T09:00:00Z"),
        ("approve", P, "refunded", "seller", "2026-03-09T15:00:00Z"),
    ],
    "RF-2": [
        ("open", None, P, "buyer", "2026-03-06T10:00:00Z"),
        ("review_timeout", P, "refunded", Y, "2026-03-08T10:00:00Z"),
    ],
    "RF-3": [
        ("open", None, P, "buyer", "2026-03-10T11:00:00Z"),
        ("request_pod", P, "awaiting_pod", "platform", "2026-03-10T12:00:00Z"),
        ("submit_pod", "awaiting_pod", PR, "seller", "2026-03-10T20:00:00Z"),
        ("rule", PR, "closed", "platform", "2026-03-11T09:00:00Z"),
    ],
    "RF-4": [
        ("open", None, P, "buyer", "2026-03-10T12:00:00Z"),
        ("request_pod", P, "awaiting_pod", "platform", "2026-03-10T13:00:00Z"),
        ("pod_timeout", "awaiting_pod", "refunded", Y, "2026-03-11T13:00:00Z"),
    ],
    "RF-5": [
        ("open", None, P, "buyer", "2026-03-07T13:00:00Z"),
        ("reject", P, R, "seller", "2026-03-08T09:00:00Z"),
        ("escalate", R, PR, "buyer", "2026-03-08T18:00:00Z"),
        ("rule", PR, "refunded", "platform", "2026-03-09T10:00:00Z"),
    ],
    "RF-6": [
        ("open", None, P, "buyer", "2026-03-06T14:00:00Z"),
        ("reject", P, R, "seller", "2026-03-07T09:00:00Z"),
        ("escalation_timeout", R, "closed", Y, "2026-03-09T09:00:00Z"),
    ],
    "RF-7": [
        ("open", None, P, "buyer", "2026-03-09T15:00:00Z"),
        ("withdraw", P, W, "buyer", "2026-03-09T18:00:00Z"),
    ],
}

RETURNS: dict[str, list[Step]] = {
    "RR-1": [
        ("open", None, P, "buyer", "2026-03-06T08:00:00Z"),
        ("approve", P, ARS, "seller", "2026-03-06T12:00:00Z"),
        ("ship_return", ARS, RIT, "buyer", "2026-03-07T09:00:00Z"),
        ("confirm_receipt", RIT, RRC, "seller", "2026-03-10T10:00:00Z"),
        ("refund", RRC, "refunded", "seller", "2026-03-10T15:00:00Z"),
    ],
    "RR-2": [
        ("open", None, P, "buyer", "2026-03-06T10:00:00Z"),
        ("review_timeout", P, ARS, Y, "2026-03-08T10:00:00Z"),
        ("ship_return", ARS, RIT, "buyer", "2026-03-09T10:00:00Z"),
        ("receipt_timeout", RIT, RRC, Y, "2026-03-17T10:00:00Z"),
        ("refund_timeout", RRC, "refunded", Y, "2026-03-19T10:00:00Z"),
    ],
    "RR-3": [
        ("open", None, P, "buyer", "2026-03-06T11:00:00Z"),
        ("approve", P, ARS, "seller", "2026-03-06T13:00:00Z"),
        ("ship_back_timeout", ARS, "closed", Y, "2026-03-11T13:00:00Z"),
    ],
    "RR-4": [
        ("open", None, P, "buyer", "2026-03-06T12:00:00Z"),
        ("approve", P, ARS, "seller", "2026-03-06T14:00:00Z"),
        ("ship_return", ARS, RIT, "buyer", "2026-03-07T12:00:00Z"),
        ("confirm_receipt", RIT, RRC, "seller", "2026-03-09T12:00:00Z"),
        ("reject_return", RRC, R, "seller", "2026-03-09T16:00:00Z"),
        ("escalate", R, PR, "buyer", "2026-03-10T09:00:00Z"),
        ("rule", PR, "closed", "platform", "2026-03-11T09:00:00Z"),
    ],
    "RR-5": [
        ("open", None, P, "buyer", "2026-03-06T02:00:00Z"),  # 10:00 in Kuala Lumpur
        ("reject", P, R, "seller", "2026-03-06T10:00:00Z"),
        ("escalate", R, PR, "buyer", "2026-03-07T01:00:00Z"),
        ("rule", PR, ARS, "platform", "2026-03-07T09:00:00Z"),
        ("ship_return", ARS, RIT, "buyer", "2026-03-08T04:00:00Z"),
        ("confirm_receipt", RIT, RRC, "seller", "2026-03-11T04:00:00Z"),
        ("refund", RRC, "refunded", "seller", "2026-03-11T07:00:00Z"),
    ],
    # Friday 15:00 New York + 4 business days = Thursday 15:00, after the clocks went forward
    "RR-6": [
        ("open", None, P, "buyer", "2026-03-06T20:00:00Z"),
        ("review_timeout", P, ARS, Y, "2026-03-12T19:00:00Z"),
        ("withdraw", ARS, W, "buyer", "2026-03-13T10:00:00Z"),
    ],
    "RR-7": [
        ("open", None, P, "buyer", "2026-03-28T02:00:00Z"),  # day 24 of MY's 30
        ("withdraw", P, W, "buyer", "2026-03-28T05:00:00Z"),
    ],
}

EXPECTED = {"cancellations": CANCELLATIONS, "refund_only": REFUND_ONLY, "returns": RETURNS}
RESPONSIBLE = {
    "CX-4": "seller",
    "CX-8": "buyer",
    "RF-1": "logistics",
    "RF-2": "seller",
    "RF-5": "seller",
    "RR-2": "seller",
    "RR-3": "buyer",
    "RR-5": "seller",
}
OVERTURNED = {"RF-5", "RR-5"}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_a_shipped_scenario_replays_to_exactly_the_predicted_histories(name: str) -> None:
    status, output = _replay(name)
    assert (status, output["errors"]) == (0, [])
    assert _histories(output) == EXPECTED[name]
    for case in output["cases"]:
        if case["case_id"] in RESPONSIBLE:
            assert case["responsibility"] == RESPONSIBLE[case["case_id"]], case["case_id"]
        overturned = [step["overturned"] for step in case["history"]]
        assert any(overturned) == (case["case_id"] in OVERTURNED), case["case_id"]
        assert case["deadline_at"] is None


def test_the_shipped_scenarios_reach_every_ending_of_every_kind() -> None:
    endings: dict[str, set[str]] = {}
    for name in EXPECTED:
        for case in _replay(name)[1]["cases"]:
            endings.setdefault(case["kind"], set()).add(case["state"])
    assert endings == {
        "cancellation": {"cancelled", "closed", "withdrawn"},
        "refund_only": {"refunded", "closed", "withdrawn"},
        "return_refund": {"refunded", "closed", "withdrawn"},
    }


def test_the_refused_lines_scenario_reports_every_error_code_and_exits_1() -> None:
    status, output = _replay("refused_lines")
    assert status == 1
    assert [(e["line"], e["code"]) for e in output["errors"]] == [
        (4, "conflict"),  # the same order paid again with another amount
        (5, "invalid_json"),
        (6, "invalid_input"),  # an unknown line type
        (7, "out_of_order"),
        (8, "not_found"),  # no such order
        (9, "not_eligible"),  # refund_only before shipping
        (10, "forbidden"),  # a seller opening a refund_only case
        (13, "conflict"),  # a second open case on the order
        (14, "forbidden"),  # the buyer approving
        (15, "not_allowed"),  # escalating a cancellation
        (16, "invalid_input"),  # reject_reason other without a note
        (17, "invalid_input"),  # ... with a note of 201 characters
        (19, "not_allowed"),  # delivered before shipped
        (20, "not_found"),  # no such case
        (22, "conflict"),  # more than is still refundable
        (23, "invalid_input"),  # an amount as a float
        (24, "not_eligible"),  # cancelling a shipped order
    ]
    assert _histories(output) == {
        "CX-9": [
            ("open", None, P, "buyer", "2026-03-02T11:00:00Z"),
            ("reject", P, "closed", "seller", "2026-03-02T12:00:00Z"),
        ],
    }
    # lines 3 and 12 repeat what already happened: no error and no second event
    assert [e["type"] for e in output["events"]] == [
        "order.paid",
        "case.transition",
        "case.transition",
        "order.shipped",
    ]
