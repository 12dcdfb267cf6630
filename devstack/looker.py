"""A local Looker API 4.0 that enforces the parts of the published contract Sentinel's looker check uses:

- POST /api/4.0/login with form-encoded client_id and client_secret -> {access_token, token_type, expires_in};
  wrong credentials -> 404 (as Looker answers);
- every other call needs `Authorization: Bearer <token>` (or `token <token>`) of a live token, else 401 with
  Looker's error body (message + documentation_url, which is what makes the stock SDK fetch documentation);
  `expire_tokens()` forgets every token server-side, as an admin revoking API sessions does;
- GET /api/4.0/user -> the API user; GET /api/4.0/dashboards/search?title= -> [Dashboard] (sentinel doctor);
- GET /api/4.0/datagroups -> [Datagroup];
- POST /api/4.0/queries/run/json with a WriteQuery body: model system__activity, a known view, fields, a time
  filter on the view's time field and a limit (<= 5000), else 422 Validation Failed; answers rows of the fields;
- GET /api/4.0/content_validation -> ContentValidation (counted: it is the expensive one);
- GET /api/4.0/dashboards -> [Dashboard]; GET /api/4.0/dashboards/{id}/dashboard_elements -> [DashboardElement]
  with each tile's query (model, view = the explore); GET /api/4.0/lookml_models/{model}/explores/{explore} ->
  LookmlModelExplore with sql_table_name, 404 for an unknown one (sentinel discover);
- `forbid` makes a path answer 403 (the API user lacks a permission).
Tests mount `FakeLooker.handle` on pytest-httpserver; `start_looker` serves it with werkzeug in a thread (the
demo runs that in a child process: devstack/demo_looker.py)."""

from __future__ import annotations

import json
import secrets
import threading
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from werkzeug import Request, Response
from werkzeug.serving import make_server

from devstack.base import free_port

DOCS = "https://cloud.google.com/looker/docs/r/err/4.0"
TIME_FIELDS = {"pdt_event_log": "pdt_event_log.created_time", "scheduled_plan": "scheduled_job.finalized_time"}


def _json(body: Any, status: int = 200) -> Response:
    return Response(json.dumps(body), status=status, content_type="application/json")


def _error(status: int, message: str, path: str, errors: list[dict[str, Any]] | None = None) -> Response:
    body: dict[str, Any] = {"message": message, "documentation_url": f"{DOCS}/{status}{path}"}
    if errors is not None:
        body["errors"] = errors
    return _json(body, status)


@dataclass
class FakeLooker:
    client_id: str = "sentinel-api3-id"
    client_secret: str = "sentinel-api3-secret"
    datagroups: list[dict[str, Any]] = field(default_factory=list)
    pdt_events: list[dict[str, Any]] = field(default_factory=list)
    schedule_jobs: list[dict[str, Any]] = field(default_factory=list)
    content_with_errors: list[dict[str, Any]] = field(default_factory=list)
    forbid: set[str] = field(default_factory=set)
    dashboards: list[str] = field(default_factory=lambda: ["Executive Dashboard", "Payments Operations",
                                                           "Merchant Health", "Operational Dashboard"])
    # dashboard title -> the (model, explore) of its tiles; (model, explore) -> sql_table_name
    tiles: dict[str, list[tuple[str, str]]] = field(default_factory=lambda: {
        "Executive Dashboard": [("novapay_finance", "transactions"), ("novapay_finance", "daily_volume")],
        "Payments Operations": [("novapay_finance", "transactions")],
        "Merchant Health": [("novapay_merchants", "merchant_health")],
        "Operational Dashboard": [("novapay_ops", "payment_events")],
    })
    explores: dict[tuple[str, str], str] = field(default_factory=lambda: {
        ("novapay_finance", "transactions"): "ANALYTICS.FCT_TRANSACTIONS AS transactions",
        ("novapay_finance", "daily_volume"): "ANALYTICS.FCT_DAILY_VOLUME",
        ("novapay_merchants", "merchant_health"): "ANALYTICS.FCT_MERCHANT_HEALTH AS merchant_health",
        ("novapay_ops", "payment_events"): "RAW.PAYMENT_EVENTS",
    })
    tokens: set[str] = field(default_factory=set)
    logins: int = 0
    content_validations: int = 0
    queries: list[dict[str, Any]] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)  # calls answered 401/422: what a test can assert on
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def expire_tokens(self) -> None:
        with self._lock:
            self.tokens.clear()

    def handle(self, request: Request) -> Response:
        path = request.path
        if not path.startswith("/api/4.0/"):
            return _error(404, "Not found", path)
        route = path[len("/api/4.0"):]
        if route == "/login" and request.method == "POST":
            return self._login(request)
        auth = request.headers.get("Authorization", "")
        token = auth.split(" ", 1)[1] if auth.startswith(("Bearer ", "token ")) else ""
        with self._lock:
            live = token in self.tokens
        if not live:
            self.rejected.append(f"401 {request.method} {route}")
            return _error(401, "Requires authentication.", "")
        if route in self.forbid:
            return _error(403, "Forbidden", route)
        if route == "/user" and request.method == "GET":
            return _json({"id": "7", "display_name": "Sentinel API", "email": "sentinel@novapay.example"})
        if route == "/dashboards/search" and request.method == "GET":
            title = request.args.get("title")
            return _json([{"id": str(i + 1), "title": t} for i, t in enumerate(self.dashboards)
                          if title is None or t == title])
        if request.method == "GET" and (route == "/dashboards" or route.startswith(("/dashboards/", "/lookml_models/"))):
            found = self._lineage(route)
            if found is not None:
                return found
        if route == "/datagroups" and request.method == "GET":
            return _json(self.datagroups)
        if route == "/queries/run/json" and request.method == "POST":
            return self._run_query(request)
        if route == "/content_validation" and request.method == "GET":
            self.content_validations += 1
            return _json({"content_with_errors": self.content_with_errors, "computation_time": 4.2,
                          "total_looks_validated": 120, "total_dashboard_elements_validated": 340,
                          "total_dashboard_filters_validated": 80, "total_scheduled_plans_validated": 12,
                          "total_alerts_validated": 0, "total_explores_validated": 15})
        return _error(404, "Not found", route)

    def _lineage(self, route: str) -> Response | None:
        titles = list(self.dashboards)
        if route == "/dashboards":
            return _json([{"id": str(i + 1), "title": t} for i, t in enumerate(titles)])
        parts = route.strip("/").split("/")
        if len(parts) == 3 and parts[0] == "dashboards" and parts[2] == "dashboard_elements":
            index = int(parts[1]) - 1 if parts[1].isdigit() else -1
            if not 0 <= index < len(titles):
                return _error(404, "Not found", route)
            return _json([{"title": f"tile {n}", "query": {"model": m, "view": v}}
                          for n, (m, v) in enumerate(self.tiles.get(titles[index], []), 1)])
        if len(parts) == 4 and parts[0] == "lookml_models" and parts[2] == "explores":
            table = self.explores.get((parts[1], parts[3]))
            if table is None:
                return _error(404, "Not found", route)
            return _json({"name": parts[3], "model_name": parts[1], "sql_table_name": table})
        return None

    def _login(self, request: Request) -> Response:
        if not request.content_type or not request.content_type.startswith("application/x-www-form-urlencoded"):
            return _error(400, "login takes form-encoded client_id and client_secret", "/login")
        form = {k: v[0] for k, v in parse_qs(request.get_data(as_text=True)).items()}
        if form.get("client_id") != self.client_id or form.get("client_secret") != self.client_secret:
            return _error(404, "Not found", "/post/login")
        token = secrets.token_hex(20)
        with self._lock:
            self.tokens.add(token)
            self.logins += 1
        return _json({"access_token": token, "token_type": "Bearer", "expires_in": 3600, "refresh_token": None})

    def _run_query(self, request: Request) -> Response:
        try:
            body = json.loads(request.get_data(as_text=True))
        except ValueError:
            return _error(400, "JSON parse error", "/queries/run/json")
        self.queries.append(body)
        problems = []
        view = body.get("view")
        if body.get("model") != "system__activity":
            problems.append({"field": "model", "code": "invalid", "message": "only system__activity is served here"})
        if view not in TIME_FIELDS:
            problems.append({"field": "view", "code": "invalid", "message": f"unknown explore {view!r}"})
        if not body.get("fields"):
            problems.append({"field": "fields", "code": "missing", "message": "fields are required"})
        if view in TIME_FIELDS and not (body.get("filters") or {}).get(TIME_FIELDS[view]):
            problems.append({"field": "filters", "code": "missing",
                             "message": f"System Activity queries here must filter {TIME_FIELDS[view]}"})
        limit = body.get("limit")
        if limit is None or not str(limit).isdigit() or not 0 < int(limit) <= 5000:
            problems.append({"field": "limit", "code": "invalid", "message": "a limit of 1..5000 rows is required"})
        if problems:
            self.rejected.append(f"422 POST /queries/run/json: {problems}")
            return _error(422, "Validation Failed", "/queries/run/json", [
                {**p, "documentation_url": f"{DOCS}/422/post/queries/run/json"} for p in problems])
        rows = self.pdt_events if view == "pdt_event_log" else self.schedule_jobs
        fields = body["fields"]
        return _json([{f: row.get(f) for f in fields} for row in rows][: int(limit)])


class LookerService:
    """A FakeLooker served over HTTP on a free local port until stop()."""

    def __init__(self, fake: FakeLooker, port: int | None = None) -> None:
        self.fake = fake
        self.port = port or free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._server = make_server("127.0.0.1", self.port, Request.application(fake.handle), threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="fake-looker", daemon=True)
        self._thread.start()

    def env(self) -> dict[str, str]:
        return {"SENTINEL_LOOKER_BASE_URL": self.base_url, "SENTINEL_LOOKER_CLIENT_ID": self.fake.client_id,
                "SENTINEL_LOOKER_CLIENT_SECRET": self.fake.client_secret}

    def stop(self) -> None:
        self._server.shutdown()
        self._thread.join(5)


def start_looker(fake: FakeLooker, port: int | None = None) -> LookerService:
    return LookerService(fake, port)
