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
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.base import free_port
from sentinel.clock import SystemClock
from sentinel.weeks import due_week, iso_week
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
    if due_week(SystemClock().now() + timedelta(seconds=60)) != week:
        time.sleep(61)  # Monday 09:00 UTC is less than a minute away: start after it, not across it
        week = due_week(SystemClock().now())
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
    cal = week.cal
    # A calendar in the future (the 2028 leap day) is looked at from its own "now", as a review would.
    proc = _cli(week, tmp_path, "report", "weekly", "--week", cal.week_b.lower(), "--at", cal.now.isoformat())
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    sunday = cal.week_c_start - timedelta(days=1)
    assert out.startswith(f"Sentinel weekly SLA report {cal.week_b} ({cal.week_b_start:%Y-%m-%d} to {sunday:%Y-%m-%d}, "
                          "UTC)\n1 of 3 SLAs missed: transactions_freshness\n")
    assert "== transactions_freshness: transaction data in Snowflake < 15 min [MISSED]" in out
    assert f"attainment 98.95% (-0.60 pp vs {cal.week_a}); breach 1h20m, unknown (no data) 25m" in out
    assert "error budget left: exhausted, over by 4m12s (budget 1h40m)" in out
    assert "freshness p50 5.0 min, p95 5.0 min, max 55.0 min (2009 observations)" in out
    bad = _cli(week, tmp_path, "report", "weekly", "--week", "2026-47")
    assert bad.returncode == 64 and "not an ISO week" in bad.stderr


def _sla_json(week: SimulatedWeek, tmp_path: Path, *args: str) -> dict[str, dict[str, Any]]:
    proc = _cli(week, tmp_path, "sla", "--format", "json", *args)
    assert proc.returncode == 0, proc.stderr
    rows = {r["sla"]: r for r in json.loads(proc.stdout)}
    assert set(rows) == {"transactions_freshness", "daily_aggregates_deadline", "merchant_analytics_freshness"}
    return rows


def test_sla_prints_the_week_so_far(week: SimulatedWeek, tmp_path: Path) -> None:
    # Week C has no observations of its own. Sunday 23:55's holds for max_gap (15 min), so Monday 00:00-00:10 is
    # met; everything after is unknown, never met. The current calendar asks with the real clock (no --at), the
    # others look from their own "now".
    cal = week.cal
    args = () if cal.name == "current" else ("--at", cal.now.isoformat())
    before = SystemClock().now() if cal.name == "current" else cal.now
    tx = _sla_json(week, tmp_path, *args)["transactions_freshness"]
    after = SystemClock().now() if cal.name == "current" else cal.now
    assert tx["week"] == iso_week(after)

    def met_at(moment: datetime) -> float:
        if iso_week(moment) != cal.week_c:  # the week turned since the fixture ran: nothing of it is measured
            return 0.0
        return min(600.0, (moment - cal.week_c_start).total_seconds())

    assert met_at(before) <= tx["met_seconds"] <= met_at(after)
    assert tx["breach_seconds"] == 0 and tx["unknown_seconds"] > 0
    assert tx["attainment"] == pytest.approx(tx["met_seconds"] / (tx["met_seconds"] + tx["unknown_seconds"]))
    assert tx["budget_left_seconds"] == pytest.approx(0.01 * 7 * 86400 - tx["unknown_seconds"])
    assert tx["burn"]["fast"] == {"long": None, "short": None, "firing": False}
    table = _cli(week, tmp_path, "sla", *args)
    assert table.returncode == 0 and "transactions_freshness" in table.stdout and "burn fast n/a/n/a" in table.stdout
    assert f"SLAs, week {tx['week']} so far" in table.stdout


def test_sla_shows_a_past_week_in_full_and_as_it_stood_mid_incident(week: SimulatedWeek, tmp_path: Path) -> None:
    cal = week.cal
    full = _sla_json(week, tmp_path, "--week", cal.week_b, "--at", cal.now.isoformat())["transactions_freshness"]
    # The same figures as the weekly report: 80 min breach, 25 min unknown, the rest met.
    assert (full["breach_seconds"], full["unknown_seconds"]) == (80 * 60, 25 * 60)
    assert full["met_seconds"] == 7 * 86400 - 105 * 60 and full["as_of"] == cal.week_c_start.isoformat()
    assert [(b["start"], b["seconds"]) for b in full["breaches"]] == [
        (cal.b(1, 9, 55).isoformat(), 35 * 60), (cal.b(3, 1, 55).isoformat(), 45 * 60)]
    # Twenty minutes into Tuesday's breach: 20 min of breach so far, and the fast burn-rate window firing.
    mid = _sla_json(week, tmp_path, "--at", f"{cal.b(1, 10, 15):%Y-%m-%dT%H:%M}")["transactions_freshness"]
    assert mid["week"] == cal.week_b and mid["breach_seconds"] == 20 * 60
    assert mid["burn"]["fast"]["firing"] is True
    table = _cli(week, tmp_path, "sla", "--week", cal.week_b, "--at", cal.now.isoformat())
    assert table.returncode == 0 and f"SLAs, week {cal.week_b} (" in table.stdout and "complete" in table.stdout
    future = _cli(week, tmp_path, "sla", "--week", cal.week_c, "--at", cal.week_b_start.isoformat())
    assert future.returncode == 4 and f"week {cal.week_c} starts" in future.stderr
    bad = _cli(week, tmp_path, "sla", "--at", "yesterday")
    assert bad.returncode == 64 and "'yesterday' is not a time" in bad.stderr


def test_status_at_a_past_moment_draws_the_pipeline_as_it_stood(week: SimulatedWeek, tmp_path: Path) -> None:
    cal = week.cal
    during = _cli(week, tmp_path, "status", "--format", "json", "--at", cal.b(1, 10, 15).isoformat())
    assert during.returncode == 2, during.stderr  # the exit code is the worst stage at that moment
    shown = json.loads(during.stdout)
    assert shown["as_of"] == cal.b(1, 10, 15).isoformat()
    tx = next(t for t in shown["tables"] if t["table"] == "payments.transactions")
    stages = {s["stage"]: s for s in tx["stages"]}
    assert stages["analytics"]["status"] == "critical"
    assert "ANALYTICS.FCT_TRANSACTIONS is 35m old" in stages["analytics"]["summary"]
    # The S3 sink alert of that morning was firing then (its check is not in this config, its alert is).
    assert [a["rule"] for a in stages["s3_sink"]["firing"]] == ["s3_sink_lag"]
    after = _cli(week, tmp_path, "status", "--format", "json", "--at", f"{cal.b(1, 11, 0):%Y-%m-%d %H:%M}")
    assert after.returncode == 0, after.stdout
    tx = next(t for t in json.loads(after.stdout)["tables"] if t["table"] == "payments.transactions")
    assert {s["stage"]: s["status"] for s in tx["stages"]}["analytics"] == "ok"
    assert all(not s["firing"] for s in tx["stages"])
    text = _cli(week, tmp_path, "status", "--at", cal.b(1, 10, 15).isoformat())
    assert f"as of {cal.b(1, 10, 15):%Y-%m-%d %H:%M:%S} UTC (looking back: --at)" in text.stdout


def test_report_weekly_send_refuses_a_week_already_sent_unless_forced(tmp_path: Path,
                                                                      smtp_tls_server: SmtpTlsServer) -> None:
    """By hand, twice: the second `--send` is refused with the first send's time and recipients; `--force` sends."""
    smtp_tls_server.clear()
    env = _daemon_env(tmp_path, smtp_tls_server)
    config = yaml.safe_load(Path(env["SENTINEL_CONFIG_FILE"]).read_text())
    config["report"]["cc"] = ["oncall-leads@novapay.example"]
    Path(env["SENTINEL_CONFIG_FILE"]).write_text(yaml.safe_dump(config))
    week = "2026-W01"  # long past: its report (empty here) is what is being re-sent, not what it says

    def send(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SENTINEL, "report", "weekly", "--week", week, "--send", *extra], env=env,
                              capture_output=True, text=True, timeout=60, check=False)

    first = send()
    assert first.returncode == 0, first.stderr
    assert "data-platform@novapay.example, oncall-leads@novapay.example" in first.stdout  # Cc logged too
    again = send()
    assert again.returncode == 1 and "already sent at" in again.stderr and "--force" in again.stderr
    forced = send("--force")
    assert forced.returncode == 0, forced.stderr
    got = smtp_tls_server.wait_for(2, timeout=5)
    assert [sorted(r.envelope_to) for r in got] == [["data-platform@novapay.example",
                                                     "oncall-leads@novapay.example"]] * 2
