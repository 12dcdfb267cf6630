"""A check's real results taken through the real alerting pipeline (to contract-checking Slack and pager fakes) into
the state store, and the weekly report built from that store: what on-call was told is what the report lists."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from sentinel.clock import FakeClock
from sentinel.config.spec import SentinelConfig
from sentinel.model import CheckResult
from sentinel.reports.model import WeeklyReport, build_weekly_report
from sentinel.reports.render import render_html, render_text
from sentinel.sla_ledger import SlaLedger
from sentinel.weeks import iso_week


def weekly_report_after(make_pipeline: Callable[..., Any], results: list[CheckResult],
                        checks: list[dict[str, Any]]) -> tuple[WeeklyReport, str, str]:
    """(report, text, html) of the week of the results, after the pipeline announced them."""
    config = SentinelConfig.model_validate({"checks": checks})
    harness = make_pipeline(config)
    harness.clock = FakeClock(results[0].observed_at)
    pipeline = harness.build()
    pipeline.process(results)
    pipeline.deliver_due()
    store = harness.stores[-1]
    harness.clock.advance(timedelta(minutes=10))  # the report is made a little later
    now = harness.clock.now()
    report = build_weekly_report(config, SlaLedger([], store, harness.clock), store, iso_week(now), now)
    return report, render_text(report), render_html(report)
