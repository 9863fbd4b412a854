"""The outbox cursor a host keeps: a token ``"<transaction id>.<seq>"``.

``0`` on SQLite and in memory (one writer at a time: ``seq`` order is commit order), and for
the events PostgreSQL wrote before the outbox recorded transactions (:mod:`outbox`). Opaque to
hosts, who keep the ``cursor`` of the last event they relayed and pass it back. Every backend
reads and writes it, so it lives here, apart from the SQL statements of :mod:`outbox`.
"""

from __future__ import annotations

import re
from typing import Any

from aftersale.errors import InvalidInput

BIGINT = 2**63 - 1  # both parts are bigint columns on PostgreSQL
TOKEN = re.compile(r"([0-9]{1,19})\.([0-9]{1,19})")


def parse_cursor(cursor: object) -> tuple[int, int]:
    """(transaction id, seq) of a cursor token; ``0``, ``"0"`` or ``None`` is the beginning."""
    if cursor is None or (type(cursor) is int and cursor == 0) or cursor == "0":
        return 0, 0
    found = TOKEN.fullmatch(cursor) if isinstance(cursor, str) else None
    if found is None or max(int(found[1]), int(found[2])) > BIGINT:
        raise InvalidInput(
            f"cursor must be 0 (the beginning) or the 'cursor' of the last event relayed "
            f"(a token like '0.42'), not {str(cursor)[:40]!r}"
        )
    return int(found[1]), int(found[2])


def token(tx_id: int | None, seq: int) -> str:
    """The cursor of the event ``seq`` written by transaction ``tx_id`` (None: 0)."""
    return f"{tx_id or 0}.{seq}"


def after_params(cursor: tuple[int, int], limit: int) -> dict[str, Any]:
    """The bind parameters of ``outbox.AFTER``: up to ``limit`` events after ``cursor``."""
    return {"x": cursor[0], "s": cursor[1], "n": limit}
