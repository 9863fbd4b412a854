"""`verify` over the refund ledger of lines.md: a shop of orders with lines verifies clean, and
each ledger field damaged on purpose gives exactly the finding that names it, on SQLite,
PostgreSQL and the memory backend.

The shop: a glassware order (six glasses at 10.00, a mug at 15.50, 5.00 shipping) with a return
of one glass refunded by an accepted second offer, a refund_only of the mug, a return of two
glasses that came back (3.20 return shipping, the seller's fault), and a return of one more
glass still waiting on an open offer; and a second order cancelled whole before it shipped
(its shipping fee back, its units cancelled, the order cancelled).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import sqlalchemy

import aftersale
from aftersale import AfterSale, VirtualClock
from aftersale.adapters import schema

PAID = datetime(2026, 3, 2, 9, tzinfo=UTC)
GLASSWARE = [
    {"line_id": "A", "sku": "glass", "quantity": 6, "unit_price": "10.00"},
    {"line_id": "B", "sku": "mug", "quantity": 1, "unit_price": "15.50"},
]
Edit = Callable[[Any], Any]


def _play(url: str) -> AfterSale:
    clock = VirtualClock(PAID + timedelta(days=30))
    engine = aftersale.connect(url, clock=clock, require_identity=False)

    def at(days: float = 0, hours: float = 0) -> datetime:
        return PAID + timedelta(days=days, hours=hours)

    engine.order_paid(
        "O1", "shop", "buyer", "US", "USD", "80.50", lines=GLASSWARE, shipping_fee="5.00", at=at()
    )
    engine.order_paid(
        "O2",
        "shop",
        "buyer",
        "US",
        "USD",
        "25.00",
        lines=GLASSWARE[1:],
        shipping_fee="9.50",
        at=at(),
    )
    engine.open_case("CX", "O2", "cancellation", "buyer", "changed_mind", at=at(hours=0.5))
    engine.order_shipped("O1", at=at(hours=2))
    engine.order_delivered("O1", at=at(days=1))
    one_glass = [{"line_id": "A", "quantity": 1}]
    engine.open_case("R1", "O1", "return_refund", "buyer", "damaged", lines=one_glass, at=at(1, 1))
    engine.open_case(
        "R2",
        "O1",
        "refund_only",
        "buyer",
        "damaged",
        lines=[{"line_id": "B", "quantity": 1}],
        at=at(1, 1),
    )
    engine.act("R1", "offer_partial_refund", "seller", amount="4.00", at=at(1, 2))
    engine.act("R1", "decline_offer", "buyer", at=at(1, 5))
    engine.act("R1", "offer_partial_refund", "seller", amount="5.00", at=at(1, 6))
    engine.act("R1", "accept_offer", "buyer", at=at(1, 7))
    engine.act("R2", "approve", "seller", at=at(1, 7))
    engine.open_case(
        "R3",
        "O1",
        "return_refund",
        "buyer",
        "damaged",
        lines=[{"line_id": "A", "quantity": 2}],
        at=at(1, 8),
    )
    engine.act("R3", "approve", "seller", at=at(1, 9))
    engine.act("R3", "ship_return", "buyer", tracking="RET-3", shipping_cost="3.20", at=at(2))
    engine.act("R3", "confirm_receipt", "seller", at=at(3))
    engine.act("R3", "refund", "seller", at=at(3, 1))
    engine.open_case("R4", "O1", "return_refund", "buyer", "damaged", lines=one_glass, at=at(4))
    engine.act("R4", "offer_partial_refund", "seller", amount="6.00", at=at(4, 1))
    return engine


@pytest.fixture
def ledger_shop(db_url: str) -> tuple[str, AfterSale]:
    engine = _play(db_url)
    assert engine.verify() == []
    return db_url, engine


def test_the_ledger_shop_is_what_lines_md_says(ledger_shop: tuple[str, AfterSale]) -> None:
    _, engine = ledger_shop
    glassware, cancelled = engine.order("O1"), engine.order("O2")
    assert [
        (line["refunded_amount"], line["returned_quantity"]) for line in glassware["lines"]
    ] == [
        ("25.00", 2),
        ("15.50", 0),
    ]
    assert glassware["refunded_total"] == "40.50"
    assert glassware["lines"][0]["open_case_id"] == "R4"
    assert engine.case("R3")["refund"]["return_shipping"] == "3.20"
    assert cancelled["cancelled_at"] is not None and cancelled["shipping_refunded"] == "9.50"
    assert cancelled["lines"][0]["returned_quantity"] == 1


# -- damage, one field at a time -----------------------------------------------------------------


def _edit_row(url: str, engine: AfterSale, table: str, key: str, column: str, edit: Edit) -> None:
    """Set one column of one order or case row to ``edit(its value)``: JSON columns decoded."""
    if url.startswith("memory"):
        stored = getattr(engine.storage._db, table)  # type: ignore[attr-defined]
        row = stored.rows[key]
        value = row[column]
        is_json = isinstance(value, bytes)
        new = edit(orjson.loads(value) if is_json else value)
        stored.rows[key] = {**row, column: orjson.dumps(new) if is_json else new}
        return
    mapped = getattr(schema, table)
    primary = mapped.c[f"{table[:-1]}_id"]
    sql = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with sql.begin() as connection:
        value = connection.execute(sqlalchemy.select(mapped.c[column]).where(primary == key))
        new = edit(value.scalar_one())
        connection.execute(sqlalchemy.update(mapped).where(primary == key).values({column: new}))
    sql.dispose()


def _edit_event(url: str, engine: AfterSale, case_id: str, action: str, edit: Edit) -> int:
    """Change the data of a case's last event of ``action``; its seq."""
    if url.startswith("memory"):
        db = engine.storage._db  # type: ignore[attr-defined]
        index, row = next(
            (i, r)
            for i, r in reversed(list(enumerate(db.events)))
            if r["case_id"] == case_id and orjson.loads(r["data"]).get("action") == action
        )
        db.events[index] = {**row, "data": orjson.dumps(edit(orjson.loads(row["data"])))}
        return int(row["seq"])
    events = schema.events
    sql = sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    with sql.begin() as connection:
        rows = connection.execute(
            sqlalchemy.select(events.c.seq, events.c.data)
            .where(events.c.case_id == case_id)
            .order_by(events.c.seq.desc())
        ).all()
        seq, data = next((seq, data) for seq, data in rows if data.get("action") == action)
        connection.execute(
            sqlalchemy.update(events).where(events.c.seq == seq).values(data=edit(data))
        )
    sql.dispose()
    return int(seq)


def _line(index: int, **changes: Any) -> Edit:
    return lambda lines: [
        {**line, **changes} if number == index else line for number, line in enumerate(lines)
    ]


def _found(engine: AfterSale) -> list[tuple[str, str, str]]:
    return sorted((v["rule"], v["subject"], v["detail"]) for v in engine.verify())


ORDER_DAMAGE = [
    (
        "lines",
        _line(0, refunded_amount="24.00"),
        [("ledger", "line A: refunded_amount 24.00 but its cases' events give 25.00")],
    ),
    (
        "lines",
        _line(1, refunded_amount="16.00"),
        [
            ("ledger", "line B: refunded_amount 16.00 above its value 15.50"),
            ("ledger", "line B: refunded_amount 16.00 but its cases' events give 15.50"),
        ],
    ),
    (
        "lines",
        _line(0, returned_quantity=7),
        [
            ("ledger", "line A: returned_quantity 7 above its quantity 6"),
            ("ledger", "line A: returned_quantity 7 but its cases' events give 2"),
        ],
    ),
    (
        "lines",
        _line(0, open_case_id=None),
        [
            ("one_open_case", "line A: open_case_id is None but the open case on it is R4"),
        ],
    ),
    (
        "lines",
        _line(1, open_case_id="R4"),
        [("one_open_case", "line B: open_case_id is R4 but the open case on it is None")],
    ),
    (
        "refunded_total",
        lambda _: "45.50",
        [("money", "refunded_total 45.50 but its cases' refunds give 40.50")],
    ),
    (
        "shipping_refunded",
        lambda _: "5.00",
        [("money", "shipping_refunded 5.00 but its cases' refunds give 0.00")],
    ),
    (
        "open_case_id",
        lambda _: None,
        [("one_open_case", "open_case_id is None but the open case on its first held line is R4")],
    ),
]


@pytest.mark.parametrize(("column", "edit", "expected"), ORDER_DAMAGE)
def test_a_damaged_order_ledger_field_is_found_and_named(
    ledger_shop: tuple[str, AfterSale], column: str, edit: Edit, expected: list[tuple[str, str]]
) -> None:
    url, engine = ledger_shop
    _edit_row(url, engine, "orders", "O1", column, edit)
    assert _found(engine) == sorted((rule, "order O1", detail) for rule, detail in expected)


def _offer(index: int, **changes: Any) -> Edit:
    return _line(index, **changes)


CASE_DAMAGE = [
    (
        "R1",
        "refund",
        lambda refund: {**refund, "items": "4.00"},
        "refund is items 4.00, shipping 0.00, return_shipping 0.00, total 5.00, paid_by "
        "seller but its events say items 5.00, shipping 0.00, return_shipping 0.00, total "
        "5.00, paid_by seller",
    ),
    ("R2", "refund", lambda _: None, None),
    (
        "R1",
        "offers",
        _offer(0, outcome="lapsed"),
        "offers is [1: 4.00 at 2026-03-03T11:00:00Z lapsed, 2: 5.00 at 2026-03-03T15:00:00Z "
        "accepted] but its events say [1: 4.00 at 2026-03-03T11:00:00Z declined, 2: 5.00 at "
        "2026-03-03T15:00:00Z accepted]",
    ),
    ("R4", "offers", lambda offers: [], None),
    (
        "R3",
        "lines",
        _line(0, quantity=3),
        "lines is [A x 3] but its events say [A x 2]",
    ),
]


@pytest.mark.parametrize(("case_id", "column", "edit", "detail"), CASE_DAMAGE)
def test_a_damaged_case_ledger_field_is_found_and_named(
    ledger_shop: tuple[str, AfterSale], case_id: str, column: str, edit: Edit, detail: str | None
) -> None:
    url, engine = ledger_shop
    _edit_row(url, engine, "cases", case_id, column, edit)
    found = _found(engine)
    assert [(rule, subject) for rule, subject, _ in found] == [("history", f"case {case_id}")]
    assert found[0][2].startswith(f"{column} is ")
    if detail is not None:
        assert found[0][2] == detail


def _without(index: int, key: str) -> Edit:
    return lambda entries: [
        {k: v for k, v in entry.items() if k != key or number != index}
        for number, entry in enumerate(entries)
    ]


@pytest.mark.parametrize(
    ("table", "key", "column", "edit", "why"),
    [
        ("orders", "O1", "lines", lambda _: {"A": 1}, "lines is not a JSON list"),
        ("orders", "O1", "lines", _without(1, "unit_price"), "lines[2] lacks unit_price"),
        ("orders", "O2", "lines", _line(0, quantity="1"), "lines[1].quantity '1' is not a"),
        ("cases", "R3", "lines", _without(0, "quantity"), "lines[1] lacks quantity"),
        ("cases", "R1", "offers", _without(1, "outcome"), "offers[2] lacks outcome"),
        ("cases", "R1", "offers", _offer(0, outcome="maybe"), "offers[1].outcome 'maybe' is"),
        ("cases", "R2", "refund", lambda _: [], "refund is not a JSON object"),
        ("cases", "R2", "refund", lambda r: {**r, "paid_by": "buyer"}, "refund.paid_by 'buyer'"),
        ("cases", "R3", "refund", lambda r: {**r, "items": "many"}, "refund.items 'many' is not"),
    ],
)
def test_a_ledger_column_that_cannot_be_read_is_listed_never_raised(
    ledger_shop: tuple[str, AfterSale], table: str, key: str, column: str, edit: Edit, why: str
) -> None:
    url, engine = ledger_shop
    _edit_row(url, engine, table, key, column, edit)
    found = _found(engine)
    assert [(rule, subject) for rule, subject, _ in found] == [
        ("unreadable", f"{table[:-1]} {key}")
    ]
    assert why in found[0][2]


# -- damage to the events the ledger is folded from ----------------------------------------------


def test_a_recorded_refund_rewritten_is_found_against_the_rules_and_the_rows(
    ledger_shop: tuple[str, AfterSale],
) -> None:
    url, engine = ledger_shop
    seq = _edit_event(
        url,
        engine,
        "R1",
        "accept_offer",
        lambda d: {**d, "refund": {**d["refund"], "items": "4.00", "total": "4.00"}},
    )
    found = _found(engine)
    assert {(rule, subject) for rule, subject, _ in found} == {
        ("refund", "case R1"),
        ("history", "case R1"),
        ("ledger", "order O1"),
        ("money", "order O1"),
    }
    assert (
        "refund",
        "case R1",
        f"event {seq} (accept_offer) recorded items 4.00, shipping 0.00, return_shipping 0.00, "
        "total 4.00, paid_by seller; the rules give items 5.00, shipping 0.00, return_shipping "
        "0.00, total 5.00, paid_by seller",
    ) in found


def test_a_refund_missing_from_its_event_is_found(ledger_shop: tuple[str, AfterSale]) -> None:
    url, engine = ledger_shop
    seq = _edit_event(
        url, engine, "R2", "approve", lambda d: {k: v for k, v in d.items() if k != "refund"}
    )
    assert _found(engine) == [("refund", "case R2", f"event {seq} (approve) records no refund")]


def test_return_shipping_refunded_on_a_buyer_fault_is_found(
    ledger_shop: tuple[str, AfterSale],
) -> None:
    url, engine = ledger_shop
    seq = _edit_event(url, engine, "R3", "ship_return", lambda d: {**d, "shipping_cost": "1.00"})
    found = _found(engine)
    assert [(rule, subject) for rule, subject, _ in found] == [("refund", "case R3")]
    assert found[0][2].startswith(f"event {seq + 2} (refund) recorded items 20.00, shipping ")


def test_a_restored_deadline_moved_is_found(ledger_shop: tuple[str, AfterSale]) -> None:
    url, engine = ledger_shop
    seq = _edit_event(
        url, engine, "R1", "decline_offer", lambda d: {**d, "deadline_at": "2026-03-05T14:00:00Z"}
    )
    # opened 03-03 10:00 with a deadline of 03-05 10:00; offered at 11:00 (47 h left),
    # declined at 14:00: the seller's deadline comes back 47 h later, at 03-05 13:00
    assert _found(engine) == [
        (
            "deadline",
            "case R1",
            f"event {seq} (decline_offer) recorded deadline 2026-03-05T14:00:00Z; the 1 day, "
            "23:00:00 left when the offer was made give 2026-03-05T13:00:00Z",
        )
    ]


def test_a_cancellation_that_says_it_left_the_order_open_is_found(
    ledger_shop: tuple[str, AfterSale],
) -> None:
    url, engine = ledger_shop
    seq = _edit_event(url, engine, "CX", "auto_approve", lambda d: {**d, "order_cancelled": False})
    found = _found(engine)
    assert (
        "ledger",
        "order O2",
        f"event {seq} (auto_approve of case CX) left the order open, "
        "but 0 units were not cancelled",
    ) in found
    assert {(rule, subject) for rule, subject, _ in found} == {
        ("ledger", "order O2"),
        ("facts", "order O2"),  # cancelled_at, with no cancellation that cancelled it
    }


def test_shipping_refunded_twice_is_found(ledger_shop: tuple[str, AfterSale]) -> None:
    url, engine = ledger_shop
    _edit_event(
        url,
        engine,
        "R2",
        "approve",
        lambda d: {**d, "refund": {**d["refund"], "shipping": "5.00", "total": "20.50"}},
    )
    _edit_event(
        url,
        engine,
        "R3",
        "refund",
        lambda d: {**d, "refund": {**d["refund"], "shipping": "5.00", "total": "28.20"}},
    )
    found = _found(engine)
    assert ("money", "order O1", "shipping refunded more than once: by R2, R3") in found
    assert ("money", "order O1", "10.00 of shipping back on a fee of 5.00") in found
    assert ("money", "order O1", "50.50 back on an order of 80.50") not in found


def test_cases_overlapping_on_one_line_are_found(ledger_shop: tuple[str, AfterSale]) -> None:
    url, engine = ledger_shop
    # R2 said it covered the glasses too: it was open (01 10:00 to 16:00) beside R1 on line A
    seq = _edit_event(
        url,
        engine,
        "R2",
        "open",
        lambda d: {
            **d,
            "lines": [{"line_id": "B", "quantity": 1}, {"line_id": "A", "quantity": 1}],
        },
    )
    assert seq > 0
    assert _found(engine) == [
        ("history", "case R2", "lines is [B x 1] but its events say [B x 1, A x 1]"),
        # R2's 15.50 spread over the mug and a glass: neither line's ledger is what it was
        ("ledger", "order O1", "line A: refunded_amount 25.00 but its cases' events give 31.08"),
        ("ledger", "order O1", "line B: refunded_amount 15.50 but its cases' events give 9.42"),
        (
            "one_open_case",
            "case R2",
            "opened at 2026-03-03T10:00:00Z on line A of order O1 while case R1 held it (from "
            "2026-03-03T10:00:00Z to 2026-03-03T16:00:00Z)",
        ),
    ]
