"""One check per shape of config value, shared by every loader of config/.

Each check takes the raw TOML value and its :class:`Key` (file and dotted key) and returns the
value typed, or raises a :class:`~aftersale.errors.PolicyError` naming both. A missing value is
``None`` (TOML has no null). Limits, so that no edit can overflow date arithmetic:

* durations and day counts: at most ``MAX_WINDOW_DAYS`` (3650 days, about ten years);
* counts and credits: at most ``MAX_COUNT``;
* codes (reason codes, kinds, topics, names): printable text of at most 128 characters.

Reading a file is checked too: a missing file, a directory, unreadable or non-UTF-8 bytes, bad
TOML and nesting too deep for the parser each become a PolicyError on ``(file)`` or
``(syntax)``. Tables refuse keys they do not know, listing the ones they allow.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NoReturn

from aftersale.domain.policy import MAX_WINDOW_DAYS
from aftersale.errors import PolicyError

MAX_COUNT = 1_000_000
MAX_CODE_LENGTH = 128
Predicate = Callable[[Any], bool]
Check = Callable[[Any, "Key"], Any]
_DURATION = re.compile(r"(\d{1,12})([smhd])")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]{1,64}")


@dataclass(frozen=True)
class Key:
    """Where a value sits: its file, and its dotted key ("" for the whole file)."""

    file: str
    dotted: str = ""

    def __truediv__(self, name: str) -> Key:
        shown = name if _PLAIN_KEY.fullmatch(name) else repr(name[:40])
        return Key(self.file, f"{self.dotted}.{shown}" if self.dotted else shown)

    def refuse(self, problem: str) -> NoReturn:
        raise PolicyError(self.file, self.dotted or "(file)", problem)

    def expect(self, raw: Any, shape: str) -> NoReturn:
        self.refuse(
            f"missing: must be {shape}" if raw is None else f"must be {shape}, not {shown(raw)}"
        )


def shown(raw: Any) -> str:
    """A value as a message may quote it: short, and never a whole table."""
    if isinstance(raw, dict):
        return "a table"
    if isinstance(raw, list):
        return "a list"
    if isinstance(raw, int) and not isinstance(raw, bool) and raw.bit_length() > 64:
        return "a number too large"
    text = repr(raw)
    return text if len(text) <= 40 else text[:37] + "..."


def read_toml(folder: Path, name: str) -> dict[str, Any]:
    """The TOML file ``folder/name`` as a dict; every way it can fail is a PolicyError."""
    where, syntax = Key(name), Key(name, "(syntax)")
    try:
        text = (folder / name).read_bytes().decode("utf-8")
        return tomllib.loads(text)
    except FileNotFoundError:
        where.refuse(f"missing from {folder.name}/")
    except IsADirectoryError:
        where.refuse("is a directory, not a file")
    except OSError as error:
        where.refuse(f"cannot be read: {error.strerror or type(error).__name__}")
    except UnicodeDecodeError as error:
        where.refuse(f"is not UTF-8 text (byte {error.start} is {error.object[error.start]:#x})")
    except RecursionError:
        syntax.refuse("arrays or tables are nested too deeply")
    except ValueError as error:  # tomllib.TOMLDecodeError, or an integer of too many digits
        syntax.refuse(str(error)[:200])


# -- predicates: the shapes, as tests a value passes or not ------------------------------------


def is_code(raw: Any) -> bool:
    return (
        isinstance(raw, str)
        and 0 < len(raw) <= MAX_CODE_LENGTH
        and raw.isprintable()
        and raw == raw.strip()
    )


def is_whole(low: int, high: int) -> Predicate:
    return lambda raw: isinstance(raw, int) and not isinstance(raw, bool) and low <= raw <= high


def is_number(low: float, high: float) -> Predicate:
    """Finite by the bounds: NaN and the infinities fail ``low <= raw <= high``."""
    return lambda raw: (
        isinstance(raw, int | float) and not isinstance(raw, bool) and low <= raw <= high
    )


# -- checks: a shape, its key, and the value typed ---------------------------------------------


def table(
    raw: Any, where: Key, allowed: Iterable[str] | None = None, *, optional: bool = False
) -> dict[str, Any]:
    """A table whose keys are all in ``allowed`` (any keys when None)."""
    if raw is None and optional:
        return {}
    if not isinstance(raw, dict):
        where.refuse("missing table" if raw is None else f"must be a table, not {shown(raw)}")
    if allowed is not None:
        names = list(allowed)
        for name in raw:
            if name not in names:
                (where / name).refuse(f"unknown key; allowed: {', '.join(names) or 'none'}")
    return raw


def fields(raw: Any, where: Key, checks: Mapping[str, Check]) -> dict[str, Any]:
    """A table of these keys only, each value passed through its check (None when missing)."""
    known = table(raw, where, checks)
    return {key: test(known.get(key), where / key) for key, test in checks.items()}


def optional(test: Check, default: Any) -> Check:
    """``test``, except that a missing value is ``default``."""
    return lambda raw, where: default if raw is None else test(raw, where)


def text(raw: Any, where: Key, pattern: str, shape: str) -> str:
    if not isinstance(raw, str) or not re.fullmatch(pattern, raw):
        where.expect(raw, shape)
    return raw


def code(raw: Any, where: Key) -> str:
    if not is_code(raw):
        where.expect(raw, f"a code of 1 to {MAX_CODE_LENGTH} printable characters")
    return str(raw)


def choice(raw: Any, where: Key, allowed: Iterable[str]) -> str:
    options = list(allowed)
    if not isinstance(raw, str) or raw not in options:
        where.expect(raw, f"one of {', '.join(options)}")
    return raw


def whole(raw: Any, where: Key, low: int, high: int, unit: str = "") -> int:
    if not is_whole(low, high)(raw):
        where.expect(raw, f"a whole number from {low} to {high}{unit}")
    return int(raw)


def days(raw: Any, where: Key) -> int:
    """A day count: 1 to MAX_WINDOW_DAYS."""
    return whole(raw, where, 1, MAX_WINDOW_DAYS, " (days)")


def count(raw: Any, where: Key) -> int:
    """A count or a credit: 0 to MAX_COUNT."""
    return whole(raw, where, 0, MAX_COUNT)


def number(raw: Any, where: Key, low: float, high: float) -> float:
    if not is_number(low, high)(raw):
        where.expect(raw, f"a number from {low:g} to {high:g}")
    return float(raw)


def duration(raw: Any, where: Key) -> timedelta:
    """A positive natural-time duration like "90s", "30m", "48h", "5d", at most 3650 days."""
    match = _DURATION.fullmatch(raw) if isinstance(raw, str) else None
    seconds = int(match.group(1)) * _SECONDS[match.group(2)] if match else 0
    if not 0 < seconds <= MAX_WINDOW_DAYS * 86400:
        where.expect(
            raw, f"a duration like '90s', '30m', '48h', '5d' of at most {MAX_WINDOW_DAYS} days"
        )
    return timedelta(seconds=seconds)


def codes(raw: Any, where: Key, allowed: Iterable[str] | None = None) -> list[str]:
    """A list of codes, each in ``allowed`` when given."""
    if not isinstance(raw, list) or not all(is_code(item) for item in raw):
        where.expect(raw, f"a list of codes of 1 to {MAX_CODE_LENGTH} printable characters")
    if allowed is not None:
        options = list(allowed)
        for item in raw:
            if item not in options:
                where.refuse(f"unknown {item!r}; allowed: {', '.join(options) or 'none'}")
    return list(raw)


def pairs(
    raw: Any, where: Key, shape: str, first: Predicate, second: Predicate, at_least: int
) -> list[tuple[Any, Any]]:
    """A list of at least ``at_least`` two-element lists, each element passing its test."""
    if not (
        isinstance(raw, list)
        and len(raw) >= at_least
        and all(
            isinstance(pair, list) and len(pair) == 2 and first(pair[0]) and second(pair[1])
            for pair in raw
        )
    ):
        where.expect(raw, f"a list of at least {at_least} {shape} pairs")
    return [(pair[0], pair[1]) for pair in raw]
