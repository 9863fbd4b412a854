"""markets.toml: one table per market, each key checked by :mod:`aftersale.config_checks`."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import holidays

from aftersale import config_checks as check
from aftersale.config_checks import Key
from aftersale.domain.policy import Market

FILE = Key("markets.toml")
MARKET = r"[A-Z]{2,3}"
ZONE = r"[A-Za-z0-9_+-]{1,30}(/[A-Za-z0-9_+-]{1,30}){0,2}"
MAX_AMOUNT_DIGITS = 15  # digits before the point, as amounts in requests


def markets_from(raw: Any, evidence_kinds: frozenset[str]) -> dict[str, Market]:
    checks = {
        **CHECKS,
        "evidence_kinds": lambda raw, where: check.codes(raw, where, sorted(evidence_kinds)),
    }
    markets: dict[str, Market] = {}
    for code, table in check.table(raw, FILE).items():
        where = FILE / code
        if not isinstance(table, dict) or not re.fullmatch(MARKET, code):
            where.refuse("must be a table named by a market code")
        value = check.fields(table, where, checks)
        markets[code] = Market(
            code=code,
            timezone=value["timezone"],
            currency=value["currency"],
            currency_decimals=value["currency_decimals"],
            high_value_threshold=value["high_value_threshold"],
            return_window=timedelta(days=value["return_window_days"]),
            evidence_kinds=frozenset(value["evidence_kinds"]),
            is_holiday=_calendar(value["holidays"], value["holiday_subdivision"], where),
            weekend=_weekend(value["holidays"]),
        )
    if not markets:
        FILE.refuse("defines no market")
    return markets


def _zone(raw: Any, where: Key) -> ZoneInfo:
    name = check.text(raw, where, ZONE, "an IANA time zone name like 'Europe/London'")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        where.refuse(f"unknown time zone {name!r}")


def _amount(raw: Any, where: Key) -> Decimal:
    shape = f"a positive decimal string like '100.00' of at most {MAX_AMOUNT_DIGITS} digits"
    try:
        value = Decimal(raw) if isinstance(raw, str) and len(raw) <= 40 else None
    except InvalidOperation:
        value = None
    if (
        value is None
        or not value.is_finite()
        or value <= 0
        or value.adjusted() >= MAX_AMOUNT_DIGITS
    ):
        where.expect(raw, shape)
    return value


def _country(raw: Any, where: Key) -> str:
    return check.text(raw, where, r"([A-Z]{2,3})?", "a country code like 'GB', or ''")


def _subdivision(raw: Any, where: Key) -> str:
    return check.text(raw, where, r"([A-Za-z0-9-]{1,10})?", "a subdivision code like 'ENG', or ''")


def _calendar(country: str, subdivision: str, where: Key) -> Callable[[date], bool]:
    """The market's public holidays: ``holidays`` names the country ("" for none), and
    ``holiday_subdivision`` optionally a region of it; each fault names its own key."""
    if not country:
        if subdivision:
            (where / "holiday_subdivision").refuse("needs a country in holidays")
        return lambda day: False
    try:
        _holiday_lookup(country, None)
    except NotImplementedError:
        (where / "holidays").refuse(f"no public-holiday calendar for {country!r}")
    if not subdivision:
        return _holiday_lookup(country, None)
    try:
        return _holiday_lookup(country, subdivision)
    except NotImplementedError:
        (where / "holiday_subdivision").refuse(
            f"the {country!r} calendar has no subdivision {subdivision!r}"
        )


@cache
def _weekend(country: str) -> frozenset[int]:
    """The weekend of the country's calendar (the ``holidays`` package knows which days each
    country rests); Saturday and Sunday for a market without one."""
    if not country:
        return frozenset({5, 6})
    return frozenset(holidays.country_holidays(country).weekend)


@cache
def _holiday_lookup(country: str, subdivision: str | None) -> Callable[[date], bool]:
    calendar = holidays.country_holidays(country, subdiv=subdivision)

    def is_holiday(day: date) -> bool:
        return day in calendar

    return is_holiday


CHECKS: dict[str, check.Check] = {
    "timezone": _zone,
    "currency": lambda raw, where: check.text(raw, where, r"[A-Z]{3}", "an ISO 4217 code"),
    "currency_decimals": lambda raw, where: check.whole(raw, where, 0, 4),
    "holidays": check.optional(_country, ""),
    "holiday_subdivision": check.optional(_subdivision, ""),
    "high_value_threshold": _amount,
    "return_window_days": check.days,
    "evidence_kinds": check.codes,
}
