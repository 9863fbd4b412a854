"""docs/events.md's blocks: the envelope every event carries, each type's fields, and examples
taken from the story in :mod:`aftersale.docgen.samples` (what the engine really writes)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from aftersale.adapters.rows import event_dict
from aftersale.docgen import DocsError
from aftersale.docgen.markdown import code, codes, json_block, table
from aftersale.docgen.samples import first, samples
from aftersale.domain import events as domain_events

# What each key of the envelope (rows.event_dict, and the outbox's cursor) means.
ENVELOPE = {
    "seq": "the event's number in this database, increasing; orders a case's own history",
    "event_id": "a unique id (a UUID, version 7): dedupe on it when relaying",
    "type": "one of the types below",
    "at": "when it happened: the effective instant (a timeout's is its deadline)",
    "recorded_at": "the engine's clock when it wrote the event (in replay, the virtual clock)",
    "case_id": "the case it is about, or null",
    "order_id": "the order it is about, or null",
    "shop_id": "the shop it is about (null only if it is about no shop)",
    "cursor": "`events_after` only: the token to pass back for the events after this one",
}
# The examples shown: block name -> (type, fields the event has)
EXAMPLES: dict[str, tuple[str, dict[str, Any]]] = {
    "open": ("case.transition", {"action": "open", "case_id": "RR-1"}),
    "reject": ("case.transition", {"action": "reject"}),
    "rule": ("case.transition", {"action": "rule"}),
    "timeout": ("case.transition", {"action": "refund_timeout"}),
    "order.paid": ("order.paid", {}),
    "order.shipped": ("order.shipped", {}),
    "order.delivered": ("order.delivered", {}),
    "review.posted": ("review.posted", {}),
    "complaint.filed": ("complaint.filed", {}),
    "message.received": ("message.received", {}),
    "message.replied": ("message.replied", {}),
    "deadline.approaching": ("deadline.approaching", {}),
    "health.alert_raised": ("health.alert_raised", {}),
    "health.alert_cleared": ("health.alert_cleared", {}),
    "ticket-issue": ("ticket.transition", {"action": "issue", "ticket_id": "TK-1"}),
    "ticket-issue-rule": ("ticket.transition", {"action": "issue", "actor": "system"}),
    "ticket-appeal": ("ticket.transition", {"action": "appeal", "round": 2}),
    "ticket-timeout": (
        "ticket.transition",
        {"action": "appeal_window_timeout", "ticket_id": "TK-3"},
    ),
    "ticket.reply_overdue": ("ticket.reply_overdue", {}),
    "punishment.started": ("punishment.started", {"cause_ticket_id": "TK-2"}),
    "punishment.ended": ("punishment.ended", {"ended_early": True}),
}


def event_types() -> list[str]:
    """Every event type the domain defines (the constants of aftersale.domain.events)."""
    return [
        value
        for name, value in vars(domain_events).items()
        if name.isupper() and isinstance(value, str) and "." in value
    ]


def envelope_keys() -> list[str]:
    when = datetime(2026, 3, 2, tzinfo=UTC)
    names = ("seq", "event_id", "type", "case_id", "order_id", "shop_id")
    row = SimpleNamespace(**dict.fromkeys(names), at=when, recorded_at=when, data={})
    return [*event_dict(row), "cursor"]  # type: ignore[arg-type]


def envelope() -> str:
    keys = envelope_keys()
    if set(keys) != set(ENVELOPE):
        missing = sorted(set(keys) - set(ENVELOPE)) or sorted(set(ENVELOPE) - set(keys))
        raise DocsError(f"the envelope's keys changed ({', '.join(missing)}): update ENVELOPE")
    return table(("field", "meaning"), [(code(key), ENVELOPE[key]) for key in keys])


def fields_by_type() -> dict[str, tuple[list[str], list[str]]]:
    """Each type's own fields in the story: (in every event of the type, in some)."""
    story = samples().events
    envelope_set = set(envelope_keys())
    found: dict[str, tuple[list[str], list[str]]] = {}
    for type_ in event_types():
        mine = [event for event in story if event["type"] == type_]
        if not mine:
            raise DocsError(f"the docs story writes no {type_} event: add one to samples.py")
        seen: dict[str, int] = {}
        for event in mine:
            for key in event:
                if key not in envelope_set:
                    seen[key] = seen.get(key, 0) + 1
        always = [key for key, count in seen.items() if count == len(mine)]
        found[type_] = (always, [key for key in seen if key not in always])
    return found


def _subject(type_: str, key: str) -> str:
    values = [event[key] for event in samples().events if event["type"] == type_]
    if all(value is None for value in values):
        return "null"
    return "set" if all(value is not None for value in values) else "when it has one"


def types() -> str:
    rows = []
    for type_, (always, some) in fields_by_type().items():
        own = codes(always) + (f"; some: {codes(some)}" if some else "")
        subjects = [_subject(type_, key) for key in ("case_id", "order_id")]
        rows.append((code(type_), *subjects, own))
    return table(("type", "case_id", "order_id", "its own fields"), rows)


def example(type_: str, match: dict[str, Any]) -> Callable[[], str]:
    return lambda: json_block(first(samples().events, type_, **match))


def relayed() -> str:
    return json_block(samples().first_relayed)


BLOCKS: dict[str, Callable[[], str]] = {
    "event-envelope": envelope,
    "event-types": types,
    "outbox-example": relayed,
    **{f"event-example-{name}": example(*spec) for name, spec in EXAMPLES.items()},
}
