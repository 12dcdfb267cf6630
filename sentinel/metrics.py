"""Prometheus metrics on a registry made by the composition root (never the global one), named after the
Prometheus naming guide: one quantity per metric with its unit as suffix, counters end in `_total`, state as a
label set (1 for the current state, 0 for the others) rather than a number to decode.

Events (runs, errors, durations, config reloads) are counted as they happen. What a check last measured is not
set here: sentinel.check_metrics.CheckGauges reads it at scrape time, for the checks the running config plans.
"""

from __future__ import annotations

import platform
from collections.abc import Callable, Iterable
from importlib.metadata import PackageNotFoundError, version
from typing import Protocol

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    gc_collector,
    generate_latest,
    platform_collector,
    process_collector,
)

from sentinel.check_metrics import CheckGauges, PlannedSeries
from sentinel.model import CheckResult, Status


class Metrics(Protocol):
    """What the app, the scheduler and the daemon report to; PrometheusMetrics in the daemon, NullMetrics else."""

    def observe(self, result: CheckResult) -> None: ...

    def scheduler_ticked(self, at_timestamp: float) -> None: ...

    def checks_stuck(self, count: int) -> None: ...

    def heartbeat_sent(self, at_timestamp: float) -> None: ...

    def config_reload(self, result: str) -> None:
        """result: "applied" or "rejected"."""
        ...

    def exposition(self) -> bytes:
        """The text format for GET /metrics."""
        ...


class NullMetrics:
    """For `check --once`: nothing scrapes a one-shot process, so prometheus_client is not even imported."""

    def observe(self, result: CheckResult) -> None:
        pass

    def scheduler_ticked(self, at_timestamp: float) -> None:
        pass

    def checks_stuck(self, count: int) -> None:
        pass

    def heartbeat_sent(self, at_timestamp: float) -> None:
        pass

    def config_reload(self, result: str) -> None:
        pass

    def exposition(self) -> bytes:
        return b""


def sentinel_version() -> str:
    try:
        return version("sentinel-monitor")
    except PackageNotFoundError:  # a source tree without an install
        return "unknown"


class SentinelMetrics:
    def __init__(self, registry: CollectorRegistry,
                 planned: Callable[[], Iterable[PlannedSeries]] = lambda: ()) -> None:
        """planned(): the checks the running config plans, read at each scrape (see CheckGauges)."""
        self.registry = registry
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
        self.heartbeat = Gauge(
            "sentinel_heartbeat_last_success_timestamp_seconds", "Unix time the pager's dead man's switch last accepted "
            "a ping (0 until the first one, and always without a heartbeat configured).", registry=registry,
        )
        self.stuck = Gauge("sentinel_checks_stuck", "Checks still running past their deadline.", registry=registry)
        self.reloads = Counter("sentinel_config_reloads", "Config reloads (SIGHUP or POST /-/reload) by result "
                               "(applied, rejected)", ["result"], registry=registry)
        self.gauges = CheckGauges(planned, reserved=registry._names_to_collectors)
        registry.register(self.gauges)

    def observe(self, result: CheckResult) -> None:
        labels = (result.check_id, result.kind)
        self.check_duration.labels(*labels).observe(result.duration.total_seconds())
        self.check_runs.labels(*labels, result.status.value).inc()
        errors = self.check_errors.labels(*labels)  # 0 from the first run on, so rate() sees the first error
        if result.status is Status.ERROR:
            errors.inc()
        self.gauges.observe(result)

    def scheduler_ticked(self, at_timestamp: float) -> None:
        self.scheduler_tick.set(at_timestamp)

    def checks_stuck(self, count: int) -> None:
        self.stuck.set(count)

    def heartbeat_sent(self, at_timestamp: float) -> None:
        self.heartbeat.set(at_timestamp)

    def config_reload(self, result: str) -> None:
        self.reloads.labels(result=result).inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
