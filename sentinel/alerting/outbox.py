"""The outbox: every notification is persisted before it is sent; this is the one place that retries.

Per receiver, rows go out in order (a receiver that fails blocks its own queue, not the others), so Slack
down for ten minutes gets everything when it is back, in order. 429 honours Retry-After; 5xx and network
errors back off exponentially; other 4xx are not retried and raise a meta-alert to the chat receivers.
A row is marked sent only after the receiver accepted it: a crash in between re-sends it once with the same
key (the pager collapses it by alias/dedup_key).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sentinel.alerting.types import Delivery, DeliveryStatus
from sentinel.clock import Clock
from sentinel.errors import NotifyError
from sentinel.logs import log_context
from sentinel.notify.base import Notifier, SendOutcome
from sentinel.notify.message import Message
from sentinel.store.alerts import AlertStore, OutboxRow

log = logging.getLogger(__name__)

PAGER_WARN_AFTER_ATTEMPTS = 2  # a page still failing after this many outbox attempts is announced in chat


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=5)
    give_up_after: timedelta = timedelta(hours=24)

    def delay(self, attempts: int) -> timedelta:
        delay: timedelta = self.base * (2 ** max(0, attempts - 1))
        return min(self.cap, delay)


def dedup_id(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]


class Outbox:
    def __init__(
        self,
        store: AlertStore,
        notifiers: Mapping[str, Notifier],
        clock: Clock,
        *,
        redact: Callable[[str], str] = lambda s: s,
        meta_receivers: Sequence[str] = (),
        policy: RetryPolicy | None = None,
        on_delivery: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.store = store
        self.notifiers = notifiers
        self.clock = clock
        self.redact = redact
        self.meta_receivers = list(meta_receivers)
        self.policy = policy or RetryPolicy()
        self.on_delivery = on_delivery

    def enqueue(self, receiver: str, message: Message, dedup: str, tx: Any = None) -> bool:
        return self.store.outbox_add(receiver, message.key, dedup, message.event, message.to_json(),
                                     self.clock.now(), tx)

    def deliver_due(self) -> list[Delivery]:
        deliveries: list[Delivery] = []
        blocked: set[str] = set()
        for row in self.store.outbox_pending():
            if row.receiver in blocked:
                continue
            now = self.clock.now()
            if row.next_attempt_at > now:
                blocked.add(row.receiver)  # keep this receiver's order: nothing after its head goes first
                continue
            with log_context(receiver=row.receiver, alert_key=row.message_key):
                delivery = self._attempt(row)
            deliveries.append(delivery)
            if delivery.status is DeliveryStatus.RETRY:
                blocked.add(row.receiver)
        return deliveries

    def _attempt(self, row: OutboxRow) -> Delivery:
        notifier = self.notifiers.get(row.receiver)
        attempt = row.attempts + 1
        start_mono = self.clock.monotonic()
        message = Message.from_json(row.payload)
        if notifier is None:
            return self._finish(row, attempt, DeliveryStatus.FAILED, f"no notifier named {row.receiver!r} is configured",
                                None, start_mono, message)
        try:
            outcome: SendOutcome = notifier.send(message, self.store.ref_get(row.receiver, row.message_key))
        except NotifyError as exc:
            error = self.redact(str(exc))
            age = self.clock.now() - row.created_at
            if exc.retryable and age < self.policy.give_up_after:
                delay = exc.retry_after if exc.retry_after is not None else self.policy.delay(attempt)
                log.warning("delivery to %s failed (attempt %d), retrying in %ss: %s", row.receiver, attempt,
                            delay.total_seconds(), error)
                return self._finish(row, attempt, DeliveryStatus.RETRY, error, None, start_mono, message, delay)
            log.error("delivery to %s failed for good: %s", row.receiver, error)
            return self._finish(row, attempt, DeliveryStatus.FAILED, error, None, start_mono, message)
        except Exception as exc:  # a bug or an unexpected client error: retry, but say what it was
            error = self.redact(f"{type(exc).__name__}: {exc}")
            log.exception("delivery to %s raised unexpectedly", row.receiver)
            return self._finish(row, attempt, DeliveryStatus.RETRY, error, None, start_mono, message,
                                self.policy.delay(attempt))
        status = DeliveryStatus.SKIPPED if outcome.skipped else DeliveryStatus.SENT
        return self._finish(row, attempt, status, "", outcome.ref, start_mono, message)

    def _finish(self, row: OutboxRow, attempt: int, status: DeliveryStatus, error: str, ref: str | None,
                start_mono: float, message: Message, delay: timedelta | None = None) -> Delivery:
        now = self.clock.now()
        latency = timedelta(seconds=max(0.0, self.clock.monotonic() - start_mono))
        delivery = Delivery(outbox_id=row.seq, receiver=row.receiver, message_key=row.message_key, event=row.event,
                            status=status, attempt=attempt, at=now, latency=latency, error=error, remote_ref=ref)
        row_status = {DeliveryStatus.RETRY: "pending", DeliveryStatus.FAILED: "failed",
                      DeliveryStatus.SKIPPED: "skipped"}.get(status, "sent")
        with self.store.transaction() as tx:
            self.store.outbox_update(row.seq, status=row_status, attempts=attempt,
                                     next_attempt_at=now + (delay or timedelta(0)), last_error=error, tx=tx)
            if ref is not None:
                self.store.ref_set(row.receiver, row.message_key, ref, now, tx)
            self.store.delivery_add(delivery, tx)
            if status is DeliveryStatus.FAILED:
                self._meta_alert(row, message, error, now, tx)
            elif (status is DeliveryStatus.RETRY and attempt == PAGER_WARN_AFTER_ATTEMPTS
                  and getattr(self.notifiers.get(row.receiver), "channel", "") == "pager"):
                self._meta_alert(row, message, error, now, tx, retrying=True)
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        return delivery

    def _meta_alert(self, row: OutboxRow, failed: Message, error: str, now: datetime, tx: Any, *,
                    retrying: bool = False) -> None:
        """Tell the chat receivers that a notification (above all a page) did not get through."""
        if failed.event == "meta" or (failed.page_action == "none" and retrying):
            return
        notifier = self.notifiers.get(row.receiver)
        what = "page" if getattr(notifier, "channel", "") == "pager" else "notification"
        if retrying:
            title = f"CRITICAL: the {what} to {row.receiver} is FAILING (still retrying): {failed.title}"
            notes: tuple[str, ...] = (
                f"{row.receiver} did not accept it after {row.attempts + 1} attempts: {error}",
                "On-call has NOT been paged yet; Sentinel keeps retrying with backoff. Page by hand if this is urgent.",
            )
        else:
            title = f"CRITICAL: the {what} to {row.receiver} FAILED: {failed.title}"
            notes = (f"{row.receiver} refused it: {error}",
                     "Nobody was paged for the alert below; fix the receiver (credentials, routing key) and"
                     " run `sentinel notify-test --route NAME`." if what == "page" else
                     f"{row.receiver} did not get the alert below; fix it and run `sentinel notify-test`.")
        meta = Message(key=f"sentinel-meta-{row.receiver}-{row.seq}", route="meta", event="meta", is_update=False,
                       severity="critical", title=title, created_at=now, alerts=failed.alerts,
                       total_alerts=failed.total_alerts, notes=notes)
        for receiver in self.meta_receivers:
            if receiver != row.receiver:
                self.store.outbox_add(receiver, meta.key, dedup_id("meta", receiver, str(row.seq), str(retrying)),
                                      "meta", meta.to_json(), now, tx)
