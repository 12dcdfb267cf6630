"""The SLA ledger: every check result that measures an SLA becomes an observation in the state store, and
every such result makes the SLA's burn rate be judged again (through the alerting pipeline).

    ledger = SlaLedger(config.spec.slas, store, clock)     # built in app.py
    ledger.record(result)                                  # from App.record
    ledger.burn_results([result])                          # -> CheckResults of kind sla_burn_rate
    ledger.window(sla, start, end)                         # -> sentinel.sla.SlaWindow (report, `sentinel sla`)

SlaAlertSink wraps the alerting pipeline so burn-rate judgements ride along with the results that caused them.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sentinel.clock import Clock
from sentinel.model import CheckResult
from sentinel.sla import SlaWindow, analyse, burn_result, burn_statuses, observations_for

log = logging.getLogger(__name__)
_EPS = timedelta(microseconds=1)  # make an `until` bound inclusive
# How far past a window's edges the ledger looks, so a breach crossing the edge of a week can say when it began
# and ended. A day covers any incident the report should explain; longer ones say "began before" that day.
LOOK_AROUND = timedelta(days=1)


class SlaLedger:
    def __init__(self, slas: Sequence[Any], store: Any, clock: Clock) -> None:
        self.slas = list(slas)
        self.store = store
        self.clock = clock
        self._by_check: dict[str, list[Any]] = {}
        for sla in self.slas:
            self._by_check.setdefault(sla.check, []).append(sla)

    def sla(self, sla_id: str) -> Any:
        for sla in self.slas:
            if sla.id == sla_id:
                return sla
        raise KeyError(sla_id)

    def record(self, result: CheckResult) -> None:
        slas = self._by_check.get(result.check_id)
        if slas:
            self.store.sla_observations_add(observations_for(slas, result))

    def burn_results(self, results: Sequence[CheckResult]) -> list[CheckResult]:
        now = self.clock.now()
        touched = {sla.id: sla for r in results for sla in self._by_check.get(r.check_id, ())}
        out = []
        for sla in touched.values():
            longest = max((w.long for w in sla.burn_rate), default=None)
            if longest is None:
                continue
            start = now - longest
            obs = self.store.sla_observations(sla.id, start, now + _EPS)
            prior = self.store.sla_observation_before(sla.id, start)
            out.append(burn_result(sla, burn_statuses(sla, obs, now, prior), now))
        return out

    def window(self, sla: Any, start: datetime, end: datetime, now: datetime | None = None) -> SlaWindow:
        now = now or self.clock.now()
        context = (start - LOOK_AROUND, max(start, min(end + LOOK_AROUND, now)))
        observations = self.store.sla_observations(sla.id, context[0], context[1] + _EPS)
        prior = self.store.sla_observation_before(sla.id, context[0])
        return analyse(sla, observations, start, end, now, prior, context)


class SlaAlertSink:
    """The alerting pipeline plus the SLA burn-rate judgement of every batch of results it processes."""

    def __init__(self, pipeline: Any, ledger: SlaLedger) -> None:
        self.pipeline = pipeline
        self.ledger = ledger

    def process(self, results: Sequence[CheckResult]) -> Sequence[Any]:
        burns: list[CheckResult] = []
        try:
            burns = self.ledger.burn_results(results)
        except Exception:  # the SLA ledger must never stop the check's own alerts
            log.exception("SLA burn-rate evaluation failed")
        return self.pipeline.process([*results, *burns])  # type: ignore[no-any-return]

    def deliver_due(self) -> Sequence[Any]:
        return self.pipeline.deliver_due()  # type: ignore[no-any-return]

    def __getattr__(self, name: str) -> Any:
        return getattr(self.pipeline, name)
