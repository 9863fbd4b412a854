"""A sweep that quarantines one case of an order keeps what another case of the same order did
in the same batch (lines.md: an order may have several open cases, one per line)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from aftersale.domain.cases import CaseRules
from tests.unit.lines_world import World, line

BASKET = [line("kettle", 1, "30.00"), line("toaster", 1, "20.00")]


@pytest.mark.parametrize("url", ["memory://", "sqlite://"])
@pytest.mark.parametrize("poisoned", ["AS-1", "AS-2"])
def test_a_quarantined_case_leaves_the_refund_of_its_neighbour_on_the_order(
    monkeypatch: pytest.MonkeyPatch, poisoned: str, url: str
) -> None:
    world = World(url=url)
    world.paid("ORD-1", "50.00", BASKET)
    world.delivered("ORD-1")
    world.later()
    for case_id, line_id in (("AS-1", "kettle"), ("AS-2", "toaster")):
        world.engine.open_case(
            case_id,
            "ORD-1",
            "refund_only",
            "buyer",
            "damaged",
            lines=[{"line_id": line_id, "quantity": 1}],
        )
    real = CaseRules.time_out

    def time_out(self: CaseRules, case: Any, order: Any, policy: Any) -> Any:
        event = real(self, case, order, policy)
        if case.case_id == poisoned:  # a bug that strikes after the order was changed
            raise RuntimeError(f"bad data in {case.case_id}")
        return event

    monkeypatch.setattr(CaseRules, "time_out", time_out)
    world.later(timedelta(days=3))
    report = world.engine.sweep()
    assert (report.fired, report.quarantined) == (1, 1)
    healthy = "AS-2" if poisoned == "AS-1" else "AS-1"
    healthy_line = "toaster" if poisoned == "AS-1" else "kettle"
    assert world.engine.case(healthy)["state"] == "refunded"
    assert world.engine.case(poisoned)["state"] == "pending_review"
    order = world.engine.order("ORD-1")
    held = {x["line_id"]: (x["open_case_id"], x["refunded_amount"]) for x in order["lines"]}
    value = {"kettle": "30.00", "toaster": "20.00"}[healthy_line]
    assert held[healthy_line] == (None, value)
    poisoned_line = "kettle" if healthy_line == "toaster" else "toaster"
    assert held[poisoned_line] == (poisoned, "0.00")
    assert order["refunded_total"] == value
