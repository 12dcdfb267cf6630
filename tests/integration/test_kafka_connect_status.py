"""kafka_connect_status against a real Kafka Connect worker (FileStream connectors): running, failed for real
(with the Java trace), paused, missing, and an unreachable worker."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import requests
from pydantic import SecretStr
from sentinel_checks.kafka_connect_status import KafkaConnectStatusCheck, KafkaConnectStatusParams

from devstack.base import free_port
from devstack.kafka import KafkaConnectService, KafkaService
from sentinel.api import DictMemory, Status
from sentinel.clock import SystemClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from tests.integration.kafka_util import create_topic, produce, unique

pytestmark = pytest.mark.integration


def run(settings: Settings, timeout: float = 10, **params: Any) -> CheckResult:
    sources = Sources(settings)
    spec = CheckSpec(id="connectors", kind="kafka_connect_status", timeout=timedelta(seconds=timeout),
                     labels={"stage": "debezium"})
    runner = CheckRunner(sources, lambda _: DictMemory(), SystemClock(), Redactor.from_settings(settings))
    check = KafkaConnectStatusCheck(KafkaConnectStatusParams(**params))
    return runner.run_one(PlannedCheck(spec, check, "kafka-connect-task-failed"))


def put_connector(url: str, name: str, config: dict[str, str]) -> None:
    resp = requests.put(f"{url}/connectors/{name}/config", json={**config, "name": name}, timeout=30)
    assert resp.status_code in (200, 201), resp.text


def wait_state(url: str, name: str, predicate: Any, timeout: float = 60) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    last: dict[str, Any] = {}
    while time.monotonic() < deadline:
        resp = requests.get(f"{url}/connectors/{name}/status", timeout=5)
        if resp.status_code == 200:
            last = resp.json()
            if predicate(last):
                return last
        time.sleep(0.3)
    raise AssertionError(f"connector {name} never reached the expected state: {last}")


@pytest.fixture
def connectors(kafka: KafkaService, kafka_connect: KafkaConnectService, tmp_path: Path) -> Iterator[dict[str, str]]:
    """A healthy file source and a sink whose task fails for real on bad JSON input."""
    url = kafka_connect.url
    src_topic = create_topic(kafka.bootstrap, unique("cdc.connect.src"), 1)
    bad_topic = create_topic(kafka.bootstrap, unique("cdc.connect.bad"), 1)
    source_file = tmp_path / "source.txt"
    source_file.write_text("hello\n")
    names = {"source": unique("file-source").replace(".", "-"), "sink": unique("s3-sink").replace(".", "-")}
    put_connector(url, names["source"], {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
        "file": str(source_file), "topic": src_topic, "tasks.max": "1"})
    put_connector(url, names["sink"], {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "file": str(tmp_path / "sink.txt"), "topics": bad_topic, "tasks.max": "1",
        "value.converter": "org.apache.kafka.connect.json.JsonConverter",
        "value.converter.schemas.enable": "true"})
    # a payload without the schema envelope fails the JsonConverter: a real DataException in the task
    produce(kafka.bootstrap, bad_topic, 0, 1)
    wait_state(url, names["source"], lambda s: [t["state"] for t in s["tasks"]] == ["RUNNING"])
    wait_state(url, names["sink"], lambda s: [t["state"] for t in s["tasks"]] == ["FAILED"])
    yield names
    for name in names.values():
        requests.delete(f"{url}/connectors/{name}", timeout=10)


def test_failed_task_is_critical_with_its_trace(kafka_connect: KafkaConnectService, connectors: dict[str, str]) -> None:
    settings = Settings(kafka_connect_url=kafka_connect.url)
    result = run(settings, connectors=[connectors["source"], connectors["sink"]],
                 table_labels={connectors["sink"]: "payments.transactions"})
    assert result.status is Status.CRITICAL
    by_name = {f.labels["connector"]: f for f in result.findings}
    ok, failed = by_name[connectors["source"]], by_name[connectors["sink"]]
    assert ok.status is Status.OK and ok.summary == f"source connector {connectors['source']}: RUNNING, 1/1 tasks running"
    assert failed.status is Status.CRITICAL
    assert failed.summary.startswith(f"sink connector {connectors['sink']}: task 0 FAILED on 127.0.0.1:")
    # The real cause, not Connect's "Tolerance exceeded in error handler" wrapper
    assert "org.apache.kafka.connect.errors.DataException" in failed.summary, failed.summary
    assert "Tolerance exceeded" not in failed.summary
    assert failed.summary.endswith("(0/1 tasks running)")
    trace = failed.details["task_0_trace"]
    assert "Caused by: org.apache.kafka.connect.errors.DataException" in trace and "\tat org.apache" in trace
    assert failed.labels["table"] == "payments.transactions"
    assert result.summary.startswith("1 of 2 connectors not healthy: sink connector")


def test_paused_connector_warns_and_missing_one_is_critical(kafka_connect: KafkaConnectService,
                                                            connectors: dict[str, str]) -> None:
    url = kafka_connect.url
    assert requests.put(f"{url}/connectors/{connectors['source']}/pause", timeout=10).status_code == 202
    wait_state(url, connectors["source"], lambda s: s["connector"]["state"] == "PAUSED"
               and all(t["state"] == "PAUSED" for t in s["tasks"]))
    settings = Settings(kafka_connect_url=url)
    result = run(settings, connectors=[connectors["source"], "debezium-payments"])
    by_key = {f.key: f for f in result.findings}
    paused = by_key[f"connector/{connectors['source']}"]
    assert paused.status is Status.WARN and "connector PAUSED" in paused.summary and "task 0 PAUSED" in paused.summary
    missing = by_key["connector/debezium-payments"]
    assert missing.status is Status.CRITICAL
    assert missing.summary == f"connector debezium-payments does not exist on {url}"
    # regex selection: every connector of this test, healthy or not
    regex = run(settings, connectors=["file-source-.*", "s3-sink-.*"])
    assert {f.labels["connector"] for f in regex.findings} >= set(connectors.values())


def test_unreachable_worker_is_error_with_url_and_no_credentials() -> None:
    port = free_port()
    settings = Settings(kafka_connect_url=f"http://127.0.0.1:{port}", kafka_connect_username="sentinel",
                        kafka_connect_password=SecretStr("connect-pw-s3cr3t"))
    started = time.monotonic()
    result = run(settings, timeout=5)
    assert time.monotonic() - started < 5
    assert result.status is Status.ERROR
    assert f"Kafka Connect worker unreachable at http://127.0.0.1:{port}" in result.summary
    assert "connect-pw-s3cr3t" not in str(result.to_json())


def test_credentials_in_the_url_never_reach_the_result(kafka_connect: KafkaConnectService) -> None:
    port = kafka_connect.port
    settings = Settings(kafka_connect_url=f"http://admin:url-pw-s3cr3t@127.0.0.1:{port}")
    result = run(settings, connectors=["no-such-connector"])
    assert result.status is Status.CRITICAL
    assert f"does not exist on http://127.0.0.1:{port}" in result.summary
    assert "url-pw-s3cr3t" not in str(result.to_json())


def test_paused_connect_sink_group_is_stall_then_ok_after_resume(kafka: KafkaService, kafka_connect: KafkaConnectService,
                                                                 tmp_path: Path) -> None:
    """The real topology: a Connect sink's own consumer group `connect-<name>` watched by kafka_consumer_lag."""
    from sentinel_checks.kafka_consumer_lag import KafkaConsumerLagCheck, KafkaConsumerLagParams

    from tests.integration.kafka_util import Harness

    url = kafka_connect.url
    topic = create_topic(kafka.bootstrap, unique("cdc.payments.sinklag"), 2)
    name = unique("s3-sink").replace(".", "-")
    group = f"connect-{name}"
    for p in range(2):
        produce(kafka.bootstrap, topic, p, 10)
    put_connector(url, name, {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
                              "file": str(tmp_path / "sink.out"), "topics": topic, "tasks.max": "1"})
    h = Harness(KafkaConsumerLagCheck(KafkaConsumerLagParams(groups=[group], topics=[topic], window="5m")),
                Settings(kafka_bootstrap=kafka.bootstrap))
    source = h.sources.kafka()

    def committed() -> dict[tuple[str, int], int]:
        return source.committed_offsets([group], [(topic, 0), (topic, 1)], 5).get(group, {})

    try:
        deadline = time.monotonic() + 60
        while committed() != {(topic, 0): 10, (topic, 1): 10}:
            assert time.monotonic() < deadline, committed()
            time.sleep(0.5)
        assert h.run().findings[0].status is Status.OK

        assert requests.put(f"{url}/connectors/{name}/pause", timeout=10).status_code == 202
        wait_state(url, name, lambda s: [t["state"] for t in s["tasks"]] == ["PAUSED"])
        results = []
        for _ in range(3):
            produce(kafka.bootstrap, topic, 0, 5)
            h.advance(150)
            results.append(h.run())
        f = results[-1].findings[0]
        assert f.status is Status.CRITICAL, f.summary
        assert "STALL on 1/2 partitions" in f.summary and "consumer alive" in f.summary  # partition 1 got no data

        assert requests.put(f"{url}/connectors/{name}/resume", timeout=10).status_code == 202
        deadline = time.monotonic() + 60
        while committed().get((topic, 0)) != 25:
            assert time.monotonic() < deadline, committed()
            time.sleep(0.5)
        h.advance(60)
        assert h.run().findings[0].status is Status.OK
    finally:
        requests.delete(f"{url}/connectors/{name}", timeout=10)
