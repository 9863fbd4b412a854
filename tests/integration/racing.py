"""Calls started at one instant, on threads of their own: what the race tests race."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from aftersale import AfterSaleError


def at_once(calls: list[Callable[[], Any]]) -> list[Any]:
    """Each call's result, or the error it raised, all started at one barrier."""
    barrier = threading.Barrier(len(calls))
    results: list[Any] = [None] * len(calls)

    def run(index: int) -> None:
        barrier.wait()
        try:
            results[index] = calls[index]()
        except AfterSaleError as error:
            results[index] = error

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
