"""The outbox: every notification is persisted before it is sent; this is the one place that retries.

Each receiver is its own queue: rows of one receiver go out in order (Slack down for ten minutes gets everything
when it is back, in order), and nothing one receiver does (a 429 with Retry-After: 60, a pager hanging until its
timeout) delays another, because every receiver's queue is drained by its own thread (`deliver_due` runs them side
by side; the daemon keeps one long-lived worker per receiver, sentinel.alerting.delivery_workers).

429 honours Retry-After; 5xx and network errors back off exponentially; other 4xx are not retried and raise a
meta-alert through the receivers that still work (sentinel.alerting.meta_alerts).

Before a row is sent its attempt is recorded (the intent). A row that already has an attempt on record may have
reached the receiver (a crash, or a timeout while the receiver was still processing), so it is sent with
`resend=True`: pagers collapse it by alias / dedup_key, and Slack looks for the message it may have posted
(by the row's delivery id in the message metadata) and edits that one instead of posting a second.

With replicas, `fence` claims each row for the leader's term right before it is sent (sentinel.leader): a
replica that lost the lead stops at once, and a row another live term is sending is left to it.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sentinel.alerting.dedup import dedup_id
from sentinel.alerting.meta_alerts import FailedDelivery, meta_message, meta_targets
from sentinel.alerting.types import Delivery, DeliveryStatus
from sentinel.clock import Clock
from sentinel.errors import NotifyError
from sentinel.logs import log_context
from sentinel.model import Severity
from sentinel.notify.base import Notifier, SendOutcome
from sentinel.notify.message import Message, MessageEvent, PageAction
from sentinel.store.alerts import AlertStore, OutboxRow
from sentinel.store.lease import Claim

log = logging.getLogger(__name__)

PAGER_WARN_AFTER_ATTEMPTS = 2  # a page still unconfirmed after this many outbox attempts is announced elsewhere
RESOLVED_REF = "resolved"  # receiver ref of a closed "receiver broken" page: not closed twice
IN_FLIGHT = "in flight"  # last_error of a row whose attempt started and has not finished (or was cut by a crash)


@dataclass(frozen=True)
class RetryPolicy:
    base: timedelta = timedelta(seconds=5)
    cap: timedelta = timedelta(minutes=5)
    give_up_after: timedelta = timedelta(hours=24)

    def delay(self, attempts: int) -> timedelta:
        delay: timedelta = self.base * (2 ** max(0, attempts - 1))
        return min(self.cap, delay)


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
        on_enqueue: Callable[[], None] | None = None,
        fence: Callable[[OutboxRow], Claim] | None = None,
    ) -> None:
        self.store = store
        self.notifiers = notifiers
        self.clock = clock
        self.redact = redact
        self.meta_receivers = list(meta_receivers)
        self.policy = policy or RetryPolicy()
        self.on_delivery = on_delivery
        self.on_enqueue = on_enqueue
        self._queue_locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self.fence = fence

    def enqueue(self, receiver: str, message: Message, dedup: str, tx: Any = None) -> bool:
        # The dedup id travels with the message: it names this notification across resends (Slack metadata).
        message = replace(message, delivery_id=dedup)
        return self.store.outbox_add(receiver, message.key, dedup, message.event.value, message.to_json(),
                                     self.clock.now(), tx)

    # -- draining --------------------------------------------------------------------------------------------
    def receivers_with_work(self) -> list[str]:
        return list(dict.fromkeys(row.receiver for row in self.store.outbox_pending()))

    def seconds_until_due(self, receiver: str) -> float | None:
        """How long until the head of this receiver's queue is due (None: nothing queued)."""
        queue = self.store.outbox_pending(receiver)
        if not queue:
            return None
        head = queue[0]
        return max(0.0, (head.next_attempt_at - self.clock.now()).total_seconds())

    def deliver_receiver(self, receiver: str) -> list[Delivery]:
        """Send this receiver's due rows in order; stop at the first that is not due or has to wait."""
        deliveries: list[Delivery] = []
        with self._queue_lock(receiver):  # one drainer per queue, whoever calls
            # Only this receiver's rows: each worker polls its own queue, so a backlog at Slack is not read by the pager's.
            for row in self.store.outbox_pending(receiver):
                if row.next_attempt_at > self.clock.now():
                    break  # keep this receiver's order: nothing after its head goes first
                claim = self.fence(row) if self.fence is not None else Claim.CLAIMED
                if claim is Claim.FENCED:
                    log.warning("not the leader any more: leaving the unsent notifications to the new leader")
                    break
                if claim is Claim.BUSY:
                    break  # another term is sending it; what follows it waits, in order
                with log_context(receiver=row.receiver, alert_key=row.message_key):
                    delivery = self.send_one(row)
                deliveries.append(delivery)
                if delivery.status is DeliveryStatus.RETRY:
                    break
        return deliveries

    def deliver_due(self) -> list[Delivery]:
        """Drain every receiver's queue, each in its own thread, and wait for all of them."""
        receivers = self.receivers_with_work()
        if len(receivers) <= 1:
            return [d for r in receivers for d in self.deliver_receiver(r)]
        with ThreadPoolExecutor(max_workers=len(receivers), thread_name_prefix="outbox") as pool:
            batches = list(pool.map(self.deliver_receiver, receivers))
        return [d for batch in batches for d in batch]

    def _queue_lock(self, receiver: str) -> threading.Lock:
        with self._locks_guard:
            return self._queue_locks.setdefault(receiver, threading.Lock())

    # -- one row ---------------------------------------------------------------------------------------------
    def send_one(self, row: OutboxRow) -> Delivery:
        """Hand one outbox row to its receiver and record what happened. Every send goes through here, so a
        check that must hold right before a send (e.g. still being the leader) belongs at the top."""
        notifier = self.notifiers.get(row.receiver)
        attempt = row.attempts + 1
        start_mono = self.clock.monotonic()
        message = Message.from_json(row.payload)
        if notifier is None:
            return self._finish(row, attempt, DeliveryStatus.FAILED, f"no notifier named {row.receiver!r} is configured",
                                None, start_mono, message)
        if row.attempts > 0:
            message = replace(message, resend=True)  # an earlier attempt may have reached the receiver
        self.store.outbox_update(row.seq, status="pending", attempts=attempt, next_attempt_at=self.clock.now(),
                                 last_error=IN_FLIGHT)  # the intent: recorded before anything leaves
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
        channel = getattr(self.notifiers.get(row.receiver), "channel", "")
        queued_meta = False
        with self.store.transaction() as tx:
            self.store.outbox_update(row.seq, status=row_status, attempts=attempt,
                                     next_attempt_at=now + (delay or timedelta(0)), last_error=error, tx=tx)
            if ref is not None:
                self.store.ref_set(row.receiver, row.message_key, ref, now, tx)
            self.store.delivery_add(delivery, tx)
            if status is DeliveryStatus.SENT and channel == "chat":
                queued_meta |= self._receiver_recovered(row.receiver, message, now, tx)
            if status is DeliveryStatus.FAILED:
                queued_meta = self._meta_alert(FailedDelivery(row.receiver, channel, row.seq, attempt, error, False),
                                               message, now, tx)
            elif status is DeliveryStatus.RETRY and attempt == PAGER_WARN_AFTER_ATTEMPTS and channel == "pager":
                queued_meta = self._meta_alert(FailedDelivery(row.receiver, channel, row.seq, attempt, error, True),
                                               message, now, tx)
        if self.on_delivery is not None:
            self.on_delivery(delivery)
        if queued_meta and self.on_enqueue is not None:
            self.on_enqueue()
        return delivery

    def _receiver_recovered(self, receiver: str, delivered: Message, now: datetime, tx: Any) -> bool:
        """Chat works again: close the pager alert that said it was broken (once)."""
        key = f"sentinel-receiver-{receiver}"
        queued = False
        for pager in self.meta_receivers:
            if getattr(self.notifiers.get(pager), "channel", "") != "pager":
                continue
            if self.store.ref_get(pager, key) in (None, RESOLVED_REF):
                continue  # never paged about it, or already closed
            close = Message(key=key, route="meta", event=MessageEvent.META, is_update=True, severity=Severity.WARNING,
                            title=f"{receiver} delivers again", created_at=now, page_action=PageAction.RESOLVE,
                            resolved=True, notes=(f"{receiver} accepted: {delivered.title}",))
            close = replace(close, delivery_id=dedup_id("meta-recovered", pager, receiver, now.isoformat()))
            queued |= self.store.outbox_add(pager, key, close.delivery_id, "meta", close.to_json(), now, tx)
            self.store.ref_set(pager, key, RESOLVED_REF, now, tx)
        return queued

    def _meta_alert(self, failed: FailedDelivery, original: Message, now: datetime, tx: Any) -> bool:
        """Queue a meta-alert to the receivers that may still work. True when something was queued."""
        if original.event is MessageEvent.META or (original.page_action is PageAction.NONE and failed.retrying):
            return False
        channels = {name: getattr(self.notifiers.get(name), "channel", "") for name in self.meta_receivers
                    if name in self.notifiers}
        queued = False
        for receiver in meta_targets(failed, channels):
            meta = meta_message(failed, original, now, to_pager=channels[receiver] == "pager")
            meta = replace(meta, delivery_id=dedup_id("meta", receiver, str(failed.seq), str(failed.retrying)))
            queued |= self.store.outbox_add(receiver, meta.key, meta.delivery_id, "meta", meta.to_json(), now, tx)
        return queued
