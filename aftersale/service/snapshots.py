"""Daily health snapshots at each local midnight of a shop's market, and clearance alerts.

A shop's market is the market of its first order; its first snapshot is the first local
midnight after that order. Each snapshot stores the whole report; an alert is raised when the
score stayed below the threshold on the configured number of consecutive snapshots, and cleared
only when it is back at or above the clearing line (a null score breaks a streak and never
clears). The snapshot and its alert event are written in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from aftersale.clock import Clock, next_local_midnight
from aftersale.domain.events import HEALTH_ALERT_CLEARED, HEALTH_ALERT_RAISED, Event
from aftersale.domain.health.report import (
    clearance_alert,
    counts_from_events,
    counts_through,
    report_from_counts,
)
from aftersale.domain.health.settings import HealthSettings
from aftersale.domain.policy import Policy
from aftersale.domain.tickets.breach import breach_tickets
from aftersale.errors import Conflict, NotFound
from aftersale.service.ports import HealthStore, Storage, UnitOfWork

if TYPE_CHECKING:
    from aftersale.service.tickets import TicketDesk

READ_ALL = timedelta(hours=6)  # how often a refresh reads every shop again
SEQ_MARGIN = 1_000  # events before the cursor read again by each refresh


def shop_report(
    store: HealthStore, shop_id: str, as_of: datetime, health: tuple[HealthSettings, str]
) -> dict[str, Any]:
    """The shop's report as of ``as_of``: from the rollups when they can answer, else from the
    whole event log (the rollups are being rebuilt, or much happened after ``as_of``)."""
    settings, version = health
    counts = store.counts(shop_id, as_of)
    if counts is None:
        counts = counts_from_events(store.shop_events(shop_id), as_of, settings)
    return report_from_counts(shop_id, counts, as_of, settings, version)


class SnapshotTaker:
    def __init__(
        self,
        storage: Storage,
        policy: Policy,
        health: tuple[HealthSettings, str],
        clock: Clock,
        desk: TicketDesk | None = None,
    ) -> None:
        self.storage = storage
        self.desk = desk  # issues the breach rules' tickets (governance.md)
        self.health = storage.health
        self.policy = policy
        self.settings, self.version = health
        self.clock = clock
        self._next: dict[str, datetime] | None = None  # shop -> its next midnight due
        self._zones: dict[str, ZoneInfo] = {}
        self._cursor = 0  # the last event read for new shops
        self._read_all_at: datetime | None = None

    def refresh(self) -> None:
        """Learn the shops other processes added since the last refresh.

        Every few hours this reads every shop; in between it reads only the orders paid since
        the last refresh (events after a cursor), so a daemon refreshing every minute pays for
        what was written in that minute, not for a scan of every order. The cursor is read
        with a margin: on PostgreSQL an event can commit after one with a higher ``seq``.
        """
        now = self.clock.now()
        if self._next is None or self._read_all_at is None or now - self._read_all_at > READ_ALL:
            self._next, self._read_all_at = self._next or {}, now
            self._cursor = self.health.last_seq()
            for shop_id, (market, first_paid) in self.health.shop_markets().items():
                if shop_id not in self._next:
                    self._track(shop_id, market, first_paid)
            return
        paid = self.health.orders_paid_after(max(0, self._cursor - SEQ_MARGIN))
        for shop_id, market, paid_at, seq in paid:
            self._cursor = max(self._cursor, seq)
            if shop_id not in self._next:
                self._track(shop_id, market, paid_at)

    def _track(self, shop_id: str, market: str, first_paid: datetime) -> None:
        """A shop seen for the first time: its next snapshot is after its last one, if another
        process took any, else after its first order."""
        last = self.health.snapshots(shop_id, 1)
        self._start(shop_id, market, last[0]["taken_at"] if last else first_paid)

    def _start(self, shop_id: str, market: str, after: datetime) -> None:
        assert self._next is not None
        zone = self.policy.market(market).timezone
        self._zones[shop_id] = zone
        self._next[shop_id] = next_local_midnight(after, zone)

    def note_shop(self, shop_id: str, market: str, paid_at: datetime) -> None:
        """A shop this process just saw its first order of."""
        if self._next is not None and shop_id not in self._next:
            self._start(shop_id, market, paid_at)

    def instants(self, until: datetime) -> list[datetime]:
        """Every distinct midnight at or before ``until`` at which some shop is due."""
        if self._next is None:
            self.refresh()
        assert self._next is not None
        due: set[datetime] = set()
        for shop_id, moment in self._next.items():
            while moment <= until:
                due.add(moment)
                moment = next_local_midnight(moment, self._zones[shop_id])
        return sorted(due)

    def take(self, until: datetime, should_stop: Callable[[], bool] = lambda: False) -> int:
        """Take every snapshot due at or before ``until``; how many were taken. ``should_stop``
        is asked between snapshots (a daemon told to stop does not finish the night)."""
        if self._next is None:
            self.refresh()
        assert self._next is not None
        taken = 0
        for shop_id in sorted(self._next):
            while self._next[shop_id] <= until and not should_stop():
                try:
                    self._snapshot(shop_id, self._next[shop_id])
                except Conflict:  # another daemon took this one first: the same report
                    taken -= 1
                self._next[shop_id] = next_local_midnight(
                    self._next[shop_id], self._zones[shop_id]
                )
                taken += 1
        return taken

    def backfill(
        self,
        shop_id: str,
        start: datetime,
        end: datetime,
        on_day: Callable[[datetime], None] = lambda midnight: None,
    ) -> int:
        """Rebuild the shop's snapshots of every local midnight in [start, end] from its events.

        Alerts are worked out again for the snapshots, but no alert event is written: the event
        log already says what was announced at the time.
        """
        if self._next is None:
            self.refresh()
        zone = self._zones.get(shop_id)
        if zone is None:
            raise NotFound(f"no shop {shop_id}")
        with self.storage.unit_of_work() as uow:
            uow.snapshots.delete(shop_id, start, end)
            uow.commit()
        midnights, midnight = [], next_local_midnight(start - timedelta(microseconds=1), zone)
        while midnight <= end:
            midnights.append(midnight)
            midnight = next_local_midnight(midnight, zone)
        # one pass over the shop's log for all the days, not one fold per day
        events = self.health.shop_events(shop_id)
        for midnight, counts in counts_through(events, midnights, self.settings):
            report = report_from_counts(shop_id, counts, midnight, self.settings, self.version)
            self._snapshot(shop_id, midnight, report, announce=False)
            on_day(midnight)
        return len(midnights)

    def _snapshot(
        self,
        shop_id: str,
        midnight: datetime,
        report: dict[str, Any] | None = None,
        *,
        announce: bool = True,
    ) -> None:
        settings = self.settings
        if report is None:
            report = shop_report(self.health, shop_id, midnight, (settings, self.version))
        score = report["score"]
        with self.storage.unit_of_work() as uow:
            earlier = uow.snapshots.before(shop_id, settings.alert_consecutive_days - 1, midnight)
            was_open = bool(earlier and earlier[0]["alert_open"])
            streak = [score, *(row["score"] for row in earlier)]
            raised, cleared = clearance_alert(streak, was_open, settings)
            is_open = raised or (was_open and not cleared)
            if is_open:
                report["alerts"] = [{"type": "clearance_risk", "open": True}]
            uow.snapshots.add(
                {
                    "shop_id": shop_id,
                    "taken_at": midnight,
                    "score": score,
                    "tier": report["tier"],
                    "alert_open": is_open,
                    "report": report,
                }
            )
            if announce and (raised or cleared):
                kind = HEALTH_ALERT_RAISED if raised else HEALTH_ALERT_CLEARED
                data = {
                    "alert": "clearance_risk",
                    "score": score,
                    "threshold": settings.alert_raise_below
                    if raised
                    else settings.alert_clear_at_or_above,
                }
                uow.events.record(Event(kind, midnight, None, shop_id, data=data))
            if announce:
                self._breach_tickets(uow, shop_id, midnight, report)
            uow.commit()

    def _breach_tickets(
        self, uow: UnitOfWork, shop_id: str, midnight: datetime, report: dict[str, Any]
    ) -> None:
        """The tickets the breach rules issue for this snapshot, in its unit of work, at its
        instant (governance.md). The shop's recent tickets are read only when a rule's
        threshold is passed: most shops on most nights pass none."""
        if self.desk is None:
            return
        settings = self.desk.governance.current
        day = midnight.astimezone(self._zones[shop_id]).date()
        if not settings.breach_rules or not breach_tickets(report, [], midnight, day, settings):
            return
        longest = max(rule.cooldown for rule in settings.breach_rules)
        recent = uow.tickets.of_shop(shop_id, midnight - longest)
        shop = self.desk.shop_of(uow, shop_id)
        for request in breach_tickets(report, recent, midnight, day, settings):
            if uow.tickets.get(request.ticket_id) is None:
                self.desk.issue_in(uow, shop, request, midnight)
