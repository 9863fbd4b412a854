"""Input limits: each refused with an error that names the field; hostile text kept verbatim."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

import aftersale
from aftersale import InvalidInput, VirtualClock
from aftersale.clock import add_business_days, hour_of, next_local_midnight
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
        ("NaN", "plain decimal"),
        ("1e309", "plain decimal"),
        ("ten", "plain decimal"),
        ("9" * 17, "too large"),
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
    assert check.instant("9000-12-31T23:59:59.999999Z", "at").year == 9000
    assert check.instant("1970-01-01T01:00:00+01:00", "at") == datetime(1970, 1, 1, tzinfo=UTC)


def test_notes_are_at_most_200_characters_as_replay_md_says_and_nul_is_refused() -> None:
    assert check.text("n" * 200, "note") == "n" * 200
    with pytest.raises(InvalidInput, match="longer than 200"):
        check.text("n" * 201, "note")
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


ONE_HOUR_EAST = timezone(timedelta(hours=1))


@pytest.mark.parametrize(
    "value",
    [
        "0001-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-05:00",
        "9999-12-31T23:59:59Z",
        "0001-01-01T00:00:00-23:59",
        "1969-12-31T23:59:59Z",
        "9000-12-31T23:00:00-05:00",  # 9001-01-01T04:00Z
        datetime(1, 1, 1, tzinfo=ONE_HOUR_EAST),
        datetime.max.replace(tzinfo=UTC),
    ],
)
def test_instants_outside_1970_to_9000_are_refused_naming_the_field(value: object) -> None:
    with pytest.raises(InvalidInput, match=r"dispatch_by .*1970.*9000"):
        check.instant(value, "dispatch_by")


@pytest.mark.parametrize(
    "value",
    [
        " 10.00 ",
        "1_000.00",
        "1,000.00",
        "\uff11\uff10.\uff10\uff10",  # fullwidth 10.00
        "\u0661\u0660.\u0660\u0660",  # Arabic-Indic 10.00
        "1e3",
        "NaN",
        "Infinity",
        "-Infinity",
        "+10.00",
        ".50",
        "10.",
        "10.00\n",
        "",
    ],
)
def test_amounts_are_plain_ascii_decimal_strings(value: str) -> None:
    with pytest.raises(InvalidInput, match="amount must be a plain decimal string"):
        check.amount(value, "amount", 2)


def test_a_huge_whole_number_amount_is_too_large_not_a_crash() -> None:
    with pytest.raises(InvalidInput, match="amount is too large"):
        check.amount(10**5000, "amount", 2)
    assert check.amount(10, "amount", 2) == Decimal("10.00")


def test_deadline_arithmetic_at_the_calendars_end_is_refused_not_an_overflow() -> None:
    near_the_end = datetime(9999, 12, 31, 12, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="end of the calendar"):
        add_business_days(near_the_end, 2, ZoneInfo("America/New_York"), lambda day: True)
    with pytest.raises(InvalidInput, match="end of the calendar"):
        next_local_midnight(near_the_end, ZoneInfo("Asia/Kuala_Lumpur"))
    with pytest.raises(InvalidInput, match="end of the calendar"):
        hour_of(datetime(1, 1, 1, tzinfo=ONE_HOUR_EAST))


def _engine() -> aftersale.AfterSale:
    clock = VirtualClock(datetime(2026, 3, 2, 9, tzinfo=UTC))
    engine = aftersale.connect("memory://", clock=clock, require_identity=False)
    engine.order_paid("US-1", "shop-a", "buyer-a", "US", "USD", "10.00")
    return engine


def test_a_note_over_200_characters_is_refused_on_open_and_on_act() -> None:
    engine = _engine()
    with pytest.raises(InvalidInput, match="note is longer than 200"):
        engine.open_case("CX-1", "US-1", "cancellation", "seller", "out_of_stock", note="n" * 201)
    engine.order_shipped("US-1")
    engine.order_delivered("US-1")
    engine.open_case("RR-1", "US-1", "return_refund", "buyer", "damaged", note="n" * 200)
    with pytest.raises(InvalidInput, match="note is longer than 200"):
        engine.act("RR-1", "approve", "seller", note="n" * 201)
    assert engine.case("RR-1")["state"] == "pending_review"


def test_health_refuses_an_as_of_at_the_calendars_start() -> None:
    engine = _engine()
    with pytest.raises(InvalidInput, match=r"at .*1970"):
        engine.health("shop-a", "0001-01-01T00:00:00Z")


def test_keep_days_is_capped_at_a_hundred_years() -> None:
    engine = _engine()
    assert engine.rollup_keep_days(36_500) == 36_500
    for keep in (36_501, 99_999_999_999):
        with pytest.raises(InvalidInput, match="at most 36500"):
            engine.prune_health(keep)


def test_backfill_refuses_days_that_have_not_happened() -> None:
    engine = _engine()
    with pytest.raises(InvalidInput, match=r"after the clock's now \(2026-03-02T09:00:00Z\)"):
        engine.backfill_health("shop-a", "2026-03-01T00:00:00Z", "2026-03-10T00:00:00Z")
    assert engine.health_history("shop-a") == []
    assert engine.backfill_health("shop-a", "2026-03-01T00:00:00Z", "2026-03-02T09:00:00Z") >= 1
