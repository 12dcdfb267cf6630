"""SLA attainment and error budget on /metrics, computed at scrape time from the ledger (this ISO week so far,
as `sentinel sla` shows it), so a Grafana panel and the weekly report never disagree."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from sentinel.clock import Clock
from sentinel.weeks import iso_week, week_bounds

log = logging.getLogger(__name__)


def _families() -> dict[str, GaugeMetricFamily]:
    return {
        "objective": GaugeMetricFamily("sentinel_sla_objective_ratio", "Share of the week each SLA promises to meet.",
                                       labels=["sla"]),
        "attainment": GaugeMetricFamily("sentinel_sla_attainment_ratio", "Met time over elapsed time this ISO week "
                                        "(UTC); unknown time counts against it.", labels=["sla"]),
        "budget_seconds": GaugeMetricFamily("sentinel_sla_error_budget_remaining_seconds", "Error budget left this "
                                            "week: (1 - objective) x 7 days minus breach and unknown time; negative "
                                            "when overspent.", labels=["sla"]),
        "budget_ratio": GaugeMetricFamily("sentinel_sla_error_budget_remaining_ratio", "Error budget left this week "
                                          "as a share of the week's budget (1 = untouched, 0 = spent).",
                                          labels=["sla"]),
    }


class SlaCollector(Collector):
    def __init__(self, ledger: Callable[[], Any], clock: Clock) -> None:
        """ledger(): the current SlaLedger or None (a reload may add or remove `slas:`)."""
        self._ledger = ledger
        self._clock = clock

    def describe(self) -> Iterator[GaugeMetricFamily]:
        # Without this the registry would run collect() (store reads) once just to learn the names.
        yield from _families().values()

    def collect(self) -> Iterator[GaugeMetricFamily]:
        families = _families()
        ledger = self._ledger()
        try:
            if ledger is not None:
                now = self._clock.now()
                start, end = week_bounds(iso_week(now))
                for spec in ledger.slas:
                    a = ledger.window(spec, start, end, now).attainment
                    families["objective"].add_metric([spec.id], spec.objective)
                    if a.attainment is not None:
                        families["attainment"].add_metric([spec.id], a.attainment)
                    families["budget_seconds"].add_metric([spec.id], a.budget_left.total_seconds())
                    if a.budget.total_seconds() > 0:
                        families["budget_ratio"].add_metric([spec.id], a.budget_left / a.budget)
        except Exception:  # a scrape must still answer with everything else
            log.exception("SLA metrics could not be computed")
            families = _families()
        yield from families.values()
