"""The watchdog notices a scheduler that stopped ticking and checks stuck past their deadline."""

from __future__ import annotations

import threading
from datetime import timedelta
from pathlib import Path

from sentinel.api import Check, CheckContext, CheckResult, Params, Status
from sentinel.clock import FakeClock
from sentinel.compose_root import Wiring, build_app
from sentinel.config.settings import Settings
from sentinel.scheduler import CheckScheduler, trigger_for


class NoParams(Params):
    pass


RELEASE = threading.Event()


class HangCheck(Check[NoParams]):
    kind = "hang"
    Params = NoParams
    runbook = "check-broken"

    def run(self, ctx: CheckContext) -> CheckResult:
        RELEASE.wait(20)
        return ctx.result(self.kind, Status.OK, "late")


def test_silent_scheduler_is_unhealthy_and_stuck_checks_are_counted(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("checks:\n  - {id: hung, kind: hang, timeout: 200ms, schedule: {every: 1h}}\n")
    clock = FakeClock()
    app = build_app(Settings(config_file=tmp_path / "rules.yaml", state_path=tmp_path / "s.db"), clock=clock,
                    extra_checks={"hang": HangCheck}, wiring=Wiring(alerting=False))
    scheduler = CheckScheduler(app)
    assert scheduler.check_health()
    result = app.runner.run_one(app.planned[0])
    assert result.status is Status.ERROR
    clock.advance(timedelta(seconds=10))
    assert scheduler.check_health(), "a stuck check is reported but does not make the process unhealthy"
    assert scheduler.problems == ["check hung is stuck 10s past its deadline"]
    clock.advance(timedelta(seconds=25))
    assert not scheduler.check_health()
    assert "scheduler has not ticked for 35s" in scheduler.problems[0]
    scheduler._tick()
    RELEASE.set()
    app.close()


def test_triggers_follow_the_schedule_spec() -> None:
    from sentinel.config.checks_spec import ScheduleSpec

    assert trigger_for(ScheduleSpec(every=timedelta(seconds=90))).interval == timedelta(seconds=90)
    cron = trigger_for(ScheduleSpec(cron="*/5 * * * *"))
    assert "minute='*/5'" in str(cron)


def test_old_check_results_are_pruned_after_the_retention(tmp_path: Path) -> None:
    (tmp_path / "rules.yaml").write_text("checks: []\n")
    clock = FakeClock()
    app = build_app(Settings(config_file=tmp_path / "rules.yaml", state_path=tmp_path / "s.db",
                             results_retention=timedelta(days=35)), clock=clock, wiring=Wiring(alerting=False))
    for age_days in (40, 36, 2):
        app.store.save_result(CheckResult("c", "fn", Status.OK, clock.now() - timedelta(days=age_days), "x"))
    assert CheckScheduler(app).prune() == 2
    assert [r.observed_at for r in app.store.recent_results("c", 10)] == [clock.now() - timedelta(days=2)]
    app.close()
