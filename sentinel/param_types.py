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


Regex = Annotated[str, AfterValidator(_regex)]
ConnectionName = Annotated[str, AfterValidator(_connection_name)]
TimeZoneName = Annotated[str, AfterValidator(_zone)]
