"""The report email's structure and header safety, from a report built out of plain observations."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from sentinel.config.alerting_spec import ReportSpec, SlaSpec
from sentinel.config.settings import Settings
from sentinel.reports.model import AlertStats, SlaSection, WeeklyReport
from sentinel.reports.render import render_html, render_text
from sentinel.reports.send import build_email, subject_for
from sentinel.sla import ObsState, SlaObservation, analyse
from tests.mail_strict import inline_images_resolve

T0 = datetime(2026, 11, 16, tzinfo=UTC)


def report(description: str = "transaction data < 15 min") -> WeeklyReport:
    sla = SlaSpec.model_validate({"id": "tx", "check": "c", "threshold": "15m", "objective": 0.99,
                                  "description": description})
    obs = [SlaObservation("tx", T0 + timedelta(minutes=5 * i), ObsState.BREACH if 100 <= i < 106 else ObsState.MET,
                          1200.0 if 100 <= i < 106 else 60.0, "c", "<b>stale</b> & late") for i in range(2016)]
    window = analyse(sla, obs, T0, T0 + timedelta(days=7), now=T0 + timedelta(days=8))
    section = SlaSection(sla, window, None, [replace(b, root_cause=b.summary) for b in window.breaches])
    rep = WeeklyReport("2026-W47", T0, T0 + timedelta(days=7), T0 + timedelta(days=7, hours=9), [section], [],
                       AlertStats(0, {}, 0, 0, 0), "2026-W46")
    rep.charts["tx"] = b"\x89PNG\r\n\x1a\nfake"
    return rep


def test_multipart_alternative_with_related_html_and_charts() -> None:
    msg = build_email(report(), ReportSpec(to=["a@novapay.example"]), Settings(smtp_from="s@novapay.example"))
    assert msg.get_content_type() == "multipart/alternative"
    parts: Any = msg.get_payload()
    plain, related = parts
    assert plain.get_content_type() == "text/plain" and related.get_content_type() == "multipart/related"
    html, png = related.get_payload()
    assert html.get_content_type() == "text/html" and png.get_content_type() == "image/png"
    assert f'src="cid:{png["Content-ID"][1:-1]}"' in html.get_content()
    assert msg["From"] == "s@novapay.example" and msg["To"] == "a@novapay.example"
    assert "attainment 99.70%" in plain.get_content()  # 30 of 10,080 minutes in breach


def test_values_are_escaped_in_html_and_headers_cannot_be_injected() -> None:
    rep = report(description="<script>alert(1)</script>")
    html = render_html(rep)
    assert "<script>alert(1)" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;b&gt;stale&lt;/b&gt; &amp; late" in html  # the breach summary from the check, escaped
    assert "<script>alert(1)</script>" in render_text(rep)  # plain text is plain
    assert subject_for(rep, "Report {week}\r\nBcc: evil@example.com") == "Report 2026-W47 Bcc: evil@example.com"
    with pytest.raises(ValidationError, match="not a single email address"):
        ReportSpec(to=["a@novapay.example\r\nBcc: evil@example.com"])
    with pytest.raises(ValidationError, match="not a single email address"):
        ReportSpec(to=["a@novapay.example, b@novapay.example"])


def test_no_recipients_is_a_clear_error() -> None:
    from sentinel.errors import NotifyError

    with pytest.raises(NotifyError, match="no recipients"):
        build_email(report(), ReportSpec(), Settings())


def test_the_daemon_duty_is_scheduled_weekly_at_the_configured_time_and_once_at_start() -> None:
    from types import SimpleNamespace

    from sentinel.reports.weekly import WeeklyReportDuty

    jobs: dict[str, Any] = {}
    scheduler = SimpleNamespace(add_job=lambda func, trigger, job_id: jobs.__setitem__(job_id, trigger))
    app = SimpleNamespace(config=SimpleNamespace(spec=SimpleNamespace(report=ReportSpec(
        to=["a@novapay.example"], weekday="tuesday", at="07:30"))))
    WeeklyReportDuty(app).install(scheduler)
    wednesday = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    weekly = jobs["__weekly_report"]
    assert weekly.get_next_fire_time(None, wednesday) == datetime(2026, 12, 1, 7, 30, tzinfo=UTC)
    assert set(jobs) == {"__weekly_report", "__weekly_report_catch_up", "__weekly_report_retry"}
    assert jobs["__weekly_report_retry"].interval == timedelta(hours=1)


def test_chart_content_ids_stay_short_ascii_lines_that_a_strict_client_matches() -> None:
    """An 85-character SLA id once made a Content-ID that Python's email package folded into encoded-words."""
    rep = report()
    long_id = "merchant_analytics_freshness_for_the_executive_dashboard_in_eu_west_1_and_us_east_1_x"
    section = replace(rep.sections[0], sla=rep.sections[0].sla.model_copy(update={"id": long_id}))
    rep = replace(rep, sections=[section, rep.sections[0]], charts={long_id: b"\x89PNG 1", "tx": b"\x89PNG 2"})
    msg = build_email(rep, ReportSpec(to=["a@novapay.example"]), Settings(smtp_from="s@novapay.example"))
    cids = inline_images_resolve(msg.as_bytes())
    assert len(cids) == 2 and len(set(cids)) == 2 and all(len(c) < 40 for c in cids)
    again = inline_images_resolve(build_email(rep, ReportSpec(to=["a@novapay.example"]), Settings()).as_bytes())
    assert not set(again) & set(cids)  # unique per email: clients cache inline parts by Content-ID
