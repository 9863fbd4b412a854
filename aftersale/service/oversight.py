"""The shop-health and operator half of the façade, mixed into :class:`AfterSale`.

Kept apart so the façade stays readable: these methods only read cases and events, take daily
snapshots, and report on the database; the commands that move cases live in ``engine.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from aftersale.clock import Clock, hour_of, iso
from aftersale.domain import validation as check
from aftersale.domain.health.items import measures
from aftersale.domain.health.settings import HealthSettings
from aftersale.domain.model import TERMINAL_STATES
from aftersale.errors import InvalidInput, NotFound
from aftersale.service import verification
from aftersale.service.policies import PolicyBook, is_governance_version
from aftersale.service.ports import Storage
from aftersale.service.snapshots import SnapshotTaker, shop_report

Instant = datetime | str | None
PRUNE_MARGIN_DAYS = 30  # kept beyond the longest window: a month of as-of reports stays fast
MAX_KEEP_DAYS = 36_500  # a hundred years: more is a typo, and overflows the calendar


class Oversight:
    """Health reports and snapshots, the timers' backlog, quarantine and ``verify``."""

    storage: Storage
    policies: PolicyBook
    clock: Clock
    clock_skew: timedelta
    health_settings: tuple[HealthSettings, str] | None
    snapshots: SnapshotTaker | None

    def _at(self, at: Instant) -> datetime:
        return self.clock.now() if at is None else check.instant(at, "at")

    def _not_ahead(self, at: Instant, name: str = "at") -> datetime | None:
        """``at`` parsed, refused when later than the clock's now by more than the allowed
        skew: a host's instant never moves money before the engine's clock reaches it."""
        if at is None:
            return None
        when = check.instant(at, name)
        now = self.clock.now()
        if when - now > self.clock_skew:  # a difference: no overflow at the calendar's end
            raise InvalidInput(
                f"{name} {iso(when)} is later than the engine clock's now ({iso(now)}); "
                f"instants may run ahead of it by {self.clock_skew.total_seconds():g} s at most"
            )
        return when

    def _clamped(self, given: datetime | None) -> datetime:
        """The instant a command takes effect: now, or ``given`` if earlier. An instant within
        the skew is taken as now, so no deadline between the two is passed by the command."""
        now = self.clock.now()
        return now if given is None else min(given, now)

    def _command_at(self, at: Instant, name: str = "at") -> datetime:
        return self._clamped(self._not_ahead(at, name))

    def status(self, snapshots: bool = True) -> dict[str, Any]:
        """The timers' backlog: overdue count, oldest lag, next deadline, quarantined cases,
        and (unless ``snapshots`` is False: the daemon's sweep line does without) each shop's
        latest daily snapshot."""
        now = self.clock.now()
        backlog = self.storage.reads.backlog(now)
        oldest = backlog.pop("oldest_overdue_at")
        upcoming = backlog["next_deadline_at"]
        backlog["now"] = iso(now)
        backlog["oldest_lag_seconds"] = 0.0 if oldest is None else (now - oldest).total_seconds()
        backlog["next_deadline_at"] = iso(upcoming)
        if snapshots:
            latest = self.storage.health.latest_snapshot_per_shop().items()
            backlog["last_snapshots"] = {shop_id: iso(taken) for shop_id, taken in latest}
        return backlog

    def concurrent_sweeps(self, asked: int) -> int:
        """How many sweeps of this engine are worth running at once: ``asked``, or 1 where the
        database takes one writer at a time (SQLite), on which more would only queue."""
        return 1 if self.storage.one_writer else asked

    def health(self, shop_id: str, as_of: Instant = None) -> dict[str, Any]:
        """The shop's health report of health.md as of ``as_of`` (default now)."""
        if self.health_settings is None:
            raise InvalidInput("this engine was built without health settings")
        shop_id = check.identifier(shop_id, "shop_id")
        when = self._at(as_of)
        if not self.storage.health.has_shop(shop_id):
            raise NotFound(f"no shop {shop_id}")
        report = shop_report(self.storage.health, shop_id, when, self.health_settings)
        last = [
            row for row in self.storage.health.snapshots(shop_id, 2) if row["taken_at"] <= when
        ]
        if last and last[0]["alert_open"]:
            report["alerts"] = [
                {"type": "clearance_risk", "open": True, "last_snapshot": iso(last[0]["taken_at"])}
            ]
        return report

    def snapshot_instants(self, until: Instant = None) -> list[datetime]:
        """The local midnights at or before ``until`` at which some shop's snapshot is due."""
        return [] if self.snapshots is None else self.snapshots.instants(self._at(until))

    def take_snapshots(
        self,
        until: Instant = None,
        *,
        refresh: bool = False,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> int:
        """Take the daily health snapshots due at or before ``until``; how many were taken."""
        if self.snapshots is None:
            return 0
        until_ = self._command_at(until, "until")  # no snapshot of a day still to come
        if refresh:
            self.snapshots.refresh()
        return self.snapshots.take(until_, should_stop)

    def backfill_health(
        self,
        shop_id: str,
        start: Instant,
        end: Instant,
        on_day: Callable[[datetime], None] = lambda midnight: None,
    ) -> int:
        """Rebuild a shop's daily snapshots between two instants, both at or before the
        clock's now (a day that has not happened has no snapshot); how many were rebuilt."""
        if self.snapshots is None:
            return 0
        first, last = self._at(start), self._at(end)
        if last < first:
            raise InvalidInput("--to must not be before --from")
        now = self.clock.now()
        if last > now:
            raise InvalidInput(
                f"--to {iso(last)} is after the clock's now ({iso(now)}): only days that have "
                "happened have snapshots"
            )
        return self.snapshots.backfill(check.identifier(shop_id, "shop_id"), first, last, on_day)

    def rebuild_health(self, on_events: Callable[[int], None] = lambda count: None) -> int:
        """Recompute the health rollups from the event log (after health.toml changed, or to
        check them); how many orders and messages they now hold."""
        return self.storage.health.rebuild(self.clock.now(), on_events)

    def prune_health(
        self, keep_days: int | None = None, should_stop: Callable[[], bool] = lambda: False
    ) -> dict[str, Any]:
        """Delete the health rollups' rows older than ``keep_days`` (default: the longest
        window of health.toml and 30 days more). Reports as of now never read them; a report
        as of an instant whose window reaches further back folds the event log instead."""
        keep = self.rollup_keep_days(keep_days)
        # a whole UTC hour, the rollups' unit: no hour is left half-pruned
        before = hour_of(self.clock.now() - timedelta(days=keep))
        pruned = self.storage.health.prune(before, should_stop)
        items, hours = pruned or (0, 0)
        return {"kept_from": iso(before), "items": items, "hours": hours, "pruned": bool(pruned)}

    def rollup_keep_days(self, keep_days: int | None = None) -> int:
        """``keep_days`` checked against health.toml's longest window and MAX_KEEP_DAYS, or
        the default."""
        if self.health_settings is None:
            raise InvalidInput("this engine was built without health settings")
        longest = max(m.window_days for m in measures(self.health_settings[0]))
        keep = longest + PRUNE_MARGIN_DAYS if keep_days is None else keep_days
        if (
            isinstance(keep, bool)
            or not isinstance(keep, int)
            or not longest <= keep <= MAX_KEEP_DAYS
        ):
            raise InvalidInput(
                f"keep_days must be a whole number of days, at least {longest} (the longest "
                f"window in health.toml) and at most {MAX_KEEP_DAYS}, not {keep_days!r}"
            )
        return keep

    def health_history(self, shop_id: str, days: int = 30) -> list[dict[str, Any]]:
        """The shop's last ``days`` snapshots, oldest first."""
        rows = self.storage.health.snapshots(check.identifier(shop_id, "shop_id"), max(1, days))
        return [
            {
                "taken_at": iso(r["taken_at"]),
                "score": r["score"],
                "tier": r["tier"],
                "alert_open": r["alert_open"],
            }
            for r in reversed(rows)
        ]

    def verify(self) -> list[dict[str, str]]:
        """Every violation of the invariants in the database (empty when all hold), read as
        one consistent snapshot (:mod:`aftersale.service.verification`)."""
        return [
            violation.as_dict()
            for violation in verification.verify(self.storage.reads, self.policies.current)
        ]

    def retry_case(self, case_id: str) -> bool:
        """Put a quarantined case back in the sweep; False when it was not quarantined."""
        with self.storage.unit_of_work() as uow:
            if uow.cases.get(check.identifier(case_id, "case_id")) is None:
                raise NotFound(f"no case {case_id}", case_id=case_id)
            if not uow.cases.quarantined(case_id):
                return False
            uow.cases.release(case_id)
            uow.commit()
        return True

    def retry_ticket(self, ticket_id: str) -> bool:
        """Put a quarantined ticket back in the sweep; False when it was not quarantined."""
        ticket_id = check.identifier(ticket_id, "ticket_id")
        with self.storage.unit_of_work() as uow:
            held = uow.tickets.quarantined(ticket_id)
            if held is None:
                raise NotFound(f"no ticket {ticket_id}")
            if held:
                uow.tickets.release(ticket_id)
                uow.commit()
        return held

    def retry_punishment(self, punishment_id: str) -> bool:
        """Put a quarantined punishment (``{ticket_id}/{kind}``) back in the sweep; False
        when it was not quarantined."""
        punishment_id = check.text(punishment_id, "punishment_id", 2 * 128 + 1)
        with self.storage.unit_of_work() as uow:
            held = uow.punishments.quarantined(punishment_id)
            if held is None:
                raise NotFound(f"no punishment {punishment_id}")
            if held:
                uow.punishments.release(punishment_id)
                uow.commit()
        return held

    def policy_versions(self) -> list[dict[str, Any]]:
        """The policy versions of the database, oldest first: when each was stored, how many
        cases are pinned to it, how many of those are still open (in a state that is not
        terminal), and which is in force (new cases are pinned to it). The one in force is
        listed before a case stores it, with no ``stored_at``; so is a version cases name that
        the database lacks (``verify`` reports it)."""
        current = self.policies.current.version
        rows = self.storage.reads.policy_usage({state.value for state in TERMINAL_STATES})
        # the governance settings tickets are pinned to share the table, not the listing
        rows = [row for row in rows if row["cases"] or not is_governance_version(row["version"])]
        if not any(row["version"] == current for row in rows):
            rows.append({"version": current, "stored_at": None, "cases": 0, "open_cases": 0})
        return [
            {**row, "stored_at": iso(row["stored_at"]), "in_force": row["version"] == current}
            for row in rows
        ]
