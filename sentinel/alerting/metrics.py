"""Alerting metrics, registered on the app's registry (SentinelMetrics.registry) when there is one."""

from __future__ import annotations

import logging
import weakref
from collections.abc import Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sentinel.alerting.types import AlertEvent, Delivery, DeliveryStatus

log = logging.getLogger(__name__)


class CountingStore(Protocol):
    def outbox_pending_count(self) -> int: ...

    def firing_count(self) -> int: ...


class StoreGauges(Collector):
    """sentinel_outbox_pending and sentinel_alerts_firing, read from the state store at each scrape. With replicas
    every one shows the shared numbers, so a follower never reports a silent 0; when the store cannot be read the
    two series are absent (and the scrape says why in the log), never a stale or made-up value."""

    def __init__(self) -> None:
        self.store: CountingStore | None = None

    def describe(self) -> list[GaugeMetricFamily]:
        return self._families()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        store = self.store
        if store is None:
            return
        try:
            pending, firing = store.outbox_pending_count(), store.firing_count()
        except Exception as exc:
            log.warning("metrics: outbox and alert gauges left out, the state store is not readable (%s)",
                        type(exc).__name__)
            return
        outbox, alerts = self._families()
        outbox.add_metric([], pending)
        alerts.add_metric([], firing)
        yield outbox
        yield alerts

    @staticmethod
    def _families() -> list[GaugeMetricFamily]:
        return [GaugeMetricFamily("sentinel_outbox_pending", "Notifications waiting in the outbox, from the state"
                                  " store (a growing number means a receiver is down)."),
                GaugeMetricFamily("sentinel_alerts_firing", "Alerts firing now, from the state store.")]


class AlertingMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.events = Counter("sentinel_alert_events_total", "Alert lifecycle events (fired, escalated, reminder,"
                              " resolved).", ["event", "severity"], registry=registry)
        self.deliveries = Counter("sentinel_notifications_total", "Delivery attempts per receiver and outcome.",
                                  ["receiver", "status"], registry=registry)
        self.store_gauges = StoreGauges()
        registry.register(self.store_gauges)
        self.receiver_broken = Gauge("sentinel_receiver_broken", "1 while a receiver's last delivery failed for good"
                                     " (bad token, unknown channel): alerts meant for it do not arrive.", ["receiver"],
                                     registry=registry)
        # As Alertmanager has them (alertmanager_notification_latency_seconds, alertmanager_notifications_failed_total):
        # how long a receiver takes to accept a message, and how often it does not.
        self.latency = Histogram("sentinel_notification_latency_seconds", "Time a receiver took to answer one delivery "
                                 "attempt (accepted or not).", ["receiver"], registry=registry,
                                 buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 30, 60))
        self.failed = Counter("sentinel_notifications_failed_total", "Delivery attempts a receiver did not accept "
                              "(retried or given up).", ["receiver"], registry=registry)

    @staticmethod
    def attach(metrics: Any, store: CountingStore | None = None) -> AlertingMetrics | None:
        """One instance per registry: a pipeline rebuilt on config reload (SIGHUP) reuses the same collectors."""
        registry = getattr(metrics, "registry", None)
        if not isinstance(registry, CollectorRegistry):
            return None
        existing = _BY_REGISTRY.get(registry)
        if existing is None:
            existing = _BY_REGISTRY[registry] = AlertingMetrics(registry)
        if store is not None:
            existing.store_gauges.store = store
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
        if delivery.status is DeliveryStatus.FAILED:
            self.receiver_broken.labels(delivery.receiver).set(1)
        elif delivery.status in (DeliveryStatus.SENT, DeliveryStatus.SKIPPED):
            self.receiver_broken.labels(delivery.receiver).set(0)


_BY_REGISTRY: weakref.WeakKeyDictionary[CollectorRegistry, AlertingMetrics] = weakref.WeakKeyDictionary()
