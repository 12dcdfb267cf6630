"""A NovaPay-shaped pipeline for `sentinel discover`, on the session's real services.

PostgreSQL (its own database, Sentinel as the role of deploy/grants/postgres.sql), Kafka topics, Kafka Connect
connectors carrying Debezium's and the Confluent S3 sink's configuration keys (the worker only has the FileStream
connector classes, so those run; Connect stores and serves the config as written, which is what discovery reads),
fakesnow with a real external stage (SHOW STAGES) and the pipes behind the SHOW PIPES stand-in, the dbt fixture's
manifest and the Looker double. Names carry a suffix so other tests on the same session services never meet them.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg
import pytest
import requests
from confluent_kafka.admin import AdminClient, NewTopic

from devstack.kafka import KafkaConnectService, KafkaService
from devstack.looker import FakeLooker, LookerService, start_looker
from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.sources.snowflake_pipes import SHOW_PIPES_STANDIN_DDL

TABLES = {"payments": ["transactions", "refunds"], "users": ["merchants", "api_keys"]}


@dataclass
class DiscoveryWorld:
    sfx: str
    admin_dsn: str
    monitor_dsn: str
    kafka: KafkaService
    connect: KafkaConnectService
    snowflake: SnowflakeService
    looker: LookerService
    dbt_location: Path
    workdir: Path
    connectors: list[str] = field(default_factory=list)

    @property
    def prefix(self) -> str:
        return f"cdc_{self.sfx}"

    @property
    def database(self) -> str:
        return f"DISCOVER_{self.sfx.upper()}"

    @property
    def bucket(self) -> str:
        return f"novapay-lake-{self.sfx}"

    @property
    def show_pipes(self) -> str:
        return f"{self.database}.RAW.SHOW_PIPES"

    def env(self) -> dict[str, str]:
        return {
            "SENTINEL_POSTGRES_DSN": self.monitor_dsn,
            "SENTINEL_KAFKA_BOOTSTRAP": self.kafka.bootstrap,
            "SENTINEL_KAFKA_CONNECT_URL": self.connect.url,
            **self.snowflake.env(self.database),
            "SENTINEL_SNOWFLAKE_SCHEMA": "RAW",  # fakesnow resolves IDENTIFIER() only with a current schema
            "SENTINEL_SNOWFLAKE_SHOW_PIPES_RELATION": self.show_pipes,
            **self.looker.env(),
        }

    def put_connector(self, name: str, config: dict[str, str]) -> None:
        resp = requests.put(f"{self.connect.url}/connectors/{name}/config", json={**config, "name": name}, timeout=30)
        assert resp.status_code in (200, 201), f"Connect refused {name}: {resp.status_code} {resp.text[:300]}"
        if name not in self.connectors:
            self.connectors.append(name)

    def capture(self, connector: str, tables: list[str]) -> None:
        """A Debezium PostgreSQL connector's keys (the password is there, as in real configs: it must never leak)."""
        self.put_connector(connector, {
            "connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
            "file": str(self.workdir / f"{connector}.in"), "topic": f"{self.prefix}.filestream",
            "database.hostname": "novapay-prod.rds.example", "database.user": "debezium",
            "database.password": "debezium-Secret-do-not-leak", "database.dbname": "novapay",
            "slot.name": f"debezium_{self.sfx}", "plugin.name": "pgoutput",
            "topic.prefix": self.prefix, "table.include.list": ",".join(t.replace(".", "\\.") for t in tables),
        })

    def create_source_table(self, table: str) -> None:
        with psycopg.connect(self.admin_dsn, autocommit=True) as conn:
            schema = table.split(".")[0]
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
            conn.execute(f"CREATE TABLE IF NOT EXISTS {table} (id bigint PRIMARY KEY, updated_at timestamptz)")

    def create_topics(self, tables: list[str]) -> None:
        with AdminClient({"bootstrap.servers": self.kafka.bootstrap}) as admin:
            futures = admin.create_topics([NewTopic(f"{self.prefix}.{t}", 1, 1) for t in tables])
            for future in futures.values():
                try:
                    future.result(30)
                except Exception as exc:  # an existing topic is fine
                    if "TOPIC_ALREADY_EXISTS" not in str(exc):
                        raise

    def add_pipe(self, table: str, *, path: str | None = None, stage: str = "LAKE") -> None:
        """A pipe loading RAW.<TABLE> from @stage/<schema>/<table>/ (the stage URL ends in raw/)."""
        schema, name = table.split(".")
        folder = path or f"{schema}/{name}/"
        definition = (f"COPY INTO {self.database}.RAW.{name.upper()} FROM @{self.database}.RAW.{stage}/{folder}"
                      " FILE_FORMAT = (TYPE = PARQUET) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE")
        with self.snowflake.connect(self.database, "RAW") as conn:
            conn.cursor().execute(
                f"INSERT INTO {self.show_pipes} (created_on, name, database_name, schema_name, definition, owner, "
                "notification_channel, owner_role_type, kind) VALUES (CURRENT_TIMESTAMP, %s, %s, 'RAW', %s, "
                "'LOADER', 'arn:aws:sqs:eu-west-1:123456789012:sf-snowpipe', 'ROLE', 'STAGE')",
                (f"{name.upper()}_PIPE", self.database, definition))

    def add_table(self, table: str, connector: str) -> None:
        """A developer adds a table to the pipeline: at the source, to Debezium, the topic, the pipe."""
        self.create_source_table(table)
        current = [t for c in [connector] for t in self._captured(c)]
        self.capture(connector, [*current, table])
        self.create_topics([table])
        self.add_pipe(table)

    def _captured(self, connector: str) -> list[str]:
        config = requests.get(f"{self.connect.url}/connectors/{connector}/config", timeout=10).json()
        return [t.replace("\\.", ".") for t in config["table.include.list"].split(",")]

    def stop(self) -> None:
        for name in self.connectors:
            requests.delete(f"{self.connect.url}/connectors/{name}", timeout=30)
        self.looker.stop()


def build_world(postgres: PostgresService, kafka: KafkaService, connect: KafkaConnectService,
                snowflake: SnowflakeService, dbt_location: Path, workdir: Path) -> DiscoveryWorld:
    sfx = uuid.uuid4().hex[:8]
    db = f"discover_{sfx}"
    admin = postgres.create_database(db)
    all_tables = [f"{s}.{t}" for s, names in TABLES.items() for t in names]
    world = DiscoveryWorld(sfx, admin, "", kafka, connect, snowflake, start_looker(FakeLooker()), dbt_location,
                           workdir)
    for table in all_tables:
        world.create_source_table(table)
    world.monitor_dsn = postgres.monitor_dsn(db, all_tables, schemas=list(TABLES))
    world.create_topics(all_tables)
    with AdminClient({"bootstrap.servers": kafka.bootstrap}) as admin_client:
        for future in admin_client.create_topics([NewTopic(f"payment_{sfx}.events", 1, 1)]).values():
            future.result(30)
    world.capture(f"{sfx}-debezium-payments", ["payments.transactions", "payments.refunds"])
    world.capture(f"{sfx}-debezium-users", ["users.merchants", "users.api_keys"])
    layout = {"partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
              "path.format": "'dt'=YYYY-MM-dd", "partition.duration.ms": "86400000", "locale": "en-US",
              "timezone": "UTC", "format.class": "io.confluent.connect.s3.format.parquet.ParquetFormat",
              "s3.bucket.name": world.bucket, "aws.secret.access.key": "aws-Secret-do-not-leak"}
    world.put_connector(f"{sfx}-s3-sink", {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "file": str(workdir / "sink.out"), "topics.regex": rf"cdc_{sfx}\..*", "topics.dir": "raw",
        "transforms": "folder", "transforms.folder.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.folder.regex": rf"cdc_{sfx}\.([^.]+)\.([^.]+)", "transforms.folder.replacement": "$1/$2",
        **layout,
    })
    world.put_connector(f"{sfx}-s3-sink-events", {
        "connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
        "file": str(workdir / "events.out"), "topics": f"payment_{sfx}.events", "topics.dir": "raw/events", **layout,
    })
    with snowflake.connect() as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {world.database}")
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {world.database}.RAW")
        cur.execute(f"CREATE STAGE {world.database}.RAW.LAKE URL = 's3://{world.bucket}/raw/'")
        cur.execute(SHOW_PIPES_STANDIN_DDL.format(relation=world.show_pipes))
    for table in all_tables:
        world.add_pipe(table)
    world.add_pipe("events.payment_events", path=f"events/payment_{sfx}.events/")
    world.add_pipe("legacy.settlements", stage="SETTLEMENTS_OLD")  # a pipe whose stage was dropped
    return world


def world_fixture(workdir_name: str) -> Callable[..., Any]:
    """A module-scoped `world` fixture on the session's services (each test module gets its own, suffixed names)."""
    from tests.plugins.dbt import DbtRuns

    @pytest.fixture(scope="module")
    def world(postgres: PostgresService, kafka: KafkaService, kafka_connect: KafkaConnectService,
              snowflake_server: SnowflakeService, dbt_runs: DbtRuns,
              tmp_path_factory: pytest.TempPathFactory) -> Iterator[DiscoveryWorld]:
        built = build_world(postgres, kafka, kafka_connect, snowflake_server, dbt_runs.broken,
                            tmp_path_factory.mktemp(workdir_name))
        yield built
        built.stop()

    return world
