"""Input limits: each refused with an error that names the field; hostile text kept verbatim."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest

import aftersale
from aftersale import InvalidInput, VirtualClock
from aftersale.domain import validation as check

US_KINDS = frozenset({"photo", "video", "tracking", "document"})


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("x" * 129, "longer than 128"),
        ("", "non-empty"),
        (" padded", "surrounding spaces"),
        ("tab\there", "printable"),
        (42, "non-empty string"),
    ],
)
def test_identifiers_are_at_most_128_printable_characters(value: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check.identifier(value, "case_id")
    assert check.identifier("x" * 128, "case_id") == "x" * 128


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (20.5, "not a float"),
        (True, "not a float"),
        ("10.001", "more than 2 decimals"),
        ("-5.00", "positive"),
        ("0", "positive"),
        ("NaN", "finite"),
        ("1e309", "too large"),
        ("ten", "not a decimal"),
        ("9" * 41, "too long"),
    ],
)
def test_amounts_are_positive_decimal_strings_within_the_currency(
    value: object, message: str
) -> None:
    with pytest.raises(InvalidInput, match=message):
        check.amount(value, "amount", 2)
    assert check.amount("10.5", "amount", 2) == Decimal("10.50")


def test_instants_need_an_offset_and_come_back_in_utc() -> None:
    with pytest.raises(InvalidInput, match="no UTC offset"):
        check.instant("2026-03-02T09:00:00", "at")
    with pytest.raises(InvalidInput, match="not an ISO 8601"):
        check.instant("2026-02-30T09:00:00Z", "at")
    assert check.instant("2026-03-02T17:00:00+08:00", "at") == datetime(2026, 3, 2, 9, tzinfo=UTC)
    assert check.instant("9999-12-31T23:59:59Z", "at").year == 9999


def test_notes_are_limited_and_nul_is_refused() -> None:
    assert check.text("n" * 2000, "note") == "n" * 2000
    with pytest.raises(InvalidInput, match="longer than 2000"):
        check.text("n" * 2001, "note")
    with pytest.raises(InvalidInput, match="NUL"):
        check.text("a\x00b", "note")


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([{"kind": "photo", "uri": "https://e/1.jpg"}] * 21, "more than 20 items"),
        ([{"kind": "chat", "uri": "https://e/1"}], "chat"),
        ([{"kind": "photo", "uri": "https://e/" + "a" * 2048}], "2048"),
        ([{"kind": "photo", "uri": "https://e/1.jpg", "sha256": "abc"}], "sha256"),
        ([], "at least one"),
    ],
)
def test_evidence_is_limited_and_checked_against_the_market(items: object, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check.evidence(items, US_KINDS, required=True)


def test_hostile_text_is_stored_verbatim_and_harmless() -> None:
    engine = aftersale.connect(
        "sqlite://", clock=VirtualClock(datetime(2026, 3, 2, tzinfo=UTC)), require_identity=False
    )
    hostile = "Robert'); DROP TABLE cases; -- <script>alert(1)</script> \u202e"
    engine.order_paid("US-1", "shop-a", "buyer-a", "US", "USD", "10.00")
    engine.open_case("CX-1", "US-1", "cancellation", "buyer", "changed_mind", note=hostile)
    opened = [e for e in engine.events_after(0) if e.get("action") == "open"]
    assert opened[0]["note"] == hostile
    assert engine.case("CX-1")["state"] == "cancelled"
