"""Guards that pick the destination of a platform ``rule`` from its ``outcome``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aftersale.domain.model import Outcome


def refund(fields: Mapping[str, Any], case: Any) -> str | None:
    return None if fields.get("outcome") == Outcome.refund else "outcome is not refund"


def deny(fields: Mapping[str, Any], case: Any) -> str | None:
    return None if fields.get("outcome") == Outcome.deny else "outcome is not deny"


def send_back(fields: Mapping[str, Any], case: Any) -> str | None:
    if fields.get("outcome") != Outcome.return_:
        return "outcome is not return"
    if case.return_shipped:
        return "outcome return is only possible before the item was sent back"
    return None
