"""A local Snowflake stand-in: the fakesnow HTTP server (DuckDB underneath) as a child process on a free port.

snowflake-connector-python 4.x talks to it over plain HTTP (host/port/protocol=http); 5.x cannot.
Data is in memory and shared by every session of the server (what one connection creates, the next one sees);
it is gone when the server stops, which suits tests and the demo (both seed what they need).

    svc = start_snowflake()
    conn = snowflake.connector.connect(**svc.connect_kwargs(database="ANALYTICS", schema="RAW"))
    svc.env()      # SENTINEL_SNOWFLAKE_* for Sentinel's Snowflake source
    svc.stop()
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from devstack.base import ManagedProcess, ServiceUnavailable, cache_dir, free_port, port_open, spawn, wait_until

HOST = "127.0.0.1"
ACCOUNT = "fakesnow"
USER = "sentinel"
# fakesnow accepts any password; a distinctive one lets tests prove it never leaks into messages.
PASSWORD = "fakesnow-Pa55-do-not-leak"


@dataclass
class SnowflakeService:
    host: str
    port: int
    account: str = ACCOUNT
    user: str = USER
    password: str = PASSWORD
    _proc: ManagedProcess | None = field(default=None, repr=False)

    def connect_kwargs(self, database: str | None = None, schema: str | None = None) -> dict[str, Any]:
        """Keyword arguments for snowflake.connector.connect()."""
        kwargs: dict[str, Any] = {
            "account": self.account,
            "user": self.user,
            "password": self.password,
            "host": self.host,
            "port": self.port,
            "protocol": "http",
            "login_timeout": 15,
            "network_timeout": 30,
            # no telemetry calls to a server that does not have the endpoint
            "session_parameters": {"CLIENT_OUT_OF_BAND_TELEMETRY_ENABLED": False},
        }
        if database:
            kwargs["database"] = database
        if schema:
            kwargs["schema"] = schema
        return kwargs

    def connect(self, database: str | None = None, schema: str | None = None) -> Any:
        import snowflake.connector

        return snowflake.connector.connect(**self.connect_kwargs(database, schema))

    def env(self, database: str | None = None) -> dict[str, str]:
        """SENTINEL_* settings that point Sentinel's Snowflake source at this server."""
        env = {
            "SENTINEL_SNOWFLAKE_ACCOUNT": self.account,
            "SENTINEL_SNOWFLAKE_USER": self.user,
            "SENTINEL_SNOWFLAKE_PASSWORD": self.password,
            "SENTINEL_SNOWFLAKE_HOST": self.host,
            "SENTINEL_SNOWFLAKE_PORT": str(self.port),
            "SENTINEL_SNOWFLAKE_PROTOCOL": "http",
        }
        if database:
            env["SENTINEL_SNOWFLAKE_DATABASE"] = database
        return env

    def running(self) -> bool:
        return port_open(self.host, self.port)

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.stop()


def _can_login(svc: SnowflakeService) -> bool:
    conn = svc.connect()
    try:
        cur = conn.cursor()
        cur.execute("SELECT 1")
        return bool(cur.fetchone() == (1,))
    finally:
        conn.close()


def start_snowflake(*, port: int | None = None, timeout: float = 60.0) -> SnowflakeService:
    """Start `python -m fakesnow -s` on a free 127.0.0.1 port; ready once a real connector login + SELECT 1 works."""
    try:
        import fakesnow  # noqa: F401
        import snowflake.connector  # noqa: F401
    except ImportError as exc:
        raise ServiceUnavailable(f"fakesnow[server] / snowflake-connector-python not installed ({exc})") from exc
    port = port or free_port()
    log = cache_dir("fakesnow") / f"fakesnow-{port}.log"
    proc = spawn("fakesnow", [sys.executable, "-m", "fakesnow", "-s", "--host", HOST, "--port", str(port)], log=log)
    svc = SnowflakeService(HOST, port, _proc=proc)
    try:
        wait_until(lambda: port_open(HOST, port), what=f"fakesnow server on {HOST}:{port}", timeout=timeout,
                   proc=proc.popen, log=log)
        wait_until(lambda: _can_login(svc), what=f"fakesnow login on {HOST}:{port}", timeout=timeout,
                   proc=proc.popen, log=log, interval=0.5)
    except ServiceUnavailable:
        proc.stop()
        raise
    return svc
