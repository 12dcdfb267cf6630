"""The daemon's heartbeat: APScheduler 3.x runs one job per check; a watchdog notices stuck checks and a
scheduler that stopped ticking; shutdown drains in-flight work within a bound."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from apscheduler.executors.pool import ThreadPoolExecutor
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from sentinel.app import App
from sentinel.config.checks_spec import ScheduleSpec
from sentinel.logs import log_context
from sentinel.model import CheckResult
from sentinel.runner import PlannedCheck

log = logging.getLogger(__name__)

TICK_INTERVAL = timedelta(seconds=5)
STALL_AFTER = timedelta(seconds=30)
DELIVER_INTERVAL = timedelta(seconds=5)
HEARTBEAT_INTERVAL = timedelta(minutes=1)
PRUNE_INTERVAL = timedelta(hours=1)


def trigger_for(schedule: ScheduleSpec) -> IntervalTrigger | CronTrigger:
    if schedule.every is not None:
        return IntervalTrigger(seconds=schedule.every.total_seconds(), timezone=UTC)
    assert schedule.cron is not None
    return CronTrigger.from_crontab(schedule.cron, timezone=UTC)


class CheckScheduler:
    def __init__(self, app: App, on_result: Callable[[CheckResult], None] | None = None) -> None:
        self.app = app
        self._on_result = on_result
        self._scheduler = BackgroundScheduler(
            timezone=UTC,
            executors={"default": ThreadPoolExecutor(max_workers=max(2, app.settings.max_workers + 2))},
            job_defaults={"max_instances": 1, "coalesce": True, "misfire_grace_time": 60},
        )
        self._inflight = 0
        self._inflight_cv = threading.Condition()
        self.last_tick_monotonic = app.clock.monotonic()
        self.healthy = True
        self.problems: list[str] = []
        self._watchdog_stop = threading.Event()
        self._watchdog = threading.Thread(target=self._watch, name="sentinel-watchdog", daemon=True)

    def start(self) -> None:
        now = self.app.clock.now()
        for planned in self.app.planned:
            self._scheduler.add_job(self._run_check, trigger_for(planned.spec.schedule), args=[planned], id=planned.id,
                                    name=planned.id, next_run_time=now)
        self._scheduler.add_job(self._tick, IntervalTrigger(seconds=TICK_INTERVAL.total_seconds()), id="__tick",
                                next_run_time=now)
        if self.app.alerting is not None:
            self._scheduler.add_job(self._deliver, IntervalTrigger(seconds=DELIVER_INTERVAL.total_seconds()),
                                    id="__deliver")
            self._scheduler.add_job(self._heartbeat, IntervalTrigger(seconds=HEARTBEAT_INTERVAL.total_seconds()),
                                    id="__heartbeat", next_run_time=now)
        self._scheduler.add_job(self.prune, IntervalTrigger(seconds=PRUNE_INTERVAL.total_seconds()), id="__prune",
                                next_run_time=now)
        self._scheduler.start()
        self._watchdog.start()
        log.info("scheduler started with %d checks", len(self.app.planned))

    def add_job(self, func: Callable[..., Any], trigger: Any, job_id: str, *, leader_only: bool = True) -> None:
        """For other daemon duties (weekly report, heartbeat) to share the same scheduler. With replicas on a shared
        store they run on the leader only, like checks and deliveries."""
        def run(*args: Any, **kwargs: Any) -> Any:
            if leader_only and not self._is_leader():
                return None
            return func(*args, **kwargs)

        self._scheduler.add_job(run, trigger, id=job_id, name=job_id)

    def replace_checks(self, planned: list[PlannedCheck]) -> None:
        """After a config reload: jobs of removed checks go, new and changed ones are (re)scheduled now."""
        now = self.app.clock.now()
        wanted = {p.id for p in planned}
        for job in self._scheduler.get_jobs():
            if not job.id.startswith("__") and job.id not in wanted:
                job.remove()
        for p in planned:
            self._scheduler.add_job(self._run_check, trigger_for(p.spec.schedule), args=[p], id=p.id, name=p.id,
                                    next_run_time=now, replace_existing=True)
        log.info("scheduler now runs %d checks", len(planned))

    def _is_leader(self) -> bool:
        """With a shared (PostgreSQL) store only the replica holding the leader lock runs checks and sends."""
        return self.app.leads()

    def _run_check(self, planned: PlannedCheck) -> None:
        if not self._is_leader():
            return
        with self._inflight_cv:
            self._inflight += 1
        try:
            with log_context(check_id=planned.id):
                self._handle(planned)
        finally:
            with self._inflight_cv:
                self._inflight -= 1
                self._inflight_cv.notify_all()

    def _handle(self, planned: PlannedCheck) -> None:
        try:
            result = self.app.runner.run_one(planned)
            self.app.record(result)
            self.app.judge(result)
            if self._on_result is not None:
                self._on_result(result)
        except Exception:
            # Recording or alerting failed (e.g. the store is locked): log loudly, keep the daemon alive.
            log.exception("handling the result of %s failed", planned.id)

    def _deliver(self) -> None:
        elector, alerting = self.app.leader, self.app.alerting
        if alerting is not None and (elector is None or elector.confirm()):
            try:
                alerting.deliver_due()
            except Exception:
                log.exception("delivering alerts failed; will retry")

    def _heartbeat(self) -> None:
        """Dead man's switch: ping only while healthy, so on-call is paged when Sentinel dies, hangs or stops ticking."""
        heartbeat = self.app.heartbeat
        if heartbeat is None or not self._is_leader() or not self.check_health() or self.problems:
            return
        try:
            if heartbeat.ping():
                self.app.metrics.heartbeat_sent(self.app.clock.now().timestamp())
        except Exception:
            log.exception("heartbeat ping failed; the pager will page if this persists")

    def prune(self) -> int:
        """Drop check results older than the retention (one row per check run would otherwise grow forever)."""
        if not self._is_leader():
            return 0
        try:
            removed = self.app.store.prune_results(self.app.clock.now() - self.app.settings.results_retention)
        except Exception:
            log.exception("pruning old check results failed; will retry")
            return 0
        if removed:
            log.info("pruned %d check results older than %s", removed, self.app.settings.results_retention)
        return removed

    def _tick(self) -> None:
        self.last_tick_monotonic = self.app.clock.monotonic()
        self.app.metrics.scheduler_ticked(self.app.clock.now().timestamp())

    def _watch(self) -> None:
        while not self._watchdog_stop.wait(TICK_INTERVAL.total_seconds()):
            self.check_health()

    def check_health(self) -> bool:
        problems = []
        silent = self.app.clock.monotonic() - self.last_tick_monotonic
        if silent > STALL_AFTER.total_seconds():
            problems.append(f"scheduler has not ticked for {silent:.0f}s")
        stuck = self.app.runner.stuck()
        self.app.metrics.checks_stuck(len(stuck))
        for check_id, overdue in stuck.items():
            problems.append(f"check {check_id} is stuck {overdue.total_seconds():.0f}s past its deadline")
        if problems and problems != self.problems:
            for p in problems:
                log.error("watchdog: %s", p)
        self.problems = problems
        # A stuck check is reported, but only a silent scheduler makes the process unhealthy (restart helps that).
        self.healthy = silent <= STALL_AFTER.total_seconds()
        return self.healthy

    def shutdown(self, drain: timedelta) -> bool:
        """Stop scheduling, wait up to `drain` for running checks. True if everything finished."""
        self._watchdog_stop.set()
        self._scheduler.shutdown(wait=False)
        with self._inflight_cv:
            drained = self._inflight_cv.wait_for(lambda: self._inflight == 0, timeout=drain.total_seconds())
        if not drained:
            log.warning("shutdown: %d check(s) still running after %ss; abandoning them", self._inflight,
                        drain.total_seconds())
        return drained
