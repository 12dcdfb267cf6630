"""Alerting metrics, registered on the app's registry (SentinelMetrics.registry) when there is one."""

from __future__ import annotations

import weakref
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge

from sentinel.alerting.types import AlertEvent, Delivery, DeliveryStatus


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter("sentinel_alert_events_total", "Alert lifecycle events (fired, escalated, reminder,"
                              " resolved).", ["event", "severity"], registry=registry)
        self.deliveries = Counter("sentinel_notifications_total", "Delivery attempts per receiver and outcome.",
                                  ["receiver", "status"], registry=registry)
        self.outbox_pending = Gauge("sentinel_outbox_pending", "Notifications waiting in the outbox (a growing"
                                    " number means a receiver is down).", registry=registry)
        self.alerts_firing = Gauge("sentinel_alerts_firing", "Alerts firing now.", registry=registry)
        self.receiver_broken = Gauge("sentinel_receiver_broken", "1 while a receiver's last delivery failed for good"
                                     " (bad token, unknown channel): alerts meant for it do not arrive.", ["receiver"],
                                     registry=registry)

    @staticmethod
    def attach(metrics: Any) -> AlertingMetrics | None:
        """One instance per registry: a pipeline rebuilt on config reload (SIGHUP) reuses the same collectors."""
        registry = getattr(metrics, "registry", None)
        if not isinstance(registry, CollectorRegistry):
            return None
        existing = _BY_REGISTRY.get(registry)
        if existing is None:
            existing = _BY_REGISTRY[registry] = AlertingMetrics(registry)
        return existing


    def on_events(self, events: list[AlertEvent]) -> None:
        for e in events:
            self.events.labels(e.kind.value, e.state.severity.value).inc()

    def on_delivery(self, delivery: Delivery) -> None:
        self.deliveries.labels(delivery.receiver, delivery.status.value).inc()
        if delivery.status is DeliveryStatus.FAILED:
            self.receiver_broken.labels(delivery.receiver).set(1)
        elif delivery.status in (DeliveryStatus.SENT, DeliveryStatus.SKIPPED):
            self.receiver_broken.labels(delivery.receiver).set(0)


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, AlertingMetrics] = weakref.WeakKeyDictionary()
