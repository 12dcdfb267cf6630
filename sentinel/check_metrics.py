"""The per-check gauges, as client_python's custom-collector pattern has them: nothing is set when a result arrives;
at each scrape the collector reads the latest result of every check the running config plans, and builds the
series from them. A check a reload removed is no longer planned, so its series are gone at the next scrape
without anyone removing them (and a run still in flight across that reload cannot bring them back).

Series (names and labels are what dashboards and deploy/prometheus rules query):
    sentinel_check_state{check,kind,state}               1 for the status of the last result, 0 for the others
    sentinel_check_last_run_timestamp_seconds{check}
    sentinel_measured_<value name>{check,kind}           what the check measured (the value name carries the unit)
    sentinel_threshold_<value name>{check,kind,severity} from values named `<value>_<severity>_threshold`
    a kind's FindingSeries                               one series per finding, e.g. per consumer group and topic
"""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass, field

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sentinel.api import FindingSeries
from sentinel.model import CheckResult, Status

log = logging.getLogger(__name__)
STATES = tuple(s.value for s in Status)  # ok, warn, critical, error
_NAME = re.compile(r"^[a-z_][a-z0-9_]*$")
_THRESHOLD = re.compile(r"^(?P<value>.+)_(?P<severity>warning|critical)_threshold$")
# Families the collector always owns; a value or finding series named like one of them is not exported.
_STATE, _LAST_RUN = "sentinel_check_state", "sentinel_check_last_run_timestamp_seconds"


@dataclass(frozen=True)
class PlannedSeries:
    """What the collector needs to know about one planned check."""

    check_id: str
    kind: str
    findings: FindingSeries | None = None


@dataclass
class _Families:
    """The families of one scrape, by name; a name asked for with other label names is refused (logged once)."""

    reserved: frozenset[str]
    by_name: dict[str, GaugeMetricFamily] = field(default_factory=dict)
    labels: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def add(self, name: str, help_text: str, label_names: tuple[str, ...], values: Sequence[str],
            value: float) -> None:
        if not _NAME.match(name) or name in self.reserved:
            log.debug("value %s is not a valid or free metric name; not exported", name)
            return
        family = self.by_name.get(name)
        if family is None:
            family = self.by_name[name] = GaugeMetricFamily(name, help_text, labels=list(label_names))
            self.labels[name] = label_names
        elif self.labels[name] != label_names:
            log.debug("metric %s already exists with other labels; value not exported", name)
            return
        family.add_metric(list(values), value)


class CheckGauges(Collector):
    """Remembers the latest result per check (and the latest that could measure, for finding series: a run that
    could not measure keeps the findings' last values) and turns the planned ones into series at scrape time."""

    def __init__(self, planned: Callable[[], Iterable[PlannedSeries]], reserved: Collection[str] = ()) -> None:
        """planned(): the checks the running config plans (read at every scrape: a reload is followed).
        reserved: metric names registered elsewhere on the same registry (read at every scrape), which a value
        or finding series must not shadow."""
        self.planned = planned
        self._reserved = reserved
        self._lock = threading.Lock()
        self._latest: dict[str, CheckResult] = {}
        self._measured: dict[str, CheckResult] = {}

    def observe(self, result: CheckResult) -> None:
        with self._lock:
            self._latest[result.check_id] = result
            if result.status is not Status.ERROR:
                self._measured[result.check_id] = result

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Only the fixed families: without describe() the registry would run collect() just to learn names.
        yield GaugeMetricFamily(_STATE, "", labels=["check", "kind", "state"])
        yield GaugeMetricFamily(_LAST_RUN, "", labels=["check"])

    def collect(self) -> Iterator[GaugeMetricFamily]:
        with self._lock:  # planned read under the lock: a result observed after a reload is for the new graph
            planned = list(self.planned())
            wanted = {p.check_id for p in planned}
            for gone in [c for c in self._latest if c not in wanted]:  # removed by a reload: forgotten here
                del self._latest[gone]
                self._measured.pop(gone, None)
            latest, measured = dict(self._latest), dict(self._measured)
        state = GaugeMetricFamily(_STATE, "1 for the status of each check's last result (ok, warn, critical, error = "
                                  "could not measure), 0 for the other statuses.", labels=["check", "kind", "state"])
        last_run = GaugeMetricFamily(_LAST_RUN, "Unix time of the last finished run per check.", labels=["check"])
        families = _Families(frozenset(self._reserved) | {_STATE, _LAST_RUN})
        for p in sorted(planned, key=lambda p: p.check_id):
            result = latest.get(p.check_id)
            if result is None:
                continue
            for s in STATES:
                state.add_metric([p.check_id, result.kind, s], 1 if s == result.status.value else 0)
            last_run.add_metric([p.check_id], result.observed_at.timestamp())
            _values(families, result)
            found = measured.get(p.check_id)
            if p.findings is not None and found is not None:
                _findings(families, found, p.findings)
        yield state
        yield last_run
        yield from families.by_name.values()


def _values(families: _Families, result: CheckResult) -> None:
    labels = (result.check_id, result.kind)
    for name, value in result.values.items():
        threshold = _THRESHOLD.match(name)
        if threshold:
            families.add(f"sentinel_threshold_{threshold['value']}", f"The {threshold['severity']} threshold of "
                         f"{threshold['value']} per check.", ("check", "kind", "severity"),
                         (*labels, threshold["severity"]), value)
        else:
            families.add(f"sentinel_measured_{name}", f"{name} as last measured per check.", ("check", "kind"),
                         labels, value)


def _findings(families: _Families, result: CheckResult, series: FindingSeries) -> None:
    names = ("check", *series.labels)
    for finding in result.findings:
        if not all(k in finding.labels for k in series.labels):
            continue  # e.g. a missing topic: no group to label it with
        values = (result.check_id, *(finding.labels[k] for k in series.labels))
        for value_name, (metric, help_text) in series.gauges.items():
            if value_name in finding.values:
                families.add(metric, help_text, names, values, finding.values[value_name])
        if series.verdict is not None:
            detail, metric, states = series.verdict
            current = finding.details.get(detail)
            if current is not None:
                for s in states:
                    families.add(metric, f"1 for the current {detail} per {', '.join(series.labels)}, 0 for the "
                                 "others.", (*names, "status"), (*values, s), 1 if s == current else 0)
