"""The CLI and the daemon as a user runs them, against the real local PostgreSQL."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from devstack.base import free_port
from devstack.postgres import PostgresService

pytestmark = pytest.mark.e2e
SENTINEL = str(Path(sys.executable).parent / "sentinel")

CONFIG = """
checks:
  - id: backlog_ok
    kind: sql_threshold
    schedule: {{every: 1s}}
    labels: {{table: payments.transactions, stage: postgres}}
    params: {{query: "SELECT count(*) FROM backlog", value_name: backlog_rows, warning: 100, critical: 1000}}
  - id: backlog_breach
    kind: sql_threshold
    schedule: {{every: 2s}}
    params: {{query: "SELECT count(*) * 10 FROM backlog", value_name: backlog_rows, warning: 100, critical: 400}}
  - id: backlog_hangs
    kind: sql_threshold
    timeout: 1s
    schedule: {{cron: "* * * * *"}}
    params: {{query: "SELECT 1 FROM pg_sleep(20)", warning: 1}}
"""


@pytest.fixture(scope="module")
def env(postgres: PostgresService, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    import psycopg

    dsn = postgres.create_database("cli_e2e")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS backlog")
        conn.execute("CREATE TABLE backlog AS SELECT generate_series(1, 50) AS id")
    work = tmp_path_factory.mktemp("cli")
    (work / "alert_rules.yaml").write_text(CONFIG.format())
    return {
        **os.environ,
        "SENTINEL_CONFIG_FILE": str(work / "alert_rules.yaml"),
        "SENTINEL_STATE_PATH": str(work / "state.db"),
        "SENTINEL_POSTGRES_DSN": postgres.monitor_dsn("cli_e2e", ["public.backlog"]),
        "SENTINEL_SECRETS_DIR": str(work / "no-secrets"),
    }


def sentinel(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SENTINEL, *args], env=env, capture_output=True, text=True, timeout=timeout, check=False)


def test_check_once_prints_a_readable_table_and_exits_with_the_worst_status(env: dict[str, str]) -> None:
    started = time.monotonic()
    proc = sentinel(env, "check", "--once", "--no-notify")
    elapsed = time.monotonic() - started
    out = proc.stdout
    assert proc.returncode == 3, proc.stderr  # the hung query could not run -> 3 outranks critical
    lines = out.splitlines()
    assert lines[0].split() == ["STATUS", "CHECK", "VALUE", "RUNBOOK", "SUMMARY"]
    # cut at 1 s, by the session's statement_timeout or the runner's deadline, whichever fires first
    assert any(line.startswith("ERROR") and "backlog_hangs" in line and ("1s deadline" in line or "1s statement_timeout" in line)
               for line in lines)
    assert any(line.startswith("CRIT") and "backlog_breach" in line and "backlog_rows=500 (crit 400)" in line
               for line in lines)
    assert any(line.startswith("OK") and "backlog_ok" in line for line in lines)
    assert "3 checks: 1 ok, 0 warning, 1 critical, 1 could not run" in out
    assert "backlog_breach: https://" in out and "sql-threshold.md" in out
    assert elapsed < 20  # the three ran side by side; the 20 s sleep was cut at 1 s


def test_only_and_json_for_machines(env: dict[str, str]) -> None:
    proc = sentinel(env, "check", "--once", "--only", "backlog_ok", "--format", "json", "--no-notify")
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert payload["status"] == "ok" and payload["exit_code"] == 0
    [result] = payload["results"]
    assert result["check_id"] == "backlog_ok" and result["values"]["backlog_rows"] == 50
    assert result["labels"] == {"table": "payments.transactions", "stage": "postgres"}
    assert result["runbook"].endswith("/sql-threshold.md")


def test_only_with_an_unknown_id_is_a_usage_error_with_a_suggestion(env: dict[str, str]) -> None:
    proc = sentinel(env, "check", "--once", "--only", "backlog_okk", "--no-notify")
    assert proc.returncode == 64
    assert "no enabled check with id 'backlog_okk' (did you mean \"backlog_ok\"?)" in proc.stderr


def test_list_shows_schedules(env: dict[str, str]) -> None:
    proc = sentinel(env, "list")
    assert proc.returncode == 0, proc.stderr
    assert "backlog_breach" in proc.stdout and "every 2s" in proc.stdout and "cron '* * * * *' UTC" in proc.stdout
    assert "3 enabled check(s)" in proc.stdout


def test_validate_reports_every_error_and_exits_4(env: dict[str, str], tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("checks:\n  - id: x\n    kind: sql_threshhold\n  - id: y\n    kind: sql_threshold\n    timeout: 5\n"
                   "    params: {query: SELECT 1}\n")
    proc = sentinel(env, "validate", str(bad))
    assert proc.returncode == 4
    assert "3 configuration error(s)" in proc.stderr
    assert f"{bad}:3 at checks[0].kind" in proc.stderr and 'did you mean "sql_threshold"' in proc.stderr
    assert f"{bad}:6 at checks[1].timeout" in proc.stderr
    assert f"{bad}:7 at checks[1].params" in proc.stderr and "set `warning` and/or `critical`" in proc.stderr
    good = sentinel(env, "validate")
    assert good.returncode == 0 and "OK (3 checks" in good.stdout


def test_help_teaches_the_exit_codes(env: dict[str, str]) -> None:
    proc = sentinel(env, "check", "--help")
    assert "3  at least one check could not run" in proc.stdout and "4  bad configuration" in proc.stdout


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def test_daemon_runs_schedules_serves_metrics_and_stops_cleanly_on_sigterm(env: dict[str, str]) -> None:
    port = free_port()
    proc = subprocess.Popen([SENTINEL, "run", "--http-port", str(port), "--http-host", "127.0.0.1"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        body = ""
        while time.monotonic() < deadline:
            time.sleep(0.5)
            try:
                code, body = _get(port, "/metrics")
            except OSError:
                continue
            runs_ok = [ln for ln in body.splitlines() if ln.startswith('sentinel_check_runs_total{check="backlog_ok"')]
            if runs_ok and float(runs_ok[0].split()[-1]) >= 3:
                break
        assert 'sentinel_check_state{check="backlog_breach",kind="sql_threshold",state="critical"} 1.0' in body
        assert 'sentinel_check_state{check="backlog_breach",kind="sql_threshold",state="ok"} 0.0' in body
        assert 'sentinel_measured_backlog_rows{check="backlog_ok",kind="sql_threshold"} 50.0' in body
        assert 'sentinel_check_duration_seconds_count{check="backlog_ok",kind="sql_threshold"}' in body
        assert "sentinel_check_last_run_timestamp_seconds{check=" in body
        assert 'sentinel_check_errors_total{check="backlog_hangs",kind="sql_threshold"} 1.0' in body
        runs = [ln for ln in body.splitlines() if ln.startswith('sentinel_check_runs_total{check="backlog_ok"')]
        assert float(runs[0].split()[-1]) >= 3, "the 1 s schedule ran repeatedly"
        assert _get(port, "/healthz") == (200, "ok\n")
        code, ready = _get(port, "/readyz")
        assert code == 200 and "3 checks" in ready
    finally:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        _out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert time.monotonic() - started < 10
    assert "received SIGTERM; draining" in err and "stopped" in err


def test_alerts_go_out_through_the_console_notifier_and_json_stays_parseable(env: dict[str, str]) -> None:
    proc = sentinel(env, "check", "--once", "--only", "backlog_breach", "--format", "json")
    assert proc.returncode == 2, proc.stderr
    assert json.loads(proc.stdout)["results"][0]["status"] == "critical"
    assert "would notify [console]" in proc.stderr
    assert "runbooks/sql-threshold.md" in proc.stderr and "sentinel silence add" in proc.stderr
