"""The daemon process settles its memory once started: start-up objects out of the collector's
sight, young objects collected less often (a sweep batch makes tens of thousands)."""

from __future__ import annotations

import gc

from aftersale.daemon import GC_YOUNG_THRESHOLD, settle_memory


def test_settling_freezes_what_start_up_made_and_raises_the_young_threshold() -> None:
    threshold = gc.get_threshold()
    try:
        settle_memory()
        assert gc.get_freeze_count() > 1000
        assert gc.get_threshold() == (GC_YOUNG_THRESHOLD, *threshold[1:])
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
