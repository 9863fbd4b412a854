"""Breach rules (governance.md): which tickets one daily snapshot's report issues."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, datetime
from typing import Any

from aftersale.domain.tickets.issue import TicketRequest
from aftersale.domain.tickets.model import RULE_SOURCE, Ticket
from aftersale.domain.tickets.settings import BreachRule, GovernanceSettings


def breach_tickets(
    report: Mapping[str, Any],
    tickets: Iterable[Ticket],
    at: datetime,
    local_date: date,
    settings: GovernanceSettings,
) -> list[TicketRequest]:
    """The tickets the rules issue for the report's shop at the snapshot instant ``at``
    (``local_date``: the shop's local date of it), given the shop's tickets so far."""
    shop_id = str(report["shop_id"])
    last = last_issued(tickets)
    return [
        _request(rule, shop_id, reading, local_date)
        for rule in settings.breach_rules
        if (reading := metric_of(report, rule.metric)) is not None
        and fires(rule, reading, last.get(rule.rule_id), at)
    ]


def fires(
    rule: BreachRule, reading: Mapping[str, Any], previous: datetime | None, at: datetime
) -> bool:
    """Worse than the threshold, over enough, and out of the cooldown (half-open: a ticket at
    p blocks a snapshot at t when t - p < cooldown); no data never fires."""
    value = reading.get("value")
    if value is None or reading.get("denominator", 0) < rule.min_denominator:
        return False
    lower_is_better = reading.get("direction", "lower_is_better") == "lower_is_better"
    worse = value > rule.worse_than if lower_is_better else value < rule.worse_than
    return worse and (previous is None or at - previous >= rule.cooldown)


def metric_of(report: Mapping[str, Any], metric_id: str) -> Mapping[str, Any] | None:
    """The report's reading of one metric (value, denominator, direction, examples)."""
    for dimension in report.get("dimensions", {}).values():
        found = dimension.get("metrics", {}).get(metric_id)
        if found is not None:
            return dict(found)
    return None


def last_issued(tickets: Iterable[Ticket]) -> dict[str, datetime]:
    """Each rule's latest ticket instant among ``tickets``."""
    last: dict[str, datetime] = {}
    for ticket in tickets:
        rule = ticket.rule
        if rule is not None and (rule not in last or ticket.issued_at > last[rule]):
            last[rule] = ticket.issued_at
    return last


def _request(
    rule: BreachRule, shop_id: str, reading: Mapping[str, Any], local_date: date
) -> TicketRequest:
    return TicketRequest(
        ticket_id=f"auto-{rule.rule_id}-{shop_id}-{local_date.isoformat()}",
        shop_id=shop_id,
        category=rule.category,
        reason=rule.rule_id,
        points=rule.points,
        source=f"{RULE_SOURCE}{rule.rule_id}",
        metric={
            "metric": rule.metric,
            "value": reading["value"],
            "denominator": reading["denominator"],
            "examples": list(reading.get("examples", [])),
        },
    )
