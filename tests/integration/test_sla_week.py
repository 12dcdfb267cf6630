"""A simulated fortnight (see tests/integration/sla_week.py) through the real runner, store, alerting pipeline and
SLA ledger; figures checked against numbers worked out by hand from the scenario."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import pytest

from sentinel.app import App
from sentinel.clock import FakeClock
from sentinel.reports.weekly import WeeklyReportDuty, make_report
from sentinel.sla import ObsState
from sentinel.store.sla import SlaStore
from tests.integration.sla_week import DBT_SUMMARY, S3_SUMMARY, TX, SimulatedWeek
from tests.mail_strict import inline_images_resolve
from tests.plugins.smtp import SMTP_PASSWORD, SmtpTlsServer

pytestmark = pytest.mark.integration


def sla_store(app: App) -> SlaStore:
    return cast(SlaStore, app.store)

MIN = timedelta(minutes=1)
WEEK_MIN = 7 * 24 * 60


def test_the_week_gives_hand_computed_attainment_budget_and_breaches(week: SimulatedWeek, tmp_path: Path) -> None:
    cal = week.cal
    app = week.app(FakeClock(cal.week_c_start), week.copy_state(tmp_path / "s.db"), with_alerting=False)
    report = make_report(app, cal.week_b, charts=False)
    s = next(x for x in report.sections if x.sla.id == "transactions_freshness")
    a = s.attainment
    # By hand: breaches 09:55-10:30 Tue (35 min) + 01:55-02:40 Thu (45 min) = 80 min;
    # unknown: daemon down, 11:55 holds to 12:10, back 12:30 (20 min) + ERROR at 03:00 Sat (5 min) = 25 min.
    assert a.breach == 80 * MIN
    assert a.unknown == 25 * MIN
    assert a.met == (WEEK_MIN - 105) * MIN
    assert a.attainment == pytest.approx((WEEK_MIN - 105) / WEEK_MIN)  # 98.958%
    assert a.measured_attainment == pytest.approx((WEEK_MIN - 105) / (WEEK_MIN - 25))  # 99.2% if gaps were "met"
    assert a.budget == timedelta(minutes=100.8)  # 1% of 10,080 minutes
    assert a.budget_left == timedelta(minutes=100.8 - 105)  # over by 4.2 minutes: unknown time is never met
    assert s.verdict == "missed"
    assert [(b.start, b.duration, b.worst_value) for b in s.breaches] == [
        (cal.b(1, 9, 55), 35 * MIN, 45 * 60.0),
        (cal.b(3, 1, 55), 45 * MIN, 55 * 60.0),
    ]
    # Root causes from the alert history: the most upstream alert of the table around each breach.
    assert s.breaches[0].root_cause.startswith(f"s3_sink / {TX}: {S3_SUMMARY}")
    assert "firing since Tue 09:35 UTC" in s.breaches[0].root_cause
    assert s.breaches[1].root_cause.startswith(f"dbt / {TX}: {DBT_SUMMARY}")
    # Week before: one 45-minute breach at a 15-minute cadence -> 10,035 of 10,080 minutes.
    assert s.previous is not None and s.previous.breach == 45 * MIN and s.previous.unknown == timedelta(0)
    assert s.trend_points == pytest.approx(((WEEK_MIN - 105) - (WEEK_MIN - 45)) / WEEK_MIN * 100)  # -0.595 pp
    # Freshness distribution (nearest rank over the 2,009 measured observations): 995 at 0 min (checked right after
    # a load), 996 at 5 min, 2 at 10 min, 16 breach values 15..55 min.
    v = s.window.values
    assert v.count == 2016 - 6 - 1
    assert (v.p50, v.p95, v.max) == (300.0, 300.0, 3300.0)
    states = [p[2] for p in s.window.points]
    assert states.count(ObsState.BREACH) == 16 and states.count(ObsState.UNKNOWN) == 1
    # Daily aggregates: Wednesday's row landed at 01:25, due 01:00 -> 25 min breach, same 25 min unknown.
    d = next(x for x in report.sections if x.sla.id == "daily_aggregates_deadline")
    assert (d.attainment.breach, d.attainment.unknown) == (25 * MIN, 25 * MIN)
    assert [(b.start, b.duration) for b in d.breaches] == [(cal.b(3, 1, 0), 25 * MIN)]
    assert d.attainment.budget_left == timedelta(minutes=100.8 - 50) and d.verdict == "met"
    assert d.window.values.max == 20 * 60.0  # the 01:20 observation: 20 minutes past the deadline
    # Merchant analytics never breached; the 25 unknown minutes still spend 99.5%'s 50.4-minute budget.
    m = next(x for x in report.sections if x.sla.id == "merchant_analytics_freshness")
    assert (m.attainment.breach, m.attainment.unknown, m.breaches) == (timedelta(0), 25 * MIN, [])
    assert m.attainment.budget_left == timedelta(minutes=50.4 - 25) and m.verdict == "met"
    app.close()


def test_alert_figures_match_what_the_receivers_got(week: SimulatedWeek, tmp_path: Path) -> None:
    app = week.app(FakeClock(week.cal.week_c_start), week.copy_state(tmp_path / "s.db"), with_alerting=False)
    report = make_report(app, week.cal.week_b, charts=False)
    assert report.alerts.pages == week.pages_triggered_week_b > 0
    assert report.alerts.by_receiver["slack"] == week.slack_posts_week_b > 0
    noisy = {n.check_id: n for n in report.noisiest}
    # Upstream alerts fired once per incident; the burn-rate alert fired for both breaches.
    assert noisy["s3_sink_lag"].episodes == 1 and noisy["dbt_run"].episodes == 1
    assert noisy["sla_burn_transactions_freshness"].episodes >= 1
    # not OK: 16 transaction breaches + 5 late daily-aggregate observations (01:00-01:20) + 1 ERROR
    assert noisy["tx_freshness"].not_ok == 16 + 5 + 1 and noisy["tx_freshness"].errors == 1
    app.close()


def test_burn_rate_alerts_paged_during_the_fast_breach(week: SimulatedWeek, tmp_path: Path) -> None:
    cal = week.cal
    app = week.app(FakeClock(cal.week_c_start), week.copy_state(tmp_path / "s.db"), with_alerting=False)
    messages = sla_store(app).messages_between(cal.week_b_start, cal.week_c_start)
    burn_pages = [m for m in messages if m.receiver == "pager" and m.event == "fired"
                  and any(a["check_id"] == "sla_burn_transactions_freshness" for a in m.payload["alerts"])]
    # Fast burn (14.4x over 1h and 5m) is reached 10 minutes into each breach: 10 of 60 min at 1% allowed = 16.7x.
    assert sorted({m.created_at.date() for m in burn_pages}) == [cal.b(1).date(), cal.b(3).date()]
    first = min(burn_pages, key=lambda m: m.created_at)
    assert cal.b(1, 10, 5) <= first.created_at <= cal.b(1, 10, 15)
    assert first.payload["alerts"][0]["runbook"] == "sla-burn-rate"
    app.close()


def _parts(msg: Any) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for part in msg.walk():
        out.setdefault(part.get_content_type(), []).append(part)
    return out


def test_report_email_arrives_with_both_parts_and_inline_charts(week: SimulatedWeek, smtp_tls_server: SmtpTlsServer,
                                                                tmp_path: Path) -> None:
    smtp_tls_server.clear()
    cal = week.cal
    clock = FakeClock(cal.c(0, 9, 0))
    app = week.app(clock, week.copy_state(tmp_path / "s.db"), with_alerting=False, **smtp_tls_server.settings())
    assert WeeklyReportDuty(app).run_once() == cal.week_b
    (got,) = smtp_tls_server.wait_for(1)
    assert got.tls and got.login == smtp_tls_server.username
    assert sorted(got.envelope_to) == ["cfo-office@novapay.example", "data-platform@novapay.example",
                                       "oncall-leads@novapay.example"]
    msg = got.message
    assert msg["Subject"] == f"Sentinel weekly SLA report {cal.week_b}"
    assert msg["From"] == "sentinel@novapay.example" and msg["Cc"] == "oncall-leads@novapay.example"
    assert msg.get_content_type() == "multipart/alternative"
    parts = _parts(msg)
    text = parts["text/plain"][0].get_content()
    html = parts["text/html"][0].get_content()
    assert "attainment 98.95%" in text and "exhausted, over by 4m12s" in text
    assert "== daily_aggregates_deadline" in text and "== merchant_analytics_freshness" in text
    assert f"{cal.b(1, 9, 55):%a %Y-%m-%d %H:%M} UTC for 35m" in text and S3_SUMMARY in text
    assert "98.95%" in html and f"{cal.b(3, 1, 55):%a %Y-%m-%d %H:%M}" in html
    pngs = parts["image/png"]
    assert len(pngs) == 3  # one chart per SLA, each referenced from the HTML by its Content-ID
    for png in pngs:
        assert png.get_payload(decode=True).startswith(b"\x89PNG\r\n\x1a\n")
        assert png["Content-Disposition"].startswith("inline")
        assert f'src="cid:{png["Content-ID"].strip("<>")}"' in html
    assert parts["multipart/related"][0].get_payload()[0].get_content_type() == "text/html"
    assert len(inline_images_resolve(got.raw)) == 3  # and so for a client that reads the raw headers
    assert SMTP_PASSWORD not in msg.as_string()
    log = sla_store(app).report_log(cal.week_b)
    assert log[0].status == "sent" and "3 recipient(s)" in log[0].detail
    app.close()


def test_a_missed_monday_is_sent_once_on_restart_never_twice(week: SimulatedWeek, smtp_tls_server: SmtpTlsServer,
                                                             tmp_path: Path) -> None:
    smtp_tls_server.clear()
    cal = week.cal
    state = week.copy_state(tmp_path / "s.db")
    clock = FakeClock(cal.c(0, 8, 59))
    app = week.app(clock, state, **smtp_tls_server.settings())
    sla_store(app).report_claim(cal.week_a, cal.b(0, 9, 0), "x")  # last Monday's report went out on time
    sla_store(app).report_mark(cal.week_a, "sent", cal.b(0, 9, 0))
    assert WeeklyReportDuty(app).run_once() is None  # 08:59: week B's report is not due yet
    app.close()
    # The daemon is down from 09:00 Monday until Tuesday afternoon.
    clock.set(cal.c(1, 15, 30))
    first = week.app(clock, state, **smtp_tls_server.settings())
    assert WeeklyReportDuty(first).run_once() == cal.week_b
    assert WeeklyReportDuty(first).run_once() is None  # the hourly retry does not resend
    first.close()
    clock.advance(timedelta(hours=2))
    second = week.app(clock, state, **smtp_tls_server.settings())  # another restart
    assert WeeklyReportDuty(second).run_once() is None
    second.close()
    got = smtp_tls_server.wait_for(1)
    assert [r.message["X-Sentinel-Report"] for r in got] == [cal.week_b]


def test_a_failed_send_is_retried_and_a_wrong_password_is_not_leaked(week: SimulatedWeek,
                                                                      smtp_tls_server: SmtpTlsServer,
                                                                      tmp_path: Path) -> None:
    smtp_tls_server.clear()
    cal = week.cal
    state = week.copy_state(tmp_path / "s.db")
    clock = FakeClock(cal.c(0, 9, 0))
    wrong = {**smtp_tls_server.settings(), "smtp_password": "WRONG-secret-77"}
    app = week.app(clock, state, **wrong)
    assert WeeklyReportDuty(app).run_once() is None
    (entry,) = sla_store(app).report_log(cal.week_b)
    assert entry.status == "failed" and entry.detail.startswith("NotifyError: SMTP 127.0.0.1") and "WRONG" not in entry.detail
    app.close()
    clock.advance(timedelta(hours=1))
    fixed = week.app(clock, state, **smtp_tls_server.settings())
    assert WeeklyReportDuty(fixed).run_once() == cal.week_b
    assert len(smtp_tls_server.wait_for(1)) == 1
    fixed.close()


def test_report_goes_out_through_amazon_ses(week: SimulatedWeek, s3_server: Any, tmp_path: Path) -> None:
    """`report.transport: ses`: the same multipart email through boto3 send_raw_email (moto server)."""
    import boto3

    from sentinel.errors import NotifyError
    from sentinel.reports.send import build_email, send

    aws = {"aws_endpoint_url": s3_server.endpoint_url, "aws_region": s3_server.region,
           "aws_access_key_id": s3_server.access_key_id, "aws_secret_access_key": s3_server.secret_access_key}
    app = week.app(FakeClock(week.cal.c(0, 9, 0)), week.copy_state(tmp_path / "s.db"), with_alerting=False, **aws)
    ses = boto3.client("ses", endpoint_url=s3_server.endpoint_url, region_name=s3_server.region,
                       aws_access_key_id=s3_server.access_key_id, aws_secret_access_key=s3_server.secret_access_key)
    ses.delete_identity(Identity="sentinel@novapay.example")  # the moto server is shared: start unverified
    sent_before = ses.get_send_quota()["SentLast24Hours"]
    report = make_report(app, week.cal.week_b)
    email = build_email(report, app.config.spec.report, app.settings)
    with pytest.raises(NotifyError, match="SES refused the report: MessageRejected") as refused:
        send(email, "ses", app.settings)  # the sender is not a verified SES identity yet
    assert not refused.value.retryable
    ses.verify_email_identity(EmailAddress="sentinel@novapay.example")
    detail = send(email, "ses", app.settings)
    assert detail.startswith("ses: MessageId ")
    assert ses.get_send_quota()["SentLast24Hours"] > sent_before
    app.close()
