"""What every ``aftersale`` command shares: its options, its exit statuses, its engine."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import click

from aftersale import render
from aftersale.bootstrap import URL_VARIABLE, connect, lasting_url
from aftersale.domain import validation as check
from aftersale.errors import (
    AfterSaleError,
    CommandRefused,
    InvalidInput,
    PolicyError,
    StorageError,
)
from aftersale.replay import ReplayFileError
from aftersale.service.engine import AfterSale


class InvalidOption(AfterSaleError):
    """An option's value the engine refused (exit status 2, code ``invalid_input``)."""

    code = InvalidInput.code


EXIT_STATUS: tuple[tuple[type[AfterSaleError], int], ...] = (
    (CommandRefused, 1),
    (ReplayFileError, 2),
    (InvalidOption, 2),
    (PolicyError, 2),
    (StorageError, 3),
    (AfterSaleError, 2),
)
KINDS = ("cancellation", "refund_only", "return_refund")


class AfterSaleGroup(click.Group):
    """Turns every aftersale error into a one-line message and the exit status of the table."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except AfterSaleError as error:
            status = next(code for kind, code in EXIT_STATUS if isinstance(error, kind))
            code = error_code(error)
            if ctx.meta.get("json"):
                render.print_json({"error": {"code": code, "message": str(error)}})
            click.echo(f"error [{code}]: {error}", err=True)
            ctx.exit(status)


def error_code(error: AfterSaleError) -> str:
    """The error's snake_case ``code`` (every class of errors.py has one); for one without,
    its class name in snake_case (``ReplayFileError``: ``replay_file_error``)."""
    code = getattr(error, "code", None)
    if isinstance(code, str):
        return code
    return re.sub(r"(?<!^)(?=[A-Z])", "_", type(error).__name__).lower()


def _json_flag(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    ctx.meta["json"] = value
    return value


json_option = click.option(
    "--json", "as_json", is_flag=True, callback=_json_flag, help="Print JSON on stdout."
)
db_option = click.option(
    "--db",
    "db_url",
    default=None,
    help=f"Database URL (default: ${URL_VARIABLE} or aftersale.db).",
)
config_option = click.option(
    "--config",
    "config_dir",
    default=None,
    type=click.Path(file_okay=False, exists=True),
    help="Policy folder (default: the shipped config/).",
)


def operator_engine(db_url: str | None, config_dir: str | None = None) -> AfterSale:
    """The engine of every command but ``db upgrade``, ``demo`` and ``replay``: it never
    creates or migrates a schema (a mistyped --db exits 3 naming ``aftersale db upgrade``).
    ``memory://`` exits 3 too: each command is a process of its own, so it would find the
    database empty and leave nothing behind."""
    url = lasting_url(db_url, f"`{command_path()}`", ONE_PROCESS)
    # An operator acts for buyers and sellers: --actor-id is checked when given, not required.
    return connect(url, config_dir=config_dir, require_identity=False, migrate=False)


ONE_PROCESS = (
    "a memory database lives in the process that made it, and every aftersale command is a "
    "process of its own: it would start empty and be gone when the command ends"
)


def command_path() -> str:
    """The command being run, as typed (``aftersale case show``)."""
    context = click.get_current_context(silent=True)
    return "aftersale" if context is None else context.command_path


def parse_instant(text: str, name: str) -> datetime:
    """An option's ISO 8601 instant with a UTC offset, in the range every instant must be in
    (``validation.instant``), in UTC; otherwise exit 2 naming the option."""
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 instant", param_hint=name) from None
    if value.tzinfo is None:
        raise click.BadParameter("needs a UTC offset, e.g. 2026-03-31T00:00:00Z", param_hint=name)
    try:
        return check.instant(value, "instant")  # click says "Invalid value for NAME: ..."
    except InvalidInput as wrong:
        raise click.BadParameter(wrong.message, param_hint=name) from None


def instant_value(
    _ctx: click.Context, param: click.Parameter, value: str | None
) -> datetime | None:
    """A click callback: the option's ISO 8601 instant (``parse_instant``), or None."""
    return None if value is None else parse_instant(value, param.opts[0])


@contextmanager
def options_checked() -> Iterator[None]:
    """Around a command whose every input is an option or argument: an InvalidInput the
    engine raises is a bad option (exit 2), not a refused command (exit 1)."""
    try:
        yield
    except InvalidInput as wrong:
        raise InvalidOption(wrong.message) from None
