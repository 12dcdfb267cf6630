"""An idle daemon is quiet: with its checks passing it logs its start and nothing else, in text or JSON. (At INFO on
every logger APScheduler alone wrote 4 lines every 5 s, about 69,000 a day.)"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from devstack.postgres import PostgresService
from tests.e2e.daemon_util import base_env, start_daemon, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CONFIG = """
checks:
  - id: backlog
    kind: sql_threshold
    schedule: {every: 1s}
    labels: {table: payments.transactions, stage: postgres}
    params: {query: "SELECT 7", value_name: backlog_rows, warning: 100}
"""
RUNS = 30  # one check run a second: 30 runs span six rounds of every 5-second daemon job (tick, delivery, watchdog)
HANDFUL = 5


def check_runs(metrics: str) -> float:
    return sum(float(line.rsplit(" ", 1)[1]) for line in metrics.splitlines()
               if line.startswith("sentinel_check_runs_total{") and 'check="backlog"' in line)


@pytest.mark.parametrize("log_format", ["text", "json"])
def test_an_idle_daemon_logs_a_handful_of_lines(postgres: PostgresService, tmp_path: Path, log_format: str) -> None:
    postgres.create_database("idle_logs")
    (tmp_path / "alert_rules.yaml").write_text(CONFIG)
    env = base_env(tmp_path, SENTINEL_POSTGRES_DSN=postgres.monitor_dsn("idle_logs"), SENTINEL_LOG_FORMAT=log_format)
    daemon = start_daemon(f"idle-{log_format}", env, tmp_path, verbose=False)
    try:
        wait_for(lambda: check_runs(daemon.get("/metrics")[1]) >= RUNS, 120, f"{RUNS} check runs", daemon)
        lines = daemon.log().splitlines()
    finally:
        assert daemon.stop() == 0
    started_at = next(i for i, line in enumerate(lines) if "sentinel running: 1 checks" in line)
    idle = lines[started_at + 1:]
    # Before: APScheduler at INFO, 2 lines per job run, about 80 lines in these 30 seconds.
    assert len(idle) <= HANDFUL, "\n".join(idle)
    assert len(lines) <= 10, "\n".join(lines)
    if log_format == "json":
        records = [json.loads(line) for line in lines]  # every line one JSON object
        # A library may still warn (on a loaded machine APScheduler says once that a run was skipped); its INFO
        # chatter, two lines per job run, is gone.
        assert not [r for r in records if r["logger"].startswith("apscheduler") and r["level"] == "INFO"], lines
        started = records[started_at]
        assert started["logger"] == "sentinel.daemon" and started["level"] == "INFO" and started["time"]
    else:
        assert " INFO sentinel.daemon: sentinel running: 1 checks" in lines[started_at]
        assert not [line for line in lines if " INFO apscheduler" in line], "\n".join(lines)
