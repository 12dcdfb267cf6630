"""The dead man's switch: a healthy daemon pings the heartbeat endpoint; a stuck one stops pinging."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from sentinel.clock import FakeClock
from sentinel.compose_root import build_app
from sentinel.config.settings import Settings
from sentinel.scheduler import CheckScheduler


def test_heartbeat_pings_only_while_healthy(tmp_path: Path, httpserver: HTTPServer) -> None:
    (tmp_path / "rules.yaml").write_text("checks: []\n")
    httpserver.expect_request("/heartbeat/sentinel", method="POST").respond_with_data("ok")
    settings = Settings(config_file=tmp_path / "rules.yaml", state_path=tmp_path / "s.db",
                        heartbeat_url=httpserver.url_for("/heartbeat/sentinel"),
                        slack_token=SecretStr("xoxb-not-used-here"), slack_base_url=httpserver.url_for("/api/"))
    clock = FakeClock()
    app = build_app(settings, clock=clock)
    scheduler = CheckScheduler(app)
    scheduler._heartbeat()
    assert len(httpserver.log) == 1
    clock.advance(timedelta(minutes=2))
    scheduler._heartbeat()  # the scheduler has not ticked for 2 minutes: no ping, so the pager will page
    assert len(httpserver.log) == 1
    scheduler._tick()
    scheduler._heartbeat()
    assert len(httpserver.log) == 2
    app.close()
