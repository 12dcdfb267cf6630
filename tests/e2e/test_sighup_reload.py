"""SIGHUP makes a running `sentinel run` re-read alert_rules.yaml: a broken file is rejected with every error and the
old checks keep running; a valid file replaces the jobs (removed checks stop, new ones start at once)."""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest

from devstack.postgres import PostgresService
from tests.e2e.daemon_util import Daemon, base_env, start_daemon, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

OLD = """
checks:
  - id: old_backlog
    kind: sql_threshold
    schedule: {every: 1s}
    labels: {table: payments.transactions, stage: postgres}
    params: {query: "SELECT 7", value_name: backlog_rows, warning: 100}
"""
BROKEN = """
checks:
  - id: old_backlog
    kind: sql_threshhold
    schedule: {every: 1s}
    params: {query: "SELECT 7", warning: 100}
  - id: second
    kind: sql_threshold
    timeout: 5
    params: {query: "SELECT 1"}
"""
NEW = """
checks:
  - id: new_backlog
    kind: sql_threshold
    schedule: {every: 1s}
    labels: {table: payments.transactions, stage: postgres}
    params: {query: "SELECT 9", value_name: backlog_rows, warning: 100}
"""


def sighup_dsn(postgres: PostgresService) -> str:
    postgres.create_database("sighup_e2e")
    return postgres.monitor_dsn("sighup_e2e")  # the checks read no table: the role needs no SELECT grant


def runs(d: Daemon, check_id: str) -> float:
    total = 0.0
    for line in d.get("/metrics")[1].splitlines():
        if line.startswith("sentinel_check_runs_total{") and f'check="{check_id}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def reloads(d: Daemon, result: str) -> float:
    m = re.search(rf'^sentinel_config_reloads_total{{result="{result}"}} (\S+)$', d.get("/metrics")[1], re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def test_sighup_rejects_a_broken_config_and_applies_a_valid_one(postgres: PostgresService, tmp_path: Path) -> None:
    config = tmp_path / "alert_rules.yaml"
    config.write_text(OLD)
    env = base_env(tmp_path, SENTINEL_POSTGRES_DSN=sighup_dsn(postgres))
    d = start_daemon("reload", env, tmp_path)
    try:
        wait_for(lambda: runs(d, "old_backlog") >= 2, 20, "old check never ran", d)

        config.write_text(BROKEN)
        d.signal(signal.SIGHUP)
        wait_for(lambda: reloads(d, "rejected") == 1, 15, "broken config not rejected", d)
        log = d.log()
        assert "config reload rejected; still running the previous config (1 checks)" in log
        assert f"{config}:4 at checks[0].kind" in log and 'did you mean "sql_threshold"' in log  # every error,
        assert f"{config}:9 at checks[1].timeout" in log  # with file:line
        before = runs(d, "old_backlog")
        wait_for(lambda: runs(d, "old_backlog") >= before + 2, 15, "old check stopped after a rejected reload", d)
        assert d.alive() and d.get("/healthz")[0] == 200
        assert "ready: 1 checks" in d.get("/readyz")[1]

        config.write_text(NEW)
        d.signal(signal.SIGHUP)
        wait_for(lambda: reloads(d, "applied") == 1, 15, "valid config not applied", d)
        wait_for(lambda: runs(d, "new_backlog") >= 2, 15, "new check never ran", d)
        assert "added: new_backlog; removed: old_backlog" in d.log()
        stopped_at = runs(d, "old_backlog")
        time.sleep(2.5)
        assert runs(d, "old_backlog") == stopped_at  # its job is gone
        metrics = d.get("/metrics")[1]
        assert 'sentinel_check_state{check="old_backlog"' not in metrics  # and its gauges with it
        assert 'sentinel_measured_backlog_rows{check="old_backlog"' not in metrics
        assert 'sentinel_check_last_run_timestamp_seconds{check="old_backlog"' not in metrics
        assert 'sentinel_check_state{check="new_backlog"' in metrics
        assert 'sentinel_measured_backlog_rows{check="new_backlog"' in metrics
        assert "ready: 1 checks" in d.get("/readyz")[1]
        assert d.get("/healthz")[0] == 200
    finally:
        assert d.stop() == 0, d.log()[-3000:]


def post(d: Daemon, path: str, token: str | None = None) -> tuple[int, str]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"http://127.0.0.1:{d.port}{path}", method="POST", data=b"")
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=30) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_post_reload_is_sighup_over_http(postgres: PostgresService, tmp_path: Path) -> None:
    """As Prometheus and Alertmanager: POST /-/reload. Same outcome as SIGHUP, answered in the HTTP status."""
    config = tmp_path / "alert_rules.yaml"
    config.write_text(OLD)
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "reload_token").write_text("s3cret-reload-token\n")
    env = base_env(tmp_path, SENTINEL_POSTGRES_DSN=sighup_dsn(postgres), SENTINEL_SECRETS_DIR=str(secrets))
    d = start_daemon("post-reload", env, tmp_path)
    try:
        wait_for(lambda: runs(d, "old_backlog") >= 1, 20, "old check never ran", d)
        assert d.get("/-/reload")[0] == 405  # a GET (a crawler, a curious browser) never reloads

        config.write_text(BROKEN)
        code, body = post(d, "/-/reload")  # loopback: allowed without the token
        assert code == 500 and "previous config keeps running" in body
        assert reloads(d, "rejected") == 1 and f"{config}:4 at checks[0].kind" in d.log()

        config.write_text(NEW)
        code, body = post(d, "/-/reload", token="not-the-token")  # a token, but the wrong one: refused, even here
        assert code == 403 and "wrong reload token" in body and reloads(d, "applied") == 0
        code, body = post(d, "/-/reload", token="s3cret-reload-token")
        assert (code, body) == (200, "config reloaded\n")
        assert reloads(d, "applied") == 1
        wait_for(lambda: runs(d, "new_backlog") >= 1, 15, "new check never ran", d)
        assert "added: new_backlog; removed: old_backlog" in d.log()
        assert "s3cret-reload-token" not in d.log()
    finally:
        assert d.stop() == 0, d.log()[-3000:]
