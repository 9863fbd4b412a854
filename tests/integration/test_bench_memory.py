"""The daemon-memory figure measures the daemon's own memory, not the bench's it was forked from.

On Linux a process keeps, through exec, the high-water mark of the image it replaced, so a
daemon started by a large bench process once reported the bench's size as its own peak.
"""

from __future__ import annotations

import sys

import pytest

from aftersale.bench.figures import SCALES, daemon_memory

PARENT_MB = 400


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the exec high-water is Linux's")
def test_a_large_bench_process_does_not_inflate_the_daemons_peak() -> None:
    ballast = bytearray(PARENT_MB * 1024 * 1024)
    for page in range(0, len(ballast), 4096):  # touch every page: resident, not just reserved
        ballast[page] = 1
    (figure,) = daemon_memory(SCALES["tiny"], "sqlite://")
    del ballast
    # a daemon over 500 open cases needs a fraction of what this process holds
    assert 0 < figure.ours < PARENT_MB / 2
