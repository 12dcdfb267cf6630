"""Prometheus metrics on a registry made by the composition root (never the global one)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from sentinel.model import CheckResult, Status

STATUS_VALUE = {Status.OK: 0, Status.WARN: 1, Status.CRITICAL: 2, Status.ERROR: 3}


class SentinelMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self.registry = registry
        self.check_duration = Histogram(
            "sentinel_check_duration_seconds", "Wall time of one check run.", ["check", "kind"], registry=registry,
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
        )
        self.check_status = Gauge(
            "sentinel_check_status", "Last status per check: 0 ok, 1 warn, 2 critical, 3 error (could not measure).",
            ["check", "kind"], registry=registry,
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
        self.check_value = Gauge(
            "sentinel_check_value", "Named values of the last result; the unit is in the `value` label.",
            ["check", "value"], registry=registry,
        )
        self.scheduler_tick = Gauge(
            "sentinel_scheduler_last_tick_timestamp_seconds", "Unix time the scheduler watchdog last saw a tick.",
            registry=registry,
        )
        self.checks_stuck = Gauge("sentinel_checks_stuck", "Checks still running past their deadline.", registry=registry)

    def observe(self, result: CheckResult) -> None:
        labels = (result.check_id, result.kind)
        self.check_duration.labels(*labels).observe(result.duration.total_seconds())
        self.check_status.labels(*labels).set(STATUS_VALUE[result.status])
        self.last_run.labels(result.check_id).set(result.observed_at.timestamp())
        self.check_runs.labels(*labels, result.status.value).inc()
        if result.status is Status.ERROR:
            self.check_errors.labels(*labels).inc()
        for name, value in result.values.items():
            self.check_value.labels(result.check_id, name).set(value)
