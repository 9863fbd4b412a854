"""A buyer's chat message against its events: the chat-response metric reads the events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from aftersale.domain import events as ev
from aftersale.domain.invariants.base import Violation, when
from aftersale.domain.invariants.reading import Fact, Message


def check_messages(
    messages: Mapping[str, Message], facts: Mapping[str, Sequence[Fact]], skipped: set[str]
) -> list[Violation]:
    found: list[Violation] = []
    for message_id in sorted(messages.keys() | facts.keys()):
        subject = f"message {message_id}"
        if subject in skipped:
            continue
        message, logged = messages.get(message_id), facts.get(message_id, ())
        if message is None:
            seqs = ", ".join(str(fact.seq) for fact in logged)
            found.append(Violation("message", subject, f"no message row, but events {seqs}"))
            continue
        found += [Violation("message", subject, problem) for problem in _check(message, logged)]
    return found


def _check(message: Message, logged: Sequence[Fact]) -> list[str]:
    received = [fact for fact in logged if fact.type == ev.MESSAGE_RECEIVED]
    replied = [fact for fact in logged if fact.type == ev.MESSAGE_REPLIED]
    problems = []
    for kind, instant, logged_ones in (
        ("received", message.received_at, received),
        ("replied", message.replied_at, replied),
    ):
        if [fact.at for fact in logged_ones] != ([] if instant is None else [instant]):
            problems.append(
                f"{kind} at {when(instant)}, but its message.{kind} events are at "
                f"{', '.join(when(fact.at) for fact in logged_ones) or 'no time'}"
            )
    for fact in logged:
        if (fact.shop_id, fact.order_id) != (message.shop_id, message.order_id):
            problems.append(f"event {fact.seq} names shop {fact.shop_id}, order {fact.order_id}")
        if fact.type == ev.MESSAGE_REPLIED and fact.details["received_at"] != message.received_at:
            problems.append(f"event {fact.seq} says it was received at another instant")
    if message.replied_at is not None and message.replied_at < message.received_at:
        problems.append(f"replied at {when(message.replied_at)}, before it was received")
    return problems
