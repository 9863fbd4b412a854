"""The shipped scenarios, replayed by the real CLI, give exactly the histories the rules predict.

Every expected instant below was worked out by hand from workflows.md and config/, not produced
by running the engine: 48 h review, 24 h proof of delivery, 48 h to escalate, 5 days to ship back,
8 days in transit, 2 days to refund, all natural time from the instant the state was entered (for
a timeout, the deadline that fired); a refund flow above the market's high-value threshold gets 4
business days in the market's time zone, skipping weekends and public holidays.
"""

from __future__ import annotations

import functools
import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from aftersale.replay import example_names

# action, from, to, actor, auto, at
Step = tuple[str, str | None, str, str, bool, str]

P, R, W = "pending_review", "rejected", "withdrawn"
POD, PR = "awaiting_pod", "platform_review"
ARS, RIT, RRC = "awaiting_return_shipment", "return_in_transit", "return_received"
ABR = "awaiting_buyer_response"
CURRENCY = {"US": "USD", "UK": "GBP", "MY": "MYR", "TH": "THB"}
TIMEOUTS = {
    "review_timeout",
    "pod_timeout",
    "escalation_timeout",
    "ship_back_timeout",
    "receipt_timeout",
    "refund_timeout",
    "offer_timeout",
}
ENDINGS = {
    "cancellation": {"cancelled", "closed", "withdrawn"},
    "refund_only": {"refunded", "closed", "withdrawn"},
    "return_refund": {"refunded", "closed", "withdrawn"},
}


def by(actor: str, action: str, source: str | None, target: str, at: str) -> Step:
    """A step a person (buyer, seller or platform) took."""
    return (action, source, target, actor, False, at)


def timer(action: str, source: str, target: str, at: str) -> Step:
    """A step the engine took itself (a timeout or a rule applied at once)."""
    return (action, source, target, "system", True, at)


def opened(actor: str, at: str) -> Step:
    return by(actor, "open", None, P, at)


@dataclass(frozen=True)
class Case:
    kind: str
    state: str
    responsibility: str  # at the end
    amount: str
    history: list[Step]
    overturned: bool = False  # the platform's rule overturned the seller's rejection
    ruled_from: str | None = None  # the responsibility before a ruling overrode it


@dataclass(frozen=True)
class Scenario:
    cases: dict[str, Case]
    clock: str
    errors: list[tuple[int, str]]


CX, RO, RF = "cancellation", "refund_only", "return_refund"

CANCELLATIONS = Scenario(
    clock="2026-03-07T09:00:00Z",
    errors=[],
    cases={
        # paid 09:00, opened 09:40: inside the free hour
        "CX-1": Case(
            CX,
            "cancelled",
            "buyer",
            "59.90",
            [
                opened("buyer", "2026-03-02T09:40:00Z"),
                timer("auto_approve", P, "cancelled", "2026-03-02T09:40:00Z"),
            ],
        ),
        # paid 10:00, opened 11:00: exactly one hour, end included
        "CX-2": Case(
            CX,
            "cancelled",
            "buyer",
            "24.00",
            [
                opened("buyer", "2026-03-02T11:00:00Z"),
                timer("auto_approve", P, "cancelled", "2026-03-02T11:00:00Z"),
            ],
        ),
        # paid 12:00, opened 13:00:01: one second too late, the seller decides
        "CX-3": Case(
            CX,
            "cancelled",
            "buyer",
            "80.00",
            [
                opened("buyer", "2026-03-02T13:00:01Z"),
                by("seller", "approve", P, "cancelled", "2026-03-02T18:00:00Z"),
            ],
        ),
        "CX-4": Case(
            CX,
            "cancelled",
            "seller",
            "35.50",
            [
                opened("seller", "2026-03-02T16:00:00Z"),
                timer("seller_cancel", P, "cancelled", "2026-03-02T16:00:00Z"),
            ],
        ),
        "CX-5": Case(
            CX,
            "closed",
            "buyer",
            "42.00",
            [
                opened("buyer", "2026-03-03T10:00:00Z"),
                by("seller", "reject", P, "closed", "2026-03-03T12:00:00Z"),
            ],
        ),
        "CX-6": Case(
            CX,
            "closed",
            "buyer",
            "18.00",
            [
                opened("buyer", "2026-03-03T15:00:00Z"),
                timer("order_shipped", P, "closed", "2026-03-03T20:00:00Z"),
            ],
        ),
        "CX-7": Case(
            CX,
            "withdrawn",
            "buyer",
            "66.00",
            [
                opened("buyer", "2026-03-03T18:00:00Z"),
                by("buyer", "withdraw", P, W, "2026-03-04T09:00:00Z"),
            ],
        ),
        # 120 USD, but high value only concerns refund flows: 48 h
        "CX-8": Case(
            CX,
            "cancelled",
            "buyer",
            "120.00",
            [
                opened("buyer", "2026-03-04T12:00:00Z"),
                timer("review_timeout", P, "cancelled", "2026-03-06T12:00:00Z"),
            ],
        ),
    },
)

REFUND_ONLY = Scenario(
    clock="2026-03-13T00:00:00Z",
    errors=[],
    cases={
        "RF-1": Case(
            RO,
            "refunded",
            "logistics",
            "45.00",
            [
                opened("buyer", "2026-03-09T09:00:00Z"),
                by("seller", "approve", P, "refunded", "2026-03-09T15:00:00Z"),
            ],
        ),
        "RF-2": Case(
            RO,
            "refunded",
            "seller",
            "12.00",
            [
                opened("buyer", "2026-03-06T10:00:00Z"),
                timer("review_timeout", P, "refunded", "2026-03-08T10:00:00Z"),
            ],
        ),
        "RF-3": Case(
            RO,
            "closed",
            "buyer",
            "70.00",
            [
                opened("buyer", "2026-03-10T11:00:00Z"),
                by("platform", "request_pod", P, POD, "2026-03-10T12:00:00Z"),
                by("seller", "submit_pod", POD, PR, "2026-03-10T20:00:00Z"),
                by("platform", "rule", PR, "closed", "2026-03-11T09:00:00Z"),
            ],
            ruled_from="logistics",
        ),
        "RF-4": Case(
            RO,
            "refunded",
            "logistics",
            "55.00",
            [
                opened("buyer", "2026-03-10T12:00:00Z"),
                by("platform", "request_pod", P, POD, "2026-03-10T13:00:00Z"),
                timer("pod_timeout", POD, "refunded", "2026-03-11T13:00:00Z"),
            ],
        ),
        "RF-5": Case(
            RO,
            "refunded",
            "seller",
            "88.00",
            [
                opened("buyer", "2026-03-07T13:00:00Z"),
                by("seller", "reject", P, R, "2026-03-08T09:00:00Z"),
                by("buyer", "escalate", R, PR, "2026-03-08T18:00:00Z"),
                by("platform", "rule", PR, "refunded", "2026-03-09T10:00:00Z"),
            ],
            overturned=True,
        ),
        "RF-6": Case(
            RO,
            "closed",
            "seller",
            "25.00",
            [
                opened("buyer", "2026-03-06T14:00:00Z"),
                by("seller", "reject", P, R, "2026-03-07T09:00:00Z"),
                timer("escalation_timeout", R, "closed", "2026-03-09T09:00:00Z"),
            ],
        ),
        "RF-7": Case(
            RO,
            "withdrawn",
            "logistics",
            "19.00",
            [
                opened("buyer", "2026-03-09T15:00:00Z"),
                by("buyer", "withdraw", P, W, "2026-03-09T18:00:00Z"),
            ],
        ),
        # 4,800 THB > 3,500: Monday 16:00 Bangkok + 4 business days, Tuesday 3 March (Makha
        # Bucha) skipped: Wed 4, Thu 5, Fri 6, Mon 9 -> Monday 9 March 16:00 +07:00
        "RF-8": Case(
            RO,
            "refunded",
            "seller",
            "4800.00",
            [
                opened("buyer", "2026-03-02T09:00:00Z"),
                timer("review_timeout", P, "refunded", "2026-03-09T09:00:00Z"),
            ],
        ),
    },
)

RETURNS = Scenario(
    clock="2026-03-31T00:00:00Z",
    errors=[],
    cases={
        "RR-1": Case(
            RF,
            "refunded",
            "seller",
            "59.90",
            [
                opened("buyer", "2026-03-06T08:00:00Z"),
                by("seller", "approve", P, ARS, "2026-03-06T12:00:00Z"),
                by("buyer", "ship_return", ARS, RIT, "2026-03-07T09:00:00Z"),
                by("seller", "confirm_receipt", RIT, RRC, "2026-03-10T10:00:00Z"),
                by("seller", "refund", RRC, "refunded", "2026-03-10T15:00:00Z"),
            ],
        ),
        # every timer counts from the instant its state was entered
        "RR-2": Case(
            RF,
            "refunded",
            "seller",
            "40.00",
            [
                opened("buyer", "2026-03-06T10:00:00Z"),
                timer("review_timeout", P, ARS, "2026-03-08T10:00:00Z"),
                by("buyer", "ship_return", ARS, RIT, "2026-03-09T10:00:00Z"),
                timer("receipt_timeout", RIT, RRC, "2026-03-17T10:00:00Z"),
                timer("refund_timeout", RRC, "refunded", "2026-03-19T10:00:00Z"),
            ],
        ),
        "RR-3": Case(
            RF,
            "closed",
            "buyer",
            "33.00",
            [
                opened("buyer", "2026-03-06T11:00:00Z"),
                by("seller", "approve", P, ARS, "2026-03-06T13:00:00Z"),
                timer("ship_back_timeout", ARS, "closed", "2026-03-11T13:00:00Z"),
            ],
        ),
        "RR-4": Case(
            RF,
            "closed",
            "buyer",
            "75.00",
            [
                opened("buyer", "2026-03-06T12:00:00Z"),
                by("seller", "approve", P, ARS, "2026-03-06T14:00:00Z"),
                by("buyer", "ship_return", ARS, RIT, "2026-03-07T12:00:00Z"),
                by("seller", "confirm_receipt", RIT, RRC, "2026-03-09T12:00:00Z"),
                by("seller", "reject_return", RRC, R, "2026-03-09T16:00:00Z"),
                by("buyer", "escalate", R, PR, "2026-03-10T09:00:00Z"),
                by("platform", "rule", PR, "closed", "2026-03-11T09:00:00Z"),
            ],
        ),
        # Kuala Lumpur is UTC+8: 10:00 there is 02:00 UTC
        "RR-5": Case(
            RF,
            "refunded",
            "seller",
            "180.00",
            [
                opened("buyer", "2026-03-06T02:00:00Z"),
                by("seller", "reject", P, R, "2026-03-06T10:00:00Z"),
                by("buyer", "escalate", R, PR, "2026-03-07T01:00:00Z"),
                by("platform", "rule", PR, ARS, "2026-03-07T09:00:00Z"),
                by("buyer", "ship_return", ARS, RIT, "2026-03-08T04:00:00Z"),
                by("seller", "confirm_receipt", RIT, RRC, "2026-03-11T04:00:00Z"),
                by("seller", "refund", RRC, "refunded", "2026-03-11T07:00:00Z"),
            ],
            overturned=True,
        ),
        # 249 USD > 100: Friday 15:00 New York (EST) + 4 business days = Thursday 12 March
        # 15:00, now EDT (clocks went forward on Sunday 8 March): 19:00 UTC
        "RR-6": Case(
            RF,
            "withdrawn",
            "seller",
            "249.00",
            [
                opened("buyer", "2026-03-06T20:00:00Z"),
                timer("review_timeout", P, ARS, "2026-03-12T19:00:00Z"),
                by("buyer", "withdraw", ARS, W, "2026-03-13T10:00:00Z"),
            ],
        ),
        # delivered 4 March, opened 28 March: day 24 of Malaysia's 30
        "RR-7": Case(
            RF,
            "withdrawn",
            "seller",
            "60.00",
            [
                opened("buyer", "2026-03-28T02:00:00Z"),
                by("buyer", "withdraw", P, W, "2026-03-28T05:00:00Z"),
            ],
        ),
    },
)

SILENT_SELLER = Scenario(
    clock="2026-04-16T00:00:00Z",
    errors=[],
    cases={
        # paid 08:00, opened 10:30 UTC (11:30 London): past the free hour, 48 h of silence
        "SS-1": Case(
            CX,
            "cancelled",
            "buyer",
            "28.50",
            [
                opened("buyer", "2026-03-30T10:30:00Z"),
                timer("review_timeout", P, "cancelled", "2026-04-01T10:30:00Z"),
            ],
        ),
        # natural days ignore Good Friday
        "SS-2": Case(
            RO,
            "refunded",
            "seller",
            "12.50",
            [
                opened("buyer", "2026-04-02T15:00:00Z"),
                timer("review_timeout", P, "refunded", "2026-04-04T15:00:00Z"),
            ],
        ),
        "SS-3": Case(
            RO,
            "refunded",
            "logistics",
            "22.00",
            [
                opened("buyer", "2026-04-06T09:00:00Z"),
                by("platform", "request_pod", P, POD, "2026-04-06T11:00:00Z"),
                timer("pod_timeout", POD, "refunded", "2026-04-07T11:00:00Z"),
            ],
        ),
        # shipped back at 10:00 London (09:00 UTC): 8 days in transit, then 2 days to refund
        "SS-4": Case(
            RF,
            "refunded",
            "seller",
            "45.00",
            [
                opened("buyer", "2026-04-01T16:00:00Z"),
                timer("review_timeout", P, ARS, "2026-04-03T16:00:00Z"),
                by("buyer", "ship_return", ARS, RIT, "2026-04-04T09:00:00Z"),
                timer("receipt_timeout", RIT, RRC, "2026-04-12T09:00:00Z"),
                timer("refund_timeout", RRC, "refunded", "2026-04-14T09:00:00Z"),
            ],
        ),
        # 120 GBP > 80: Thursday 2 April 14:00 London + 4 business days, Good Friday (3rd) and
        # Easter Monday (6th) skipped: Tue 7, Wed 8, Thu 9, Fri 10 -> 14:00 BST = 13:00 UTC;
        # then 5 days to ship back from that deadline
        "SS-5": Case(
            RF,
            "closed",
            "seller",
            "120.00",
            [
                opened("buyer", "2026-04-02T13:00:00Z"),
                timer("review_timeout", P, ARS, "2026-04-10T13:00:00Z"),
                timer("ship_back_timeout", ARS, "closed", "2026-04-15T13:00:00Z"),
            ],
        ),
        # 80.00 GBP is not above the 80.00 threshold: 48 natural hours
        "SS-6": Case(
            RO,
            "refunded",
            "seller",
            "80.00",
            [
                opened("buyer", "2026-04-02T09:00:00Z"),
                timer("review_timeout", P, "refunded", "2026-04-04T09:00:00Z"),
            ],
        ),
    },
)

REFUSED_LINES = Scenario(
    clock="2026-03-02T13:30:00Z",
    errors=[
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
    ],
    cases={
        # paid 09:00, opened 11:00: past the free hour; line 12 repeats the open at 11:05
        "CX-9": Case(
            CX,
            "closed",
            "buyer",
            "50.00",
            [
                opened("buyer", "2026-03-02T11:00:00Z"),
                by("seller", "reject", P, "closed", "2026-03-02T12:00:00Z"),
            ],
        ),
    },
)

# Order lines, offers and return shipping (lines.md). An offer stops the seller's clock: back in
# the state it was made from, the case gets the time that was left, counted from its return.
PARTIAL_REFUNDS = Scenario(
    clock="2026-03-14T10:00:00Z",
    errors=[],
    cases={
        # mug × 2 of US-900101 (25.00): offers of 10.00 (declined) and 15.00 (accepted)
        "PR-1": Case(
            RO,
            "refunded",
            "seller",
            "25.00",
            [
                opened("buyer", "2026-03-06T09:00:00Z"),
                by("seller", "offer_partial_refund", P, ABR, "2026-03-06T12:00:00Z"),
                by("buyer", "decline_offer", ABR, P, "2026-03-06T18:00:00Z"),
                by("seller", "offer_partial_refund", P, ABR, "2026-03-07T10:00:00Z"),
                by("buyer", "accept_offer", ABR, "refunded", "2026-03-07T20:00:00Z"),
            ],
        ),
        # the lamp, open beside PR-1 on another line of the same order
        "PR-2": Case(
            RF,
            "refunded",
            "seller",
            "48.00",
            [
                opened("buyer", "2026-03-06T10:00:00Z"),
                by("seller", "approve", P, ARS, "2026-03-06T15:00:00Z"),
                by("buyer", "ship_return", ARS, RIT, "2026-03-07T11:00:00Z"),
                by("seller", "confirm_receipt", RIT, RRC, "2026-03-10T09:00:00Z"),
                by("seller", "refund", RRC, "refunded", "2026-03-10T14:00:00Z"),
            ],
        ),
        # no lines: mug × 6 (capped at the 60.00 left after PR-1) and rug × 1
        "PR-3": Case(
            RF,
            "refunded",
            "seller",
            "90.00",
            [
                opened("buyer", "2026-03-11T09:00:00Z"),
                by("seller", "approve", P, ARS, "2026-03-11T12:00:00Z"),
                by("buyer", "ship_return", ARS, RIT, "2026-03-12T09:00:00Z"),
                by("seller", "confirm_receipt", RIT, RRC, "2026-03-14T09:00:00Z"),
                by("seller", "refund", RRC, "refunded", "2026-03-14T10:00:00Z"),
            ],
        ),
        # the kettle of US-900102: an offer after receipt lapses 24 h later, the next is accepted
        "PR-4": Case(
            RF,
            "refunded",
            "seller",
            "64.00",
            [
                opened("buyer", "2026-03-06T11:00:00Z"),
                by("seller", "approve", P, ARS, "2026-03-06T16:00:00Z"),
                by("buyer", "ship_return", ARS, RIT, "2026-03-07T09:00:00Z"),
                by("seller", "confirm_receipt", RIT, RRC, "2026-03-09T09:00:00Z"),
                by("seller", "offer_partial_refund", RRC, ABR, "2026-03-09T13:00:00Z"),
                timer("offer_timeout", ABR, RRC, "2026-03-10T13:00:00Z"),
                by("seller", "offer_partial_refund", RRC, ABR, "2026-03-11T09:00:00Z"),
                by("buyer", "accept_offer", ABR, "refunded", "2026-03-11T15:00:00Z"),
            ],
        ),
    },
)

# Violation tickets (governance.md): 30 days to appeal from the issue, 15 more after an uphold,
# the platform's 5 business days in New York (EDT, UTC-4 in May; Memorial Day, 25 May, is no
# business day); 12 active points start a 7-day campaign_ban.
TICKETS = Scenario(
    clock="2026-06-08T12:00:00Z",
    errors=[(32, "not_allowed")],  # a third appeal of TK-B1, final
    cases={
        # opened Tuesday 11:00 New York, the seller silent for 48 h
        "RF-T1": Case(
            RO,
            "refunded",
            "seller",
            "30.00",
            [
                opened("buyer", "2026-05-26T15:00:00Z"),
                timer("review_timeout", P, "refunded", "2026-05-28T15:00:00Z"),
            ],
        ),
    },
)

SCENARIOS = {
    "cancellations": CANCELLATIONS,
    "refund_only": REFUND_ONLY,
    "returns": RETURNS,
    "silent_seller": SILENT_SELLER,
    "refused_lines": REFUSED_LINES,
    "partial_refunds": PARTIAL_REFUNDS,
    "tickets": TICKETS,
}

# the opening deadline where it is the point of the case: business days, or a threshold edge
OPEN_DEADLINES = {
    "RF-8": "2026-03-09T09:00:00Z",
    "RR-6": "2026-03-12T19:00:00Z",
    "SS-5": "2026-04-10T13:00:00Z",
    "SS-6": "2026-04-04T09:00:00Z",
}


@functools.cache
def _replay(name: str) -> tuple[int, dict[str, Any]]:
    done = subprocess.run(
        [sys.executable, "-m", "aftersale", "replay", "--example", name, "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def _step(h: dict[str, Any]) -> Step:
    return (h["action"], h["from"], h["to"], h["actor"], h["auto"], h["at"])


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_shipped_scenario_exits_with_its_refusals_and_clock(name: str) -> None:
    expected = SCENARIOS[name]
    status, output = _replay(name)
    assert [(e["line"], e["code"]) for e in output["errors"]] == expected.errors
    assert all(e["message"] for e in output["errors"])
    assert status == (1 if expected.errors else 0)
    assert output["clock"] == expected.clock
    assert [case["case_id"] for case in output["cases"]] == sorted(expected.cases)


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_shipped_scenario_replays_to_exactly_the_predicted_histories(name: str) -> None:
    expected = SCENARIOS[name].cases
    output = _replay(name)[1]
    histories = {case["case_id"]: [_step(h) for h in case["history"]] for case in output["cases"]}
    assert histories == {case_id: case.history for case_id, case in expected.items()}


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_a_shipped_scenario_ends_each_case_as_predicted(name: str) -> None:
    expected = SCENARIOS[name].cases
    for case in _replay(name)[1]["cases"]:
        want = expected[case["case_id"]]
        got = (case["kind"], case["state"], case["responsibility"], case["amount"])
        assert got == (want.kind, want.state, want.responsibility, want.amount), case["case_id"]
        assert case["currency"] == CURRENCY[case["order_id"][:2]], case["case_id"]
        assert case["deadline_at"] is None, case["case_id"]  # every case has ended


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_only_a_ruling_marks_an_overturn_or_moves_the_responsibility(name: str) -> None:
    expected = SCENARIOS[name].cases
    for case in _replay(name)[1]["cases"]:
        want = expected[case["case_id"]]
        ruled = False
        overturned, responsible = [], []
        for h in case["history"]:
            ruled = ruled or h["action"] == "rule"
            overturned.append(h["overturned"])
            responsible.append(h["responsibility"])
        actions = [h["action"] for h in case["history"]]
        assert overturned == [a == "rule" and want.overturned for a in actions], case["case_id"]
        before = want.ruled_from or want.responsibility
        if "rule" in actions:
            cut = actions.index("rule")
            assert responsible[:cut] == [before] * cut, case["case_id"]
            assert set(responsible[cut:]) == {want.responsibility}, case["case_id"]
        else:
            assert set(responsible) == {want.responsibility}, case["case_id"]


def test_high_value_and_threshold_cases_open_with_the_predicted_deadline() -> None:
    deadlines: dict[str, str] = {}
    for name in SCENARIOS:
        for event in _replay(name)[1]["events"]:
            if event["type"] == "case.transition" and event["action"] == "open":
                deadlines[event["case_id"]] = event["deadline_at"]
    assert {case_id: deadlines[case_id] for case_id in OPEN_DEADLINES} == OPEN_DEADLINES


def test_refused_lines_leave_no_trace_and_repeats_are_no_ops() -> None:
    events = _replay("refused_lines")[1]["events"]
    # lines 3 and 12 repeat what already happened: no error and no second event
    assert [(e["type"], e.get("action")) for e in events] == [
        ("order.paid", None),
        ("case.transition", "open"),
        ("case.transition", "reject"),
        ("order.shipped", None),
    ]
    assert events[0]["amount"] == "50.00"


def test_the_shipped_scenarios_reach_every_ending_of_every_kind_and_every_timeout() -> None:
    endings: dict[str, set[str]] = {}
    timeouts: set[str] = set()
    for name in SCENARIOS:
        for case in _replay(name)[1]["cases"]:
            endings.setdefault(case["kind"], set()).add(case["state"])
            timeouts |= {h["action"] for h in case["history"] if h["action"].endswith("timeout")}
    assert endings == ENDINGS
    assert timeouts == TIMEOUTS


def test_the_expected_histories_themselves_cover_every_ending_and_timeout() -> None:
    endings: dict[str, set[str]] = {}
    for scenario in SCENARIOS.values():
        for case in scenario.cases.values():
            endings.setdefault(case.kind, set()).add(case.state)
    assert endings == ENDINGS
    steps = [s for sc in SCENARIOS.values() for case in sc.cases.values() for s in case.history]
    assert {s[0] for s in steps if s[0].endswith("timeout")} == TIMEOUTS


def test_every_shipped_scenario_has_its_expected_histories_here() -> None:
    assert sorted(SCENARIOS) == example_names()


def _refund(items: str, shipping: str, return_shipping: str, total: str) -> dict[str, str]:
    return {
        "items": items,
        "shipping": shipping,
        "return_shipping": return_shipping,
        "total": total,
        "paid_by": "seller",
    }


def test_partial_refunds_cover_their_lines_and_refund_what_lines_md_says() -> None:
    cases = {case["case_id"]: case for case in _replay("partial_refunds")[1]["cases"]}
    covered = {case_id: case["lines"] for case_id, case in cases.items()}
    assert covered == {
        "PR-1": [{"line_id": "mug", "quantity": 2}],
        "PR-2": [{"line_id": "lamp", "quantity": 1}],
        # opened without lines: what was left, the lamp (returned by PR-2) left out
        "PR-3": [{"line_id": "mug", "quantity": 6}, {"line_id": "rug", "quantity": 1}],
        "PR-4": [{"line_id": "kettle", "quantity": 1}],
    }
    offers = {
        case_id: [(o["number"], o["amount"], o["at"], o["outcome"]) for o in case["offers"]]
        for case_id, case in cases.items()
    }
    assert offers == {
        "PR-1": [
            (1, "10.00", "2026-03-06T12:00:00Z", "declined"),
            (2, "15.00", "2026-03-07T10:00:00Z", "accepted"),
        ],
        "PR-2": [],
        "PR-3": [],
        "PR-4": [
            (1, "40.00", "2026-03-09T13:00:00Z", "lapsed"),
            (2, "50.00", "2026-03-11T09:00:00Z", "accepted"),
        ],
    }
    assert {case_id: case["refund"] for case_id, case in cases.items()} == {
        "PR-1": _refund("15.00", "0.00", "0.00", "15.00"),  # an offer is all-in
        "PR-2": _refund("48.00", "0.00", "6.40", "54.40"),  # not the whole order: no shipping
        "PR-3": _refund("90.00", "7.00", "0.00", "97.00"),  # the rest of it: shipping, once
        "PR-4": _refund("50.00", "0.00", "8.00", "58.00"),  # return shipping beside an offer
    }


def test_an_offer_stops_the_sellers_clock_and_gives_the_time_left_back() -> None:
    deadlines = [
        (e["case_id"], e["action"], e["deadline_at"])
        for e in _replay("partial_refunds")[1]["events"]
        if e["type"] == "case.transition" and e["case_id"] in ("PR-1", "PR-4")
    ]
    assert deadlines == [
        ("PR-1", "open", "2026-03-08T09:00:00Z"),
        ("PR-4", "open", "2026-03-08T11:00:00Z"),
        ("PR-1", "offer_partial_refund", "2026-03-07T12:00:00Z"),  # the buyer's 24 h
        ("PR-4", "approve", "2026-03-11T16:00:00Z"),
        # 45 h of review were left at 12:00: counted again from 18:00
        ("PR-1", "decline_offer", "2026-03-08T15:00:00Z"),
        ("PR-4", "ship_return", "2026-03-15T09:00:00Z"),
        ("PR-1", "offer_partial_refund", "2026-03-08T10:00:00Z"),
        ("PR-1", "accept_offer", None),
        ("PR-4", "confirm_receipt", "2026-03-11T09:00:00Z"),
        ("PR-4", "offer_partial_refund", "2026-03-10T13:00:00Z"),
        # the offer lapses at its deadline; 44 h of refund time were left at 13:00 the day before
        ("PR-4", "offer_timeout", "2026-03-12T09:00:00Z"),
        ("PR-4", "offer_partial_refund", "2026-03-12T09:00:00Z"),
        ("PR-4", "accept_offer", None),
    ]


def _line(line_id: str, sku: str, quantity: int, price: str, *ledger: Any) -> dict[str, Any]:
    value, refunded, returned, refundable, units = ledger
    return {
        "line_id": line_id,
        "sku": sku,
        "quantity": quantity,
        "unit_price": price,
        "value": value,
        "refunded_amount": refunded,
        "returned_quantity": returned,
        "refundable_amount": refundable,
        "refundable_quantity": units,
        "open_case_id": None,
    }


def test_partial_refunds_leave_each_orders_ledger_as_lines_md_says(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'lines.db'}"
    aftersale = [sys.executable, "-m", "aftersale"]
    played = subprocess.run(
        [*aftersale, "replay", "--example", "partial_refunds", "--db", db],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert played.returncode == 0, played.stderr

    def order(order_id: str) -> dict[str, Any]:
        shown = subprocess.run(
            [*aftersale, "order", "show", order_id, "--db", db, "--json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        assert shown.returncode == 0, shown.stderr
        view: dict[str, Any] = json.loads(shown.stdout)
        return view

    first = order("US-900101")
    # PR-1 15.00 + PR-2 48.00 + PR-3 90.00 + the 7.00 shipping fee: all of the 160.00
    assert (first["refunded_total"], first["refundable"]) == ("160.00", "0.00")
    assert (first["shipping_fee"], first["shipping_refunded"]) == ("7.00", "7.00")
    assert first["lines"] == [
        # PR-1 kept two broken mugs (money, no units), PR-3 took the other 60.00 and all six
        _line("mug", "MUG-SEAGLASS", 6, "12.50", "75.00", "75.00", 6, "0.00", 0),
        _line("lamp", "LAMP-OAK", 1, "48.00", "48.00", "48.00", 1, "0.00", 0),
        _line("rug", "RUG-JUTE-120", 1, "30.00", "30.00", "30.00", 1, "0.00", 0),
    ]
    assert first["open_case_id"] is None
    second = order("US-900102")
    assert (second["refunded_total"], second["refundable"]) == ("50.00", "31.00")
    assert (second["shipping_fee"], second["shipping_refunded"]) == ("5.00", "0.00")
    assert second["lines"] == [
        # an accepted offer made after receipt: the kettle came back, 14.00 of it never refunded
        _line("kettle", "KETTLE-COPPER", 1, "64.00", "64.00", "50.00", 1, "14.00", 0),
        _line("filters", "FILTER-3", 3, "4.00", "12.00", "0.00", 0, "12.00", 3),
    ]


# -- violation tickets (governance.md) --------------------------------------------------------

# action, from, to, actor, auto, at, round
TicketStep = tuple[str, str | None, str, str, bool, str, int]
IS, UR, UP, FIN = "issued", "under_review", "upheld", "final"
WINDOW = "appeal_window_timeout"


def decided(actor: str, action: str, source: str | None, target: str, at: str) -> TicketStep:
    """A step a person took on a ticket (its round is filled in by ``in_rounds``)."""
    return (action, source, target, actor, False, at, -1)


def issued(at: str) -> TicketStep:
    return decided("platform", "issue", None, IS, at)


def window_closed(source: str, at: str) -> TicketStep:
    return (WINDOW, source, FIN, "system", True, at, -1)


def in_rounds(*steps: TicketStep) -> list[TicketStep]:
    """The steps with their round: 0 until the first appeal, then each appeal's number."""
    out, round_ = [], 0
    for step in steps:
        round_ += step[0] == "appeal"
        out.append((*step[:6], round_))
    return out


TICKET_HISTORIES = {
    "TK-A1": in_rounds(
        issued("2026-05-05T14:00:00Z"),
        decided("platform", "revoke", IS, "revoked", "2026-05-08T15:00:00Z"),
    ),
    # nobody appeals: 30 natural days from the issue
    "TK-A2": in_rounds(issued("2026-05-06T14:00:00Z"), window_closed(IS, "2026-06-05T14:00:00Z")),
    "TK-A3": in_rounds(
        issued("2026-05-15T15:00:00Z"),
        decided("seller", "appeal", IS, UR, "2026-05-18T14:00:00Z"),
        decided("platform", "overturn", UR, "overturned", "2026-05-20T18:00:00Z"),
    ),
    "TK-B1": in_rounds(
        issued("2026-05-11T13:00:00Z"),
        decided("seller", "appeal", IS, UR, "2026-05-12T13:00:00Z"),
        decided("platform", "uphold", UR, UP, "2026-05-14T15:00:00Z"),
        decided("seller", "appeal", UP, UR, "2026-05-20T13:00:00Z"),
        decided("platform", "uphold", UR, FIN, "2026-06-01T14:00:00Z"),  # round 2: final
    ),
    # upheld on 15 May 14:00: 15 natural days to appeal again
    "TK-B2": in_rounds(
        issued("2026-05-12T16:00:00Z"),
        decided("seller", "appeal", IS, UR, "2026-05-13T16:00:00Z"),
        decided("platform", "uphold", UR, UP, "2026-05-15T14:00:00Z"),
        window_closed(UP, "2026-05-30T14:00:00Z"),
    ),
}
# where each appeal put the platform's reply due: 5 New York business days, at the same hour
SLA_DEADLINES = [
    ("TK-B1", 1, "2026-05-19T13:00:00Z"),  # Tue 12 May -> Tue 19 May
    ("TK-B2", 1, "2026-05-20T16:00:00Z"),  # Wed 13 May -> Wed 20 May
    ("TK-A3", 1, "2026-05-26T14:00:00Z"),  # Mon 18 May -> Tue 26 May, Memorial Day skipped
    ("TK-B1", 2, "2026-05-28T13:00:00Z"),  # Wed 20 May -> Thu 28 May
]


def _ban(started: str, ends: str, ended: str, early: bool, cause: str) -> dict[str, Any]:
    return {
        "kind": "campaign_ban",
        "started_at": started,
        "ends_at": ends,
        "ended_at": ended,
        "ended_early": early,
        "cause_ticket_id": cause,
    }


SHOPS = [
    {
        "shop_id": "shop-copper-kettle",
        "market": "US",
        "active_points": 6,  # TK-A2 only: TK-A1 revoked, TK-A3 overturned
        "punishments": [
            # 12 points with TK-A2; TK-A1's revoke takes them to 6, but the ban is TK-A2's
            _ban(
                "2026-05-06T14:00:00Z",
                "2026-05-13T14:00:00Z",
                "2026-05-13T14:00:00Z",
                False,
                "TK-A2",
            ),
            # 14 with TK-A3, back to 6 when it is overturned: its ban ends then
            _ban(
                "2026-05-15T15:00:00Z",
                "2026-05-22T15:00:00Z",
                "2026-05-20T18:00:00Z",
                True,
                "TK-A3",
            ),
        ],
    },
    {"shop_id": "shop-tin-lantern", "market": "US", "active_points": 5, "punishments": []},
]


def _ticket_step(h: dict[str, Any]) -> TicketStep:
    return (h["action"], h["from"], h["to"], h["actor"], h["auto"], h["at"], h["round"])


def test_the_tickets_scenario_replays_to_exactly_the_predicted_ticket_histories() -> None:
    tickets = _replay("tickets")[1]["tickets"]
    assert [t["ticket_id"] for t in tickets] == sorted(TICKET_HISTORIES)
    histories = {t["ticket_id"]: [_ticket_step(h) for h in t["history"]] for t in tickets}
    assert histories == TICKET_HISTORIES
    for ticket in tickets:
        last = TICKET_HISTORIES[ticket["ticket_id"]][-1]
        assert (ticket["state"], ticket["appeals"]) == (last[2], last[6]), ticket["ticket_id"]
        assert ticket["deadline_at"] is None, ticket["ticket_id"]  # every ticket has ended
        assert (ticket["source"], ticket["metric"]) == ("platform", None)
        assert ticket["issued_at"] == TICKET_HISTORIES[ticket["ticket_id"]][0][5]


def test_the_tickets_scenario_leaves_each_shop_with_its_points_and_punishments() -> None:
    assert _replay("tickets")[1]["shops"] == SHOPS


def test_each_appeal_gives_the_platform_five_business_days_and_one_passes() -> None:
    events = _replay("tickets")[1]["events"]
    appeals = [
        (e["ticket_id"], e["round"], e["deadline_at"])
        for e in events
        if e["type"] == "ticket.transition" and e["action"] == "appeal"
    ]
    assert sorted(appeals) == sorted(SLA_DEADLINES)
    overdue = [
        (e["ticket_id"], e["state"], e["round"], e["at"])
        for e in events
        if e["type"] == "ticket.reply_overdue"
    ]
    assert overdue == [("TK-B1", UR, 2, "2026-05-28T13:00:00Z")]  # the state does not change


def test_deadlines_of_cases_tickets_and_punishments_come_out_in_deadline_order() -> None:
    events = _replay("tickets")[1]["events"]
    instants = [e["at"] for e in events]
    assert instants == sorted(instants)  # every line's instant and every deadline's, in order
    timed = [
        (e["type"], e.get("action"), e["at"])
        for e in events
        if e.get("auto") or e["type"] in ("punishment.ended", "ticket.reply_overdue")
    ]
    # due between the lines of 26 May and 1 June, taken in deadline order whatever their kind:
    # on 28 May the ticket's SLA (13:00) before the case's review (15:00), though a sweep takes
    # cases first
    assert timed[-4:] == [
        ("ticket.reply_overdue", None, "2026-05-28T13:00:00Z"),
        ("case.transition", "review_timeout", "2026-05-28T15:00:00Z"),
        ("ticket.transition", WINDOW, "2026-05-30T14:00:00Z"),
        ("ticket.transition", WINDOW, "2026-06-05T14:00:00Z"),
    ]


def test_the_tickets_scenario_reaches_every_ticket_ending_and_deadline() -> None:
    output = _replay("tickets")[1]
    assert {t["state"] for t in output["tickets"]} == {FIN, "overturned", "revoked"}
    actions = {h["action"] for t in output["tickets"] for h in t["history"]}
    assert actions == {"issue", "appeal", "uphold", "overturn", "revoke", WINDOW}
    types = {e["type"] for e in output["events"]}
    assert {"ticket.reply_overdue", "punishment.started", "punishment.ended"} <= types
