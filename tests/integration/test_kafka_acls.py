"""deploy/grants/kafka-acls.sh is sufficient and no stronger than needed, proven on a broker that denies by default.

The broker authenticates with SASL/PLAIN and authorizes with KRaft's StandardAuthorizer
(`allow.everyone.if.no.acl.found=false`). The shipped script is run unmodified through Kafka's own AclCommand.
The lag check and `doctor`'s Kafka probe then run as `User:sentinel`: they measure. The same principal cannot
write, commit a group's offsets, join a group, or create or delete a topic. Each ACL line of the script is needed:
without it, the check says which permission is missing.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka.admin import (
    AclBindingFilter,
    AclOperation,
    AclPermissionType,
    AdminClient,
    NewTopic,
    ResourcePatternType,
    ResourceType,
)
from pydantic import SecretStr
from sentinel_checks.kafka_consumer_lag import KafkaConsumerLagCheck, KafkaConsumerLagParams

from devstack.kafka import KafkaService
from devstack.kafka_secured import ADMIN, admin_properties, kafka_acls_command, sasl_client_config, start_secured_kafka
from sentinel.api import SourceError, Status
from sentinel.config.settings import Settings
from tests.integration.kafka_util import Harness

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
GRANTS = ROOT / "deploy" / "grants" / "kafka-acls.sh"
SENTINEL_USER = ("sentinel", "sentinel-kafka-pw-7d1e")
TOPIC = "cdc.payments.transactions"
GROUP = "connect-s3-sink"


@pytest.fixture(scope="module")
def broker() -> Iterator[KafkaService]:
    svc = start_secured_kafka({SENTINEL_USER[0]: SENTINEL_USER[1]})
    yield svc
    svc.cleanup()


def as_admin(svc: KafkaService) -> dict[str, Any]:
    return {"bootstrap.servers": svc.bootstrap, **sasl_client_config(*ADMIN)}


def as_sentinel(svc: KafkaService) -> dict[str, Any]:
    return {"bootstrap.servers": svc.bootstrap, **sasl_client_config(*SENTINEL_USER)}


@pytest.fixture(scope="module")
def pipeline(broker: KafkaService) -> KafkaService:
    """What Debezium and the S3 sink leave behind: a CDC topic with messages and a group 4 messages in."""
    with AdminClient(as_admin(broker)) as admin:
        for f in admin.create_topics([NewTopic(TOPIC, 2, 1)], request_timeout=20).values():
            f.result(timeout=30)
    producer = Producer({**as_admin(broker), "linger.ms": 5})
    for i in range(10):
        producer.produce(TOPIC, value=b'{"op": "c"}', partition=i % 2)
    assert producer.flush(20) == 0
    consumer = Consumer({**as_admin(broker), "group.id": GROUP, "enable.auto.commit": False})
    try:
        consumer.commit(offsets=[TopicPartition(TOPIC, 0, 2), TopicPartition(TOPIC, 1, 2)], asynchronous=False)
    finally:
        consumer.close()
    return broker


def apply_grants(svc: KafkaService, tmp: Path, script: Path = GRANTS) -> None:
    kafka_acls_command(tmp / "bin")
    env = {**os.environ, "PATH": f"{tmp / 'bin'}:{os.environ['PATH']}", "BOOTSTRAP": svc.bootstrap,
           "ADMIN_CONFIG": str(admin_properties(tmp / "admin.properties"))}
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr


def test_no_cluster_wide_acl_is_granted() -> None:
    # ListGroups answers with the groups the principal may DESCRIBE, so Cluster:DESCRIBE would only widen the grant.
    assert "--cluster" not in "\n".join(line for line in GRANTS.read_text().splitlines() if line.startswith("acl "))


def remove_all_acls(svc: KafkaService) -> None:
    everything = AclBindingFilter(ResourceType.ANY, None, ResourcePatternType.ANY, None, None, AclOperation.ANY,
                                  AclPermissionType.ANY)
    with AdminClient(as_admin(svc)) as admin:
        for f in admin.delete_acls([everything], request_timeout=20).values():
            f.result(timeout=30)
        left = admin.describe_acls(everything, request_timeout=20).result(timeout=30)
    assert not left, left
    time.sleep(1)


def lag_result(svc: KafkaService) -> Any:
    """The check's result, or the SourceError the runner would turn into its ERROR result."""
    settings = Settings(kafka_bootstrap=svc.bootstrap, kafka_security_protocol="SASL_PLAINTEXT",
                        kafka_sasl_mechanism="PLAIN", kafka_sasl_username=SENTINEL_USER[0],
                        kafka_sasl_password=SecretStr(SENTINEL_USER[1]))
    check = KafkaConsumerLagCheck(KafkaConsumerLagParams(groups=[GROUP], topics=[r"cdc\..*"], window="10m"))
    h = Harness(check, settings, labels={"stage": "s3_sink"})
    try:
        return h.run(timeout=30)
    except SourceError as exc:
        return exc
    finally:
        h.close()


@pytest.fixture
def granted(pipeline: KafkaService, tmp_path: Path) -> Iterator[KafkaService]:
    apply_grants(pipeline, tmp_path)
    time.sleep(1)  # ACL changes reach the authorizer through the metadata log
    yield pipeline
    remove_all_acls(pipeline)


def test_the_shipped_acls_let_the_lag_check_measure(granted: KafkaService) -> None:
    result = lag_result(granted)
    assert not isinstance(result, SourceError), result
    assert result.status is not Status.ERROR, result.summary
    [finding] = result.findings
    assert finding.values["lag_offsets"] == 6  # 10 written, 2 + 2 committed
    assert "lag_seconds" in finding.values  # Topic:READ lets it read the oldest unconsumed message's time


def test_the_shipped_acls_allow_nothing_that_changes_kafka(granted: KafkaService) -> None:
    producer = Producer({**as_sentinel(granted), "message.timeout.ms": 5000})
    errors: list[Any] = []
    producer.produce(TOPIC, value=b"x", partition=0, on_delivery=lambda err, _msg: errors.append(err))
    producer.flush(15)
    assert errors and errors[0] is not None and "AUTHORIZ" in errors[0].name()

    consumer = Consumer({**as_sentinel(granted), "group.id": GROUP, "enable.auto.commit": False})
    try:
        with pytest.raises(KafkaException) as committed:
            consumer.commit(offsets=[TopicPartition(TOPIC, 0, 9)], asynchronous=False)
        assert "AUTHORIZ" in committed.value.args[0].name()
    finally:
        consumer.close()

    with AdminClient(as_sentinel(granted)) as admin:
        for f in admin.create_topics([NewTopic("cdc.payments.sneaky", 1, 1)], request_timeout=15).values():
            with pytest.raises(KafkaException) as created:
                f.result(timeout=20)
            assert "AUTHORIZ" in created.value.args[0].name()
        for f in admin.delete_topics([TOPIC], request_timeout=15).values():
            with pytest.raises(KafkaException):
                f.result(timeout=20)
    # the group's committed offsets are the ones the sink left, untouched
    assert lag_result(granted).findings[0].values["lag_offsets"] == 6


@pytest.mark.parametrize("dropped", ["--topic", "--group"])
def test_every_acl_line_is_needed(pipeline: KafkaService, tmp_path: Path, dropped: str) -> None:
    lines = GRANTS.read_text().splitlines()
    kept = [line for line in lines if not (line.startswith("acl ") and f" {dropped}" in line)]
    assert len(kept) < len(lines), f"expected an ACL line with {dropped}"
    script = tmp_path / "kafka-acls-minus-one.sh"
    script.write_text("\n".join(kept) + "\n")
    apply_grants(pipeline, tmp_path, script)
    time.sleep(1)
    try:
        result = lag_result(pipeline)
        if isinstance(result, SourceError):
            text = str(result)
            assert "KafkaError{" not in text and GRANTS.name in text, text  # readable, and says where the fix is
            assert SENTINEL_USER[1] not in text
        else:
            measured = result.findings[0].values if result.findings else {}
            complete = measured.get("lag_offsets") == 6 and "lag_seconds" in measured
            assert not complete, f"the check measured everything without the {dropped} ACL: the grant is too broad"
            text = result.summary + " ".join(f.summary for f in result.findings)
        # the message names the permission to check, not only "nothing found"
        assert "describe" in text.lower() or "authoriz" in text.lower(), text
    finally:
        remove_all_acls(pipeline)
