"""Thin Looker client on the official looker-sdk (API 4.0): datagroups, System Activity queries, content validation.

Two looker-sdk traps are handled here, both reproducible against a local server (devstack/looker.py):

- A stale token. The SDK trusts the token's `expires_in` and keeps sending it until then; when the server expires
  it earlier (an admin revoked the API session, Looker restarted) every call gets 401 until the client resets its
  session. On a 401 this client drops the token, logs in again and retries the call once.
- Error documentation over the network. On every non-2xx answer the SDK's `_return` asks `ErrorDocHelper` to fetch
  https://static-a.cdn.looker.app/errorcodes/index.json and then the page, with `requests.get` and no timeout: in a
  cluster without egress that stalls the check until its deadline. `_QuietLooker40SDK` parses the error body
  without that lookup.

Every request has a (connect, read) timeout bounded by the caller's deadline, through our own transport (the SDK's
Response does not carry the HTTP status, which the 401 handling needs).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, MutableMapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

import requests
from looker_sdk import error as sdk_error
from looker_sdk.rtl import api_settings, auth_session, auth_token, serialize, transport
from looker_sdk.sdk.api40 import methods as methods40
from looker_sdk.sdk.api40 import models as models40
from pydantic import SecretStr

from sentinel.errors import SourceError

T = TypeVar("T")

PERMISSIONS_HINT = (
    "the Looker API user needs a role with: access_data and see_lookml_dashboards/see_user_dashboards on the "
    "dashboards' folders, see_datagroups (datagroups), see_system_activity (PDT event log and schedule history), "
    "see_schedules, and develop + see_lookml on the models (content validator); API3 client id/secret from "
    "Admin > Users > Edit keys, in SENTINEL_LOOKER_CLIENT_ID / SENTINEL_LOOKER_CLIENT_SECRET"
)


@dataclass(frozen=True)
class DatagroupState:
    model: str
    name: str
    triggered_at: datetime | None
    trigger_error: str | None


@dataclass(frozen=True)
class ContentError:
    dashboard: str | None  # dashboard title (None for a Look)
    element: str | None  # tile title
    message: str
    model: str | None
    explore: str | None
    field: str | None


class _Settings:
    """PApiSettings without a looker.ini: base URL and credentials from Sentinel's settings."""

    def __init__(self, base_url: str, client_id: SecretStr, client_secret: SecretStr, verify_ssl: bool) -> None:
        self.base_url = base_url.rstrip("/")
        self.verify_ssl = verify_ssl
        self.timeout = 30
        self.agent_tag = "sentinel-monitor"
        self.headers: MutableMapping[str, str] | None = {"Content-Type": "application/json"}
        self._id, self._secret = client_id, client_secret

    def is_configured(self) -> None:
        if not self.base_url:
            raise SourceError("Looker base URL is empty", hint="set SENTINEL_LOOKER_BASE_URL (https://host:19999)")

    def read_config(self) -> api_settings.SettingsConfig:
        return {"client_id": self._id.get_secret_value(), "client_secret": self._secret.get_secret_value()}


class _Transport(transport.Transport):
    """requests with an explicit (connect, read) timeout per call; remembers the last HTTP status."""

    def __init__(self, settings: _Settings) -> None:
        self.settings = settings
        self.session = requests.Session()
        self.session.headers.update({transport.LOOKER_API_ID: settings.agent_tag, **(settings.headers or {})})
        self.session.verify = settings.verify_ssl
        self.read_timeout = 30.0
        self.last_status: int | None = None
        self.last_path = ""
        self.logins = 0

    @classmethod
    def configure(cls, settings: transport.PTransportSettings) -> transport.Transport:
        raise NotImplementedError("built by LookerSource with its own settings")

    def request(self, method: transport.HttpMethod, path: str, query_params: MutableMapping[str, str] | None = None,
                body: bytes | None = None, authenticator: transport.TAuthenticator = None,
                transport_options: transport.TransportOptions | None = None) -> transport.Response:
        headers: dict[str, str] = {}
        if authenticator:
            headers.update(authenticator(transport_options or {}))
        if transport_options and transport_options.get("headers"):
            headers.update(transport_options["headers"])
        where = urllib.parse.urlsplit(path).path
        if where.endswith("/login"):
            self.logins += 1
        try:
            resp = self.session.request(method.name, path, params=query_params, data=body, headers=headers,
                                        timeout=(min(5.0, self.read_timeout), self.read_timeout))
        except requests.RequestException as exc:
            raise SourceError(f"Looker API {method.name} {where} failed: {type(exc).__name__}",
                              hint="check SENTINEL_LOOKER_BASE_URL and network egress to the Looker API port") from None
        self.last_status, self.last_path = resp.status_code, where
        mode = transport.response_mode(resp.headers.get("content-type"))
        return transport.Response(resp.ok, resp.content, mode, resp.encoding or "utf-8")


class _QuietLooker40SDK(methods40.Looker40SDK):
    """Looker40SDK whose error path never fetches documentation over the network (see the module docstring)."""

    def _return(self, response: transport.Response, structure: Any) -> Any:
        if response.ok:
            return super()._return(response, structure)
        value = response.value.decode(encoding=response.encoding, errors="replace")
        try:
            err = self.deserialize(data=value, structure=sdk_error.SDKError)  # type: ignore[call-arg]
        except serialize.DeserializeError:
            raise sdk_error.SDKError(value[:300]) from None
        if isinstance(err, sdk_error.SDKError):
            raise err
        raise sdk_error.SDKError(value[:300])


class LookerSource:
    def __init__(self, base_url: str, client_id: SecretStr, client_secret: SecretStr, *, verify_ssl: bool = True) -> None:
        self.base_url = base_url.rstrip("/")
        settings = _Settings(base_url, client_id, client_secret, verify_ssl)
        self._transport = _Transport(settings)
        auth = auth_session.AuthSession(settings, self._transport, serialize.deserialize40, "4.0")
        self._sdk = _QuietLooker40SDK(auth, serialize.deserialize40, serialize.serialize40, self._transport, "4.0")

    @property
    def logins(self) -> int:
        return self._transport.logins

    def call(self, what: str, fn: Callable[[methods40.Looker40SDK], T], *, timeout: float) -> T:
        """Run one SDK call within `timeout`; on a 401 reset the session (a server-side expiry) and retry once."""
        self._transport.read_timeout = max(1.0, timeout)
        for attempt in (1, 2):
            had_token = self._sdk.auth.is_authenticated
            try:
                return fn(self._sdk)
            except sdk_error.SDKError as exc:
                status = self._transport.last_status
                if status == 401 and attempt == 1 and had_token:
                    self._sdk.auth.token = auth_token.AuthToken()  # the server forgot it: log in again
                    continue
                raise self._error(what, status, exc) from None
        raise AssertionError("unreachable")

    def _error(self, what: str, status: int | None, exc: sdk_error.SDKError) -> SourceError:
        if self._transport.last_path.endswith("/login"):  # Looker answers 404 to unknown client id/secret
            return SourceError(f"Looker API login on {self.base_url} was refused (HTTP {status})",
                               hint="check SENTINEL_LOOKER_CLIENT_ID / SENTINEL_LOOKER_CLIENT_SECRET (API3 keys of an "
                               "enabled user, Admin > Users > Edit keys) and SENTINEL_LOOKER_BASE_URL (API port)")
        text = getattr(exc, "message", "") or (exc.args[0] if exc.args else "") or type(exc).__name__
        message = " ".join(str(text).split())[:300]
        hint = PERMISSIONS_HINT if status in (401, 403) else "check the Looker API (Admin > API) and the instance status"
        return SourceError(f"Looker API {what} on {self.base_url} failed: HTTP {status}: {message}", hint=hint)

    # --- the calls the looker check uses ---------------------------------------------------------------------

    def datagroups(self, *, timeout: float) -> list[DatagroupState]:
        groups = self.call("GET /datagroups", lambda sdk: sdk.all_datagroups(), timeout=timeout)
        return [DatagroupState(str(g.model_name or ""), str(g.name or ""), _epoch(g.triggered_at), g.trigger_error or None)
                for g in groups]

    def system_activity(self, view: str, fields: list[str], filters: dict[str, str], *, limit: int,
                        sorts: list[str], timeout: float) -> list[dict[str, Any]]:
        """One System Activity query; callers pass a time filter and a limit (these tables are large)."""
        # query_timezone UTC: the times in the rows (and in our messages, which say UTC) are UTC whatever the
        # instance's or the API user's time zone
        body = models40.WriteQuery(model="system__activity", view=view, fields=fields, filters=filters,
                                   sorts=sorts, limit=str(limit), query_timezone="UTC")
        rows = self.call(f"POST /queries/run/json ({view})",
                         lambda sdk: sdk.run_inline_query(result_format="json", body=body), timeout=timeout)
        import json

        data = json.loads(rows) if isinstance(rows, str | bytes) else rows
        if not isinstance(data, list):
            raise SourceError(f"Looker System Activity {view} returned {type(data).__name__}, not rows",
                              hint=PERMISSIONS_HINT)
        return [r for r in data if isinstance(r, dict)]

    def whoami(self, *, timeout: float) -> str:
        """Log in and name the API user (sentinel doctor)."""
        me = self.call("GET /user", lambda sdk: sdk.me(fields="id,display_name"), timeout=timeout)
        return f"{me.display_name or 'user'} (id {me.id})"

    def dashboard_exists(self, title: str, *, timeout: float) -> bool:
        found = self.call("GET /dashboards/search", lambda sdk: sdk.search_dashboards(title=title, fields="id,title"),
                          timeout=timeout)
        return any(d.title == title for d in found)

    def content_validation(self, *, timeout: float) -> list[ContentError]:
        result = self.call("GET /content_validation", lambda sdk: sdk.content_validation(), timeout=timeout)
        out: list[ContentError] = []
        for item in result.content_with_errors or []:
            dashboard = item.dashboard.title if item.dashboard else None
            element = item.dashboard_element.title if item.dashboard_element else None
            for e in item.errors or []:
                out.append(ContentError(dashboard, element, str(e.message or "error"), e.model_name, e.explore_name,
                                        e.field_name))
        return out


@dataclass(frozen=True)
class DashboardExplores:
    title: str
    explores: tuple[tuple[str, str], ...]  # (LookML model, explore) of each tile's query, in tile order, unique


class LookerLineage:
    """The calls `sentinel discover` makes: dashboards, their tiles' explores, and each explore's base table.
    Needs see_lookml_dashboards/see_user_dashboards and see_lookml (for the explore's sql_table_name).

    The answers are read as JSON, not through the SDK's models: looker-sdk builds its cattrs converter for a model
    on every call (0.3 s for a LookmlModelExplore on a busy machine), which made 50 dashboards take 45 s."""

    def __init__(self, source: LookerSource) -> None:
        self._source = source

    def _get(self, path: str, fields: str, timeout: float) -> Any:
        import json

        text: Any = self._source.call(f"GET {path}", lambda sdk: sdk.get(path=path, structure=str,
                                                                         query_params={"fields": fields}),
                                      timeout=timeout)
        try:
            return json.loads(text)
        except ValueError:
            raise SourceError(f"Looker API GET {path} on {self._source.base_url} answered something that is not "
                              f"JSON: {str(text)[:120]!r}", hint="check SENTINEL_LOOKER_BASE_URL (the API port)") from None

    def dashboards(self, *, timeout: float) -> list[DashboardExplores]:
        out = []
        for dash in self._get("/dashboards", "id,title", timeout) or []:
            if not isinstance(dash, dict) or not dash.get("id"):
                continue
            dash_id = urllib.parse.quote(str(dash["id"]), safe="")
            elements = self._get(f"/dashboards/{dash_id}/dashboard_elements", "title,query", timeout) or []
            queries = [e.get("query") or {} for e in elements if isinstance(e, dict)]
            explores = dict.fromkeys((str(q["model"]), str(q["view"])) for q in queries
                                     if isinstance(q, dict) and q.get("model") and q.get("view"))
            out.append(DashboardExplores(str(dash.get("title") or dash["id"]), tuple(explores)))
        return out

    def explore_table(self, model: str, explore: str, *, timeout: float) -> str | None:
        """The explore's sql_table_name without its alias ("ANALYTICS.FCT_TRANSACTIONS AS t" -> the table)."""
        path = (f"/lookml_models/{urllib.parse.quote(model, safe='')}/explores/"
                f"{urllib.parse.quote(explore, safe='')}")
        found = self._get(path, "name,sql_table_name", timeout)
        text = str((found or {}).get("sql_table_name") or "").strip() if isinstance(found, dict) else ""
        return text.split()[0] if text else None


def _epoch(value: int | None) -> datetime | None:
    return None if not value else datetime.fromtimestamp(value, tz=UTC)
