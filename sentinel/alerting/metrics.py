"""Alerting metrics, registered on the app's registry (SentinelMetrics.registry) when there is one."""

from __future__ import annotations

import weakref
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sentinel.alerting.types import AlertEvent, Delivery, DeliveryStatus


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter("sentinel_alert_events_total", "Alert lifecycle events (fired, escalated, reminder,"
                              " resolved).", ["event", "severity"], registry=registry)
        self.deliveries = Counter("sentinel_notifications_total", "Delivery attempts per receiver and outcome.",
                                  ["receiver", "status"], registry=registry)
        # As Alertmanager has them (alertmanager_notification_latency_seconds, alertmanager_notifications_failed_total):
        # how long a receiver takes to accept a message, and how often it does not.
        self.latency = Histogram("sentinel_notification_latency_seconds", "Time a receiver took to answer one delivery "
                                 "attempt (accepted or not).", ["receiver"], registry=registry,
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60))
        self.failed = Counter("sentinel_notifications_failed_total", "Delivery attempts a receiver did not accept "
                              "(retried or given up).", ["receiver"], registry=registry)
        self.outbox_pending = Gauge("sentinel_outbox_pending", "Notifications waiting in the outbox (a growing"
                                    " number means a receiver is down).", registry=registry)
        self.alerts_firing = Gauge("sentinel_alerts_firing", "Alerts firing now.", registry=registry)

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
        self.latency.labels(delivery.receiver).observe(delivery.latency.total_seconds())
        self.failed.labels(delivery.receiver)  # a receiver that never failed shows 0, so rate() works from the start
        if delivery.status in (DeliveryStatus.RETRY, DeliveryStatus.FAILED):
            self.failed.labels(delivery.receiver).inc()


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, AlertingMetrics] = weakref.WeakKeyDictionary()
