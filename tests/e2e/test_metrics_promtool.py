"""/metrics of a real daemon, linted by Prometheus' own `promtool check metrics`, and holding the series the deploy/
dashboard and alert rules query: per check state as a label set, measured values with their unit in the name, Kafka
lag per group and topic, SLA attainment and budget, notification latency and failures per receiver, build and
process metrics."""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import timedelta

import pytest

from devstack.kafka import KafkaService
from devstack.postgres import PostgresService
from sentinel.clock import SystemClock
from tests.e2e.daemon_util import Daemon, base_env, start_daemon, wait_for
from tests.integration.kafka_util import commit, create_topic, live_consumer, produce, unique

pytestmark = [pytest.mark.e2e, pytest.mark.integration]

CONFIG = """
checks:
  - id: backlog_breach
    kind: sql_threshold
    schedule: {{every: 1s}}
    labels: {{stage: postgres}}
    params: {{query: "SELECT 500", value_name: backlog_rows, warning: 100, critical: 200}}
  - id: tx_age
    kind: sql_threshold
    schedule: {{every: 1s}}
    labels: {{stage: warehouse}}
    params: {{query: "SELECT 30", value_name: age_seconds, warning: 600}}
  - id: s3_sink_lag
    kind: kafka_consumer_lag
    schedule: {{every: 2s}}
    timeout: 20s
    labels: {{stage: s3_sink}}
    params:
      groups: [{group}]
      topics: ['{topic_regex}']
      lag_warn: 5m
      lag_critical: 15m
routes:
  - {{name: default, receivers: [console], group_wait: 0s, group_interval: 1s}}
slas:
  - {{id: transactions_freshness, check: tx_age, value: age_seconds, threshold: 15m, objective: 0.99, max_gap: 1m}}
"""


def promtool() -> str:
    path = shutil.which("promtool")
    assert path, "promtool is missing: scripts/bootstrap installs Debian's prometheus package, which has it"
    return path


def sample(text: str, name: str, **labels: str) -> float | None:
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if all(found.get(k) == v for k, v in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    return None


@pytest.fixture(scope="module")
def scraped(postgres: PostgresService, kafka: KafkaService,
            tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str, str]:
    tmp_path = tmp_path_factory.mktemp("metrics")
    postgres.create_database("metrics_e2e")
    topic = create_topic(kafka.bootstrap, "cdc.payments." + unique("metrics").replace(".", "_"), 2)
    group = unique("connect-s3-sink")
    for p in range(2):
        produce(kafka.bootstrap, topic, p, 10, written_at=SystemClock().now() - timedelta(minutes=20),
                step=timedelta(seconds=30))
    commit(kafka.bootstrap, group, {(topic, 0): 4, (topic, 1): 7})
    (tmp_path / "alert_rules.yaml").write_text(CONFIG.format(group=group, topic_regex=topic.replace(".", "\\.")))
    env = base_env(tmp_path, SENTINEL_POSTGRES_DSN=postgres.monitor_dsn("metrics_e2e"),
                   SENTINEL_KAFKA_BOOTSTRAP=kafka.bootstrap)
    with live_consumer(kafka.bootstrap, group, topic, 2):
        daemon: Daemon = start_daemon("metrics", env, tmp_path)
        try:
            def ready() -> bool:
                text = daemon.get("/metrics")[1]
                return (sample(text, "sentinel_kafka_consumer_lag_messages", topic=topic) is not None
                        and sample(text, "sentinel_notification_latency_seconds_count", receiver="console") is not None)

            wait_for(ready, 60, "Kafka lag series and a delivery to the console receiver", daemon)
            text = daemon.get("/metrics")[1]
        finally:
            assert daemon.stop() == 0, daemon.log()[-3000:]
    return text, group, topic


def test_promtool_finds_nothing_to_lint_in_a_real_scrape(scraped: tuple[str, str, str]) -> None:
    text, _, _ = scraped
    proc = subprocess.run([promtool(), "check", "metrics"], input=text, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode == 0 and not proc.stdout.strip() and not proc.stderr.strip(), proc.stdout + proc.stderr


def test_the_series_the_dashboard_and_rules_query(scraped: tuple[str, str, str]) -> None:
    text, group, topic = scraped
    # state as a label set; what a check measured, its unit in the name
    assert sample(text, "sentinel_check_state", check="backlog_breach", state="critical") == 1
    assert sample(text, "sentinel_check_state", check="backlog_breach", state="ok") == 0
    assert sample(text, "sentinel_measured_backlog_rows", check="backlog_breach", kind="sql_threshold") == 500
    assert sample(text, "sentinel_threshold_backlog_rows", check="backlog_breach", severity="critical") == 200
    assert "sentinel_check_value" not in text and "sentinel_check_status{" not in text  # the mixed-unit forms are gone
    # Kafka lag per group and topic, and the verdict as a label set
    assert sample(text, "sentinel_kafka_consumer_lag_messages", group=group, topic=topic) == 9  # (10-4) + (10-7)
    lag_seconds = sample(text, "sentinel_kafka_consumer_lag_seconds", group=group, topic=topic)
    assert lag_seconds is not None and 15 * 60 < lag_seconds < 25 * 60  # message 4 was written 18 minutes ago
    verdicts = {v: sample(text, "sentinel_kafka_consumer_lag_status", group=group, topic=topic, status=v)
                for v in ("OK", "STALL", "STOP")}
    assert sum(x or 0 for x in verdicts.values()) == 1
    # SLA: measured met all along (30 s < 15 min); the week's unknown time before the daemon started counts against it
    attainment = sample(text, "sentinel_sla_attainment_ratio", sla="transactions_freshness")
    assert attainment is not None and 0 < attainment <= 1
    assert sample(text, "sentinel_sla_objective_ratio", sla="transactions_freshness") == 0.99
    assert sample(text, "sentinel_sla_error_budget_remaining_seconds", sla="transactions_freshness") is not None
    # notifications, as Alertmanager exposes them
    assert (sample(text, "sentinel_notification_latency_seconds_count", receiver="console") or 0) >= 1
    assert sample(text, "sentinel_notifications_failed_total", receiver="console") == 0
    # who runs, and the process itself
    assert sample(text, "sentinel_build_info", version="0.1.0") == 1
    assert (sample(text, "process_resident_memory_bytes") or 0) > 0
    assert sample(text, "process_cpu_seconds_total") is not None


# Series that a real scrape of this single-replica daemon cannot hold: sentinel_leader exists with
# SENTINEL_STATE_DSN only (tests/e2e/test_ha_failover.py reads it).
ONLY_ELSEWHERE = {"sentinel_leader"}


def test_every_metric_the_rules_and_dashboard_query_is_exported(scraped: tuple[str, str, str]) -> None:
    import json

    import yaml

    from tests.unit.test_deploy_prometheus import DASHBOARD, RULES

    text, _, _ = scraped
    exported = {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}
    exported |= {re.sub(r"_(bucket|count|sum)$", "", n) for n in exported}
    exprs = [r["expr"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    exprs += [t["expr"] for p in json.loads(DASHBOARD.read_text())["panels"] for t in p.get("targets", [])]
    used = {m for e in exprs for m in re.findall(r"\b((?:sentinel|process)_[a-z_]+)", e)}
    missing = used - exported - ONLY_ELSEWHERE
    assert not missing, f"queried but not on /metrics: {sorted(missing)}"
