"""DuckDB thin client: a database file opened read-only, every statement cut at a deadline.

DuckDB has no statement_timeout, so a timer interrupts the connection when the deadline passes and the query
raises; that becomes a SourceError like a PostgreSQL statement_timeout.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

import duckdb

from sentinel.errors import SourceError


class DuckDBSource:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.where = f"duckdb {self.path}"

    def __repr__(self) -> str:
        return f"DuckDBSource({str(self.path)!r})"

    @contextlib.contextmanager
    def connect(self, timeout: timedelta) -> Iterator[duckdb.DuckDBPyConnection]:
        """A read-only connection; statements still running after `timeout` are interrupted."""
        if not self.path.exists():
            raise SourceError(f"DuckDB file {self.path} does not exist", hint="check the path in the check params")
        try:
            conn = duckdb.connect(str(self.path), read_only=True)
        except duckdb.Error as exc:
            raise SourceError(f"cannot open DuckDB file {self.path}: {exc}",
                              hint="another process may hold it open for writing") from None
        conn.execute("SET TimeZone = 'UTC'")
        conn.execute("SET enable_progress_bar = false")  # it would print to the daemon's stdout
        expired = threading.Event()

        def interrupt() -> None:
            expired.set()
            conn.interrupt()

        timer = threading.Timer(max(0.001, timeout.total_seconds()), interrupt)
        timer.daemon = True
        timer.start()
        try:
            yield conn
        except duckdb.Error as exc:
            if expired.is_set():
                raise SourceError(f"query on {self.where} exceeded its {timeout.total_seconds():g}s deadline and "
                                  "was interrupted", hint="the file may be large; raise the check timeout") from None
            raise SourceError(f"{self.where}: {exc}") from None
        finally:
            timer.cancel()
            conn.close()

    def fetch_all(self, query: str, params: Sequence[Any] | None, timeout: timedelta) -> list[tuple[Any, ...]]:
        with self.connect(timeout) as conn:
            return [tuple(r) for r in conn.execute(query, params).fetchall()]
