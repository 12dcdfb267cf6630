"""The per-check gauges as Sentinel kept them before the scrape-time collector: set on every result, each series
remembered per check so a changed or removed one could be taken out by hand (`forget` on reload). The baseline of
benchmarks/metrics_scrape.py: the same series, paid for on arrival instead of at the scrape."""

from __future__ import annotations

import contextlib
import re

from prometheus_client import CollectorRegistry, Gauge

from sentinel.api import FindingSeries
from sentinel.model import CheckResult, Status

STATES = tuple(s.value for s in Status)
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_THRESHOLD = re.compile(r"^(?P<value>.+)_(?P<severity>warning|critical)_threshold$")
Series = tuple[str, tuple[str, ...]]


class OnArrivalGauges:
    def __init__(self, registry: CollectorRegistry, finding_series: dict[str, FindingSeries]) -> None:
        self.registry = registry
        self.finding_series = finding_series
        self.check_state = Gauge("sentinel_check_state", "state", ["check", "kind", "state"], registry=registry)
        self.last_run = Gauge("sentinel_check_last_run_timestamp_seconds", "last run", ["check"], registry=registry)
        self._families: dict[str, Gauge] = {}
        self._series: dict[str, set[Series]] = {}

    def observe(self, result: CheckResult) -> None:
        labels = (result.check_id, result.kind)
        for state in STATES:
            self.check_state.labels(*labels, state).set(1 if state == result.status.value else 0)
        self.last_run.labels(result.check_id).set(result.observed_at.timestamp())
        before = self._series.get(result.check_id, set())
        now: set[Series] = set()
        for name, value in result.values.items():
            threshold = _THRESHOLD.match(name)
            if threshold:
                now.add(self._set(f"sentinel_threshold_{threshold['value']}", ("check", "kind", "severity"),
                                  (*labels, threshold["severity"]), value))
            else:
                now.add(self._set(f"sentinel_measured_{name}", ("check", "kind"), labels, value))
        series = self.finding_series.get(result.kind)
        if series is not None and result.status is not Status.ERROR:
            names = ("check", *series.labels)
            for finding in result.findings:
                values = (result.check_id, *(finding.labels[k] for k in series.labels))
                for value_name, (metric, _help) in series.gauges.items():
                    if value_name in finding.values:
                        now.add(self._set(metric, names, values, finding.values[value_name]))
        for family, values in before - now:
            with contextlib.suppress(KeyError):
                self._families[family].remove(*values)
        self._series[result.check_id] = now

    def _set(self, family: str, label_names: tuple[str, ...], values: tuple[str, ...], value: float) -> Series:
        gauge = self._families.get(family)
        if gauge is None:
            gauge = self._families[family] = Gauge(family, family, list(label_names), registry=self.registry)
        gauge.labels(*values).set(value)
        return (family, values)
