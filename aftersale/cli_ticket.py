"""The ``ticket`` and ``shop`` groups of the command line (governance.md): issue, act on,
show and list violation tickets, and show a shop's active points and punishments.

They are built as the ``case`` group is: an operator speaks for the seller or the platform
(``--actor-id`` is checked when given, not required); a malformed ``--points`` or
``--evidence`` is a bad option (exit 2) naming it; what the engine refuses (an unknown ticket,
an action the actor may not take, a seller of another shop) is a refused command (exit 1).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

import click

from aftersale import render
from aftersale.cli_case import ACTORS, evidence_item
from aftersale.cli_options import (
    db_option,
    instant_value,
    json_option,
    operator_engine,
    options_checked,
)
from aftersale.domain.tickets.model import Category
from aftersale.domain.tickets.settings import MAX_TICKET_POINTS
from aftersale.service.governance_api import MAX_PAGE

CATEGORIES = click.Choice([category.value for category in Category])
WHOLE_NUMBER = re.compile(r"[0-9]+")


def points_value(_ctx: click.Context, param: click.Parameter, value: str) -> int:
    """A click callback: ``--points`` as a whole number from 1 to MAX_TICKET_POINTS."""
    if not WHOLE_NUMBER.fullmatch(value):
        raise click.BadParameter(f"{value!r} is not a whole number", param_hint=param.opts[0])
    digits = value.lstrip("0") or "0"  # never int() of thousands of digits
    if len(digits) > 3 or not 1 <= int(digits) <= MAX_TICKET_POINTS:
        raise click.BadParameter(
            f"{value!r}: points must be a whole number from 1 to {MAX_TICKET_POINTS}",
            param_hint=param.opts[0],
        )
    return int(digits)


@click.group()
def ticket() -> None:
    """Issue, look at and act on violation tickets."""


@ticket.command("issue")
@click.argument("ticket_id")
@click.option("--shop", "shop_id", required=True, help="The shop the ticket is against.")
@click.option("--category", required=True, type=CATEGORIES)
@click.option("--reason", required=True, help="Why, in at most 200 characters.")
@click.option(
    "--points",
    required=True,
    metavar="N",
    callback=points_value,
    help=f"What the ticket costs the shop, a whole number from 1 to {MAX_TICKET_POINTS}.",
)
@click.option("--order", "order_id", default=None, help="The shop's order it is about.")
@click.option("--note", default=None)
@click.option("--evidence", "evidence", multiple=True, metavar="KIND=URI", help="Repeatable.")
@click.option("--at", default=None, help="ISO instant (default: now).", callback=instant_value)
@db_option
@json_option
def ticket_issue(
    ticket_id: str,
    shop_id: str,
    category: str,
    reason: str,
    points: int,
    evidence: tuple[str, ...],
    db_url: str | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Issue a ticket against a shop as the platform (the same ticket again is a no-op)."""
    if evidence:
        fields["evidence"] = [evidence_item(item) for item in evidence]
    given = {key: value for key, value in fields.items() if value is not None}
    engine = operator_engine(db_url)
    engine.issue_ticket(ticket_id, shop_id, category, reason, points, **given)
    view = engine.ticket(ticket_id)  # with its history
    render.print_json(view) if as_json else render.print_ticket(view)


@ticket.command("act")
@click.argument("ticket_id")
@click.argument("action")
@click.option("--actor", required=True, type=ACTORS)
@click.option("--actor-id", default=None, help="The seller's shop id, checked when given.")
@click.option("--note", default=None)
@click.option("--evidence", "evidence", multiple=True, metavar="KIND=URI", help="Repeatable.")
@click.option("--at", default=None, help="ISO instant (default: now).", callback=instant_value)
@db_option
@json_option
def ticket_act(
    ticket_id: str,
    action: str,
    actor: str,
    actor_id: str | None,
    evidence: tuple[str, ...],
    at: datetime | None,
    db_url: str | None,
    as_json: bool,
    **fields: Any,
) -> None:
    """Take ACTION on a ticket as --actor: appeal (seller), uphold, overturn, revoke (platform)."""
    if evidence:
        fields["evidence"] = [evidence_item(item) for item in evidence]
    given = {key: value for key, value in fields.items() if value is not None}
    engine = operator_engine(db_url)
    engine.act_ticket(ticket_id, action, actor, at=at, actor_id=actor_id, **given)
    view = engine.ticket(ticket_id)  # read after the action: with its history
    render.print_json(view) if as_json else render.print_ticket(view)


@ticket.command("show")
@click.argument("ticket_id")
@db_option
@json_option
def ticket_show(ticket_id: str, db_url: str | None, as_json: bool) -> None:
    """A ticket with its points, deadline, history and the actions allowed next."""
    with options_checked():  # an empty TICKET_ID: exit 2
        view = operator_engine(db_url).ticket(ticket_id)
    render.print_json(view) if as_json else render.print_ticket(view)


@ticket.command("retry")
@click.argument("ticket_id")
@db_option
def ticket_retry(ticket_id: str, db_url: str | None) -> None:
    """Put a quarantined ticket back in the sweep."""
    with options_checked():
        released = operator_engine(db_url).retry_ticket(ticket_id)
    click.echo(f"{ticket_id}: {'back in the sweep' if released else 'was not quarantined'}")


@ticket.command("retry-punishment")
@click.argument("punishment_id")
@db_option
def ticket_retry_punishment(punishment_id: str, db_url: str | None) -> None:
    """Put a quarantined punishment (TICKET_ID/KIND) back in the sweep."""
    with options_checked():
        released = operator_engine(db_url).retry_punishment(punishment_id)
    state = "back in the sweep" if released else "was not quarantined"
    click.echo(f"{punishment_id}: {state}")


@ticket.command("list")
@click.option("--shop", default=None)
@click.option("--state", default=None)
@click.option("--limit", default=1000, show_default=True, type=click.IntRange(1, MAX_PAGE))
@click.option("--after", default=None, metavar="TICKET_ID", help="The page after this ticket.")
@db_option
@json_option
def ticket_list(
    shop: str | None,
    state: str | None,
    limit: int,
    after: str | None,
    db_url: str | None,
    as_json: bool,
) -> None:
    """Tickets, filtered by shop and state, ordered by ticket id, a page at a time."""
    engine = operator_engine(db_url)
    with options_checked():
        page = engine.tickets(shop_id=shop, state=state, limit=limit, after=after)
        # the engine pages at most MAX_PAGE at a time: a full page asks whether one more follows
        more = len(page) == limit and bool(
            engine.tickets(shop_id=shop, state=state, limit=1, after=page[-1]["ticket_id"])
        )
    following = page[-1]["ticket_id"] if more else None
    if as_json:
        render.print_json({"tickets": page, "next": following})
    else:
        render.print_ticket_page(page, following)


@click.group()
def shop() -> None:
    """Look at a shop's governance: its active points and punishments."""


@shop.command("show")
@click.argument("shop_id")
@click.option(
    "--at",
    default=None,
    help="ISO instant the points are counted at (default: now).",
    callback=instant_value,
)
@db_option
@json_option
def shop_show(shop_id: str, at: datetime | None, db_url: str | None, as_json: bool) -> None:
    """A shop's market, its active points and every punishment, ended ones included."""
    with options_checked():  # an empty SHOP_ID, an --at ahead of the clock: exit 2
        view = operator_engine(db_url).shop(shop_id, at=at)
    render.print_json(view) if as_json else render.print_shop(view, at)
