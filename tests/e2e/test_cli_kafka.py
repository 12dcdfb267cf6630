"""`sentinel check --once` as on-call runs it against the real broker: lag in seconds on the first run, STALL once
the state store holds a window of samples (three runs, a 4-second window), and each row naming its runbook."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest

from devstack.kafka import KafkaService
from sentinel.clock import SystemClock
from tests.integration.kafka_util import commit, create_topic, live_consumer, produce, unique

pytestmark = pytest.mark.e2e
SENTINEL = str(Path(sys.executable).parent / "sentinel")

CONFIG = """
checks:
  - id: s3_sink_lag
    kind: kafka_consumer_lag
    schedule: {{every: 1m}}
    timeout: 20s
    labels: {{stage: s3_sink}}
    params:
      groups: [{group}]
      topics: ['{topic_regex}']
      window: 4s
      min_samples: 2
      lag_warn: 5m
      lag_critical: 15m
"""


def test_check_once_shows_lag_seconds_then_stall(kafka: KafkaService, tmp_path: Path) -> None:
    topic = create_topic(kafka.bootstrap, "cdc.payments." + unique("cli").replace(".", "_"), 2)
    group = unique("connect-s3-sink")
    written = SystemClock().now() - timedelta(minutes=20)
    for p in range(2):
        produce(kafka.bootstrap, topic, p, 20, written_at=written, step=timedelta(seconds=30))
    commit(kafka.bootstrap, group, {(topic, 0): 6, (topic, 1): 6})  # message 6 was written 17 minutes ago
    (tmp_path / "alert_rules.yaml").write_text(CONFIG.format(group=group, topic_regex=topic.replace(".", "\\.")))
    env = {**os.environ, "SENTINEL_CONFIG_FILE": str(tmp_path / "alert_rules.yaml"),
           "SENTINEL_STATE_PATH": str(tmp_path / "state.db"), "SENTINEL_SECRETS_DIR": str(tmp_path / "none"),
           "SENTINEL_KAFKA_BOOTSTRAP": kafka.bootstrap}

    def check_once(*extra: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SENTINEL, "check", "--once", "--no-notify", *extra], env=env, capture_output=True,
                              text=True, timeout=60, check=False)

    with live_consumer(kafka.bootstrap, group, topic, 2):
        first = check_once()
        assert first.returncode == 2, first.stderr
        assert "CRIT" in first.stdout and "kafka-consumer-lag" in first.stdout
        assert f"{group} on {topic}: lag 28 msgs, oldest unconsumed written 17m ago (oldest unconsumed > 15m)" \
            in first.stdout
        for _ in range(2):
            time.sleep(2.2)
            produce(kafka.bootstrap, topic, 0, 1)
            last = check_once("--format", "json")
    report = json.loads(last.stdout)
    [result] = report["results"]
    [finding] = result["findings"]
    assert finding["details"]["verdict"] == "STALL"
    assert finding["summary"].startswith(f"{group} on {topic}: STALL on 2/2 partitions: committed offset unchanged")
    assert finding["labels"]["table"] == topic.removeprefix("cdc.")
    assert result["runbook"].endswith("kafka-consumer-lag.md")
