"""Meta-alerts: what Sentinel says when a receiver did not take a notification. Pure builders.

A broken receiver is reported through the others that may still work: a failing page goes to chat, email and the
console; a broken chat receiver also pages (at warning priority, one pager alert per broken receiver, so repeated
failures collapse by alias), because chat is exactly where nobody would read about it.

Wording follows what is known. A page whose request timed out or was answered 5xx may still have reached the
pager (it may be processing it), so it is UNCONFIRMED, never "not paged": a person reading "not paged" pages by
hand and on-call gets two pages. Only a definitive refusal (401, 400, ...) means the pager did not take it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sentinel.model import Severity
from sentinel.notify.message import Message, MessageEvent, PageAction

CHAT, PAGER = "chat", "pager"


@dataclass(frozen=True)
class FailedDelivery:
    receiver: str
    channel: str  # the failing notifier's channel: chat | pager | email | console
    seq: int  # its outbox row
    attempts: int
    error: str
    retrying: bool


def meta_targets(failed: FailedDelivery, channels: Mapping[str, str]) -> list[str]:
    """Receivers that hear about `failed`: every other one, pagers only when chat is what broke."""
    out = []
    for name, channel in channels.items():
        if name == failed.receiver:
            continue
        if channel == PAGER and (failed.channel != CHAT or failed.retrying):
            continue
        out.append(name)
    return out


def meta_message(failed: FailedDelivery, original: Message, now: datetime, *, to_pager: bool) -> Message:
    what = "page" if failed.channel == PAGER else "notification"
    if failed.retrying:
        title = f"CRITICAL: the {what} to {failed.receiver} is UNCONFIRMED (still retrying): {original.title}"
        notes: tuple[str, ...] = (
            f"{failed.receiver} has not confirmed it after {failed.attempts} attempts; last answer: {failed.error}",
            f"It may still have reached {failed.receiver}. Sentinel keeps retrying with the same dedup key, so"
            " on-call is paged at most once for this alert. Look in the pager before paging by hand.",
        )
    elif what == "page":
        title = f"CRITICAL: the page to {failed.receiver} was REFUSED: {original.title}"
        notes = (f"{failed.receiver} refused it: {failed.error}",
                 f"{failed.receiver} did not take this page: page on-call by hand for the alert below, then fix the"
                 " receiver (credentials, routing key) and run `sentinel notify-test --route NAME`.")
    else:
        title = f"CRITICAL: {failed.receiver} is BROKEN and did not get: {original.title}"
        notes = (f"{failed.receiver} refused it: {failed.error}",
                 f"Alerts meant for {failed.receiver} are not reaching it. Fix it (token, channel, address) and run"
                 " `sentinel notify-test --route NAME`; `sentinel status` and /readyz show it until then.")
    if to_pager:
        # one pager alert per broken receiver: the alias collapses repeats, and a warning does not wake the team
        # as a data incident would
        return Message(key=f"sentinel-receiver-{failed.receiver}", route="meta", event=MessageEvent.META,
                       is_update=False, severity=Severity.WARNING,
                       title=f"Sentinel cannot deliver to {failed.receiver}"[:130], created_at=now,
                       alerts=original.alerts, total_alerts=original.total_alerts, notes=notes,
                       page_action=PageAction.TRIGGER)
    return Message(key=f"sentinel-meta-{failed.receiver}-{failed.seq}", route="meta", event=MessageEvent.META,
                   is_update=False, severity=Severity.CRITICAL, title=title, created_at=now, alerts=original.alerts,
                   total_alerts=original.total_alerts, notes=notes)
