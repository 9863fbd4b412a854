"""docs/replay.md's and docs/operations.md's blocks: the replay line types and their fields,
an example run, the error codes, the exit statuses and the command line, from the code."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from collections.abc import Callable, Iterator
from importlib.resources import files
from typing import Any

import click

from aftersale import errors
from aftersale.docgen.markdown import code, codes, first_line, json_block, table
from aftersale.domain.requests import ACTION_FIELDS
from aftersale.errors import AfterSaleError, CommandRefused
from aftersale.replay import LINE_FIELDS, _appliers, example_names, replay
from aftersale.service.engine import AfterSale

INVALID_JSON = "the line is not JSON, or not a JSON object (replay only)"
# A scenario short enough to show whole, with a line the engine refuses.
EXAMPLE = (
    "# a buyer cancels inside the free hour; the seller cannot approve what is already done",
    '{"at": "2026-03-02T09:00:00Z", "type": "order.paid", "order_id": "US-100231", '
    '"shop_id": "shop-lumen-audio", "buyer_id": "buyer-ada", "market": "US", '
    '"currency": "USD", "amount": "59.90"}',
    '{"at": "2026-03-02T09:40:00Z", "type": "case.open", "case_id": "CX-1", '
    '"order_id": "US-100231", "kind": "cancellation", "actor": "buyer", '
    '"reason": "changed_mind"}',
    '{"at": "2026-03-02T10:00:00Z", "type": "case.action", "case_id": "CX-1", '
    '"action": "approve", "actor": "seller"}',
)


class _Names:
    """Stands in for the engine: each applier is the name of the façade method it calls."""

    def __getattr__(self, name: str) -> str:
        return name


def replay_lines() -> str:
    rows = []
    for line_type, method in _appliers(_Names()).items():  # type: ignore[arg-type]
        if not isinstance(method, str):  # clock.advance calls nothing
            rows.append((code(line_type), "—", "—", "nothing: the clock moves"))
            continue
        params = inspect.signature(getattr(AfterSale, method)).parameters
        taken = [name for name in params if name in LINE_FIELDS[line_type]]
        needed = [n for n in taken if params[n].default is inspect.Parameter.empty]
        optional = codes([n for n in taken if n not in needed])
        if line_type == "case.action":
            own = sorted(frozenset[str]().union(*ACTION_FIELDS.values()))
            optional += f", and the action's own fields ({codes(own)})"
        rows.append((code(line_type), codes(needed), optional, code(f"AfterSale.{method}")))
    return table(("type", "fields", "optional", "calls"), rows)


def shipped_examples() -> str:
    rows = []
    for name in example_names():
        text = (files("aftersale.scenarios") / f"{name}.jsonl").read_text("utf-8")
        comments = [line for line in text.splitlines() if line.startswith("#")]
        said = comments[0].lstrip("# ").strip() if comments else ""
        played = [line for line in text.splitlines() if line.strip() and line[0] != "#"]
        rows.append((code(name), len(played), said))
    return table(("`--example`", "lines", "what it plays"), rows)


def limits() -> str:
    from aftersale.domain import validation as check
    from aftersale.replay import MAX_LINE_CHARACTERS

    rows = [
        ("a line", f"at most {MAX_LINE_CHARACTERS:,} characters"),
        ("an id (`order_id`, `case_id`, `shop_id`, `message_id`, ...)",
         f"1 to {check.MAX_ID_LENGTH} printable characters, no surrounding spaces"),
        ("an instant", f"ISO 8601 with a UTC offset, its UTC value in the years "
         f"{check.FIRST_YEAR} to {check.LAST_YEAR}"),
        ("a `note`", f"at most {check.MAX_NOTE_LENGTH} characters, no NUL"),
        ("a `tracking`", f"at most {check.MAX_TRACKING_LENGTH} characters (`ship_return`'s not "
         "blank)"),
        ("an `amount`", 'a positive plain decimal string (`"25.00"`: ASCII digits and a point, '
         "never a float), at most the market currency's decimals and 16 digits before the "
         "point"),
        ("`evidence`", f"at most {check.MAX_EVIDENCE_ITEMS} items; a `uri` of at most "
         f"{check.MAX_URI_LENGTH} characters; a `sha256` of 64 lowercase hex digits"),
    ]  # fmt: skip
    return table(("what", "accepted"), rows)


def example_input() -> str:
    return "```jsonl\n" + "\n".join(EXAMPLE) + "\n```\n"


def example_output() -> str:
    """The ``--json`` output of EXAMPLE, its health report and event ids cut short."""
    result = replay(EXAMPLE).as_dict()
    for event in result["events"]:
        event["event_id"] = "…"
    result["health"] = {shop: {"…": "the report of health.md"} for shop in result["health"]}
    return json_block(result)


def _meanings() -> dict[str, str]:
    """Each code's line in the exception tree drawn in errors.py's docstring."""
    found = {}
    for line in (errors.__doc__ or "").splitlines():
        words = line.split()
        for word in words:
            if word.endswith(":") and word[:-1].isidentifier() and word[:-1].islower():
                found[word[:-1]] = line.split(word, 1)[1].strip()
                break
    return found


def error_codes() -> str:
    classes = {cls.code: cls for cls in _subclasses(CommandRefused)}
    meanings = _meanings()
    rows = [(code("invalid_json"), "—", INVALID_JSON)]
    for name in errors.ERROR_CODES[1:]:
        cls = classes[name]
        rows.append((code(name), code(f"aftersale.{cls.__name__}"), meanings[name]))
    return table(("code", "exception", "meaning"), rows)


def _every_module() -> type[AfterSaleError]:
    """AfterSaleError, once every module of the package that may define an error is imported
    (whatever was imported before, the table is the same)."""
    import aftersale

    skipped = ("aftersale.adapters.migrations", "aftersale.docgen", "aftersale.__main__")
    for module in pkgutil.walk_packages(aftersale.__path__, "aftersale."):
        if not module.name.startswith(skipped):
            importlib.import_module(module.name)
    return AfterSaleError


def _subclasses(root: type[Any]) -> Iterator[type[Any]]:
    for cls in root.__subclasses__():
        yield cls
        yield from _subclasses(cls)


def _code(cls: type[AfterSaleError]) -> str:
    from aftersale.cli_options import error_code

    return error_code(cls.__new__(cls))


def _said(kind: type[AfterSaleError]) -> str:
    """An error class's docstring as a clause: its first sentence, no "(exit status N)"."""
    line = re.sub(r"\s*\(exit status \d[^)]*\)", "", first_line(kind.__doc__)).rstrip(".")
    return line[:1].lower() + line[1:]


def exit_statuses() -> str:
    from aftersale.cli_options import EXIT_STATUS

    by_status: dict[int, list[type[AfterSaleError]]] = {}
    for cls in sorted(_subclasses(_every_module()), key=lambda c: c.__name__):
        if cls is CommandRefused or cls.__module__.split(".")[0] != "aftersale":
            continue
        status = next(status for kind, status in EXIT_STATUS if issubclass(cls, kind))
        by_status.setdefault(status, []).append(cls)
    rows: list[tuple[object, ...]] = [(0, "done", "—")]
    for status in sorted(by_status):
        classes = by_status[status]
        heads = [kind for kind, s in EXIT_STATUS if s == status and kind is not AfterSaleError]
        said = "; ".join(_said(kind) for kind in heads)
        if any(kind is AfterSaleError for kind, s in EXIT_STATUS if s == status):
            said += "; any other aftersale error"
        if status == 2:
            said += "; a bad option or argument (click's usage errors)"
        rows.append((status, said, codes(sorted({_code(cls) for cls in classes}))))
    return table(("exit status", "when", "error codes (`--json`: `error.code`)"), rows)


# -- the command line -------------------------------------------------------------------------


def _commands() -> Iterator[tuple[str, click.Command]]:
    from aftersale.cli import cli

    def walk(command: click.Command, path: str) -> Iterator[tuple[str, click.Command]]:
        if isinstance(command, click.Group):
            for name in sorted(command.commands):
                yield from walk(command.commands[name], f"{path} {name}")
        else:
            yield path, command

    yield from walk(cli, "aftersale")


def _value(param: click.Parameter, ctx: click.Context) -> str:
    if isinstance(param.type, click.Choice):
        return "|".join(str(choice) for choice in param.type.choices)
    return param.metavar or param.name.upper() if param.name else "VALUE"


def _synopsis(path: str, command: click.Command) -> str:
    ctx = click.Context(command, info_name=path)
    parts = [path]
    for param in command.params:
        if isinstance(param, click.Argument):
            name = _value(param, ctx)
            parts.append(name if param.required else f"[{name}]")
        elif isinstance(param, click.Option):
            flag = max(param.opts, key=len)
            shown = flag if param.is_flag else f"{flag} {_value(param, ctx)}"
            parts.append(shown if param.required else f"[{shown}]")
    return " ".join(parts)


def commands() -> str:
    rows = [
        (code(_synopsis(path, command)), first_line(command.help)) for path, command in _commands()
    ]
    return table(("command", "does"), rows)


def _default(param: click.Option) -> str:
    if param.is_flag or param.default in (None, ()) or param.required:
        return "required" if param.required else ""
    if not isinstance(param.default, str | int | float):
        return ""
    return code(param.default)


def options() -> str:
    """Every command's options, one table per command."""
    parts = []
    for path, command in _commands():
        rows = [
            (code(max(p.opts, key=len)), _default(p), (p.help or "").replace("``", "`"))
            for p in command.params
            if isinstance(p, click.Option)
        ]
        parts.append(f"**`{path}`**: {first_line(command.help)}\n")
        if rows:
            parts.append(table(("option", "default", "what"), rows))
    return "\n".join(parts)


def status() -> str:
    from aftersale.docgen.samples import samples

    return json_block(samples().status)


BLOCKS: dict[str, Callable[[], str]] = {
    "status-example": status,
    "replay-lines": replay_lines,
    "replay-shipped-examples": shipped_examples,
    "input-limits": limits,
    "replay-example-input": example_input,
    "replay-example-output": example_output,
    "error-codes": error_codes,
    "exit-statuses": exit_statuses,
    "commands": commands,
    "command-options": options,
}
