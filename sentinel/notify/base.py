"""The notifier interface. A notifier only delivers: it renders one Message for its channel and sends it.

`send` returns a SendOutcome (with a reference for later edits, e.g. a Slack message's channel+ts) or raises
NotifyError(retryable=..., retry_after=...). Retry and backoff live in one place: the outbox
(sentinel.alerting.outbox), never in a notifier (client libraries' own retries are bounded to seconds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import ClassVar, Protocol

from sentinel.errors import NotifyError
from sentinel.notify.message import Message

__all__ = ["Notifier", "NotifyError", "SendOutcome", "error_for_status"]


@dataclass(frozen=True)
class SendOutcome:
    ref: str | None = None  # stored per (receiver, message key); passed back on the next send of that key
    skipped: bool = False  # nothing to do for this receiver (a pager and a reminder)
    detail: str = ""


class Notifier(Protocol):
    name: str
    channel: ClassVar[str]  # "chat" | "pager" | "email" | "console"

    def send(self, message: Message, ref: str | None = None) -> SendOutcome: ...


def error_for_status(what: str, status: int, body: str = "", retry_after: str | None = None) -> NotifyError:
    """429 and 5xx are retryable (429 with Retry-After); other 4xx are not (they raise a meta-alert)."""
    delay = None
    if retry_after:
        try:
            delay = timedelta(seconds=max(0.0, float(retry_after)))
        except ValueError:
            delay = None
    retryable = status == 429 or status >= 500 or status == 408
    snippet = body.strip().replace("\n", " ")[:200]
    return NotifyError(f"{what}: HTTP {status}{': ' + snippet if snippet else ''}", retryable=retryable,
                       retry_after=delay)
