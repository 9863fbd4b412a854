"""A shop's busy weeks, played through the engine, and its report folded from the event log:
what the health tests compare the rollups with."""

from __future__ import annotations

import shutil
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aftersale import AfterSale, VirtualClock
from aftersale.clock import iso
from aftersale.config import default_config_dir
from aftersale.domain.health.report import health_report


def busy_shop(
    engine: AfterSale, clock: VirtualClock, shop: str, *, prefix: str = "", orders: int = 12
) -> None:
    """Orders paid, shipped (some after their dispatch deadline), delivered, reviewed; a case
    or two timing out; chat answered or not. Ids: ``{prefix}O-n``, ``C-n``, ``M-n``."""
    for n in range(orders):
        order_id = f"{prefix}O-{n}"
        dispatch_by = iso(clock.now() + timedelta(hours=30))
        engine.order_paid(order_id, shop, "buyer-a", "US", "USD", "20.00", dispatch_by)
        clock.move_to(clock.now() + timedelta(hours=20 + 7 * (n % 5)))
        engine.order_shipped(order_id)
        engine.order_delivered(order_id)
        if n % 3 == 0:
            engine.review_posted(order_id, 1 + n % 5, "product")
        if n % 4 == 0:
            engine.open_case(f"{prefix}C-{n}", order_id, "refund_only", "buyer", "damaged")
        engine.message_received(f"{prefix}M-{n}", shop, order_id if n % 2 else None)
        if n % 3:
            clock.move_to(clock.now() + timedelta(hours=n))
            engine.message_replied(f"{prefix}M-{n}")
    clock.move_to(clock.now() + timedelta(days=3))
    engine.fire_due()


def report_from_log(engine: AfterSale, shop: str, as_of: datetime) -> dict[str, Any]:
    """The report a full recomputation from the shop's event log gives."""
    assert engine.health_settings is not None
    settings, version = engine.health_settings
    return health_report(shop, engine.storage.health.shop_events(shop), as_of, settings, version)


def other_health_toml(folder: Path) -> Path:
    """A copy of the shipped config whose health.toml counts the 60-day metrics over 7 days."""
    config = folder / "config"
    shutil.copytree(default_config_dir(), config)
    toml = config / "health.toml"
    toml.write_text(toml.read_text().replace("window_days = 60", "window_days = 7"))
    return config
