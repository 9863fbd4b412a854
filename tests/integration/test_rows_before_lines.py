"""A database of the release before order lines (revision 0006), upgraded by this one.

The orders, cases and events are written through the engine, the schema is taken back to 0006
(migration 0007's downgrade drops what lines added) and the rows are left as that release wrote
them: the events without the fields lines added, and the ``refunded_total`` of an order nothing
was refunded on ``"0"``. The engine then upgrades the database. Its orders read as one line
``"1"`` of the whole amount, shown to the currency's cent like every other amount; its open case
goes on to a refund on that line, and its settled one shows the refund it paid.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy
from alembic import command

import aftersale
from aftersale import VirtualClock
from aftersale.adapters.db import _alembic_config, make_engine

SHOP, BUYER = "shop-lumen-audio", "buyer-ada"
PAID = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
OPENED = PAID + timedelta(days=2)
# what the events of order lines added (docs/events.md), which that release did not write
LINES_FIELDS = {"lines", "shipping_fee", "refund", "offer", "order_cancelled", "shipping_cost"}


def _orders_of_the_release_before_lines(url: str, clock: VirtualClock) -> None:
    engine = aftersale.connect(url, clock=clock, require_identity=False)
    for order_id in ("US-OPEN", "US-DONE"):
        engine.order_paid(order_id, SHOP, BUYER, "US", "USD", "40.00", at=PAID)
        engine.order_shipped(order_id, "1Z999", at=PAID + timedelta(hours=2))
        engine.order_delivered(order_id, at=PAID + timedelta(days=1))
    engine.open_case("RR-OPEN", "US-OPEN", "return_refund", "buyer", "damaged", at=OPENED)
    engine.open_case("RF-DONE", "US-DONE", "refund_only", "buyer", "damaged", at=OPENED)
    engine.act("RF-DONE", "approve", "seller", at=OPENED)
    engine.close()
    database = make_engine(url)
    try:
        with database.begin() as connection:
            config = _alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0006")
            connection.execute(
                sqlalchemy.text("UPDATE orders SET refunded_total = '0' WHERE order_id = :o"),
                {"o": "US-OPEN"},
            )
            events = sqlalchemy.Table("events", sqlalchemy.MetaData(), autoload_with=connection)
            for seq, data in connection.execute(sqlalchemy.select(events.c.seq, events.c.data)):
                old = {key: value for key, value in data.items() if key not in LINES_FIELDS}
                connection.execute(events.update().where(events.c.seq == seq).values(data=old))
    finally:
        database.dispose()


def test_rows_written_before_lines_read_as_one_line_and_their_open_case_goes_on(
    sql_db_url: str,
) -> None:
    clock = VirtualClock(OPENED + timedelta(hours=1))
    _orders_of_the_release_before_lines(sql_db_url, clock)
    engine = aftersale.connect(sql_db_url, clock=clock, require_identity=False)  # upgrades
    try:
        assert engine.verify() == []
        (line,) = engine.order("US-OPEN")["lines"]
        assert (line["line_id"], line["unit_price"], line["refunded_amount"]) == (
            "1",
            "40.00",
            "0.00",
        )
        assert (line["open_case_id"], line["refundable_amount"]) == ("RR-OPEN", "40.00")
        assert engine.case("RF-DONE")["refund"] == {
            "items": "40.00",
            "shipping": "0.00",
            "return_shipping": "0.00",
            "total": "40.00",
            "paid_by": "seller",
        }
        engine.act("RR-OPEN", "approve", "seller")
        engine.act("RR-OPEN", "ship_return", "buyer", tracking="RT-1", shipping_cost="4.50")
        engine.act("RR-OPEN", "confirm_receipt", "seller")
        case = engine.act("RR-OPEN", "refund", "seller")
        assert case["refund"] == {
            "items": "40.00",
            "shipping": "0.00",
            "return_shipping": "4.50",
            "total": "44.50",
            "paid_by": "seller",
        }
        (line,) = engine.order("US-OPEN")["lines"]
        assert (line["refunded_amount"], line["returned_quantity"]) == ("40.00", 1)
        assert engine.verify() == []
    finally:
        engine.close()
