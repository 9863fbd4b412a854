"""The daemon's log: one line a record, JSON objects (the default) or plain text.

Every line, the daemon's own and any other library's (warnings and uncaught errors too), goes
through one formatter. A JSON line is one object: ``ts`` (ISO 8601 UTC, milliseconds),
``level``, ``logger``, ``event`` (``daemon_started``, ``sweep``, ``heartbeat``,
``database_unavailable``...; ``log`` for another library's record), ``message``, then the
record's fields and, for an error, ``exception`` (the traceback as one string). A plain line is
``ts LEVEL message key=value...``, a traceback on the lines after it.

The daemon logs with :func:`record`: ``log.info("sweep done", extra=record("sweep", line))``.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

FORMATS = ("json", "plain")
LEVELS = ("debug", "info", "warning", "error")
# Other libraries speak at warning and above whatever the daemon's level: APScheduler says
# "Running job" every second at info, SQLAlchemy's pool chatters at debug.
LIBRARY_FLOOR = logging.WARNING
# APScheduler warns each interval a sweep still runs (max_instances=1): by design while a long
# backlog is taken, so it is a debug line here, not a warning a second.
OVERLAP = 'Execution of job "%s" skipped: maximum number of running'


def record(event: str, fields: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The ``extra`` of a daemon log call: its event name and its fields."""
    return {"event": event, "fields": dict(fields or {})}


def _ts(entry: logging.LogRecord) -> str:
    instant = datetime.fromtimestamp(entry.created, UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _event(entry: logging.LogRecord) -> tuple[str, dict[str, Any]]:
    return getattr(entry, "event", "log"), dict(getattr(entry, "fields", {}))


class JsonLines(logging.Formatter):
    """One JSON object a line."""

    def format(self, entry: logging.LogRecord) -> str:
        event, fields = _event(entry)
        line: dict[str, Any] = {
            "ts": _ts(entry),
            "level": entry.levelname.lower(),
            "logger": entry.name,
            "event": event,
            "message": entry.getMessage(),
        }
        line.update((key, value) for key, value in fields.items() if key not in line)
        if entry.exc_info:
            line["exception"] = self.formatException(entry.exc_info)
        return json.dumps(line, default=str)


class PlainText(logging.Formatter):
    """``ts LEVEL message key=value...`` (the event's own ``EVENT: done`` marker left out)."""

    def format(self, entry: logging.LogRecord) -> str:
        event, fields = _event(entry)
        pairs = " ".join(
            f"{key}={'-' if value is None else value}"
            for key, value in fields.items()
            if key != event
        )
        text = f"{_ts(entry)} {entry.levelname:<7} {entry.getMessage()}"
        text += f" {pairs}" if pairs else ""
        if entry.name != "aftersale.daemon":
            text += f" logger={entry.name}"
        if entry.exc_info:
            text += "\n" + self.formatException(entry.exc_info)
        return text


def configure(fmt: str = "json", level: str = "info") -> None:
    """Send every record of this process to stderr in ``fmt``: aftersale's from ``level``,
    other libraries' from warning (or ``level`` if higher), Python's warnings and uncaught
    exceptions included."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLines() if fmt == "json" else PlainText())
    threshold = logging.getLevelName(level.upper())
    root = logging.getLogger()
    for old in root.handlers[:]:
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(max(threshold, LIBRARY_FLOOR))
    logging.getLogger("aftersale").setLevel(threshold)
    for chatty in ("apscheduler", "transitions"):
        logging.getLogger(chatty).setLevel(max(threshold, LIBRARY_FLOOR))
    overlap = _Overlap(threshold <= logging.DEBUG)
    logging.getLogger("apscheduler.scheduler").addFilter(overlap)
    logging.captureWarnings(True)
    sys.excepthook = _uncaught


class _Overlap(logging.Filter):
    """APScheduler's "skipped: maximum number of running instances": debug, or nothing."""

    def __init__(self, debug: bool) -> None:
        super().__init__()
        self.debug = debug

    def filter(self, entry: logging.LogRecord) -> bool:
        if not str(entry.msg).startswith(OVERLAP):
            return True
        entry.levelno, entry.levelname = logging.DEBUG, "DEBUG"
        return self.debug


def _uncaught(
    kind: type[BaseException], error: BaseException, trace: TracebackType | None
) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, error, trace)
        return
    logging.getLogger("aftersale.daemon").critical(
        "the daemon failed: %s",
        error,
        exc_info=(kind, error, trace),
        extra=record("daemon_crashed"),
    )
