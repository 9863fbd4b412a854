"""Deadlines: natural days, business days in the market's calendar, DST, the high-value line."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from aftersale.clock import add_business_days
from aftersale.config import load_policy
from aftersale.domain.model import Kind, State

POLICY = load_policy()
NEW_YORK = ZoneInfo("America/New_York")
LONDON = ZoneInfo("Europe/London")
US = POLICY.market("US")


def _review_deadline(amount: str, opened: datetime, market: str = "US") -> datetime:
    deadline = POLICY.deadline(
        Kind.return_refund, State.pending_review, market, Decimal(amount), opened
    )
    assert deadline is not None
    return deadline


def test_natural_days_are_exact_24_hour_periods_from_entry() -> None:
    entered = datetime(2026, 3, 7, 23, 30, tzinfo=UTC)  # across the US DST change: no matter
    assert POLICY.deadline(
        Kind.return_refund, State.awaiting_return_shipment, "US", Decimal("10.00"), entered
    ) == entered + timedelta(days=5)
    assert POLICY.deadline(
        Kind.refund_only, State.awaiting_pod, "US", Decimal("10.00"), entered
    ) == entered + timedelta(hours=24)
    assert (
        POLICY.deadline(Kind.refund_only, State.platform_review, "US", Decimal("10.00"), entered)
        is None
    )


def test_exactly_the_threshold_is_not_high_value_one_cent_more_is() -> None:
    opened = datetime(2026, 3, 2, 14, 0, tzinfo=UTC)  # a Monday
    assert _review_deadline("100.00", opened) == opened + timedelta(hours=48)
    assert _review_deadline("100.01", opened) == datetime(2026, 3, 6, 14, 0, tzinfo=UTC)


def test_friday_afternoon_plus_four_business_days_is_thursday_afternoon() -> None:
    friday_3pm = datetime(2026, 2, 20, 15, 0, tzinfo=NEW_YORK)
    deadline = add_business_days(friday_3pm, 4, NEW_YORK, US.is_business_day)
    assert deadline == datetime(2026, 2, 26, 15, 0, tzinfo=NEW_YORK)


def test_a_us_federal_holiday_is_skipped() -> None:
    friday_before_thanksgiving = datetime(2026, 11, 20, 10, 0, tzinfo=NEW_YORK)
    deadline = _review_deadline("250.00", friday_before_thanksgiving)
    # Mon 23, Tue 24, Wed 25, (Thu 26 Thanksgiving), Fri 27
    assert deadline.astimezone(NEW_YORK) == datetime(2026, 11, 27, 10, 0, tzinfo=NEW_YORK)


def test_an_english_bank_holiday_is_skipped_in_the_uk() -> None:
    thursday = datetime(2026, 4, 2, 9, 0, tzinfo=LONDON)  # Good Friday 3rd, Easter Monday 6th
    deadline = _review_deadline("90.00", thursday, "UK")
    # (Fri 3, Sat, Sun, Mon 6 skipped) Tue 7, Wed 8, Thu 9, Fri 10
    assert deadline.astimezone(LONDON) == datetime(2026, 4, 10, 9, 0, tzinfo=LONDON)


def test_business_days_keep_the_local_time_across_a_dst_change() -> None:
    friday_3pm_est = datetime(2026, 3, 6, 15, 0, tzinfo=NEW_YORK)  # UTC-5
    deadline = _review_deadline("150.00", friday_3pm_est)
    assert deadline == datetime(2026, 3, 12, 19, 0, tzinfo=UTC)  # 15:00 EDT, UTC-4


def test_a_wall_clock_time_removed_by_dst_becomes_the_next_valid_instant() -> None:
    friday_2_30am = datetime(2026, 3, 6, 2, 30, tzinfo=NEW_YORK)

    def sunday_is_open(day: date) -> bool:
        return day.weekday() != 5

    # Fri -> Sun 8 March 02:30, which does not exist in New York: clocks jump 02:00 -> 03:00
    deadline = add_business_days(friday_2_30am, 1, NEW_YORK, sunday_is_open)
    assert deadline == datetime(2026, 3, 8, 7, 0, tzinfo=UTC)  # 03:00 EDT


def test_an_ambiguous_wall_clock_time_takes_its_first_occurrence() -> None:
    friday_1_30am = datetime(2026, 10, 30, 1, 30, tzinfo=NEW_YORK)

    def every_day(day: date) -> bool:
        return True

    deadline = add_business_days(friday_1_30am, 2, NEW_YORK, every_day)  # Sun 1 Nov 01:30
    assert deadline == datetime(2026, 11, 1, 5, 30, tzinfo=UTC)  # still EDT


@pytest.mark.parametrize("market", sorted(POLICY.markets))
def test_every_market_has_a_calendar_and_a_threshold(market: str) -> None:
    place = POLICY.market(market)
    assert place.high_value_threshold > 0
    # the threshold is an amount of the market's currency
    assert place.high_value_threshold == place.high_value_threshold.quantize(
        Decimal(1).scaleb(-place.currency_decimals)
    )
    assert not place.is_business_day(date(2026, 3, 7))  # a Saturday


@pytest.mark.parametrize(
    ("market", "currency", "decimals", "holiday"),
    [("JP", "JPY", 0, date(2026, 2, 11)), ("KW", "KWD", 3, date(2026, 2, 25))],
)
def test_a_market_without_cents_and_one_with_fils(
    market: str, currency: str, decimals: int, holiday: date
) -> None:
    place = POLICY.market(market)
    assert (place.currency, place.currency_decimals) == (currency, decimals)
    assert not place.is_business_day(holiday)  # Foundation Day, National Day: a Wednesday


def test_business_days_follow_the_market_weekend() -> None:
    """Kuwait rests on Friday and Saturday: its Sunday is a business day and its Friday is
    not, so a review of 4 business days opened on a Thursday skips Friday and Saturday."""
    kuwait, usa = POLICY.market("KW"), POLICY.market("US")
    friday, sunday = date(2026, 3, 6), date(2026, 3, 8)
    assert (kuwait.is_business_day(friday), kuwait.is_business_day(sunday)) == (False, True)
    assert (usa.is_business_day(friday), usa.is_business_day(sunday)) == (True, False)
    opened = datetime(2026, 3, 5, 9, 0, tzinfo=ZoneInfo("Asia/Kuwait"))  # a Thursday
    due = add_business_days(opened, 4, kuwait.timezone, kuwait.is_business_day)
    assert due == datetime(2026, 3, 11, 9, 0, tzinfo=ZoneInfo("Asia/Kuwait"))  # Sun Mon Tue Wed
