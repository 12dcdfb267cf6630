"""Two real `sentinel run` replicas on one PostgreSQL state store: one leader (advisory lock) runs checks and
pages; the leader is killed with SIGKILL; the follower takes over within 30 s and does not page again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.postgres import PostgresService
from tests.e2e.daemon_util import Daemon, base_env, start_daemon, wait_for
from tests.fakes.alerting_apis import FakePagerDuty

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

ROUTING_KEY = "pdHAroutingkey0123456789abcdefab"
CONFIG = """
checks:
  - id: payouts_backlog
    kind: sql_threshold
    schedule: {every: 1s}
    timeout: 5s
    labels: {table: payments.transactions, stage: postgres}
    params: {query: "SELECT count(*) FROM backlog", value_name: backlog_rows, warning: 100, critical: 500}
routes:
  - name: page
    receivers: [pager]
    min_severity: critical
    group_by: [stage]
    group_wait: 0s
    group_interval: 1m
"""


def fresh_database(postgres: PostgresService, name: str) -> str:
    with psycopg.connect(postgres.dsn(), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return postgres.create_database(name)


def results_count(state_dsn: str) -> int:
    with psycopg.connect(state_dsn, autocommit=True) as conn:
        row = conn.execute("SELECT count(*) FROM check_results").fetchone()
        return int(row[0]) if row else 0


def role(d: Daemon) -> str:
    code, body = d.get("/readyz")
    return "leader" if code == 200 and "role leader" in body else "follower" if "role follower" in body else "?"


def test_one_leader_pages_once_and_the_follower_takes_over_after_kill_9(
        postgres: PostgresService, httpserver: Any, tmp_path: Path) -> None:
    source = fresh_database(postgres, "ha_source")
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute("CREATE TABLE backlog AS SELECT generate_series(1, 1000) AS id")  # 1000 > critical 500
    state_dsn = fresh_database(postgres, "ha_state")
    pager = FakePagerDuty(httpserver, ROUTING_KEY)
    (tmp_path / "alert_rules.yaml").write_text(CONFIG)
    monitor = postgres.monitor_dsn("ha_source", ["public.backlog"])
    env = base_env(tmp_path, SENTINEL_STATE_DSN=state_dsn, SENTINEL_POSTGRES_DSN=monitor,
                   SENTINEL_PAGER_BACKEND="pagerduty", SENTINEL_PAGERDUTY_ROUTING_KEY=ROUTING_KEY,
                   SENTINEL_PAGERDUTY_BASE_URL=pager.base_url)

    a = start_daemon("replica-a", env, tmp_path)
    b: Daemon | None = None
    try:
        wait_for(lambda: role(a) == "leader", 15, "replica-a did not become leader", a)
        b = start_daemon("replica-b", env, tmp_path)
        wait_for(lambda: role(b) == "follower", 15, "replica-b did not report follower", a, b)

        # the leader measures, judges and pages once
        wait_for(lambda: len(pager.events) >= 1, 30, "no page from the leader", a, b)
        assert pager.events[0]["event_action"] == "trigger"
        assert pager.events[0]["dedup_key"] and "backlog" in pager.events[0]["payload"]["summary"]
        assert "sentinel_leader 1.0" in a.get("/metrics")[1]
        assert "sentinel_leader 0.0" in b.get("/metrics")[1]
        assert "role follower" in b.get("/readyz")[1] and b.get("/readyz")[0] == 200  # a follower is ready
        # both serve the status page from the shared store; it says which replica answered
        page_b = b.get("/")[1]
        assert "<b class=role>follower replica</b>" in page_b and 'data-stage="postgres" data-status="critical"' in page_b

        # a follower does not run checks (its run counter has no sample), the leader does
        assert 'sentinel_check_runs_total{check="payouts_backlog"' in a.get("/metrics")[1]
        assert 'sentinel_check_runs_total{check="payouts_backlog"' not in b.get("/metrics")[1]
        before = results_count(state_dsn)

        a.kill9()
        took = wait_for(lambda: role(b) == "leader", 30, "replica-b did not take over after kill -9", b)
        print(f"\nfailover after kill -9: replica-b leader in {took:.1f}s")
        assert took < 30
        # the new leader runs the check (still critical) and its delivery loop (every 5 s) runs twice ...
        wait_for(lambda: results_count(state_dsn) >= before + 8, 30, "new leader runs no checks", b)
        # ... and does not page again: the alert state is shared, the incident is already open
        assert len(pager.events) == 1, pager.events
        assert pager.incidents == {pager.events[0]["dedup_key"]: "triggered"}
        assert "sentinel_leader 1.0" in b.get("/metrics")[1]
        assert 'sentinel_check_runs_total{check="payouts_backlog"' in b.get("/metrics")[1]
    finally:
        if b is not None:
            assert b.stop() == 0, b.log()[-3000:]
        a.stop()
