"""Make and send the weekly report, and the daemon duty that sends it on schedule exactly once per week.

The duty runs at the configured time (Monday 09:00 UTC by default), once when the daemon starts, and hourly.
Each run sends the newest due week unless the send log already has it: a daemon that was down on Monday sends
the missed report when it comes back; a restart never sends it twice. A send is claimed in the store before the
email goes out, so a crash between sending and recording errs on "not again" (logged), never on a duplicate.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sentinel.errors import SentinelError
from sentinel.reports.model import WeeklyReport, build_weekly_report
from sentinel.weeks import due_week

if TYPE_CHECKING:
    from sentinel.app import App
    from sentinel.sla_ledger import SlaLedger

log = logging.getLogger("sentinel.report")
RETRY_EVERY = timedelta(hours=1)


def ledger_of(app: App) -> SlaLedger:
    """The ledger the report reads (built by the composition root, with or without `slas:`)."""
    return app.ledger


def make_report(app: App, week: str, now: datetime | None = None, *, charts: bool = True) -> WeeklyReport:
    now = now or app.clock.now()
    report = build_weekly_report(app.config.spec, ledger_of(app), app.store, week, now)
    if charts:
        from sentinel.reports.charts import charts_for

        report.charts.update(charts_for(report))
    return report


def send_report(app: App, report: WeeklyReport) -> str:
    from sentinel.reports.send import build_email, send

    spec = app.config.spec.report
    return send(build_email(report, spec, app.settings), spec.transport, app.settings)


class ReportAlreadySent(SentinelError):
    """The send log has this week's report; sending it again needs --force."""


def send_by_hand(app: App, week: str, now: datetime, *, force: bool = False) -> str:
    """`sentinel report weekly --send`: send `week`'s report now, through the same send log as the daemon.

    Without `force` a week the log holds as sent (or being sent) is refused: the daemon may have mailed it an hour
    ago. A forced re-send keeps the first send time and appends who got it again; every recipient (To and Cc) is
    logged, because a report mailed to the CFO's office twice is something to be able to explain."""
    spec = app.config.spec.report
    everyone = ", ".join([*spec.to, *spec.cc])
    store = app.store
    entry = next(iter(store.report_log(week)), None)
    if entry is not None and entry.status != "failed" and not force:
        when = entry.sent_at or entry.claimed_at
        raise ReportAlreadySent(f"the {week} report was already {entry.status} at {when:%Y-%m-%d %H:%M} UTC to "
                                f"{entry.recipients}; add --force to send it again")
    resend = entry is not None and entry.status != "failed"
    report = make_report(app, week, now)
    if not resend and not store.report_claim(week, now, everyone):
        raise ReportAlreadySent(f"the {week} report is being sent right now; add --force to send it again")
    try:
        detail = f"{send_report(app, report)} to {everyone} (sentinel report weekly --send)"
    except Exception as exc:
        if not resend:  # release the claim, or the daemon would never send this week
            store.report_mark(week, "failed", app.clock.now(), f"{type(exc).__name__}: {exc}")
        raise
    if resend:
        assert entry is not None
        detail = f"{entry.detail}; re-sent {now:%Y-%m-%d %H:%M} UTC with --force: {detail}"[-500:]
    store.report_mark(week, "sent", app.clock.now(), detail)
    log.warning("weekly report %s sent by hand%s to %s", week, " again (--force)" if resend else "", everyone)
    return detail


class WeeklyReportDuty:
    def __init__(self, app: App) -> None:
        self.app = app

    @property
    def spec(self) -> Any:
        return self.app.config.spec.report

    def due_week(self, now: datetime) -> str:
        return due_week(now, self.spec.weekday, self.spec.at)

    def run_once(self) -> str | None:
        """Send the due week's report if nobody has. Returns the week sent, or None."""
        if not self.app.leads():
            return None
        if not self.spec.to:
            return None
        now = self.app.clock.now()
        week = self.due_week(now)
        store = self.app.store
        if not store.report_claim(week, now, ", ".join([*self.spec.to, *self.spec.cc])):
            log.info("weekly report %s: already sent (or a send was started); not sending it again", week)
            return None
        try:
            report = make_report(self.app, week, now)
            detail = send_report(self.app, report)
        except Exception as exc:
            store.report_mark(week, "failed", self.app.clock.now(), f"{type(exc).__name__}: {exc}")
            log.error("weekly report %s not sent (will retry within %s): %s", week, RETRY_EVERY, exc)
            return None
        store.report_mark(week, "sent", self.app.clock.now(), detail)
        log.info("weekly report %s sent: %s", week, detail)
        return week

    def safe_run(self) -> None:
        try:
            self.run_once()
        except Exception:
            log.exception("weekly report duty failed")

    def install(self, scheduler: Any) -> None:
        from apscheduler.triggers.cron import CronTrigger
        from apscheduler.triggers.date import DateTrigger
        from apscheduler.triggers.interval import IntervalTrigger

        hour, minute = (int(x) for x in self.spec.at.split(":"))
        scheduler.add_job(self.safe_run, CronTrigger(day_of_week=self.spec.weekday[:3], hour=hour, minute=minute,
                                                     timezone=UTC), "__weekly_report")
        # Once now: a report missed while the daemon was down goes out on start (APScheduler's own clock).
        scheduler.add_job(self.safe_run, DateTrigger(timezone=UTC), "__weekly_report_catch_up")
        scheduler.add_job(self.safe_run, IntervalTrigger(seconds=RETRY_EVERY.total_seconds(), timezone=UTC),
                          "__weekly_report_retry")


def install_report_duty(app: App, scheduler: Any) -> WeeklyReportDuty | None:
    """Called by `sentinel run` after the scheduler starts; nothing to do without report recipients."""
    duty = WeeklyReportDuty(app)
    if not duty.spec.to:
        log.info("weekly SLA report: no recipients (report.to) configured; not scheduled")
        return None
    duty.install(scheduler)
    log.info("weekly SLA report scheduled %s %s UTC to %s", duty.spec.weekday, duty.spec.at, ", ".join(duty.spec.to))
    return duty
