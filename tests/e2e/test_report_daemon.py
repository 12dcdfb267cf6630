"""The daemon as deployed: `sentinel run` with report recipients sends the report of the week whose Monday 09:00
it missed (it was not running then) as soon as it starts, over SMTP with STARTTLS and login; a restart does not
send it again. Real clock, real processes, the aiosmtpd server of tests/plugins/smtp.py.
Also `sentinel sla` and `sentinel report weekly` (text) against the simulated fortnight's state."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from devstack.base import free_port
from sentinel.clock import SystemClock
from sentinel.weeks import due_week
from tests.integration.sla_week import SimulatedWeek
from tests.plugins.smtp import SmtpTlsServer

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
SENTINEL = str(ROOT / ".venv" / "bin" / "sentinel")


def _daemon_env(tmp_path: Path, smtp: SmtpTlsServer) -> dict[str, str]:
    config = {
        "checks": [],
        "report": {"to": ["data-platform@novapay.example"], "from": "sentinel@novapay.example"},
    }
    (tmp_path / "rules.yaml").write_text(yaml.safe_dump(config))
    settings = smtp.settings()
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")},
        "SENTINEL_CONFIG_FILE": str(tmp_path / "rules.yaml"),
        "SENTINEL_STATE_PATH": str(tmp_path / "state.db"),
        "SENTINEL_SECRETS_DIR": str(tmp_path / "no-secrets"),
        "SENTINEL_SMTP_HOST": settings["smtp_host"], "SENTINEL_SMTP_PORT": str(settings["smtp_port"]),
        "SENTINEL_SMTP_USERNAME": settings["smtp_username"], "SENTINEL_SMTP_PASSWORD": settings["smtp_password"],
        "SENTINEL_SMTP_CA_FILE": str(settings["smtp_ca_file"]),
    }


def _run_daemon_until(env: dict[str, str], marker: str, timeout: float = 40) -> str:
    log = Path(env["SENTINEL_STATE_PATH"]).with_suffix(f".{time.monotonic_ns()}.log")
    with log.open("w") as err:
        proc = subprocess.Popen([SENTINEL, "run", "--http-port", str(free_port()), "--http-host", "127.0.0.1"],
                                env=env, stdout=subprocess.DEVNULL, stderr=err, text=True)
        try:
            deadline = time.monotonic() + timeout
            while time.monotonic() < deadline and marker not in log.read_text() and proc.poll() is None:
                time.sleep(0.2)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
    text = log.read_text()
    assert marker in text, f"daemon never logged {marker!r}:\n{text[-3000:]}"
    assert proc.returncode == 0, text[-3000:]
    return text


def test_daemon_sends_the_missed_weekly_report_on_start_and_never_twice(tmp_path: Path,
                                                                       smtp_tls_server: SmtpTlsServer) -> None:
    smtp_tls_server.clear()
    env = _daemon_env(tmp_path, smtp_tls_server)
    week = due_week(SystemClock().now())  # the newest week whose Monday 09:00 UTC has passed
    first = _run_daemon_until(env, f"weekly report {week} sent")
    assert "weekly SLA report scheduled monday 09:00 UTC" in first
    second = _run_daemon_until(env, f"weekly report {week}: already sent")
    assert "sent:" not in second
    got = smtp_tls_server.wait_for(1, timeout=2)
    assert [r.message["X-Sentinel-Report"] for r in got] == [week]
    assert got[0].tls and got[0].login == smtp_tls_server.username
    assert smtp_tls_server.password not in first + second


def _cli(week: SimulatedWeek, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SENTINEL_CONFIG_FILE": str(week.cli_config_path),
           "SENTINEL_STATE_PATH": str(week.copy_state(tmp_path / "state.db"))}
    return subprocess.run([SENTINEL, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


def test_report_weekly_prints_the_text_report(week: SimulatedWeek, tmp_path: Path) -> None:
    proc = _cli(week, tmp_path, "report", "weekly", "--week", "2026-w47")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert out.startswith("Sentinel weekly SLA report 2026-W47 (2026-11-16 to 2026-11-22, UTC)\n"
                          "1 of 3 SLAs missed: transactions_freshness\n")
    assert "== transactions_freshness: transaction data in Snowflake < 15 min [MISSED]" in out
    assert "attainment 98.96% (-0.60 pp vs 2026-W46); breach 1h20m, unknown (no data) 25m" in out
    assert "error budget left: exhausted, over by 4m12s (budget 1h40m)" in out
    assert "freshness p50 5.0 min, p95 5.0 min, max 55.0 min (2009 observations)" in out
    bad = _cli(week, tmp_path, "report", "weekly", "--week", "2026-47")
    assert bad.returncode == 2 and "not an ISO week" in bad.stderr


def test_sla_prints_the_week_so_far(week: SimulatedWeek, tmp_path: Path) -> None:
    # The real clock is past the simulated weeks: this week has no observations of its own. Sunday 23:55's holds
    # for max_gap (15 min), so Monday 00:00-00:10 is met; everything after is unknown, never met.
    proc = _cli(week, tmp_path, "sla", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rows = {r["sla"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"transactions_freshness", "daily_aggregates_deadline", "merchant_analytics_freshness"}
    tx = rows["transactions_freshness"]
    assert tx["met_seconds"] == 600 and tx["breach_seconds"] == 0 and tx["unknown_seconds"] > 0
    assert tx["attainment"] == pytest.approx(600 / (600 + tx["unknown_seconds"]))
    assert tx["budget_left_seconds"] == pytest.approx(0.01 * 7 * 86400 - tx["unknown_seconds"])
    assert tx["burn"]["fast"] == {"long": None, "short": None, "firing": False}
    table = _cli(week, tmp_path, "sla")
    assert table.returncode == 0 and "transactions_freshness" in table.stdout and "burn fast n/a/n/a" in table.stdout
