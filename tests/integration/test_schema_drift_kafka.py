"""schema_drift's Kafka hop on a real broker: the schema of the newest CDC message (JsonConverter, schemas enabled).

The messages are Debezium envelopes as the JsonConverter writes them (schema + payload), produced to the real local
broker; Debezium itself is not run here. PostgreSQL is the real test cluster.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from confluent_kafka import Producer
from pydantic import SecretStr
from sentinel_checks.schema_drift import SchemaDriftCheck, SchemaDriftParams

from devstack.kafka import KafkaService
from devstack.postgres import PostgresService
from sentinel.api import Status
from sentinel.clock import FakeClock
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.model import CheckResult
from sentinel.redact import Redactor
from sentinel.runner import CheckRunner, PlannedCheck
from sentinel.sources import Sources
from sentinel.store.base import StoreMemory
from sentinel.store.sqlite import SqliteStateStore
from tests.integration.kafka_util import create_topic

pytestmark = pytest.mark.integration

TOPIC = "cdc.payments.ledger"
ROW_FIELDS = [
    {"type": "int64", "optional": False, "field": "id"},
    {"type": "bytes", "optional": False, "name": "org.apache.kafka.connect.data.Decimal", "version": 1,
     "parameters": {"scale": "2", "connect.decimal.precision": "18"}, "field": "amount"},
]


def envelope(fields: list[dict[str, Any]]) -> bytes:
    """A Debezium change event as JsonConverter(schemas.enable=true) writes it."""
    row = {"type": "struct", "fields": fields, "optional": True, "name": "cdc.payments.ledger.Value"}
    schema = {"type": "struct", "name": "cdc.payments.ledger.Envelope", "optional": False, "fields": [
        {**row, "field": "before"}, {**row, "field": "after"},
        {"type": "string", "optional": False, "field": "op"}, {"type": "int64", "optional": True, "field": "ts_ms"}]}
    payload = {"before": None, "after": {f["field"]: None for f in fields}, "op": "c", "ts_ms": 0}
    return json.dumps({"schema": schema, "payload": payload}).encode()


def produce(bootstrap: str, value: bytes) -> None:
    producer = Producer({"bootstrap.servers": bootstrap})
    producer.produce(TOPIC, value=value, partition=0)
    assert producer.flush(10) == 0


def run(sources: Sources, store: SqliteStateStore, clock: FakeClock) -> CheckResult:
    check = SchemaDriftCheck(SchemaDriftParams.model_validate(
        {"tables": [{"name": "payments.ledger", "postgres": "payments.ledger", "kafka_topic": TOPIC}]}))
    spec = CheckSpec(id="schema_drift", kind=check.kind, timeout=timedelta(seconds=30))
    runner = CheckRunner(sources, lambda cid: StoreMemory(store, cid, clock), clock,
                         Redactor.from_settings(sources.settings))
    result = runner.run_one(PlannedCheck(spec, check, check.runbook))
    clock.advance(timedelta(minutes=30))
    return result


def test_a_new_column_stops_at_kafka_until_debezium_carries_it(
        postgres: PostgresService, kafka: KafkaService, tmp_path: Path) -> None:
    dsn = postgres.create_database("schema_drift_kafka")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
        conn.execute("CREATE TABLE payments.ledger (id bigint primary key, amount numeric(18,2) not null)")
    create_topic(kafka.bootstrap, TOPIC, 2)
    produce(kafka.bootstrap, envelope(ROW_FIELDS))
    sources = Sources(Settings(
        postgres_dsn=SecretStr(postgres.monitor_dsn("schema_drift_kafka", ["payments.ledger"], schemas=("payments",))),
        kafka_bootstrap=kafka.bootstrap))
    store, clock = SqliteStateStore(tmp_path / "state.db"), FakeClock(datetime(2026, 11, 26, 9, tzinfo=UTC))

    first = run(sources, store, clock)
    assert first.status is Status.OK, first.summary

    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER TABLE payments.ledger ADD COLUMN fee_currency char(3)")
    second = {f.key: f for f in run(sources, store, clock).findings}
    assert second["payments.ledger:gaps"].summary == (
        f"payments.ledger: fee_currency reaches PostgreSQL payments.ledger but not Kafka {TOPIC}")

    produce(kafka.bootstrap, envelope([*ROW_FIELDS, {"type": "string", "optional": True, "field": "fee_currency"}]))
    third = {f.key: f for f in run(sources, store, clock).findings}
    assert third["payments.ledger:gaps"].status is Status.OK, third["payments.ledger:gaps"].summary
    assert third["payments.ledger:changes"].summary == (
        f"payments.ledger: changed since the last run: fee_currency added at Kafka {TOPIC} (string)")
