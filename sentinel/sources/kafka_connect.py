"""Kafka Connect REST thin client: connector and task states, with HTTP timeouts on every call.

Messages name the worker URL without any user:password part; the basic-auth password is never printed.
Connector configs (they hold database and cloud credentials) are read only by `connector_configs`, for
`sentinel discover`, which keeps an allow-list of routing keys and drops every other value on arrival.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic import SecretStr

from sentinel.errors import SourceError

# The keys discovery reads (capture, routing and layout). Everything else, passwords included, is dropped unread.
_ROUTING_KEYS = re.compile(
    r"connector\.class|topic\.prefix|database\.server\.name|database\.dbname|slot\.name"
    r"|(table|schema|database)\.(include|exclude)\.list|topics|topics\.regex|topics\.dir|s3\.bucket\.name"
    r"|partitioner\.class|path\.format|partition\.field\.name|format\.class|consumer\.override\.group\.id"
    r"|transforms|transforms\.[^.]+\.(type|regex|replacement)"
)

_HINT = "check SENTINEL_KAFKA_CONNECT_URL points at a Connect worker's REST listener and the worker is up"


def safe_url(url: str) -> str:
    """The URL without user:password@ (for messages)."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "", "")).rstrip("/")


@dataclass(frozen=True, slots=True)
class TaskState:
    id: int
    state: str  # RUNNING, PAUSED, FAILED, UNASSIGNED, RESTARTING
    worker_id: str
    trace: str


@dataclass(frozen=True, slots=True)
class ConnectorState:
    name: str
    type: str  # source | sink | unknown
    state: str  # RUNNING, PAUSED, STOPPED, FAILED, UNASSIGNED, RESTARTING
    worker_id: str
    trace: str
    tasks: tuple[TaskState, ...]


def parse_status(name: str, payload: dict[str, Any]) -> ConnectorState:
    """One connector's /status payload (also the "status" member of /connectors?expand=status)."""
    conn = payload.get("connector") or {}
    tasks = tuple(
        TaskState(int(t.get("id", i)), str(t.get("state", "UNKNOWN")), str(t.get("worker_id", "")),
                  str(t.get("trace", "") or ""))
        for i, t in enumerate(payload.get("tasks") or [])
    )
    return ConnectorState(
        name=str(payload.get("name", name)),
        type=str(payload.get("type", "unknown")),
        state=str(conn.get("state", "UNKNOWN")),
        worker_id=str(conn.get("worker_id", "")),
        trace=str(conn.get("trace", "") or ""),
        tasks=tuple(sorted(tasks, key=lambda t: t.id)),
    )


class KafkaConnectSource:
    """Reads connector status from one Connect cluster (any worker; requests are forwarded)."""

    def __init__(self, url: str, *, username: str | None = None, password: SecretStr | None = None) -> None:
        parts = urlsplit(url)
        self._base = url.rstrip("/")
        self.url = safe_url(url)
        self._auth: tuple[str, str] | None = None
        if username and password is not None:
            self._auth = (username, password.get_secret_value())
        elif parts.username:
            self._auth = (parts.username, parts.password or "")
            self._base = self.url
        import requests  # here, not at module top: validating a config imports this module for its types

        self._session = requests.Session()
        self._session.headers["Accept"] = "application/json"

    def __repr__(self) -> str:
        return f"KafkaConnectSource({self.url})"

    def _get(self, path: str, timeout: float, params: list[tuple[str, str]] | None = None) -> Any:
        import requests

        timeout = max(0.5, timeout)
        try:
            resp = self._session.get(f"{self._base}{path}", params=params, auth=self._auth,
                                     timeout=(min(5.0, timeout), timeout))
        except requests.Timeout:
            raise SourceError(f"Kafka Connect {self.url}{path}: no answer within {timeout:.1f}s", hint=_HINT) from None
        except requests.RequestException as exc:
            reason = type(exc).__name__
            if isinstance(exc, requests.ConnectionError):
                reason = "connection refused or host unreachable"
            raise SourceError(f"Kafka Connect worker unreachable at {self.url} ({reason})", hint=_HINT) from None
        if resp.status_code in (401, 403):
            raise SourceError(f"Kafka Connect {self.url}{path}: HTTP {resp.status_code} (authentication refused)",
                              hint="check SENTINEL_KAFKA_CONNECT_USERNAME / SENTINEL_KAFKA_CONNECT_PASSWORD")
        if resp.status_code != 200:
            message = ""
            try:
                message = str(resp.json().get("message", ""))[:300]
            except ValueError:
                message = resp.text[:300]
            raise SourceError(f"Kafka Connect {self.url}{path}: HTTP {resp.status_code} {message}".rstrip(),
                              hint="a 409 means the workers are rebalancing; it should pass on the next run")
        try:
            return resp.json()
        except ValueError:
            raise SourceError(f"Kafka Connect {self.url}{path}: answer is not JSON", hint=_HINT) from None

    def version(self, timeout: float) -> dict[str, Any]:
        data = self._get("/", timeout)
        return data if isinstance(data, dict) else {}

    def statuses(self, timeout: float) -> dict[str, ConnectorState]:
        """Status of every connector in one request (GET /connectors?expand=status)."""
        data = self._get("/connectors", timeout, params=[("expand", "status")])
        if isinstance(data, list):  # very old workers without expand: one request per connector
            return {name: self.status(name, timeout) for name in data}
        out: dict[str, ConnectorState] = {}
        for name, entry in (data or {}).items():
            out[name] = parse_status(name, (entry or {}).get("status") or {"name": name})
        return out

    def status(self, name: str, timeout: float) -> ConnectorState:
        from urllib.parse import quote

        return parse_status(name, self._get(f"/connectors/{quote(name, safe='')}/status", timeout))

    def connector_configs(self, timeout: float) -> dict[str, dict[str, str]]:
        """Each connector's routing keys (GET /connectors?expand=info), nothing else: see _ROUTING_KEYS."""
        data = self._get("/connectors", timeout, params=[("expand", "info")])
        if isinstance(data, list):  # very old workers without expand
            from urllib.parse import quote

            data = {name: {"info": {"config": self._get(f"/connectors/{quote(name, safe='')}/config", timeout)}}
                    for name in data}
        out: dict[str, dict[str, str]] = {}
        for name, entry in (data or {}).items():
            config = ((entry or {}).get("info") or {}).get("config") or {}
            out[str(name)] = {str(k): str(v) for k, v in config.items() if _ROUTING_KEYS.fullmatch(str(k))}
        return out
