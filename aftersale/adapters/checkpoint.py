"""SQLite's write-ahead log checkpointed off the writer's commit path.

By default the connection that commits past 1,000 pages of WAL copies them into the database
and syncs it before its ``commit()`` returns: on this engine that is a sweep batch's or a
command's own time. Here a thread of the engine's, on a ``sqlite3`` connection of its own,
checkpoints (PASSIVE: it never waits for nor blocks a reader or the writer) whenever the log
has grown since it last looked, so the copying and syncing overlap the writer's next batch.

A PASSIVE checkpoint alone cannot bound the log under a writer that never pauses: the log
starts again from its first frame only when a write transaction begins with every frame
already copied, and the sweep begins its next batch right after each commit, before the
thread has caught up (without the writer's own checkpoint the WAL reached 432 MB for 20,000
deadlines). So the writers keep SQLite's automatic checkpoint at a higher mark,
:data:`WRITER_AUTOCHECKPOINT_PAGES`, as the net that lets the log start over: it copies only
what this thread has not, then the next transaction restarts the log. When the log stops
growing the thread truncates it to nothing, so an idle database does not keep a large file.

Durability is SQLite's under WAL and ``synchronous=NORMAL`` either way: a commit is durable
once the OS has the WAL frames, checkpoints only move committed pages into the database file.

The thread starts with the engine's first connection to a file (never for ``:memory:``), stops
when the engine is disposed (``SqlStorage.close``) or garbage-collected, and starts again on
the next checkout after either or in a forked child (a thread does not survive ``fork``; the
child never touches the connection it inherited, which belongs to the parent's thread).
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import weakref
from pathlib import Path

log = logging.getLogger("aftersale.storage")

# How often the thread looks at the log's size and time (an os.stat: nothing is read or
# locked while the log is unchanged). A sweep batch of 500 writes about 2,000 pages a commit,
# several commits a second: 0.2 s keeps each checkpoint to one or two commits' pages.
POLL_SECONDS = 0.2
# The writers' own automatic checkpoint (SQLite's default: 1,000 pages). About five sweep
# batches of 500, or 20,000 commands: high enough that the thread does nearly all the copying,
# low enough that the log (4 KB a page) stays under about 40 MB plus one batch.
WRITER_AUTOCHECKPOINT_PAGES = 10_000

_checkpointers: weakref.WeakSet[Checkpointer] = weakref.WeakSet()
_fork_hook: list[bool] = []  # registered with the first checkpointer, not at import
_held: list[Checkpointer] = []  # whose checkpoints wait while this process forks


class Checkpointer:
    """The background checkpoints of one engine's SQLite file."""

    def __init__(self) -> None:
        self.database: str | None = None  # the file, told by the engine's first connection
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # held while a checkpoint runs, and by fork: a child forked mid-checkpoint would
        # inherit SQLite's record of locks no thread of its own will ever release
        self._checkpointing = threading.Lock()
        _checkpointers.add(self)
        if not _fork_hook and hasattr(os, "register_at_fork"):  # Windows cannot fork
            os.register_at_fork(
                before=_before_fork,
                after_in_parent=_after_fork_in_parent,
                after_in_child=_after_fork_in_child,
            )
            _fork_hook.append(True)

    def watch(self, database: str) -> None:
        """Checkpoint ``database`` (a file in WAL mode) from now on."""
        self.database = database
        self.ensure_running()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def ensure_running(self) -> None:
        """Start the thread unless it runs (cheap when it does: one attribute read)."""
        if self._thread is not None or self.database is None:
            return
        with self._lock:
            if self._thread is None:
                self._stop = threading.Event()
                self._thread = threading.Thread(
                    target=self._run, name="aftersale-checkpoint", daemon=True
                )
                self._thread.start()

    def stop(self) -> None:
        """Stop the thread and close its connection; ``ensure_running`` starts it again."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=30)

    def _after_fork_in_child(self) -> None:
        # The parent's thread is not in this process; its connection, on that thread's stack,
        # is never closed here (closing it would drop this process's locks on the file).
        self._thread = None
        self._lock = threading.Lock()
        self._checkpointing = threading.Lock()

    def _run(self) -> None:
        stop, database = self._stop, self.database
        assert database is not None
        wal = Path(f"{database}-wal")
        seen: tuple[int, int] | None = None  # the log's (size, mtime) at the last checkpoint
        truncated = True
        # Never waits: a checkpoint that cannot take a lock at once does what it can without
        # it (TRUNCATE then acts as PASSIVE) and the next poll tries again.
        connection = sqlite3.connect(
            database, isolation_level=None, check_same_thread=False, timeout=0
        )
        try:
            while not stop.wait(POLL_SECONDS):
                try:
                    stat = wal.stat()
                except FileNotFoundError:
                    continue
                now = (stat.st_size, stat.st_mtime_ns)
                if now != seen:
                    seen, truncated = now, False
                    with self._checkpointing:
                        connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                elif not truncated and stat.st_size:
                    # unchanged for a whole poll: idle, so give the file back
                    with self._checkpointing:
                        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
                    seen, truncated = None, True
        except sqlite3.Error as error:  # the writers' own checkpoints still bound the log
            log.warning("background WAL checkpoints stopped: %s", error)
        finally:
            connection.close()


def _before_fork() -> None:
    _held[:] = list(_checkpointers)
    for checkpointer in _held:  # a checkpoint in hand finishes first
        checkpointer._checkpointing.acquire()


def _after_fork_in_parent() -> None:
    for checkpointer in _held:
        checkpointer._checkpointing.release()
    _held.clear()


def _after_fork_in_child() -> None:
    _held.clear()
    for checkpointer in list(_checkpointers):
        checkpointer._after_fork_in_child()
