"""Where a replay stops so that every deadline is taken in one global order (governance.md).

The sweep takes the due timeouts of cases first, then the tickets' deadlines, then the
punishments' ends, batch by batch. Each aggregate's history comes out the same in any order
(none of these deadlines starts or moves one of another kind), but the event log would not
be in deadline order when one sweep spans a ticket's deadline and a case's earlier one, and a
replay must give the same events whether its lines are dense or sparse in time. So the player
stops at each instant ``u`` a ticket's deadline or a punishment's end falls on: first every
deadline before ``u`` (only cases' are due then: ``u`` is the earliest of the others), then
those at ``u``, which the sweep takes in replay.md's order at one instant (cases, then
tickets, then punishment ends, each by id).

Those instants are folded from the event log: every change of a ticket's deadline and every
punishment started or ended is an event of the same transaction. They are only where to stop;
the sweep still decides what is due, so a stale instant costs one empty sweep, never a wrong
history.
"""

from __future__ import annotations

import heapq
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from aftersale.domain.events import (
    PUNISHMENT_ENDED,
    PUNISHMENT_STARTED,
    TICKET_REPLY_OVERDUE,
    TICKET_TRANSITION,
)
from aftersale.service.engine import AfterSale

PAGE = 10_000  # the most events one read of the log hands back
# The instant before a deadline: instants are kept to the microsecond in every backend.
TICK = timedelta(microseconds=1)
# Deadlines due at one instant are taken in one batch of the sweep: in batches of its usual
# size, a second batch of cases would come after the first batch's tickets.
AT_ONE_INSTANT = 1_000_000


class GovernanceDeadlines:
    """The pending instants of tickets' deadlines and punishments' ends, and the log's seq
    they are folded up to."""

    def __init__(self) -> None:
        self.seq = 0
        self._tickets: dict[str, datetime] = {}  # ticket_id -> its pending deadline
        self._punishments: dict[tuple[str, str], datetime] = {}  # (cause, kind) -> ends_at
        self._pending: Counter[datetime] = Counter()  # how many deadlines fall on an instant
        self._heap: list[datetime] = []  # every instant ever pending; stale ones are skipped

    def read(self, engine: AfterSale) -> None:
        """Fold the events the log gained since the last read."""
        while page := engine.log(self.seq, PAGE):
            self.fold(page)
            self.seq = page[-1]["seq"]

    def fold(self, events: Iterable[Mapping[str, Any]]) -> None:
        for event in events:
            kind = event["type"]
            if kind == TICKET_TRANSITION:
                self._set(self._tickets, event["ticket_id"], _instant(event["deadline_at"]))
            elif kind == TICKET_REPLY_OVERDUE:
                self._set(self._tickets, event["ticket_id"], None)
            elif kind == PUNISHMENT_STARTED:
                key = (event["cause_ticket_id"], event["kind"])
                self._set(self._punishments, key, _instant(event["ends_at"]))
            elif kind == PUNISHMENT_ENDED:
                self._set(self._punishments, (event["cause_ticket_id"], event["kind"]), None)

    def due(self, until: datetime) -> list[datetime]:
        """The distinct pending instants at or before ``until``, earliest first; each is
        handed out once."""
        found: list[datetime] = []
        while self._heap and self._heap[0] <= until:
            instant = heapq.heappop(self._heap)
            if self._pending[instant] > 0 and (not found or found[-1] != instant):
                found.append(instant)
        return found

    def _set(self, table: dict[Any, datetime], key: Any, instant: datetime | None) -> None:
        before = table.pop(key, None)
        if before is not None:
            self._pending[before] -= 1
            if self._pending[before] <= 0:
                del self._pending[before]
        if instant is not None:
            table[key] = instant
            self._pending[instant] += 1
            heapq.heappush(self._heap, instant)


def _instant(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)
