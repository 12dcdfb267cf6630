"""Pagers behind one interface (SENTINEL_PAGER_BACKEND switches): Opsgenie through opsgenie-sdk, Jira Service
Management operations (Opsgenie's successor: same GenieKey header and alias semantics on its integration API)
and PagerDuty Events API v2. The alert key is the dedup key (Opsgenie/JSM `alias`, PagerDuty `dedup_key`), so a
resend after a crash collapses into the same alert. Pagers act on `page_action`: trigger, resolve or nothing
(reminders and thread updates are for chat)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar
from urllib.parse import quote

import requests
from pydantic import SecretStr

from sentinel.config.settings import Settings
from sentinel.errors import NotifyError
from sentinel.notify.base import SendOutcome, error_for_status
from sentinel.notify.message import Message, plain_text

DEFAULT_PRIORITIES = {"critical": "P1", "warning": "P3"}
_PAGER_OPTIONS = {"priorities", "timeout_seconds", "tags"}


def _check_options(kind: str, name: str, options: Mapping[str, Any]) -> None:
    unknown = set(options) - _PAGER_OPTIONS
    if unknown:
        raise ValueError(f"{kind} notifier {name!r}: unknown option(s) {sorted(unknown)}; known: "
                         f"{', '.join(sorted(_PAGER_OPTIONS))} (keys come from SENTINEL_* settings, never the YAML)")


def genie_payload(message: Message, priorities: Mapping[str, str], extra_tags: list[str]) -> dict[str, Any]:
    """Opsgenie / JSM create-alert body within the API's field limits."""
    first = message.firing[0] if message.firing else (message.alerts[0] if message.alerts else None)
    tags = ["sentinel", message.severity, *extra_tags]
    details: dict[str, str] = {"sentinel_key": message.key, "alerts": str(message.total_alerts)}
    if first is not None:
        tags += [t for t in (first.stage, first.table) if t]
        details.update({"check": first.check_id, "rule": first.rule_id, "runbook": first.runbook_url})
        if first.value_text:
            details["value"] = first.value_text
        if first.since:
            details["since"] = first.since.isoformat()
    return {
        "message": message.title[:130],
        "alias": message.key[:512],
        "description": plain_text(message)[:15000],
        "tags": [t[:50] for t in dict.fromkeys(tags)][:20],
        "details": {k: v[:500] for k, v in details.items()},
        "entity": (first.table or first.check_id)[:512] if first is not None else "sentinel",
        "source": "sentinel",
        "priority": priorities.get(message.severity, "P3"),
    }


class OpsgenieNotifier:
    """Opsgenie via opsgenie-sdk. The SDK's own retries are bounded (2 retries, at most ~8 s) so one call never
    blocks delivery for a minute; anything longer is the outbox's job."""

    channel: ClassVar[str] = "pager"

    def __init__(self, name: str, api_key: SecretStr, *, base_url: str = "https://api.opsgenie.com",
                 timeout: float = 10.0, priorities: Mapping[str, str] | None = None, tags: list[str] | None = None,
                 retry_count: int = 2, retry_max_delay: float = 8.0) -> None:
        import opsgenie_sdk

        self.name = name
        self.timeout = timeout
        self.priorities = {**DEFAULT_PRIORITIES, **(priorities or {})}
        self.tags = list(tags or [])
        conf = opsgenie_sdk.Configuration()
        conf.host = base_url.rstrip("/")
        conf.api_key["Authorization"] = api_key.get_secret_value()
        conf.retry_count = retry_count
        conf.retry_delay = 2  # max seconds between SDK retries
        conf.retry_max_delay = retry_max_delay  # total seconds the SDK may spend retrying
        conf.retry_http_response = ["429", "500", "502-599"]
        self._api = opsgenie_sdk.AlertApi(api_client=opsgenie_sdk.ApiClient(configuration=conf))

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> OpsgenieNotifier:
        _check_options("opsgenie", name, options)
        if settings.opsgenie_api_key is None:
            raise ValueError(f"opsgenie notifier {name!r} needs SENTINEL_OPSGENIE_API_KEY")
        return cls(name, settings.opsgenie_api_key, base_url=settings.opsgenie_base_url,
                   timeout=float(options.get("timeout_seconds", 10)), priorities=options.get("priorities"),
                   tags=list(options.get("tags", [])))

    def send(self, message: Message, ref: str | None = None) -> SendOutcome:
        import opsgenie_sdk

        if message.page_action == "none":
            return SendOutcome(ref=ref, skipped=True, detail="nothing to page")
        try:
            if message.page_action == "resolve":
                _, status, headers = self._api.close_alert_with_http_info(
                    identifier=message.key, identifier_type="alias",
                    close_alert_payload=opsgenie_sdk.CloseAlertPayload(source="sentinel", note="resolved by Sentinel"),
                    _request_timeout=(3.0, self.timeout))
            else:
                payload = opsgenie_sdk.CreateAlertPayload(**genie_payload(message, self.priorities, self.tags))
                _, status, headers = self._api.create_alert_with_http_info(
                    create_alert_payload=payload, _request_timeout=(3.0, self.timeout))
        except Exception as exc:
            raise _sdk_error(exc) from None
        if not 200 <= int(status) < 300:
            raise error_for_status("Opsgenie", int(status), "", (headers or {}).get("Retry-After"))
        return SendOutcome(ref=message.key, detail=f"HTTP {status}")


def _sdk_error(exc: Exception) -> NotifyError:
    import tenacity

    if isinstance(exc, tenacity.RetryError):
        inner = exc.last_attempt.exception()
        exc = inner if isinstance(inner, Exception) else exc
    status = getattr(exc, "status", None)
    if isinstance(status, int) and status:
        headers = getattr(exc, "headers", None) or {}
        return error_for_status("Opsgenie", status, "", dict(headers).get("Retry-After"))
    return NotifyError(f"Opsgenie unreachable: {type(exc).__name__}", retryable=True)


class JsmNotifier:
    """Jira Service Management operations integration API: POST {base}/v2/alerts, close by alias."""

    channel: ClassVar[str] = "pager"

    def __init__(self, name: str, api_key: SecretStr, *, base_url: str, timeout: float = 10.0,
                 priorities: Mapping[str, str] | None = None, tags: list[str] | None = None) -> None:
        self.name = name
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.priorities = {**DEFAULT_PRIORITIES, **(priorities or {})}
        self.tags = list(tags or [])
        self._session = requests.Session()
        self._session.headers.update({"Authorization": f"GenieKey {api_key.get_secret_value()}",
                                      "Content-Type": "application/json"})

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> JsmNotifier:
        _check_options("jsm", name, options)
        if settings.jsm_api_key is None:
            raise ValueError(f"jsm notifier {name!r} needs SENTINEL_JSM_API_KEY")
        return cls(name, settings.jsm_api_key, base_url=settings.jsm_base_url,
                   timeout=float(options.get("timeout_seconds", 10)), priorities=options.get("priorities"),
                   tags=list(options.get("tags", [])))

    def send(self, message: Message, ref: str | None = None) -> SendOutcome:
        if message.page_action == "none":
            return SendOutcome(ref=ref, skipped=True, detail="nothing to page")
        if message.page_action == "resolve":
            url = f"{self.base_url}/v2/alerts/{quote(message.key, safe='')}/close"
            body: dict[str, Any] = {"source": "sentinel", "note": "resolved by Sentinel"}
            params = {"identifierType": "alias"}
        else:
            url, body, params = f"{self.base_url}/v2/alerts", genie_payload(message, self.priorities, self.tags), {}
        try:
            response = self._session.post(url, json=body, params=params, timeout=(3.0, self.timeout))
        except requests.RequestException as exc:
            raise NotifyError(f"JSM unreachable: {type(exc).__name__}", retryable=True) from None
        if response.status_code != 202 and not 200 <= response.status_code < 300:
            raise error_for_status("JSM", response.status_code, response.text, response.headers.get("Retry-After"))
        request_id = _json(response).get("requestId")
        return SendOutcome(ref=message.key, detail=f"requestId {request_id}")


class PagerDutyNotifier:
    """PagerDuty Events API v2: trigger / resolve with dedup_key = the alert key."""

    channel: ClassVar[str] = "pager"
    SEVERITIES: ClassVar[dict[str, str]] = {"critical": "critical", "warning": "warning"}

    def __init__(self, name: str, routing_key: SecretStr, *, base_url: str = "https://events.pagerduty.com",
                 timeout: float = 10.0) -> None:
        self.name = name
        self.url = base_url.rstrip("/") + "/v2/enqueue"
        self.timeout = timeout
        self._routing_key = routing_key
        self._session = requests.Session()

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> PagerDutyNotifier:
        _check_options("pagerduty", name, options)
        if settings.pagerduty_routing_key is None:
            raise ValueError(f"pagerduty notifier {name!r} needs SENTINEL_PAGERDUTY_ROUTING_KEY")
        return cls(name, settings.pagerduty_routing_key, base_url=settings.pagerduty_base_url,
                   timeout=float(options.get("timeout_seconds", 10)))

    def send(self, message: Message, ref: str | None = None) -> SendOutcome:
        if message.page_action == "none":
            return SendOutcome(ref=ref, skipped=True, detail="nothing to page")
        body: dict[str, Any] = {"routing_key": self._routing_key.get_secret_value(), "dedup_key": message.key[:255]}
        if message.page_action == "resolve":
            body["event_action"] = "resolve"
        else:
            first = message.firing[0] if message.firing else (message.alerts[0] if message.alerts else None)
            body["event_action"] = "trigger"
            body["payload"] = {
                "summary": message.title[:1024],
                "source": "sentinel",
                "severity": self.SEVERITIES.get(message.severity, "warning"),
                "timestamp": message.created_at.isoformat(),
                "component": (first.table or first.check_id) if first else "sentinel",
                "group": (first.stage or "pipeline") if first else "pipeline",
                "class": first.rule_id if first else "sentinel",
                "custom_details": {"alerts": [a.summary[:300] for a in message.alerts[:20]],
                                   "symptoms": [s.summary[:300] for s in message.symptoms[:20]],
                                   "at_risk": list(message.at_risk)},
            }
            if first is not None:
                body["links"] = [{"href": first.runbook_url, "text": f"runbook {first.runbook}"}]
        try:
            response = self._session.post(self.url, json=body, timeout=(3.0, self.timeout))
        except requests.RequestException as exc:
            raise NotifyError(f"PagerDuty unreachable: {type(exc).__name__}", retryable=True) from None
        if not 200 <= response.status_code < 300:
            raise error_for_status("PagerDuty", response.status_code, _safe_text(response),
                                   response.headers.get("Retry-After"))
        return SendOutcome(ref=message.key, detail=str(_json(response).get("status", "")))


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def _safe_text(response: requests.Response) -> str:
    data = _json(response)
    return str(data.get("message", "")) + (" " + "; ".join(map(str, data.get("errors", []))) if data.get("errors") else "")
