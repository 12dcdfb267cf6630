"""`sentinel report weekly --send` by hand after the daemon sent the week: refused unless --force, and a forced
re-send keeps the first send time and logs every recipient. Real SQLite store, real aiosmtpd with STARTTLS."""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import pytest
import yaml

from sentinel.clock import FakeClock
from sentinel.compose_root import Wiring, build_app
from sentinel.config.settings import Settings
from sentinel.reports.weekly import ReportAlreadySent, WeeklyReportDuty, send_by_hand
from sentinel.weeks import week_bounds
from tests.plugins.smtp import SmtpTlsServer

pytestmark = pytest.mark.integration
W53_END = week_bounds("2026-W53")[1]  # Monday 2027-01-04: the W53 report is due at 09:00
EVERYONE = ["data-platform@novapay.example", "cfo-office@novapay.example", "oncall-leads@novapay.example"]


def test_a_manual_resend_needs_force_and_logs_every_recipient(tmp_path: Path, smtp_tls_server: SmtpTlsServer,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    smtp_tls_server.clear()
    config = {"checks": [], "report": {"to": EVERYONE[:2], "cc": EVERYONE[2:], "from": "sentinel@novapay.example"}}
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(config))
    clock = FakeClock(W53_END + timedelta(hours=9))
    app = build_app(Settings(config_file=tmp_path / "rules.yaml", state_path=tmp_path / "state.db",
                             **smtp_tls_server.settings()), clock=clock, wiring=Wiring(metrics=False, alerting=False))
    try:
        assert WeeklyReportDuty(app).run_once() == "2026-W53"  # the daemon, on time
        (daemon_sent,) = app.store.report_log("2026-W53")
        clock.advance(timedelta(hours=1))
        with pytest.raises(ReportAlreadySent, match=r"already sent at 2027-01-04 09:00 UTC .*--force"):
            send_by_hand(app, "2026-W53", clock.now())
        assert len(smtp_tls_server.wait_for(2, timeout=1)) == 1  # nothing went out
        with caplog.at_level(logging.WARNING, logger="sentinel.report"):
            send_by_hand(app, "2026-W53", clock.now(), force=True)
        got = smtp_tls_server.wait_for(2)
        assert [sorted(r.envelope_to) for r in got] == [sorted(EVERYONE)] * 2
        (entry,) = app.store.report_log("2026-W53")
        assert entry.sent_at == daemon_sent.sent_at == W53_END + timedelta(hours=9)  # the first send stays on record
        assert "re-sent 2027-01-04 10:00 UTC with --force" in entry.detail
        assert all(address in entry.detail for address in EVERYONE)
        assert all(address in caplog.text for address in EVERYONE) and "again (--force)" in caplog.text
    finally:
        app.close()


def test_a_failed_manual_send_leaves_the_week_to_the_daemon(tmp_path: Path, smtp_tls_server: SmtpTlsServer) -> None:
    from sentinel.errors import NotifyError

    smtp_tls_server.clear()
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump({"checks": [], "report": {"to": EVERYONE[:1]}}))
    clock = FakeClock(W53_END + timedelta(hours=8))  # before the daemon's Monday 09:00
    settings = {"config_file": tmp_path / "rules.yaml", "state_path": tmp_path / "state.db",
                **smtp_tls_server.settings()}
    wrong = build_app(Settings(**{**settings, "smtp_password": "WRONG-9"}), clock=clock, wiring=Wiring(metrics=False,
                      alerting=False))
    with pytest.raises(NotifyError):
        send_by_hand(wrong, "2026-W53", clock.now())
    assert [e.status for e in wrong.store.report_log("2026-W53")] == ["failed"]
    wrong.close()
    clock.advance(timedelta(hours=1))
    app = build_app(Settings(**settings), clock=clock, wiring=Wiring(metrics=False, alerting=False))
    try:
        assert WeeklyReportDuty(app).run_once() == "2026-W53"  # not blocked by a claim the failed send left
        assert len(smtp_tls_server.wait_for(1)) == 1
    finally:
        app.close()
