"""Prometheus metrics on a registry made by the composition root (never the global one), named after the
Prometheus naming guide: one quantity per metric with its unit as suffix, counters end in `_total`, state as a
label set (1 for the current state, 0 for the others) rather than a number to decode.

What a check measures becomes `sentinel_measured_<value name>{check,kind}` (the value names carry their unit:
`lag_seconds`, `missing_rows`); its thresholds `sentinel_threshold_<value name>{check,kind,severity}`. A check kind
can also publish its findings as series of their own (FindingSeries in sentinel.api): the Kafka lag check gives
`sentinel_kafka_consumer_lag_messages{check,group,topic}`, as kminion and Burrow users query it.
"""

from __future__ import annotations

import contextlib
import logging
import platform
import re
from collections.abc import Callable
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, gc_collector, platform_collector, process_collector

from sentinel.model import CheckResult, Status

log = logging.getLogger(__name__)
STATES = tuple(s.value for s in Status)  # ok, warn, critical, error
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_THRESHOLD = re.compile(r"^(?P<value>.+)_(?P<severity>warning|critical)_threshold$")


def sentinel_version() -> str:
    try:
        return version("sentinel-monitor")
    except PackageNotFoundError:  # a source tree without an install
        return "unknown"


class SentinelMetrics:
    def __init__(self, registry: CollectorRegistry, finding_series: Callable[[str], Any] = lambda kind: None) -> None:
        """finding_series(kind): that check kind's FindingSeries (how its findings become series), or None."""
        self.registry = registry
        self.finding_series = finding_series
        # the process itself, as every client library exports it: CPU, memory, open files, start time, GC
        process_collector.ProcessCollector(registry=registry)
        platform_collector.PlatformCollector(registry=registry)
        gc_collector.GCCollector(registry=registry)
        build = Gauge("sentinel_build_info", "Always 1; the labels say which Sentinel runs.", ["version", "python"],
                      registry=registry)
        build.labels(sentinel_version(), platform.python_version()).set(1)
        self.check_duration = Histogram(
            "sentinel_check_duration_seconds", "Wall time of one check run.", ["check", "kind"], registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.check_state = Gauge(
            "sentinel_check_state", "1 for the status of each check's last result (ok, warn, critical, error = could"
            " not measure), 0 for the other statuses.", ["check", "kind", "state"], registry=registry,
        )
        self.last_run = Gauge(
            "sentinel_check_last_run_timestamp_seconds", "Unix time of the last finished run per check.", ["check"],
            registry=registry,
        )
        self.check_errors = Counter(
            "sentinel_check_errors_total", "Runs that could not measure (exception or deadline).", ["check", "kind"],
            registry=registry,
        )
        self.check_runs = Counter("sentinel_check_runs_total", "Finished check runs.", ["check", "kind", "status"],
                                  registry=registry)
        self.scheduler_tick = Gauge(
            "sentinel_scheduler_last_tick_timestamp_seconds", "Unix time the scheduler watchdog last saw a tick.",
            registry=registry,
        )
        self.heartbeat_sent = Gauge(
            "sentinel_heartbeat_last_success_timestamp_seconds", "Unix time the pager's dead man's switch last accepted "
            "a ping (0 until the first one, and always without a heartbeat configured).", registry=registry,
        )
        self.checks_stuck = Gauge("sentinel_checks_stuck", "Checks still running past their deadline.", registry=registry)
        self._families: dict[str, Gauge] = {}
        self._series: dict[str, set[tuple[str, tuple[str, ...]]]] = {}  # check id -> (family, label values) set

    # -- one result --------------------------------------------------------------------------------------------
    def observe(self, result: CheckResult) -> None:
        labels = (result.check_id, result.kind)
        self.check_duration.labels(*labels).observe(result.duration.total_seconds())
        for state in STATES:
            self.check_state.labels(*labels, state).set(1 if state == result.status.value else 0)
        self.last_run.labels(result.check_id).set(result.observed_at.timestamp())
        self.check_runs.labels(*labels, result.status.value).inc()
        errors = self.check_errors.labels(*labels)  # 0 from the first run on, so rate() sees the first error
        if result.status is Status.ERROR:
            errors.inc()
        before = self._series.get(result.check_id, set())
        now: set[tuple[str, tuple[str, ...]]] = set()
        for name, value in result.values.items():
            threshold = _THRESHOLD.match(name)
            if threshold:
                now.add(self._set(f"sentinel_threshold_{threshold['value']}", ("check", "kind", "severity"),
                                  (*labels, threshold["severity"]), value, f"The {threshold['severity']} threshold of"
                                  f" {threshold['value']} per check."))
            else:
                now.add(self._set(f"sentinel_measured_{name}", ("check", "kind"), labels, value,
                                  f"{name} as last measured per check."))
        series = self.finding_series(result.kind)
        if series is not None and result.status is not Status.ERROR:
            now |= self._findings(result, series)
        elif series is not None:
            now |= {s for s in before if s[0] in series.metric_names()}  # could not measure: keep the last values
        for family, values in before - now:
            with contextlib.suppress(KeyError):
                self._families[family].remove(*values)
        now.discard(("", ()))
        self._series[result.check_id] = now

    def _findings(self, result: CheckResult, series: Any) -> set[tuple[str, tuple[str, ...]]]:
        names = ("check", *series.labels)
        out = set()
        for finding in result.findings:
            if not all(k in finding.labels for k in series.labels):
                continue  # e.g. a missing topic: no group to label it with
            values = (result.check_id, *(finding.labels[k] for k in series.labels))
            for value_name, (metric, help_text) in series.gauges.items():
                if value_name in finding.values:
                    out.add(self._set(metric, names, values, finding.values[value_name], help_text))
            if series.verdict is not None:
                detail, metric, states = series.verdict
                current = finding.details.get(detail)
                if current is not None:
                    for state in states:
                        out.add(self._set(metric, (*names, "status"), (*values, state), 1 if state == current else 0,
                                          f"1 for the current {detail} per {', '.join(series.labels)}, 0 for the others."))
        return out

    def _set(self, family: str, label_names: tuple[str, ...], values: tuple[str, ...], value: float,
             help_text: str) -> tuple[str, tuple[str, ...]]:
        if not _NAME.match(family):
            log.debug("value %s is not a valid metric name; not exported", family)
            return ("", ())
        gauge = self._families.get(family)
        if gauge is None:
            try:
                gauge = Gauge(family, help_text, list(label_names), registry=self.registry)
            except ValueError:  # the name is taken by another metric (a value named like a built-in one)
                log.debug("metric %s already exists with other labels; value not exported", family)
                return ("", ())
            self._families[family] = gauge
        if tuple(gauge._labelnames) != label_names:
            return ("", ())
        gauge.labels(*values).set(value)
        return (family, values)

    def forget(self, check_id: str, kind: str) -> None:
        """A check removed by a reload: its series go, so dashboards and alerts do not see its last value forever."""
        for family, values in self._series.pop(check_id, set()):
            with contextlib.suppress(KeyError):
                self._families[family].remove(*values)
        for gauge, labels in [*((self.check_state, (check_id, kind, s)) for s in STATES), (self.last_run, (check_id,))]:
            with contextlib.suppress(KeyError):  # never observed
                gauge.remove(*labels)
