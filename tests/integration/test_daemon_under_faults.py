"""The daemon itself while its checks and its store fail: a check that segfaults, one that hangs inside C and one
that leaks memory each become that check's stored ERROR, the healthy check is stored OK on time, and the dead man's
switch keeps pinging; with the state store locked, handling a result fails loudly in the log and the daemon goes on.
The real scheduler, worker processes, SQLite store and an HTTP heartbeat endpoint; the faults come from ctypes."""

from __future__ import annotations

import sqlite3
import time
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import SecretStr
from pytest_httpserver import HTTPServer

from sentinel.compose_root import Wiring, build_app
from sentinel.config.settings import Settings
from sentinel.model import Status
from sentinel.scheduler import CheckScheduler
from tests.fakes.faulty_checks import FaultyCheck

pytestmark = pytest.mark.integration

RULES = """version: 1
checks:
  - {id: crashes, kind: faulty, timeout: 10s, schedule: {every: 1h}, params: {fault: segfault}}
  - {id: hangs, kind: faulty, timeout: 2s, schedule: {every: 1h}, params: {fault: hang_in_c}}
  - {id: leaks, kind: faulty, timeout: 30s, schedule: {every: 1h}, params: {fault: leak}}
  - {id: healthy, kind: faulty, timeout: 10s, schedule: {every: 1h}}
"""


def test_the_daemon_stores_each_faults_error_keeps_the_others_on_time_and_keeps_its_heartbeat(
        tmp_path: Path, httpserver: HTTPServer, caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "rules.yaml").write_text(RULES)
    httpserver.expect_request("/heartbeat/sentinel", method="POST").respond_with_data("ok")
    settings = Settings(config_file=tmp_path / "rules.yaml", state_path=tmp_path / "s.db",
                        heartbeat_url=httpserver.url_for("/heartbeat/sentinel"), check_memory_limit_mb=256,
                        slack_token=SecretStr("xoxb-not-used-here"), slack_base_url=httpserver.url_for("/api/"))
    app = build_app(settings, extra_checks={"faulty": FaultyCheck}, wiring=Wiring(daemon=True))
    scheduler = CheckScheduler(app)
    started = time.monotonic()
    scheduler.start()
    try:
        deadline = time.monotonic() + 45
        while len(app.store.latest_results()) < 4:
            assert time.monotonic() < deadline, app.store.latest_results().keys()
            time.sleep(0.2)
        latest = app.store.latest_results()
        assert latest["healthy"].status is Status.OK
        assert latest["healthy"].duration < timedelta(seconds=5)  # on time, not behind the hung or leaking one
        assert "check crashed: SIGSEGV in worker" in latest["crashes"].summary
        assert "did not finish within its 2s deadline; its worker process was killed" in latest["hangs"].summary
        assert "used more than its memory limit of 256 MiB" in latest["leaks"].summary
        assert {latest[c].status for c in ("crashes", "hangs", "leaks")} == {Status.ERROR}
        assert scheduler.check_health() and scheduler.problems == []
        scheduler._heartbeat()
        pings = len(httpserver.log)
        assert pings >= 1, "no heartbeat while checks crashed, hung and leaked"

        holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")  # a backup holding the store for longer than the busy timeout
        try:
            healthy = next(p for p in app.planned if p.id == "healthy")
            scheduler._run_check(healthy)  # must not raise: the daemon's job thread would die with it
            scheduler._tick()
            scheduler._heartbeat()
        finally:
            holder.rollback()
            holder.close()
        assert len(httpserver.log) == pings + 1, "the heartbeat stopped while the store was locked"
        assert any("is locked by another process" in r.getMessage() or "is locked by another process" in
                   str(r.exc_info[1] if r.exc_info else "") for r in caplog.records), caplog.text
    finally:
        scheduler.shutdown(drain=timedelta(seconds=5))
        app.close()
    assert time.monotonic() - started < 90
