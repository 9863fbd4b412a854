"""Checks of the fields a host sends: each fault becomes an InvalidInput naming the field."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from aftersale.domain.model import Evidence
from aftersale.errors import InvalidInput

MAX_ID_LENGTH = 128
MAX_NOTE_LENGTH = 200  # replay.md: a note over 200 characters is invalid_input
# Instants are accepted in these years (of their UTC value), far from the calendar's ends: an
# instant there, or its deadlines and health windows, can always be worked out in UTC.
FIRST_YEAR, LAST_YEAR = 1970, 9000
EARLIEST = datetime(FIRST_YEAR, 1, 1, tzinfo=UTC)
END = datetime(LAST_YEAR + 1, 1, 1, tzinfo=UTC)
PLAIN_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]+)?")  # ASCII digits only: no spaces, _ or 1e3
MAX_EVIDENCE_ITEMS = 20
MAX_URI_LENGTH = 2048
MAX_TRACKING_LENGTH = 128
MAX_QUANTITY = 10_000  # units of one order line (lines.md)
MAX_LINE_ID_LENGTH = 64
MAX_LINES = 1_000  # lines of one order: far above a real basket, and a bound on the work


def identifier(value: Any, name: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidInput(f"{name} must be a non-empty string")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{name} is longer than {MAX_ID_LENGTH} characters")
    if not value.isprintable() or value != value.strip():
        raise InvalidInput(f"{name} must be printable characters without surrounding spaces")
    return value


def instant(value: Any, name: str) -> datetime:
    """An aware datetime, or an ISO 8601 string with a UTC offset, in UTC; its UTC value must
    fall in the years FIRST_YEAR to LAST_YEAR."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except (ValueError, OverflowError):
            raise InvalidInput(f"{name} is not an ISO 8601 instant: {value[:40]!r}") from None
    if not isinstance(value, datetime):
        raise InvalidInput(f"{name} must be an ISO 8601 instant with a UTC offset")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidInput(f"{name} has no UTC offset (write e.g. 2026-03-02T09:00:00Z)")
    try:
        moment = value.astimezone(UTC)
    except OverflowError:  # within a day of 0001-01-01 or 9999-12-31
        moment = None
    if moment is None or not EARLIEST <= moment < END:
        raise InvalidInput(
            f"{name} {value.isoformat()} is outside the instants accepted: from "
            f"{FIRST_YEAR}-01-01T00:00:00Z to the end of {LAST_YEAR}, in UTC"
        )
    return moment


def amount(value: Any, name: str, decimals: int, *, zero: bool = False) -> Decimal:
    """A positive plain decimal string (ASCII digits, an optional point; or an int or Decimal)
    with at most ``decimals`` places, or 0 too when ``zero``; never a float."""
    if isinstance(value, bool | float):
        raise InvalidInput(f'{name} must be a decimal string like "25.00", not a float')
    if isinstance(value, int):
        if value.bit_length() > 64:  # str() of a 5,000-digit int raises; "too large" anyway
            raise InvalidInput(f"{name} is too large")
        value = str(value)
    if isinstance(value, str):
        if len(value) > 40:
            raise InvalidInput(f"{name} is too long")
        if not PLAIN_DECIMAL.fullmatch(value):
            raise InvalidInput(
                f'{name} must be a plain decimal string like "25.00" (ASCII digits and an '
                f"optional point; no spaces, separators, exponents or signs but -): "
                f"{value!r}"
            )
        try:
            value = Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern above admits only decimals
            raise InvalidInput(f"{name} is not a decimal number: {value!r}") from None
    if not isinstance(value, Decimal) or not value.is_finite():
        raise InvalidInput(f"{name} must be a finite decimal string")
    if value < 0 or (value == 0 and not zero):
        raise InvalidInput(f"{name} must be {'0 or more' if zero else 'positive'}")
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > decimals:
        raise InvalidInput(f"{name} has more than {decimals} decimals")
    if value.adjusted() > 15:
        raise InvalidInput(f"{name} is too large")
    return abs(value).quantize(Decimal(1).scaleb(-decimals))  # "-0" is 0, never "-0.00"


def quantity(value: Any, name: str, most: int = MAX_QUANTITY) -> int:
    """A whole number of units, 1 to ``most`` (true and false are not numbers)."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise InvalidInput(f"{name} must be a whole number from 1 to {most:,}, not {value!r:.40}")
    return value


def text(value: Any, name: str, limit: int = MAX_NOTE_LENGTH) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string")
    if len(value) > limit:
        raise InvalidInput(f"{name} is longer than {limit} characters ({len(value)})")
    if "\x00" in value:
        raise InvalidInput(f"{name} contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: no database, and no JSON, can hold it
        raise InvalidInput(f"{name} is not valid Unicode (a lone surrogate)") from None
    return value


def evidence(value: Any, kinds: frozenset[str], *, required: bool) -> tuple[Evidence, ...]:
    if value is None:
        value = []
    if not isinstance(value, list | tuple):
        raise InvalidInput("evidence must be a list of {kind, uri, sha256?} items")
    if required and not value:
        raise InvalidInput("evidence needs at least one item")
    if len(value) > MAX_EVIDENCE_ITEMS:
        raise InvalidInput(f"evidence has more than {MAX_EVIDENCE_ITEMS} items")
    items = []
    for index, raw in enumerate(value):
        if isinstance(raw, Evidence):
            raw = raw.as_dict()
        where = f"evidence[{index}]"
        if not isinstance(raw, Mapping):
            raise InvalidInput(f"{where} must be an object with kind and uri")
        unknown = set(raw) - {"kind", "uri", "sha256"}
        if unknown:
            raise InvalidInput(f"{where} has unknown field {sorted(unknown)[0]}")
        kind = raw.get("kind")
        if kind not in kinds:
            allowed = ", ".join(sorted(kinds))
            raise InvalidInput(f"{where}.kind {kind!r} is not accepted here (use {allowed})")
        uri = text(raw.get("uri"), f"{where}.uri", MAX_URI_LENGTH)
        if not uri.strip():
            raise InvalidInput(f"{where}.uri must not be empty")
        sha = raw.get("sha256")
        if sha is not None and (
            not isinstance(sha, str)
            or len(sha) != 64
            or any(c not in "0123456789abcdef" for c in sha)
        ):
            raise InvalidInput(f"{where}.sha256 must be 64 lowercase hex digits")
        items.append(Evidence(kind=str(kind), uri=uri, sha256=sha))
    return tuple(items)


MAX_CODES_SHOWN = 25  # every list the shipped policy and workflows have fits


def choice(value: Any, name: str, allowed: Mapping[str, Any] | frozenset[str]) -> str:
    """``value`` if it is one of ``allowed``; otherwise an error that says which codes are."""
    if isinstance(value, str) and value in allowed:
        return value
    if value is None:
        raise InvalidInput(f"{name} is missing: give one of {known_codes(allowed)}")
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, one of {known_codes(allowed)}")
    raise InvalidInput(
        f"{name} {value[:60]!r} is not one of the known codes: {known_codes(allowed)}"
    )


def known_codes(allowed: Mapping[str, Any] | frozenset[str]) -> str:
    """The codes of a list, sorted; past MAX_CODES_SHOWN the first of them and where the rest
    are (only reason codes, which the policy defines, come in longer lists)."""
    codes = sorted(allowed)
    if len(codes) <= MAX_CODES_SHOWN:
        return ", ".join(codes)
    shown = ", ".join(codes[: MAX_CODES_SHOWN - 5])
    rest = len(codes) - (MAX_CODES_SHOWN - 5)
    return f"{shown} and {rest} more (the policy's reasons.toml lists them all)"
