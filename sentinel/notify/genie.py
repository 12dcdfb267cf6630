"""One client for the Opsgenie alert protocol, spoken by Opsgenie and by Jira Service Management operations (its
successor: the same `/v2/alerts` paths, GenieKey header, alias semantics and asynchronous requestId), through
opsgenie-sdk's AlertApi.

The SDK's own retries are off: it retries 429 after at most 2 s whatever Retry-After says, and a retry inside a
send would hold the pager's queue. Every non-2xx answer is raised instead (with the response body, e.g. JSM's
"Could not authenticate"), and the outbox retries: 429 after Retry-After, 5xx with backoff.

Opsgenie answers 202 "Request will be processed" before it has done anything; the alert can still fail on its
side. So a send follows its requestId (`GET /v2/alerts/requests/{id}`) for a few seconds: a request that failed
is an error (not a delivered page), one that is still unprocessed when the time is up is reported as accepted
but unconfirmed.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from typing import Any, ClassVar

from pydantic import SecretStr

from sentinel.config.settings import Settings
from sentinel.errors import NotifyError
from sentinel.notify.base import SendOutcome, error_for_status
from sentinel.notify.message import Message, PageAction, plain_text

DEFAULT_PRIORITIES = {"critical": "P1", "warning": "P3"}
PAGER_OPTIONS = {"priorities", "timeout_seconds", "tags", "confirm_seconds"}
# Opsgenie and PagerDuty answer in well under a second, but during their own incidents they take tens of seconds
# to accept an event; a read timeout shorter than that re-sends a page the API was still processing.
PAGER_READ_TIMEOUT = 45.0
CONNECT_TIMEOUT = 5.0
CONFIRM_SECONDS = 10.0  # how long a send follows Opsgenie's asynchronous requestId


def check_pager_options(kind: str, name: str, options: Mapping[str, Any]) -> None:
    unknown = set(options) - PAGER_OPTIONS
    if unknown:
        raise ValueError(f"{kind} notifier {name!r}: unknown option(s) {sorted(unknown)}; known: "
                         f"{', '.join(sorted(PAGER_OPTIONS))} (keys come from SENTINEL_* settings, never the YAML)")


def genie_payload(message: Message, priorities: Mapping[str, str], extra_tags: list[str]) -> dict[str, Any]:
    """Opsgenie / JSM create-alert body within the API's field limits."""
    first = message.firing[0] if message.firing else (message.alerts[0] if message.alerts else None)
    tags = ["sentinel", message.severity.value, *extra_tags]
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


def genie_configuration(base_url: str, api_key: SecretStr) -> Any:
    """An opsgenie-sdk Configuration with its retries off and every non-2xx answer raised (body included)."""
    import opsgenie_sdk

    conf = opsgenie_sdk.Configuration()
    conf.host = base_url.rstrip("/")
    conf.api_key["Authorization"] = api_key.get_secret_value()
    conf.api_key_prefix["Authorization"] = "GenieKey"
    conf.retry_enabled = False  # the outbox retries, honouring Retry-After
    conf.retry_http_response = ["4xx", "5xx"]  # makes the SDK raise with the body and headers for every error
    return conf


class GenieNotifier:
    """Create (trigger) and close (resolve) alerts by alias, then follow the requestId."""

    channel: ClassVar[str] = "pager"
    label: ClassVar[str] = "Opsgenie"

    def __init__(self, name: str, api_key: SecretStr, *, base_url: str, timeout: float = PAGER_READ_TIMEOUT,
                 priorities: Mapping[str, str] | None = None, tags: list[str] | None = None,
                 confirm_seconds: float = CONFIRM_SECONDS) -> None:
        import opsgenie_sdk

        self.name = name
        self.timeout = timeout
        self.confirm_seconds = confirm_seconds
        self.priorities = {**DEFAULT_PRIORITIES, **(priorities or {})}
        self.tags = list(tags or [])
        self._api = opsgenie_sdk.AlertApi(api_client=opsgenie_sdk.ApiClient(
            configuration=genie_configuration(base_url, api_key)))

    @classmethod
    def _from_options(cls, name: str, options: Mapping[str, Any], api_key: SecretStr, base_url: str) -> Any:
        return cls(name, api_key, base_url=base_url,
                   timeout=float(options.get("timeout_seconds", PAGER_READ_TIMEOUT)),
                   priorities=options.get("priorities"), tags=list(options.get("tags", [])),
                   confirm_seconds=float(options.get("confirm_seconds", CONFIRM_SECONDS)))

    def send(self, message: Message, ref: str | None = None) -> SendOutcome:
        import opsgenie_sdk

        if message.page_action is PageAction.NONE:
            return SendOutcome(ref=ref, skipped=True, detail="nothing to page")
        timeout = (CONNECT_TIMEOUT, self.timeout)
        try:
            if message.page_action is PageAction.RESOLVE:
                accepted = self._api.close_alert(
                    identifier=message.key, identifier_type="alias",
                    close_alert_payload=opsgenie_sdk.CloseAlertPayload(source="sentinel", note="resolved by Sentinel"),
                    _request_timeout=timeout)
            else:
                accepted = self._api.create_alert(
                    create_alert_payload=opsgenie_sdk.CreateAlertPayload(
                        **genie_payload(message, self.priorities, self.tags)),
                    _request_timeout=timeout)
        except Exception as exc:
            raise self._error(exc) from None
        outcome = self._confirm(str(getattr(accepted, "request_id", "") or ""))
        return SendOutcome(ref=message.key, detail=outcome)

    def _confirm(self, request_id: str) -> str:
        """Follow the request until Opsgenie has processed it, or the confirmation time is up; what is known."""
        if not request_id:
            return "accepted (no requestId to follow)"
        deadline = time.monotonic() + self.confirm_seconds
        pause = 0.1
        while True:
            try:
                status = self._api.get_request_status(request_id, _request_timeout=(CONNECT_TIMEOUT, 10.0)).data
            except Exception as exc:
                if getattr(_unwrap(exc), "status", None) != 404:  # 404: not processed yet
                    return f"accepted (requestId {request_id}); its status could not be read: {self._error(exc)}"
            else:
                if status is not None and status.is_success:
                    return f"processed: {status.status}"
                if status is not None and status.is_success is False:
                    raise NotifyError(f"{self.label} accepted the request but could not process it: "
                                      f"{status.status or 'no reason given'} (requestId {request_id})",
                                      retryable=False)
            if time.monotonic() + pause > deadline:
                return f"accepted (requestId {request_id}), processing not confirmed within {self.confirm_seconds:g}s"
            time.sleep(pause)
            pause = min(2.0, pause * 2)

    def _error(self, exc: BaseException) -> NotifyError:
        cause = _unwrap(exc)
        status = getattr(cause, "status", None)
        if isinstance(status, int) and status:
            headers = {str(k).lower(): v for k, v in dict(getattr(cause, "headers", None) or {}).items()}
            return error_for_status(self.label, status, _body_message(getattr(cause, "body", None)),
                                    headers.get("retry-after"))
        return NotifyError(f"{self.label} unreachable: {type(cause).__name__}", retryable=True)


class OpsgenieNotifier(GenieNotifier):
    label: ClassVar[str] = "Opsgenie"

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> OpsgenieNotifier:
        check_pager_options("opsgenie", name, options)
        if settings.opsgenie_api_key is None:
            raise ValueError(f"opsgenie notifier {name!r} needs SENTINEL_OPSGENIE_API_KEY")
        notifier: OpsgenieNotifier = cls._from_options(name, options, settings.opsgenie_api_key,
                                                       settings.opsgenie_base_url)
        return notifier


class JsmNotifier(GenieNotifier):
    """Jira Service Management operations: its integration API (`.../jsm/ops/integration`) is Opsgenie's."""

    label: ClassVar[str] = "JSM"

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> JsmNotifier:
        check_pager_options("jsm", name, options)
        if settings.jsm_api_key is None:
            raise ValueError(f"jsm notifier {name!r} needs SENTINEL_JSM_API_KEY")
        notifier: JsmNotifier = cls._from_options(name, options, settings.jsm_api_key, settings.jsm_base_url)
        return notifier


def _unwrap(exc: BaseException) -> BaseException:
    """The SDK wraps its last error in tenacity's RetryError even with retries off."""
    import tenacity

    if isinstance(exc, tenacity.RetryError):
        inner = exc.last_attempt.exception()
        return inner if inner is not None else exc
    return exc


def _body_message(body: object) -> str:
    """The API's own words ("Could not authenticate", "Key format is not valid!") from an error body."""
    if isinstance(body, bytes):
        body = body.decode("utf-8", "replace")
    if not isinstance(body, str) or not body.strip():
        return ""
    try:
        data = json.loads(body)
    except ValueError:
        return body.strip()[:200]
    if isinstance(data, dict):
        parts = [str(data.get("message", "")).strip()]
        errors = data.get("errors")
        if isinstance(errors, dict):
            parts += [f"{k}: {v}" for k, v in errors.items()]
        return "; ".join(p for p in parts if p)
    return ""
