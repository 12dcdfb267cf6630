"""Logging for people and for log pipelines: text or JSON lines on stderr, the check / alert / receiver a line is
about as fields, third-party libraries kept at WARNING, and a warning that repeats every few seconds said once.

    configure_logging(verbosity=0, fmt="json")      # once, by the CLI
    with log_context(check_id="s3_sink_lag"):       # every line logged inside carries check_id
        ...
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any, Literal

LogFormat = Literal["text", "json"]
FORMATS: tuple[LogFormat, ...] = ("text", "json")
CONTEXT_FIELDS = ("check_id", "alert_key", "receiver")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Sentinel's own lines at INFO by default (startup, reloads, failures); everything else only from WARNING up: at
# INFO APScheduler alone writes two lines per job run, about 69,000 a day for an idle daemon.
OWN_LOGGER = "sentinel"
REPEAT_WINDOW_SECONDS = 600.0

_context: contextvars.ContextVar[dict[str, str]] = contextvars.ContextVar("sentinel_log_context", default={})  # noqa: B039


@contextlib.contextmanager
def log_context(**fields: str | None) -> Iterator[None]:
    """Add fields (check_id, alert_key, receiver) to every line logged inside, in this thread."""
    token = _context.set({**_context.get(), **{k: v for k, v in fields.items() if v is not None}})
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copies the current log_context onto the record (as attributes: JSON shows them as keys)."""

    def filter(self, record: logging.LogRecord) -> bool:
        for key, value in _context.get().items():
            if not hasattr(record, key):
                setattr(record, key, value)
        return True


class RepeatFilter(logging.Filter):
    """The same warning from the same place within `window` seconds is said once; the next one after the window
    says how many were held back. Keyed by logger, template and the first argument's `id` (an APScheduler job),
    so 'Execution of job "_deliver" skipped' every 5 s behind a slow pager is one line per 10 minutes."""

    def __init__(self, window: float = REPEAT_WINDOW_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.window = window
        self._monotonic = monotonic
        self._seen: dict[tuple[str, str, str], tuple[float, int]] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or record.levelno >= logging.ERROR:
            return True  # errors are always said; info is not repeated noise at the levels we keep
        first = record.args[0] if isinstance(record.args, tuple) and record.args else None
        key = (record.name, str(record.msg), str(getattr(first, "id", "")))
        now = self._monotonic()
        said_at, held = self._seen.get(key, (None, 0))
        if said_at is not None and now - said_at < self.window:
            self._seen[key] = (said_at, held + 1)
            return False
        self._seen[key] = (now, 0)
        if held:
            record.msg = f"{record.msg} (and {held} more like it in the last {self.window / 60:.0f} min)"
        return True


def _json_formatter() -> logging.Formatter:
    from pythonjsonlogger.json import JsonFormatter

    formatter: logging.Formatter = JsonFormatter(
        "%(asctime)s %(levelname)s %(name)s %(message)s",
        rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        datefmt="%Y-%m-%dT%H:%M:%S%z",
    )
    return formatter


class _TextFormatter(logging.Formatter):
    """The classic line, with the context fields appended as key=value when there are any."""

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        extra = " ".join(f"{k}={getattr(record, k)}" for k in CONTEXT_FIELDS if hasattr(record, k))
        return f"{line} [{extra}]" if extra else line


def configure_logging(verbosity: int = 0, fmt: LogFormat = "text", *, daemon: bool = False,
                      stream: Any = None) -> logging.Handler:
    """One stderr handler on the root logger. verbosity: 0 warnings (INFO for Sentinel's own lines in the daemon),
    1 Sentinel's INFO, 2 everything at DEBUG. Replaces a handler installed before (tests configure twice)."""
    if fmt not in FORMATS:
        raise ValueError(f"log format {fmt!r}: expected one of {', '.join(FORMATS)}")
    root = logging.getLogger()
    for old in [h for h in root.handlers if getattr(h, "_sentinel", False)]:
        root.removeHandler(old)
    handler = logging.StreamHandler(stream or sys.stderr)
    handler._sentinel = True  # type: ignore[attr-defined]
    handler.setFormatter(_json_formatter() if fmt == "json" else _TextFormatter(TEXT_FORMAT))
    handler.addFilter(ContextFilter())
    handler.addFilter(RepeatFilter())
    root.addHandler(handler)
    root.setLevel(logging.DEBUG if verbosity >= 2 else logging.WARNING)
    own = logging.getLogger(OWN_LOGGER)
    own.setLevel(logging.DEBUG if verbosity >= 2 else logging.INFO if (verbosity or daemon) else logging.NOTSET)
    return handler
