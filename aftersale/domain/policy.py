"""The policy a case is pinned to: timers, windows, markets and reason codes, as frozen data.

Built from config/ by :mod:`aftersale.config`; the domain only reads it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from aftersale.clock import add_business_days
from aftersale.domain.model import Kind, Responsibility, State

REFUND_FLOWS = frozenset({Kind.refund_only, Kind.return_refund})
# The longest timer, window or day count (business days too) config/ may set: about ten years,
# so no deadline or window start is more than a few thousand days from the instant it is
# counted from, and none overflows date arithmetic on instants of this era.
MAX_WINDOW_DAYS = 3650


@dataclass(frozen=True)
class Market:
    code: str
    timezone: ZoneInfo
    currency: str
    currency_decimals: int
    high_value_threshold: Decimal
    return_window: timedelta
    evidence_kinds: frozenset[str]
    is_holiday: Callable[[date], bool]
    # the weekdays (0 is Monday) of the market's weekend: Saturday and Sunday, unless its
    # country's calendar says otherwise (Kuwait rests on Friday and Saturday)
    weekend: frozenset[int] = frozenset({5, 6})

    def is_business_day(self, day: date) -> bool:
        return day.weekday() not in self.weekend and not self.is_holiday(day)


@dataclass(frozen=True)
class Policy:
    version: str
    free_cancel_window: timedelta
    # (kind, state) -> natural-time window; per-market overrides replace single entries
    timers: Mapping[tuple[Kind, State], timedelta]
    market_timers: Mapping[str, Mapping[tuple[Kind, State], timedelta]]
    high_value_review_business_days: int
    markets: Mapping[str, Market]
    buyer_reasons: Mapping[str, Responsibility]
    seller_cancellation_reasons: Mapping[str, Responsibility]
    reasons_needing_unused_item: frozenset[str]
    reject_reasons: frozenset[str]
    reject_reasons_needing_note: frozenset[str]
    reject_note_max_length: int
    evidence_kinds: frozenset[str]
    max_offers: int = 3  # partial-refund offers per case (lines.md)

    def market(self, code: str) -> Market:
        return self.markets[code]

    def is_high_value(self, kind: Kind, market: str, amount: Decimal) -> bool:
        return kind in REFUND_FLOWS and amount > self.markets[market].high_value_threshold

    def deadline(
        self, kind: Kind, state: State, market: str, amount: Decimal, entered_at: datetime
    ) -> datetime | None:
        """When ``state``, entered at ``entered_at``, times out; None for untimed states."""
        if state is State.pending_review and self.is_high_value(kind, market, amount):
            place = self.markets[market]
            return add_business_days(
                entered_at,
                self.high_value_review_business_days,
                place.timezone,
                place.is_business_day,
            )
        window = self.market_timers.get(market, {}).get((kind, state))
        if window is None:
            window = self.timers.get((kind, state))
        return None if window is None else entered_at + window
