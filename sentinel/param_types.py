"""Annotated types for check params that several checks share, so each validation and its message exist once."""

from __future__ import annotations

import re
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator


def _regex(value: str) -> str:
    try:
        re.compile(value)
    except re.error as exc:
        raise ValueError(f"{value!r} is not a valid regex: {exc}") from None
    return value


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r} (use an IANA name like UTC or Europe/Berlin)") from None
    return value


_CONNECTION_NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")


def _connection_name(value: str) -> str:
    # A DSN pasted here would be echoed by every message that names the connection; say so without repeating it.
    if not _CONNECTION_NAME.fullmatch(value):
        hint = " (this looks like a DSN: put it in SENTINEL_POSTGRES_DSNS and use its name here)" if (
            "://" in value or "=" in value) else ""
        raise ValueError("must be a connection name such as 'default' or a key of SENTINEL_POSTGRES_DSNS: "
                         f"letters, digits, '_', '.', '-'{hint}")
    return value


_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


def _table_name(value: str) -> str:
    parts = value.split(".")
    if len(parts) not in (2, 3) or not all(_IDENTIFIER.match(x) for x in parts):
        raise ValueError(f"expected schema.table or database.schema.table of plain identifiers, got {value!r}")
    return value


def _column_name(value: str) -> str:
    if not _IDENTIFIER.match(value):
        raise ValueError(f"a column must be a plain identifier, got {value!r}")
    return value


def _table_group_regex(value: str) -> str:
    _regex(value)
    if "table" not in re.compile(value).groupindex:
        raise ValueError(f"{value!r} needs a named group (?P<table>...) that captures the table name")
    return value


Regex = Annotated[str, AfterValidator(_regex)]
# A regex over topic (or object) names whose `table` group names the captured table: cdc\.(?P<table>[^.]+\.[^.]+)
TableRegex = Annotated[str, AfterValidator(_table_group_regex)]
# Identifiers from config that reach SQL (quoted by the driver): plain names only, so a typo is a config error.
TableName = Annotated[str, AfterValidator(_table_name)]
ColumnName = Annotated[str, AfterValidator(_column_name)]
ConnectionName = Annotated[str, AfterValidator(_connection_name)]
TimeZoneName = Annotated[str, AfterValidator(_zone)]
