"""What the ticket tests share: shops with a first order in a market, appeal evidence, and a
copy of the shipped config whose governance.toml says something else."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aftersale import AfterSale
from aftersale.config import default_config_dir
from tests.conftest import MONDAY_9AM

PAID = MONDAY_9AM  # every shop's first order
ISSUED = PAID + timedelta(hours=1)
TICK = timedelta(microseconds=1)  # the smallest step an instant takes
EVIDENCE = [{"kind": "photo", "uri": "https://evidence.example/dock.jpg"}]
CURRENCIES = {"US": "USD", "UK": "GBP", "MY": "MYR", "TH": "THB"}


def shop(engine: AfterSale, shop_id: str, market: str = "US", at: datetime = PAID) -> str:
    """A shop that exists: its first order paid at ``at`` (its market is that order's)."""
    currency = CURRENCIES[market]
    engine.order_paid(f"{shop_id}-first", shop_id, "buyer-ada", market, currency, "20.00", at=at)
    return shop_id


def issue(
    engine: AfterSale, ticket_id: str, shop_id: str, points: int, at: datetime, **fields: Any
) -> dict[str, Any]:
    return engine.issue_ticket(
        ticket_id, shop_id, "fulfilment", "parcels left the dock late", points, at=at, **fields
    )


def appeal(engine: AfterSale, ticket_id: str, at: datetime) -> dict[str, Any]:
    return engine.act_ticket(ticket_id, "appeal", "seller", at=at, evidence=EVIDENCE)


def governance_config(folder: Path, *replacements: tuple[str, str]) -> Path:
    """A copy of the shipped config with each (old, new) text replaced in governance.toml."""
    config = folder / "config"
    shutil.copytree(default_config_dir(), config)
    toml = config / "governance.toml"
    text = toml.read_text()
    for old, new in replacements:
        assert old in text, f"governance.toml has no {old!r}"
        text = text.replace(old, new, 1)
    toml.write_text(text)
    return config


def events_of(engine: AfterSale, type_: str) -> list[dict[str, Any]]:
    return [event for event in engine.log(0, 10_000) if event["type"] == type_]
