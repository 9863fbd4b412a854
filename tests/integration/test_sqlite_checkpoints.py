"""SQLite's WAL is checkpointed by a thread of the engine's (adapters/checkpoint.py): the log
stays bounded under a writer that never pauses and a reader that keeps coming back, an idle log
is given back, and no thread outlives its engine."""

from __future__ import annotations

import gc
import os
import sqlite3
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy import text

from aftersale.adapters import checkpoint, db
from aftersale.adapters.db import READ_ONLY, make_engine

PAGE = 4096
ROW = b"x" * (8 * PAGE)
COMMITS = 200  # a row of about eight pages, so a few commits make a large log


# The checkpoint threads alive when the running test began: engines of other tests in this
# worker that were never disposed keep theirs until they are collected. Only a test's own count.
_EARLIER: set[threading.Thread] = set()


def _checkpoint_threads() -> list[threading.Thread]:
    return [
        t
        for t in threading.enumerate()
        if t.name == "aftersale-checkpoint" and t.is_alive() and t not in _EARLIER
    ]


def _waits_for(condition: object, seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return True
        time.sleep(0.01)
    return False


def _engine(tmp_path: Path) -> sqlalchemy.Engine:
    engine = make_engine(f"sqlite:///{tmp_path / 'wal.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE blobs (id INTEGER PRIMARY KEY, body BLOB)"))
    return engine


def _write(engine: sqlalchemy.Engine, commits: int, rows: int = 4) -> None:
    for _ in range(commits):
        with engine.begin() as connection:
            connection.execute(text("INSERT INTO blobs (body) VALUES (:b)"), [{"b": ROW}] * rows)


@pytest.fixture(autouse=True)
def no_thread_left() -> object:
    gc.collect()
    _EARLIER.clear()
    _EARLIER.update(_checkpoint_threads())
    yield
    gc.collect()  # an engine a test dropped stops its thread when collected
    assert _waits_for(lambda: not _checkpoint_threads()), "a checkpoint thread outlived its test"


def test_the_wal_stays_bounded_under_a_writer_that_never_pauses_and_a_returning_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the same design at a smaller scale: a net of 300 pages, a look every 20 ms
    monkeypatch.setattr(db, "WRITER_AUTOCHECKPOINT_PAGES", 300)
    monkeypatch.setattr(checkpoint, "POLL_SECONDS", 0.02)
    engine = _engine(tmp_path)
    wal = tmp_path / "wal.db-wal"
    stop, largest = threading.Event(), [0]

    def reader() -> None:  # a read transaction now and then, as status and views take them
        while not stop.is_set():
            reading = engine.connect().execution_options(**{READ_ONLY: True})
            with reading as connection, connection.begin():
                connection.execute(text("SELECT count(*) FROM blobs")).scalar()
                time.sleep(0.005)
            time.sleep(0.02)

    reads = threading.Thread(target=reader)
    reads.start()
    try:
        for _ in range(COMMITS):  # 4 rows of 8 pages each: about 6,600 pages, 27 MB
            _write(engine, 1)
            largest[0] = max(largest[0], wal.stat().st_size)
    finally:
        stop.set()
        reads.join()
    assert len(_checkpoint_threads()) == 1
    # The log starts over again and again, its largest a fraction of what was written: under
    # 1,000 pages in quiet runs, up to about 1,900 on a loaded machine, every page of it
    # when only the thread checkpoints (the log cannot start over under a busy writer).
    written = COMMITS * 33 * PAGE
    assert largest[0] < written / 3, f"the WAL grew to {largest[0]:,} bytes of {written:,}"
    # every page reached the database file, and the idle log was given back
    assert _waits_for(lambda: wal.stat().st_size == 0)
    with sqlite3.connect(tmp_path / "wal.db") as bare:
        assert bare.execute("SELECT count(*) FROM blobs").fetchone() == (4 * COMMITS,)
    engine.dispose()


def test_the_thread_copies_the_log_into_the_database_where_the_writer_would_not(
    tmp_path: Path,
) -> None:
    engine = _engine(tmp_path)
    database, wal = tmp_path / "wal.db", tmp_path / "wal.db-wal"
    before = database.stat().st_size
    _write(engine, 10)  # about 330 pages: far below the writers' own checkpoint
    assert wal.stat().st_size > 300 * PAGE
    assert engine.dialect.name == "sqlite"
    # the thread copies them and then, the log idle, truncates it; the writer did neither
    assert _waits_for(lambda: wal.stat().st_size == 0)
    assert database.stat().st_size > before + 300 * PAGE
    engine.dispose()


def test_dispose_stops_the_thread_and_the_next_use_starts_it_again(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    assert len(_checkpoint_threads()) == 1
    engine.dispose()  # what SqlStorage.close and AfterSale.close do
    assert _checkpoint_threads() == []
    _write(engine, 1)
    assert len(_checkpoint_threads()) == 1
    engine.dispose()
    assert _checkpoint_threads() == []


def test_an_engine_dropped_without_dispose_stops_its_thread(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    assert len(_checkpoint_threads()) == 1
    del engine
    gc.collect()
    assert _waits_for(lambda: not _checkpoint_threads())


def test_a_memory_database_has_no_thread() -> None:
    engine = make_engine("sqlite://")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE t (x)"))
    assert _checkpoint_threads() == []
    engine.dispose()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX")
def test_a_forked_child_checkpoints_with_a_thread_of_its_own(tmp_path: Path) -> None:
    engine = _engine(tmp_path)
    assert len(_checkpoint_threads()) == 1
    # forked while the thread is idle (a thread mid-checkpoint holds SQLite's mutexes)
    assert _waits_for(lambda: (tmp_path / "wal.db-wal").stat().st_size == 0)
    pid = os.fork()
    if pid == 0:  # the child: no thread came with it; its first checkout starts one
        code = 1
        try:
            engine.dispose(close=False)  # the pool's connections are the parent's
            if not _checkpoint_threads():
                _write(engine, 1)
                code = 0 if len(_checkpoint_threads()) == 1 else 2
        except BaseException as error:
            (tmp_path / "child-error").write_text(repr(error))
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    failed = tmp_path / "child-error"
    assert os.waitstatus_to_exitcode(status) == 0, failed.exists() and failed.read_text()
    assert len(_checkpoint_threads()) == 1  # the parent's own goes on
    engine.dispose()
