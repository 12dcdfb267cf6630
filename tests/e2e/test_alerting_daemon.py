"""The daemon's own delivery (`sentinel run`, one worker per receiver) against the API doubles and the real local
PostgreSQL: a page leaves while Slack is rate-limited, and a broken Slack token pages and shows in /readyz,
/metrics and `sentinel status`."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from devstack.postgres import PostgresService
from tests.e2e.daemon_util import SENTINEL, Daemon, base_env, start_daemon, wait_for
from tests.plugins.alerting import OPSGENIE_KEY, SLACK_TOKEN, AlertingFakes

pytestmark = pytest.mark.e2e

CONFIG = """
checks:
  - id: backlog_breach
    kind: sql_threshold
    schedule: {every: 1s}
    labels: {table: payments.transactions, stage: postgres}
    params: {query: "SELECT count(*) * 10 FROM backlog", value_name: backlog_rows, warning: 100, critical: 400}
routes:
  - {name: team, receivers: [slack], group_wait: 0s}
  - {name: oncall, receivers: [pager], min_severity: critical, group_wait: 0s}
"""


@pytest.fixture(scope="module")
def monitor_dsn(postgres: PostgresService) -> str:
    import psycopg

    dsn = postgres.create_database("alerting_e2e")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS backlog")
        conn.execute("CREATE TABLE backlog AS SELECT generate_series(1, 50) AS id")
    return postgres.monitor_dsn("alerting_e2e", ["public.backlog"])


@pytest.fixture
def daemon_env(tmp_path: Path, monitor_dsn: str, alerting_fakes: AlertingFakes) -> dict[str, str]:
    (tmp_path / "alert_rules.yaml").write_text(CONFIG)
    return base_env(tmp_path, SENTINEL_POSTGRES_DSN=monitor_dsn, SENTINEL_SLACK_TOKEN=SLACK_TOKEN,
                    SENTINEL_SLACK_BASE_URL=alerting_fakes.slack.base_url, SENTINEL_PAGER_BACKEND="opsgenie",
                    SENTINEL_OPSGENIE_API_KEY=OPSGENIE_KEY, SENTINEL_OPSGENIE_BASE_URL=alerting_fakes.opsgenie.base_url)


@pytest.fixture
def running() -> Iterator[list[Daemon]]:
    daemons: list[Daemon] = []
    yield daemons
    for d in daemons:
        d.stop()


def test_the_daemon_pages_within_2s_while_slack_is_rate_limited(daemon_env, alerting_fakes, running, tmp_path):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    slack.rate_limit(60, times=100)
    daemon = start_daemon("ratelimited", daemon_env, tmp_path)
    running.append(daemon)
    wait_for(lambda: slack.requests_seen > 0, 30, "the alert never reached Slack's queue", daemon, every=0.01)
    flushed = time.monotonic()  # Slack and the pager got their rows in the same flush
    wait_for(lambda: bool(genie.alerts), 10, "no page", daemon, every=0.01)
    assert time.monotonic() - flushed < 2.0
    assert slack.posts == [] and slack.requests_seen == 1  # Slack waits out Retry-After: 60 on its own


def test_a_broken_slack_token_pages_and_shows_in_readyz_metrics_and_status(daemon_env, alerting_fakes, running,
                                                                           tmp_path):
    genie = alerting_fakes.opsgenie
    env = {**daemon_env, "SENTINEL_SLACK_TOKEN": "xoxb-revoked-token-000"}
    daemon = start_daemon("badtoken", env, tmp_path)
    running.append(daemon)
    wait_for(lambda: "sentinel-receiver-slack" in genie.alerts, 30, "the broken token was not paged", daemon)
    code, ready = daemon.get("/readyz")
    assert code == 200 and "receiver slack is BROKEN" in ready and "invalid_auth" in ready
    _, metrics = daemon.get("/metrics")
    assert 'sentinel_receiver_broken{receiver="slack"} 1.0' in metrics
    status = subprocess.run([SENTINEL, "status"], env=env, capture_output=True, text=True, timeout=60, check=False)
    assert "WARNING: receiver slack is BROKEN" in status.stdout, status.stdout + status.stderr
    assert "xoxb-revoked-token-000" not in ready + metrics + status.stdout + status.stderr + daemon.log()
