"""The few Markdown shapes the generated blocks use: tables, code, lists of codes, durations."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import timedelta
from typing import Any


def code(text: object) -> str:
    return f"`{text}`"


def codes(items: Iterable[object], empty: str = "—") -> str:
    listed = [code(item) for item in items]
    return ", ".join(listed) if listed else empty


def table(header: Sequence[str], rows: Iterable[Sequence[object]]) -> str:
    """A GitHub table; a ``|`` inside a cell is escaped."""

    def line(cells: Sequence[object]) -> str:
        return "| " + " | ".join(str(cell).replace("|", "\\|") for cell in cells) + " |"

    lines = [line(header), "|" + "|".join("---" for _ in header) + "|"]
    lines.extend(line(row) for row in rows)
    return "\n".join(lines) + "\n"


def json_block(value: Any) -> str:
    return "```json\n" + json.dumps(value, indent=2, ensure_ascii=False) + "\n```\n"


def duration(window: timedelta) -> str:
    """A timer as config/ writes it, with its hours when that reads better: ``48 h``, ``5 d``."""
    seconds = int(window.total_seconds())
    if seconds % 86400 == 0 and seconds >= 3 * 86400:
        return f"{seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"{seconds // 3600} h"
    if seconds % 60 == 0:
        return f"{seconds // 60} min"
    return f"{seconds} s"


def first_line(text: str | None) -> str:
    """A docstring's first paragraph on one line, with reST literals as Markdown ones."""
    paragraph = (text or "").strip().split("\n\n")[0]
    return " ".join(paragraph.split()).replace("``", "`")
