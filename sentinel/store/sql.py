"""The SQL layer both state stores share: statements written once, and the one place where SQLite and PostgreSQL
differ (`Dialect`: placeholders, `%` escaping, the migration lock, the version table's timestamp type, whether the
version may be read before locking). How a transaction starts and how driver errors read is each `Engine`'s.

A `Statement` is parsed once (most when their module is imported; IN lists per length) into text and named
parameters (`:name`, the form SQLAlchemy's `text()` and sqlite3 use). Each `Dialect` renders the parameters its
driver's way (`?` for sqlite3, `%s` for psycopg, which also needs a literal `%` doubled) and binds a mapping of values
in slot order. Nothing is found by searching a finished query for `?`: quoted literals and `::` casts are never
mistaken for parameters.

What is *not* different: both engines take `INSERT ... ON CONFLICT (...) DO UPDATE SET c = excluded.c` (SQLite
3.24+), `RETURNING` (3.35+), and the migrations' portable types; timestamps are fixed-width UTC text in both
(`ts`/`parse_ts`), so text order is time order. `upsert()` writes the common form.

Why not SQLAlchemy Core: the differences are the few fields of `Dialect`, while what the engines must keep doing
(sqlite3's BEGIN IMMEDIATE and its errors in words, psycopg's keepalives, statement_timeout and reconnect, the
leader's session-bound advisory lock) would stay hand-written beside it; a new dependency would buy little.

An `Engine` owns a connection and hands out `Tx` objects; `sentinel.store.sqlite` and `sentinel.store.postgres`
each provide one, and `sentinel.store.sql_store.SqlStateStore` runs every query through it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

_LITERAL = re.compile(r"('(?:[^']|'')*')")  # a quoted SQL string: its colons are text, not parameters
_PARAM = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")  # `:name`, but not the `::type` of a PostgreSQL cast

Params = Mapping[str, Any]


@dataclass(frozen=True)
class Statement:
    """SQL text split around its parameters: `parts[i]` precedes `names[i]`; the last part ends the statement."""

    parts: tuple[str, ...]
    names: tuple[str, ...]

    @classmethod
    def of(cls, text: str) -> Statement:
        parts: list[str] = [""]
        names: list[str] = []
        for i, chunk in enumerate(_LITERAL.split(text)):
            if i % 2:  # a quoted literal, kept whole
                parts[-1] += chunk
                continue
            at = 0
            for m in _PARAM.finditer(chunk):
                parts[-1] += chunk[at:m.start()]
                names.append(m.group(1))
                parts.append("")
                at = m.end()
            parts[-1] += chunk[at:]
        return cls(tuple(parts), tuple(names))

    def __add__(self, other: Statement) -> Statement:
        return Statement((*self.parts[:-1], self.parts[-1] + other.parts[0], *other.parts[1:]),
                         (*self.names, *other.names))


def sql(text: str) -> Statement:
    return Statement.of(text)


def in_list(column: str, name: str, count: int) -> Statement:
    """`column IN (:name0, :name1, ...)`; bind with `numbered(name, values)`."""
    return sql(f"{column} IN ({', '.join(f':{name}{i}' for i in range(count))})")


def numbered(name: str, values: Sequence[Any]) -> dict[str, Any]:
    return {f"{name}{i}": v for i, v in enumerate(values)}


def upsert(table: str, key: Sequence[str], columns: Sequence[str], *, set_once: Sequence[str] = ()) -> Statement:
    """INSERT one row; on a key conflict overwrite `columns` with the new row's values (`set_once` columns keep
    the first row's)."""
    every = (*key, *set_once, *columns)
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns)
    return sql(f"INSERT INTO {table} ({', '.join(every)}) VALUES ({', '.join(':' + c for c in every)})"
               f" ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}")


@dataclass(frozen=True)
class Dialect:
    """Everything that differs between the two engines, and nothing else."""

    name: str
    placeholder: str  # the driver's positional parameter marker
    doubles_percent: bool  # psycopg reads `%` in text with parameters as the start of a placeholder
    version_table_ddl: str  # schema_version's applied_at: TEXT in SQLite, TIMESTAMPTZ in PostgreSQL
    migration_lock: Statement | None  # taken first in the migration transaction (replicas migrate one at a time)
    reads_version_first: bool  # check the version outside a write lock (a reader beside a daemon holding it)
    fresh_store_hint: str

    def render(self, stmt: Statement) -> str:
        """The statement's text with this driver's markers (a join: cheaper than caching it)."""
        parts = [p.replace("%", "%%") for p in stmt.parts] if self.doubles_percent else stmt.parts
        return self.placeholder.join(parts)

    @staticmethod
    def bind(stmt: Statement, params: Params) -> tuple[Any, ...]:
        """Values in slot order; a missing one names the statement's parameters rather than failing in the driver."""
        try:
            return tuple(params[n] for n in stmt.names)
        except KeyError as exc:
            raise KeyError(f"no value for :{exc.args[0]} (the statement takes {', '.join(stmt.names)})") from None


SQLITE = Dialect(
    name="sqlite",
    placeholder="?",
    doubles_percent=False,
    version_table_ddl=("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
                       " applied_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP)"),
    migration_lock=None,  # BEGIN IMMEDIATE already holds the file's write lock
    reads_version_first=True,
    fresh_store_hint="point SENTINEL_STATE_PATH at a fresh file",
)

MIGRATION_LOCK_KEY = 0x5E471E01  # pg_advisory_xact_lock key: two replicas starting together migrate one at a time

POSTGRES = Dialect(
    name="postgres",
    placeholder="%s",
    doubles_percent=True,
    version_table_ddl=("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, description TEXT NOT NULL,"
                       " applied_at TIMESTAMPTZ NOT NULL DEFAULT now())"),
    migration_lock=sql(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_KEY})"),
    reads_version_first=False,  # replicas serialise on the advisory lock inside the migration transaction instead
    fresh_store_hint="point SENTINEL_STATE_DSN at a fresh database",
)


class Cursor(Protocol):
    """The slice of a DB-API cursor the stores read (sqlite3's and psycopg's both fit)."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...


Execute = Callable[[str, "tuple[Any, ...] | None"], Cursor]
ExecuteMany = Callable[[str, "list[tuple[Any, ...]]"], None]


class Tx:
    """One open transaction on either engine. Store methods that take `tx` run their statements in it."""

    def __init__(self, dialect: Dialect, execute: Execute, executemany: ExecuteMany) -> None:
        self.dialect = dialect
        self._execute = execute
        self._executemany = executemany

    def execute(self, stmt: Statement, params: Params | None = None) -> Cursor:
        return self._execute(self.dialect.render(stmt), self.dialect.bind(stmt, params or {}))

    def executemany(self, stmt: Statement, rows: Iterable[Params]) -> None:
        batch = [self.dialect.bind(stmt, row) for row in rows]
        if batch:
            self._executemany(self.dialect.render(stmt), batch)

    def ddl(self, text: str) -> None:
        """A statement without parameters (the migrations' DDL), passed to the driver as written."""
        self._execute(text, None)


class Engine(Protocol):
    """A connection to one store, in one dialect. `where` names it in messages (a file, or host:port/db: never a
    password)."""

    @property
    def dialect(self) -> Dialect: ...

    @property
    def where(self) -> str: ...

    def transaction(self) -> AbstractContextManager[Tx]: ...

    def query(self, stmt: Statement, params: Params | None = None) -> list[tuple[Any, ...]]: ...

    def close(self) -> None: ...


def ts(value: datetime) -> str:
    """Fixed-width UTC text, so string order is time order (the column type of every `*_at` in both engines)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_ts(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def parse_ts_fast(value: str) -> datetime:
    """parse_ts for hot paths (burn rates read hours of observations on every result); same text, same result."""
    return datetime.fromisoformat(value)


class StoreTables:
    """What the table groups of SqlStateStore (results, alerting, SLA, shared config) share: the engine, and a
    transaction that is the caller's when one is passed in (so the pipeline can change several tables at once)."""

    _engine: Engine

    def transaction(self) -> AbstractContextManager[Tx]:
        """One write transaction; pass its Tx to the write methods to make them one atomic change."""
        return self._engine.transaction()

    @contextmanager
    def _tx(self, tx: Tx | None) -> Iterator[Tx]:
        if tx is not None:
            yield tx
        else:
            with self._engine.transaction() as own:
                yield own

    def _query(self, stmt: Statement, params: Params | None = None) -> list[tuple[Any, ...]]:
        return self._engine.query(stmt, params)
