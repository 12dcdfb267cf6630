"""Which receivers work, judged from the delivery log (pure): /readyz, `sentinel status` and /metrics show a
broken receiver, so a broken Slack token is not visible only in the logs of a daemon nobody reads."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sentinel.alerting.types import Delivery, DeliveryStatus
from sentinel.notify.message import MessageEvent

LOOK_BACK = timedelta(days=1)  # a receiver with no delivery in a day has nothing to say about its health


@dataclass(frozen=True)
class ReceiverHealth:
    receiver: str
    state: str  # ok | retrying | broken
    at: datetime  # the delivery this is judged from
    error: str = ""

    @property
    def problem(self) -> str | None:
        """One line for a person, or None when the receiver works."""
        if self.state == "broken":
            return (f"receiver {self.receiver} is BROKEN since {self.at:%Y-%m-%d %H:%M} UTC: {self.error} "
                    "(alerts meant for it do not arrive; fix it, then `sentinel notify-test`)")
        if self.state == "retrying":
            return f"receiver {self.receiver} is failing, still retrying (last at {self.at:%H:%M} UTC): {self.error}"
        return None


def receiver_health(deliveries: Iterable[Delivery]) -> dict[str, ReceiverHealth]:
    """The latest delivery of each receiver decides: sent or skipped = ok, retry = retrying, failed = broken."""
    latest: dict[str, Delivery] = {}
    for d in deliveries:
        if d.event == MessageEvent.TEST:
            continue  # `notify-test` has its own report
        known = latest.get(d.receiver)
        if known is None or d.at >= known.at:
            latest[d.receiver] = d
    states = {DeliveryStatus.FAILED: "broken", DeliveryStatus.RETRY: "retrying"}
    return {name: ReceiverHealth(name, states.get(d.status, "ok"), d.at, d.error) for name, d in sorted(latest.items())}


def receiver_problems(deliveries: Iterable[Delivery]) -> list[str]:
    return [p for h in receiver_health(deliveries).values() if (p := h.problem) is not None]


def window(now: datetime) -> tuple[datetime, datetime]:
    return now - LOOK_BACK, now + timedelta(seconds=1)
