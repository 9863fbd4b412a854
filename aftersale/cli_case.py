"""The ``case`` group of the command line: show, list, open, act on and retry cases.

``case open`` is where a case names the order lines it is about (``--line LINE_ID=QTY``);
``case act`` takes each action's fields, ``--amount`` and ``--shipping-cost`` included.
A malformed ``--line`` or ``--evidence`` is a bad option (exit 2); what the engine refuses
(an unknown line, more than is refundable) is a refused command (exit 1).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import click

from aftersale import render
from aftersale.cli_options import (
    KINDS,
    db_option,
    instant_value,
    json_option,
    operator_engine,
    options_checked,
)
from aftersale.domain import validation as check

ACTORS = click.Choice(["buyer", "seller", "platform"])
QUANTITY = re.compile(r"[0-9]+")


@click.group()
def case() -> None:
    """Look at, open and act on cases."""


@case.command("show")
@click.argument("case_id")
@db_option
@json_option
def case_show(case_id: str, db_url: str | None, as_json: bool) -> None:
    """A case with its lines, offers, refund, history, deadline and the actions allowed next."""
    with options_checked():  # an empty CASE_ID: exit 2
        view = operator_engine(db_url).case(case_id)
    render.print_json(view) if as_json else render.print_case(view)


@case.command("list")
@click.option("--shop", default=None)
@click.option("--state", default=None)
@click.option("--kind", default=None, type=click.Choice(KINDS))
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, 100_000))
@click.option("--after", default=None, metavar="CASE_ID", help="The page after this case id.")
@db_option
@json_option
def case_list(
    shop: str | None,
    state: str | None,
    kind: str | None,
    limit: int,
    after: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Cases, filtered by shop, state and kind, ordered by case id, a page at a time."""
    with options_checked():
        views = operator_engine(db_url).cases(
            shop_id=shop, state=state, kind=kind, limit=limit + 1, after=after
        )
    page, more = views[:limit], len(views) > limit
    following = page[-1]["case_id"] if more else None
    if as_json:
        render.print_json({"cases": page, "next": following})
    else:
        render.print_case_page(page, following)


@case.command("retry")
@click.argument("case_id")
@db_option
def case_retry(case_id: str, db_url: str | None) -> None:
    """Put a quarantined case back in the sweep."""
    with options_checked():
        released = operator_engine(db_url).retry_case(case_id)
    click.echo(f"{case_id}: {'back in the sweep' if released else 'was not quarantined'}")


@case.command("open")
@click.argument("case_id")
@click.argument("order_id")
@click.option("--kind", required=True, type=click.Choice(KINDS))
@click.option("--actor", required=True, type=ACTORS)
@click.option("--actor-id", default=None, help="The buyer's or shop's id, checked when given.")
@click.option("--reason", required=True, help="A buyer reason, or a seller cancellation reason.")
@click.option(
    "--line",
    "line",
    multiple=True,
    metavar="LINE_ID=QTY",
    help="Repeatable: an order line and how many of its units the case is about "
    "(default: everything still refundable on the order).",
)
@click.option(
    "--amount",
    default=None,
    help="The money asked for the items, a decimal string (default: their value).",
)
@click.option(
    "--item-unused/--item-used",
    "item_unused",
    default=None,
    help="Whether the item is unused (a return for no_longer_needed needs --item-unused).",
)
@click.option("--evidence", "evidence", multiple=True, metavar="KIND=URI", help="Repeatable.")
@click.option("--note", default=None)
@click.option("--at", default=None, help="ISO instant (default: now).", callback=instant_value)
@db_option
@json_option
def case_open(
    case_id: str,
    order_id: str,
    line: tuple[str, ...],
    evidence: tuple[str, ...],
    db_url: str | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Open a case on an order as --actor, about some of its lines or all that is left."""
    if line:
        fields["lines"] = case_lines(line)
    if evidence:
        fields["evidence"] = [evidence_item(item) for item in evidence]
    given = {key: value for key, value in fields.items() if value is not None}
    engine = operator_engine(db_url)
    engine.open_case(case_id, order_id, **given)
    view = engine.case(case_id)  # with its history
    render.print_json(view) if as_json else render.print_case(view)


@case.command("act")
@click.argument("case_id")
@click.argument("action")
@click.option("--actor", required=True, type=ACTORS)
@click.option("--actor-id", default=None, help="The buyer's or shop's id, checked when given.")
@click.option("--reject-reason", default=None)
@click.option("--note", default=None)
@click.option("--evidence", "evidence", multiple=True, metavar="KIND=URI", help="Repeatable.")
@click.option("--tracking", default=None)
@click.option("--outcome", default=None, type=click.Choice(["refund", "return", "deny"]))
@click.option("--responsibility", default=None)
@click.option(
    "--amount",
    default=None,
    help="offer_partial_refund: the money offered, a decimal string below the case's amount.",
)
@click.option(
    "--shipping-cost",
    default=None,
    help="ship_return: what the buyer paid to send the item back, a decimal string.",
)
@click.option("--at", default=None, help="ISO instant (default: now).", callback=instant_value)
@db_option
@json_option
def case_act(
    case_id: str,
    action: str,
    actor: str,
    actor_id: str | None,
    evidence: tuple[str, ...],
    at: datetime | None,
    db_url: str | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Take ACTION on a case as --actor, with the action's fields."""
    if evidence:
        fields["evidence"] = [evidence_item(item) for item in evidence]
    given = {key: value for key, value in fields.items() if value is not None}
    engine = operator_engine(db_url)
    engine.act(case_id, action, actor, at=at, actor_id=actor_id, **given)
    view = engine.case(case_id)  # read after the action: with its history
    render.print_json(view) if as_json else render.print_case(view)


def case_lines(given: tuple[str, ...]) -> list[dict[str, Any]]:
    """``--line LINE_ID=QTY`` options as ``open_case``'s ``lines``, in the order given."""
    lines = [_case_line(text) for text in given]
    seen: set[str] = set()
    for text, line in zip(given, lines, strict=True):
        if line["line_id"] in seen:
            raise click.BadParameter(
                f"{text!r}: line {line['line_id']} is given twice", param_hint="--line"
            )
        seen.add(line["line_id"])
    return lines


def _case_line(text: str) -> dict[str, Any]:
    line_id, sep, quantity = text.rpartition("=")  # a line id may itself hold a '='
    if not sep or not line_id:
        raise click.BadParameter(f"{text!r} is not LINE_ID=QTY", param_hint="--line")
    if not QUANTITY.fullmatch(quantity):
        raise click.BadParameter(
            f"{text!r}: the quantity {quantity!r} is not a whole number", param_hint="--line"
        )
    digits = quantity.lstrip("0") or "0"  # never int() of thousands of digits
    if len(digits) > 9 or not 1 <= int(digits) <= check.MAX_QUANTITY:
        raise click.BadParameter(
            f"{text!r}: the quantity must be a whole number from 1 to {check.MAX_QUANTITY:,}",
            param_hint="--line",
        )
    return {"line_id": line_id, "quantity": int(digits)}


def evidence_item(text: str) -> dict[str, str]:
    kind, sep, uri = text.partition("=")
    if not sep or not kind or not uri:
        raise click.BadParameter(f"{text!r} is not KIND=URI", param_hint="--evidence")
    return {"kind": kind, "uri": uri}
