"""Local stand-ins for Slack, Opsgenie, JSM ops, PagerDuty and a heartbeat endpoint that enforce each API's
request contract (auth header, JSON shape, required fields, Slack's Block Kit limits) and can be told to answer
429 with Retry-After, 5xx, `ok: false` errors, 401, or slowly. They run on pytest-httpserver."""

from __future__ import annotations

import itertools
import json
import re
import threading
import time
import uuid
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from werkzeug import Request, Response


def _json_response(body: dict[str, Any], status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(json.dumps(body), status=status, headers=headers or {}, content_type="application/json")


@dataclass
class Fault:
    status: int
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FaultQueue:
    def __init__(self) -> None:
        self._faults: deque[Fault] = deque()
        self.down = False  # answer 503 to everything while True
        self.delay = 0.0  # seconds to wait before answering
        self._lock = threading.RLock()

    def push(self, fault: Fault, times: int = 1) -> None:
        with self._lock:
            self._faults.extend([fault] * times)

    def take(self) -> Fault | None:
        with self._lock:
            if self.down:
                return Fault(503, {"ok": False, "error": "service_unavailable"})
            return self._faults.popleft() if self._faults else None


# ---------------------------------------------------------------------------------------------------------- Slack
SLACK_LIMITS = {"blocks": 50, "header": 150, "section": 3000, "fields": 10, "field": 2000, "context": 10}


def slack_block_problems(blocks: list[dict[str, Any]]) -> list[str]:
    problems = []
    if len(blocks) > SLACK_LIMITS["blocks"]:
        problems.append(f"{len(blocks)} blocks > 50")
    for i, b in enumerate(blocks):
        kind = b.get("type")
        if kind == "header":
            text = b.get("text", {})
            if text.get("type") != "plain_text" or len(text.get("text", "")) > SLACK_LIMITS["header"]:
                problems.append(f"block {i}: header must be plain_text <= 150 chars")
        elif kind == "section":
            if "text" not in b and "fields" not in b:
                problems.append(f"block {i}: section needs text or fields")
            if "text" in b and len(b["text"].get("text", "")) > SLACK_LIMITS["section"]:
                problems.append(f"block {i}: section text > 3000")
            fields = b.get("fields", [])
            if len(fields) > SLACK_LIMITS["fields"] or any(len(f.get("text", "")) > SLACK_LIMITS["field"] for f in fields):
                problems.append(f"block {i}: too many or too long fields")
        elif kind == "context":
            if not 1 <= len(b.get("elements", [])) <= SLACK_LIMITS["context"]:
                problems.append(f"block {i}: context needs 1..10 elements")
        elif kind not in ("divider",):
            problems.append(f"block {i}: unsupported type {kind!r}")
    return problems


@dataclass
class SlackPost:
    method: str
    channel: str
    ts: str
    text: str
    blocks: list[dict[str, Any]]
    thread_ts: str | None
    raw: dict[str, Any]


class FakeSlack:
    """chat.postMessage and chat.update at {prefix}/api/. Channel names resolve to ids; ts are unique."""

    CHANNEL_ID = "C0PIPELINE"

    def __init__(self, httpserver: Any, token: str, prefix: str = "/slack") -> None:
        self.token = token
        self.prefix = prefix
        self.base_url = httpserver.url_for(f"{prefix}/api/")
        self.faults = FaultQueue()
        self.calls: list[SlackPost] = []  # accepted calls, in order
        self.rejected: list[tuple[str, str]] = []  # (method, error)
        self.requests_seen = 0
        self.messages: dict[str, SlackPost] = {}  # ts -> current parent (after updates)
        self._ts = itertools.count(1)
        self._lock = threading.RLock()
        httpserver.expect_request(re.compile(rf"^{prefix}/api/chat\.(postMessage|update)$"),
                                  method="POST").respond_with_handler(self.handle)
        # read-only calls `sentinel doctor` makes: who the bot is, and the channels it can see
        self.channels = [{"id": self.CHANNEL_ID, "name": "data-pipeline-alerts", "is_member": True},
                         {"id": "C0RANDOM", "name": "random", "is_member": False}]
        httpserver.expect_request(re.compile(rf"^{prefix}/api/(auth\.test|conversations\.list)$")
                                  ).respond_with_handler(self.handle_read)
        httpserver.expect_request(re.compile(rf"^{prefix}/api/conversations\.(history|replies)$")
                                  ).respond_with_handler(self.handle_history)
        self.history_calls = 0

    # what tests look at
    @property
    def posts(self) -> list[SlackPost]:
        return [c for c in self.calls if c.method == "chat.postMessage" and c.thread_ts is None]

    @property
    def replies(self) -> list[SlackPost]:
        return [c for c in self.calls if c.method == "chat.postMessage" and c.thread_ts is not None]

    @property
    def updates(self) -> list[SlackPost]:
        return [c for c in self.calls if c.method == "chat.update"]

    def handle(self, request: Request) -> Response:
        with self._lock:
            self.requests_seen += 1
        fault = self.faults.take()
        delay = self.faults.delay or (fault.delay if fault else 0.0)
        if delay:
            time.sleep(delay)
        if fault is not None and fault.status:
            return _json_response(fault.body or {"ok": False, "error": "fault"}, fault.status, fault.headers)
        if fault is not None and fault.body:  # an `ok: false` answer with HTTP 200
            return _json_response(fault.body)
        method = request.path.rsplit("/", 1)[-1]
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reject(method, "invalid_auth")
        if not (request.content_type or "").startswith("application/json"):
            return self._reject(method, "invalid_arg_name")
        body = request.get_json(silent=True)
        if not isinstance(body, dict) or not body.get("channel"):
            return self._reject(method, "channel_not_found")
        channel = self.CHANNEL_ID if body["channel"] in ("#data-pipeline-alerts", self.CHANNEL_ID) else None
        if channel is None:
            return self._reject(method, "channel_not_found")
        blocks = body.get("blocks") or []
        if isinstance(blocks, str):
            blocks = json.loads(blocks)
        if not body.get("text") and not blocks:
            return self._reject(method, "no_text")
        problems = slack_block_problems(blocks)
        if problems:
            return self._reject(method, "invalid_blocks: " + "; ".join(problems))
        with self._lock:
            if method == "chat.update":
                ts = body.get("ts")
                if ts not in self.messages:
                    return self._reject(method, "message_not_found")
            else:
                thread_ts = body.get("thread_ts")
                if thread_ts is not None and thread_ts not in self.messages:
                    return self._reject(method, "thread_not_found")
                ts = f"1700000000.{next(self._ts):06d}"
            if method == "chat.update" and not body.get("metadata") and self.messages[ts].raw.get("metadata"):
                body = {**body, "metadata": self.messages[ts].raw["metadata"]}  # an edit keeps the metadata
            post = SlackPost(method, channel, ts, body.get("text", ""), blocks, body.get("thread_ts"), body)
            self.calls.append(post)
            if method == "chat.update" or post.thread_ts is None:
                self.messages[ts] = post
        return _json_response({"ok": True, "channel": channel, "ts": ts, "message": {"text": post.text}})

    def handle_read(self, request: Request) -> Response:
        method = request.path.rsplit("/", 1)[-1]
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reject(method, "invalid_auth")
        if method == "auth.test":
            return _json_response({"ok": True, "user": "sentinel", "user_id": "U0SENTINEL", "team": "NovaPay",
                                   "team_id": "T0NOVAPAY", "bot_id": "B0SENTINEL"})
        # conversations.list, one page per request: the cursor is the index of the next channel
        start = int(request.args.get("cursor") or request.form.get("cursor") or 0)
        page = self.channels[start:start + 1]
        more = start + 1 < len(self.channels)
        return _json_response({"ok": True, "channels": page,
                               "response_metadata": {"next_cursor": str(start + 1) if more else ""}})

    def handle_history(self, request: Request) -> Response:
        """conversations.history (top-level messages) and conversations.replies (a thread), newest first for
        history as Slack returns them; metadata only with include_all_metadata; `limit` + cursor paging."""
        method = request.path.rsplit("/", 1)[-1]
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return self._reject(method, "invalid_auth")
        args = {**request.args.to_dict(), **request.form.to_dict(), **(request.get_json(silent=True) or {})}
        if args.get("channel") != self.CHANNEL_ID:  # these methods take the channel id, never the name
            return self._reject(method, "channel_not_found")
        with self._lock:
            self.history_calls += 1
            if method == "conversations.history":
                items = sorted(self.messages.values(), key=lambda p: p.ts, reverse=True)
            else:
                parent = self.messages.get(str(args.get("ts")))
                if parent is None:
                    return self._reject(method, "thread_not_found")
                items = [parent] + [c for c in self.calls if c.thread_ts == parent.ts]
        with_metadata = str(args.get("include_all_metadata", "")).lower() in ("1", "true")
        limit = min(int(args.get("limit") or 100), 1000)
        start = int(args.get("cursor") or 0)
        page = items[start:start + limit]
        more = start + limit < len(items)
        messages = []
        for post in page:
            item: dict[str, Any] = {"type": "message", "ts": post.ts, "text": post.text}
            if post.thread_ts is not None:
                item["thread_ts"] = post.thread_ts
            if with_metadata and post.raw.get("metadata"):
                item["metadata"] = post.raw["metadata"]
            messages.append(item)
        return _json_response({"ok": True, "messages": messages, "has_more": more,
                               "response_metadata": {"next_cursor": str(start + limit) if more else ""}})

    def rate_limit(self, retry_after_seconds: int, times: int = 1) -> None:
        """Answer the next calls as Slack does when rate limited: HTTP 429, Retry-After, `ratelimited`."""
        self.faults.push(Fault(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": str(retry_after_seconds)}),
                         times)

    def _reject(self, method: str, error: str) -> Response:
        with self._lock:
            self.rejected.append((method, error))
        return _json_response({"ok": False, "error": error})


# -------------------------------------------------------------------------------------------- Opsgenie and JSM
@dataclass
class GenieAlert:
    alias: str
    message: str
    priority: str
    status: str = "open"
    count: int = 1
    creates: int = 1
    payload: dict[str, Any] = field(default_factory=dict)


class FakeGenie:
    """Opsgenie `/v2/alerts` (or the JSM ops integration API): 202 + requestId, dedup and close by alias."""

    def __init__(self, httpserver: Any, api_key: str, prefix: str, auth_error: str = "Could not authenticate") -> None:
        self.api_key = api_key
        self.base_url = httpserver.url_for(prefix)
        self.faults = FaultQueue()
        self.alerts: dict[str, GenieAlert] = {}
        self.requests: list[tuple[str, dict[str, Any]]] = []
        self.heartbeats: dict[str, int] = {}
        self._lock = threading.RLock()
        # asynchronous processing: requestId -> (isSuccess, status); `pending_polls` status reads answer 404
        # ("not processed yet") first; `fail_processing` makes the next requests fail on the API's side
        self.request_status: dict[str, tuple[bool, str, str]] = {}
        self.status_reads = 0
        self.pending_polls = 0
        self.fail_processing: str | None = None
        self.auth_error = auth_error
        httpserver.expect_request(re.compile(rf"^{prefix}/v2/alerts/requests/[^/]+$"),
                                  method="GET").respond_with_handler(self.get_request)
        httpserver.expect_request(re.compile(rf"^{prefix}/v2/alerts$"), method="POST").respond_with_handler(self.create)
        httpserver.expect_request(re.compile(rf"^{prefix}/v2/alerts/[^/]+/close$"),
                                  method="POST").respond_with_handler(self.close)
        httpserver.expect_request(re.compile(rf"^{prefix}/v2/heartbeats/[^/]+/ping$")).respond_with_handler(self.ping)
        self.basic_auth: tuple[str, str] | None = None  # JSM's team heartbeat API uses an Atlassian API token
        httpserver.expect_request(re.compile(rf"^{prefix.rsplit('/integration', 1)[0]}/api/[^/]+/v1/teams/[^/]+"
                                             r"/heartbeats/ping$")).respond_with_handler(self.team_ping)

    def _gate(self, request: Request) -> Response | None:
        fault = self.faults.take()
        if fault is not None:
            if fault.delay:
                time.sleep(fault.delay)
            if fault.status:
                return _json_response(fault.body or {"message": "fault", "took": 0.0}, fault.status, fault.headers)
        if request.headers.get("Authorization") != f"GenieKey {self.api_key}":
            return _json_response({"message": self.auth_error, "took": 0.0, "requestId": str(uuid.uuid4())}, 401)
        return None

    def _accepted(self, action: str, alias: str) -> tuple[Response, bool]:
        """202 + requestId, as the API answers before processing; False when processing will fail."""
        request_id = str(uuid.uuid4())
        failure = self.fail_processing
        with self._lock:
            self.request_status[request_id] = (failure is None, failure or f"{action} alert", alias)
        return _json_response({"result": "Request will be processed", "took": 0.01, "requestId": request_id},
                              202), failure is None

    def get_request(self, request: Request) -> Response:
        gate = self._gate(request)
        if gate is not None:
            return gate
        request_id = request.path.rsplit("/", 1)[1]
        with self._lock:
            self.status_reads += 1
            known = self.request_status.get(request_id)
            if known is None or self.pending_polls > 0:
                self.pending_polls = max(0, self.pending_polls - 1)
                return _json_response({"message": "Request not found. It might not be processed, yet.",
                                       "took": 0.0, "requestId": str(uuid.uuid4())}, 404)
        success, status, alias = known
        return _json_response({"data": {"success": success, "action": "Create", "processedAt": "2026-01-01T00:00:00Z",
                                        "integrationId": "int-1", "isSuccess": success, "status": status,
                                        "alertId": "" if not success else f"alert-{alias[:8]}", "alias": alias},
                               "took": 0.0, "requestId": str(uuid.uuid4())})

    def create(self, request: Request) -> Response:
        gate = self._gate(request)
        if gate is not None:
            return gate
        body = request.get_json(silent=True)
        errors = []
        if not isinstance(body, dict):
            return _json_response({"message": "Invalid JSON body", "took": 0.0}, 400)
        if not body.get("message") or len(body["message"]) > 130:
            errors.append("message is required and at most 130 chars")
        if body.get("alias") is not None and len(body["alias"]) > 512:
            errors.append("alias at most 512 chars")
        if body.get("priority") not in (None, "P1", "P2", "P3", "P4", "P5"):
            errors.append("priority must be P1..P5")
        if len(body.get("tags", [])) > 20:
            errors.append("at most 20 tags")
        if not all(isinstance(v, str) for v in body.get("details", {}).values()):
            errors.append("details values must be strings")
        if errors:
            return _json_response({"message": "; ".join(errors), "took": 0.0}, 422)
        alias = body.get("alias") or str(uuid.uuid4())
        response, processed = self._accepted("Created", alias)
        with self._lock:
            self.requests.append(("create", body))
            existing = self.alerts.get(alias)
            if not processed:
                pass
            elif existing is not None and existing.status == "open":
                existing.count += 1  # Opsgenie deduplicates an open alert with the same alias
                existing.creates += 1
            else:
                self.alerts[alias] = GenieAlert(alias, body["message"], body.get("priority", "P3"), payload=body)
        return response

    def close(self, request: Request) -> Response:
        gate = self._gate(request)
        if gate is not None:
            return gate
        if request.args.get("identifierType") != "alias":
            return _json_response({"message": "identifierType must be alias here", "took": 0.0}, 422)
        alias = request.path.split("/v2/alerts/", 1)[1].rsplit("/close", 1)[0]
        from urllib.parse import unquote

        alias = unquote(alias)
        response, processed = self._accepted("Closed", alias)
        with self._lock:
            self.requests.append(("close", {"alias": alias, **(request.get_json(silent=True) or {})}))
            if alias in self.alerts and processed:
                self.alerts[alias].status = "closed"
        return response

    def ping(self, request: Request) -> Response:
        gate = self._gate(request)
        if gate is not None:
            return gate
        name = request.path.split("/v2/heartbeats/", 1)[1].rsplit("/ping", 1)[0]
        with self._lock:
            self.heartbeats[name] = self.heartbeats.get(name, 0) + 1
        return _json_response({"result": "PONG - Heartbeat received", "took": 0.0, "requestId": str(uuid.uuid4())},
                              202)

    def team_ping(self, request: Request) -> Response:
        auth = request.authorization
        if self.basic_auth is None or auth is None or (auth.username, auth.password) != self.basic_auth:
            return _json_response({"message": "Unauthorized"}, 401)
        name = request.args.get("name")
        if not name:
            return _json_response({"message": "name is required"}, 422)
        with self._lock:
            self.heartbeats[name] = self.heartbeats.get(name, 0) + 1
        return _json_response({"result": "PONG - Heartbeat received"}, 202)

    @property
    def open_aliases(self) -> list[str]:
        return [a for a, v in self.alerts.items() if v.status == "open"]


# ------------------------------------------------------------------------------------------------ PagerDuty
class FakePagerDuty:
    """Events API v2 `/v2/enqueue`: 202 {status: success, dedup_key}; 400 with errors for invalid events."""

    def __init__(self, httpserver: Any, routing_key: str, prefix: str = "/pagerduty") -> None:
        self.routing_key = routing_key
        self.base_url = httpserver.url_for(prefix)
        self.faults = FaultQueue()
        self.events: list[dict[str, Any]] = []
        self.arrived_at: list[float] = []  # time.monotonic() when each accepted event arrived (for latency figures)
        self.incidents: dict[str, str] = {}  # dedup_key -> triggered | resolved
        httpserver.expect_request(f"{prefix}/v2/enqueue", method="POST").respond_with_handler(self.enqueue)

    def enqueue(self, request: Request) -> Response:
        fault = self.faults.take()
        delay = self.faults.delay or (fault.delay if fault else 0.0)
        if delay:
            time.sleep(delay)  # PagerDuty busy: the event is processed all the same, the answer comes late
        if fault is not None and fault.status:
            return _json_response(fault.body or {"status": "error"}, fault.status, fault.headers)
        body = request.get_json(silent=True)
        errors = []
        if not isinstance(body, dict):
            return _json_response({"status": "invalid event", "message": "Event object is invalid"}, 400)
        if body.get("routing_key") != self.routing_key:
            errors.append("routing_key is invalid")
        action = body.get("event_action")
        if action not in ("trigger", "acknowledge", "resolve"):
            errors.append("event_action must be trigger, acknowledge or resolve")
        if action in ("acknowledge", "resolve") and not body.get("dedup_key"):
            errors.append("dedup_key is required to acknowledge or resolve")
        if action == "trigger":
            payload = body.get("payload") or {}
            for name in ("summary", "source", "severity"):
                if not payload.get(name):
                    errors.append(f"payload.{name} is required")
            if payload.get("severity") not in ("critical", "error", "warning", "info"):
                errors.append("payload.severity must be critical, error, warning or info")
            if len(payload.get("summary", "")) > 1024:
                errors.append("payload.summary is at most 1024 chars")
        if errors:
            return _json_response({"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                                  400)
        key = body.get("dedup_key") or uuid.uuid4().hex
        self.events.append(body)
        self.arrived_at.append(time.monotonic())
        self.incidents[key] = "resolved" if action == "resolve" else "triggered"
        return _json_response({"status": "success", "message": "Event processed", "dedup_key": key}, 202)
