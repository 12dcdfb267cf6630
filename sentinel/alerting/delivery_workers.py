"""The daemon's delivery: one long-lived worker thread per receiver, plus one that turns buffered events into
outbox rows as soon as a check produced them.

A worker drains only its own receiver's queue (Outbox.deliver_receiver), so Slack sleeping out a Retry-After
of 60 s or a pager hanging until its read timeout holds up that receiver alone: a page never waits on chat.
Workers sleep until their queue's head is due or until something new is queued (`wake`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence

from sentinel.alerting.outbox import Outbox

log = logging.getLogger(__name__)
MIN_WAIT = 0.05  # seconds


class DeliveryWorkers:
    def __init__(self, outbox: Outbox, receivers: Sequence[str], flush: Callable[[], object], *,
                 may_send: Callable[[], bool] = lambda: True, idle_poll_seconds: float = 1.0) -> None:
        self.outbox = outbox
        self.may_send = may_send  # asked before each round: a follower replica never sends
        self.receivers = list(dict.fromkeys(receivers))
        self._flush = flush
        self.idle_poll_seconds = idle_poll_seconds
        self._stop = threading.Event()
        self._wake = {name: threading.Event() for name in self.receivers}
        self._flush_wanted = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for name in self.receivers:
            thread = threading.Thread(target=self._drain_forever, args=(name,), name=f"deliver-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        flusher = threading.Thread(target=self._flush_forever, name="deliver-flush", daemon=True)
        flusher.start()
        self._threads.append(flusher)

    @property
    def running(self) -> bool:
        return bool(self._threads) and not self._stop.is_set()

    def wake(self) -> None:
        """New rows may be queued: every worker looks at its queue now."""
        for event in self._wake.values():
            event.set()

    def request_flush(self) -> None:
        """A check produced events: group and queue them now instead of at the next delivery tick."""
        self._flush_wanted.set()

    def stop(self, timeout_seconds: float = 5.0) -> bool:
        """Stop every worker; a worker inside a send finishes it (bounded by the notifier's timeout) or is left
        behind (daemon thread). True when all stopped in time."""
        self._stop.set()
        self._flush_wanted.set()
        self.wake()
        per_thread = timeout_seconds / max(1, len(self._threads))
        for thread in self._threads:
            thread.join(per_thread)
        alive = [t.name for t in self._threads if t.is_alive()]
        if alive:
            log.warning("delivery workers still sending at shutdown: %s (the outbox resends on the next start)",
                        ", ".join(alive))
        self._threads = []
        return not alive

    def _drain_forever(self, receiver: str) -> None:
        wake = self._wake[receiver]
        while not self._stop.is_set():
            try:
                due_in = self.outbox.seconds_until_due(receiver)
                if due_in == 0:
                    if self.may_send():  # asked only with work to do: it may cost a round trip
                        self.outbox.deliver_receiver(receiver)
                        due_in = self.outbox.seconds_until_due(receiver)
                    else:
                        due_in = None  # not ours to send (a follower): look again after the idle poll
            except Exception:  # the store is locked or a bug: keep the worker alive, try again soon
                log.exception("delivering to %s failed; will retry", receiver)
                due_in = None
            # the floor keeps a "Retry-After: 0" from becoming a tight loop against the API
            wait = self.idle_poll_seconds if due_in is None else max(MIN_WAIT, min(self.idle_poll_seconds, due_in))
            wake.wait(wait)
            wake.clear()

    def _flush_forever(self) -> None:
        while not self._stop.is_set():
            # group_wait / group_interval timers are looked at by the daemon's delivery tick (deliver_due); this
            # thread only saves the wait until that tick when a check has just produced events
            if not self._flush_wanted.wait(self.idle_poll_seconds):
                continue
            self._flush_wanted.clear()
            if self._stop.is_set():
                return
            try:
                if self.may_send():
                    self._flush()
            except Exception:
                log.exception("grouping alerts into the outbox failed; will retry")
