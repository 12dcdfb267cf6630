"""Pagers behind one interface (SENTINEL_PAGER_BACKEND switches): Opsgenie and Jira Service Management operations
through one Opsgenie-protocol client (sentinel.notify.genie), and PagerDuty Events API v2 here. The alert key is the
dedup key (Opsgenie/JSM `alias`, PagerDuty `dedup_key`), so a resend after a crash or a timeout collapses into the
same alert. Pagers act on `page_action`: trigger, resolve or nothing (reminders and thread updates are for chat)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import requests
from pydantic import SecretStr

from sentinel.config.settings import Settings
from sentinel.errors import NotifyError
from sentinel.notify.base import SendOutcome, error_for_status
from sentinel.notify.genie import (
    CONNECT_TIMEOUT,
    PAGER_READ_TIMEOUT,
    JsmNotifier,
    OpsgenieNotifier,
    check_pager_options,
    genie_payload,
)
from sentinel.notify.message import Message, PageAction

__all__ = ["JsmNotifier", "OpsgenieNotifier", "PagerDutyNotifier", "genie_payload"]


class PagerDutyNotifier:
    """PagerDuty Events API v2: trigger / resolve with dedup_key = the alert key.

    Hand-written on requests rather than the official `pagerduty` client: its clients retry 429 without limit by
    default, sleeping inside the call, which would hold the pager's queue, and it brings httpx for one POST of a
    documented JSON body; the outbox already retries with Retry-After and backoff."""

    channel: ClassVar[str] = "pager"
    SEVERITIES: ClassVar[dict[str, str]] = {"critical": "critical", "warning": "warning"}

    def __init__(self, name: str, routing_key: SecretStr, *, base_url: str = "https://events.pagerduty.com",
                 timeout: float = PAGER_READ_TIMEOUT) -> None:
        self.name = name
        self.url = base_url.rstrip("/") + "/v2/enqueue"
        self.timeout = timeout
        self._routing_key = routing_key
        self._session = requests.Session()

    @classmethod
    def create(cls, name: str, options: Mapping[str, Any], settings: Settings) -> PagerDutyNotifier:
        check_pager_options("pagerduty", name, options)
        if settings.pagerduty_routing_key is None:
            raise ValueError(f"pagerduty notifier {name!r} needs SENTINEL_PAGERDUTY_ROUTING_KEY")
        return cls(name, settings.pagerduty_routing_key, base_url=settings.pagerduty_base_url,
                   timeout=float(options.get("timeout_seconds", PAGER_READ_TIMEOUT)))

    def send(self, message: Message, ref: str | None = None) -> SendOutcome:
        if message.page_action is PageAction.NONE:
            return SendOutcome(ref=ref, skipped=True, detail="nothing to page")
        body: dict[str, Any] = {"routing_key": self._routing_key.get_secret_value(), "dedup_key": message.key[:255]}
        if message.page_action is PageAction.RESOLVE:
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
            response = self._session.post(self.url, json=body, timeout=(CONNECT_TIMEOUT, self.timeout))
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
