"""`sentinel doctor` on the devstack: the real PostgreSQL (as the role of deploy/grants/postgres.sql), the moto S3
server and a Slack API that enforces the token. A good setup passes; each broken one (a missing grant, a missing
slot, a wrong bucket, a wrong channel, a superuser DSN) is one line with its fix, and the exit code says which."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from devstack.postgres import PostgresService
from devstack.s3 import S3Service
from tests.fakes.alerting_apis import FakeSlack

pytestmark = pytest.mark.integration

SENTINEL = str(Path(sys.executable).parent / "sentinel")
DB = "doctor"
SLOT = "debezium_doctor"
BUCKET = "doctor-lake"
TOKEN = "xoxb-doctor-test-token-1234"


@pytest.fixture(scope="module")
def world(postgres: PostgresService, s3_server: S3Service) -> Iterator[dict[str, Any]]:
    admin = postgres.create_database(DB)
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS orders (id int, status text)")
        conn.execute("CREATE TABLE IF NOT EXISTS ledger (id int)")  # exists, never granted to Sentinel
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (SLOT,))
        conn.execute("SELECT pg_create_logical_replication_slot(%s, 'pgoutput')", (SLOT,))
    client = s3_server.client()
    client.create_bucket(Bucket=BUCKET)
    client.put_object(Bucket=BUCKET, Key="raw/payments/transactions/dt=2026-01-01/part-0.parquet", Body=b"x")
    yield {"admin": admin, "monitor": postgres.monitor_dsn(DB, ["public.orders"]), "s3": s3_server}
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                     (SLOT,))


def config(*, slot: str = SLOT, table: str = "orders", bucket: str = BUCKET) -> str:
    return f"""version: 1
checks:
  - id: debezium_slot
    kind: postgres_replication_slot
    params: {{slots: [{slot}], retained_warn: 1GB}}
  - id: open_orders
    kind: sql_threshold
    params:
      query: "SELECT count(*) FROM {table} WHERE status = %(s)s"
      parameters: {{s: open}}
      warning: 100
  - id: raw_partitions
    kind: s3_partition_arrival
    params:
      bucket: {bucket}
      prefixes: [raw/payments/transactions/]
routes:
  - name: team
    receivers: [slack]
"""


def doctor(tmp_path: Path, world: dict[str, Any], slack: FakeSlack, text: str, *args: str,
           dsn: str | None = None, channel: str = "#data-pipeline-alerts") -> subprocess.CompletedProcess[str]:
    (tmp_path / "alert_rules.yaml").write_text(text)
    env = {**os.environ, **world["s3"].env(), "SENTINEL_CONFIG_FILE": str(tmp_path / "alert_rules.yaml"),
           "SENTINEL_STATE_PATH": str(tmp_path / "state.db"), "SENTINEL_SECRETS_DIR": str(tmp_path / "none"),
           "SENTINEL_POSTGRES_DSN": dsn or world["monitor"], "SENTINEL_SLACK_TOKEN": TOKEN,
           "SENTINEL_SLACK_BASE_URL": slack.base_url, "SENTINEL_SLACK_CHANNEL": channel}
    return subprocess.run([SENTINEL, "doctor", *args], env=env, capture_output=True, text=True, timeout=90,
                          check=False)


@pytest.fixture
def slack(httpserver: Any) -> FakeSlack:
    return FakeSlack(httpserver, TOKEN)


def problems(out: str) -> list[str]:
    return [line for line in out.splitlines() if line.startswith(("PROBLEM", "REFUSED"))]


def test_a_good_setup_is_ready(tmp_path: Path, world: dict[str, Any], slack: FakeSlack) -> None:
    proc = doctor(tmp_path, world, slack, config())
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "ok      postgres default: connected to 127.0.0.1:" in out
    assert "as postgres user sentinel_monitor" in out
    assert f"ok      postgres default: replication slot {SLOT} exists (inactive)" in out
    assert "ok      postgres default: sentinel_monitor can SELECT orders" in out
    assert "ok      s3 doctor-lake: raw/payments/transactions/ is listable (1 partition(s) or files)" in out
    assert "ok      slack: token valid: bot sentinel in workspace NovaPay" in out
    assert "ok      slack: bot is a member of #data-pipeline-alerts" in out
    assert problems(out) == []
    assert not slack.calls  # nothing was posted


def test_a_missing_grant_gives_the_grant(tmp_path: Path, world: dict[str, Any], slack: FakeSlack) -> None:
    proc = doctor(tmp_path, world, slack, config(table="ledger"))
    assert proc.returncode == 1
    assert problems(proc.stdout) == [
        "PROBLEM postgres default: sentinel_monitor cannot SELECT ledger (open_orders)  "
        "-> fix: GRANT SELECT ON ledger TO sentinel_monitor;"]


def test_a_missing_slot_points_at_the_config_line(tmp_path: Path, world: dict[str, Any], slack: FakeSlack) -> None:
    proc = doctor(tmp_path, world, slack, config(slot="debezium_gone"))
    assert proc.returncode == 1
    path = tmp_path / "alert_rules.yaml"
    assert problems(proc.stdout) == [
        "PROBLEM postgres default: replication slot 'debezium_gone' does not exist (debezium_slot)  -> fix: start "
        f"the Debezium connector that creates it, or fix the slot name at {path}:5 (checks[0].params.slots[0])"]


def test_a_wrong_bucket_points_at_the_config_line(tmp_path: Path, world: dict[str, Any], slack: FakeSlack) -> None:
    proc = doctor(tmp_path, world, slack, config(bucket="doctor-lake-typo"), "--format", "json")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["exit_code"] == 1
    [bad] = [f for f in report["findings"] if f["level"] == "problem"]
    assert bad["component"] == "s3 doctor-lake-typo"
    assert "NoSuchBucket" in bad["message"]
    assert bad["fix"] == (f"fix the bucket at {tmp_path / 'alert_rules.yaml'}:15 (checks[2].params.bucket) "
                          "(or SENTINEL_AWS_REGION)")


@pytest.mark.parametrize(("channel", "expected"), [
    ("#random", "PROBLEM slack: the bot is not a member of #random  -> fix: in Slack: /invite @sentinel in #random"),
    ("#no-such-channel", "PROBLEM slack: channel #no-such-channel not found  -> fix: create it or set "
                         "SENTINEL_SLACK_CHANNEL to an existing channel"),
])
def test_a_wrong_channel_says_what_to_do(tmp_path: Path, world: dict[str, Any], slack: FakeSlack,
                                         channel: str, expected: str) -> None:
    proc = doctor(tmp_path, world, slack, config(), channel=channel)
    assert proc.returncode == 1
    assert problems(proc.stdout) == [expected]


def test_a_superuser_dsn_is_refused_with_exit_4_and_no_password(tmp_path: Path, world: dict[str, Any],
                                                                slack: FakeSlack) -> None:
    proc = doctor(tmp_path, world, slack, config(), dsn=world["admin"])
    assert proc.returncode == 4
    [refused] = problems(proc.stdout)
    assert refused.startswith("REFUSED postgres default: Sentinel will not run as this identity: is a superuser")
    assert "deploy/grants/postgres.sql" in refused
    assert "sentinel-test-pw" not in proc.stdout + proc.stderr


def test_smtp_login_is_verified_without_sending(smtp_tls_server: Any) -> None:
    from sentinel.config.settings import Settings
    from sentinel.doctor.receivers import probe_smtp

    smtp_tls_server.clear()
    [good] = probe_smtp(Settings(**smtp_tls_server.settings()), wanted=True)
    assert (good.level, good.message) == (
        "ok", f"{smtp_tls_server.host}:{smtp_tls_server.port} accepted STARTTLS and login (nothing sent)")
    unreachable = Settings(**{**smtp_tls_server.settings(), "smtp_port": 1, "smtp_timeout_seconds": 2})
    [bad] = probe_smtp(unreachable, wanted=True)
    assert bad.level == "problem" and bad.fix == "check SENTINEL_SMTP_HOST/_PORT, STARTTLS and SENTINEL_SMTP_CA_FILE"
    assert smtp_tls_server.messages() == []


SF_DB = "DOCTOR_SF"


def test_snowflake_tables_and_pipes_are_checked_with_the_grant_as_fix(
        tmp_path: Path, world: dict[str, Any], slack: FakeSlack, snowflake_server: Any) -> None:
    import json as _json

    from sentinel.sources.snowpipe import COPY_HISTORY_STANDIN_DDL, PIPE_STATUS_STANDIN_DDL

    conn = snowflake_server.connect()
    cur = conn.cursor()
    cur.execute(f"CREATE DATABASE IF NOT EXISTS {SF_DB}")
    for schema in ("RAW", "MONITORING"):
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {SF_DB}.{schema}")
    cur.execute(f"CREATE OR REPLACE TABLE {SF_DB}.RAW.TRANSACTIONS (ID NUMBER, _LOADED_AT TIMESTAMP_NTZ)")
    cur.execute(COPY_HISTORY_STANDIN_DDL.format(relation=f"{SF_DB}.MONITORING.COPY_HISTORY"))
    cur.execute(PIPE_STATUS_STANDIN_DDL.format(relation=f"{SF_DB}.MONITORING.PIPE_STATUS"))
    cur.execute(f"DELETE FROM {SF_DB}.MONITORING.PIPE_STATUS")
    cur.execute(f"INSERT INTO {SF_DB}.MONITORING.PIPE_STATUS VALUES (%s, %s)",
                (f"{SF_DB}.RAW.TRANSACTIONS_PIPE", _json.dumps({"executionState": "RUNNING", "pendingFileCount": 0})))
    conn.close()
    text = f"""version: 1
checks:
  - id: loads
    kind: snowpipe_load_history
    params:
      targets:
        - {{table: {SF_DB}.RAW.TRANSACTIONS, pipe: {SF_DB}.RAW.TRANSACTIONS_PIPE}}
        - {{table: {SF_DB}.RAW.REFUNDS, pipe: {SF_DB}.RAW.REFUNDS_PIPE}}
"""
    (tmp_path / "alert_rules.yaml").write_text(text)
    env = {**os.environ, "SENTINEL_CONFIG_FILE": str(tmp_path / "alert_rules.yaml"),
           "SENTINEL_STATE_PATH": str(tmp_path / "state.db"), "SENTINEL_SECRETS_DIR": str(tmp_path / "none"),
           "SENTINEL_SNOWFLAKE_ACCOUNT": snowflake_server.account, "SENTINEL_SNOWFLAKE_USER": snowflake_server.user,
           "SENTINEL_SNOWFLAKE_PASSWORD": snowflake_server.password, "SENTINEL_SNOWFLAKE_HOST": snowflake_server.host,
           "SENTINEL_SNOWFLAKE_PORT": str(snowflake_server.port), "SENTINEL_SNOWFLAKE_PROTOCOL": "http",
           # fakesnow wants a current database and schema even for qualified names
           "SENTINEL_SNOWFLAKE_DATABASE": SF_DB, "SENTINEL_SNOWFLAKE_SCHEMA": "RAW",
           "SENTINEL_SNOWFLAKE_PIPE_STATUS_RELATION": f"{SF_DB}.MONITORING.PIPE_STATUS",
           "SENTINEL_SNOWFLAKE_COPY_HISTORY_RELATION": f"{SF_DB}.MONITORING.COPY_HISTORY"}
    proc = subprocess.run([SENTINEL, "doctor"], env=env, capture_output=True, text=True, timeout=90, check=False)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = proc.stdout
    assert f"ok      snowflake: DUCKDB can SELECT {SF_DB}.RAW.TRANSACTIONS" in out
    assert f"ok      snowflake: pipe {SF_DB}.RAW.TRANSACTIONS_PIPE is RUNNING" in out
    refunds, pipe = problems(out)
    assert refunds.startswith(f"PROBLEM snowflake: table {SF_DB}.RAW.REFUNDS (loads): ")
    assert refunds.endswith(f"-> fix: GRANT SELECT ON TABLE {SF_DB}.RAW.REFUNDS TO ROLE DUCKDB; or fix the name at "
                            f"{tmp_path / 'alert_rules.yaml'}:8 (checks[0].params.targets[1].table)")
    assert pipe.startswith(f"PROBLEM snowflake: pipe {SF_DB}.RAW.REFUNDS_PIPE (loads): ")
    assert f"GRANT MONITOR ON PIPE {SF_DB}.RAW.REFUNDS_PIPE TO ROLE DUCKDB;" in pipe
    assert snowflake_server.password not in out + proc.stderr


def test_kafka_topics_and_groups_the_lag_checks_name_are_checked_on_the_broker(
        tmp_path: Path, world: dict[str, Any], slack: FakeSlack, kafka: Any) -> None:
    from tests.integration.kafka_util import commit, create_topic, produce, unique

    topic = create_topic(kafka.bootstrap, unique("cdc.doctor"), 1)
    group = unique("connect-s3-sink-doctor")
    produce(kafka.bootstrap, topic, 0, 3)
    commit(kafka.bootstrap, group, {(topic, 0): 3})
    lag = f"""  - id: sink_lag
    kind: kafka_consumer_lag
    params:
      groups: [{group}, {group}x]
      topics: [{topic}, cdc\\.nothing\\..*]
"""
    text = config().replace("routes:", lag + "routes:")
    (tmp_path / "alert_rules.yaml").write_text(text)
    env_kafka = {"SENTINEL_KAFKA_BOOTSTRAP": kafka.bootstrap}
    os.environ.update(env_kafka)
    try:
        proc = doctor(tmp_path, world, slack, text)
    finally:
        for key in env_kafka:
            os.environ.pop(key)
    out = proc.stdout
    assert proc.returncode == 1, out + proc.stderr
    assert f"ok      kafka {kafka.bootstrap}: broker answers:" in out
    line = next(x for x in out.splitlines() if f"no consumer group matches '{group}x'" in x)
    assert line.startswith(f"PROBLEM kafka {kafka.bootstrap}: no consumer group matches '{group}x' (sink_lag) (did you "
                           "mean "), line
    assert group in line.split("did you mean ")[1]  # the session's broker may hold similar names: it is among them
    assert f"  -> fix: fix the name at {tmp_path / 'alert_rules.yaml'}:" in line
    assert "or grant Describe on the group (deploy/grants/kafka-acls.sh)" in out
    assert "no topic matches 'cdc\\\\.nothing\\\\..*' (sink_lag)" in out
    assert f"no consumer group matches '{group}'" not in out and f"no topic matches '{topic}'" not in out


def test_a_reconciled_decimal_declared_at_different_scales_is_a_warning_with_its_config_line(
        tmp_path: Path, world: dict[str, Any], slack: FakeSlack, postgres: PostgresService) -> None:
    """Issue 19: the target keeps 4 of the source's 8 digits. The check would show the rounded rows as stale; the
    preflight says why before the first page, and where the pair is configured. Matching scales are ok."""
    import duckdb

    with psycopg.connect(world["admin"], autocommit=True) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS settlements (id bigint PRIMARY KEY, created_at timestamptz, "
                     "amount numeric(18,8), fee numeric(12,2))")
    monitor = postgres.monitor_dsn(DB, ["public.orders", "public.settlements"])  # the grants, as an operator would
    duck = tmp_path / "warehouse.duckdb"
    conn = duckdb.connect(str(duck))
    conn.execute("CREATE SCHEMA raw")
    conn.execute("CREATE TABLE raw.settlements (id BIGINT, created_at TIMESTAMP, amount DECIMAL(18,4), "
                 "fee DECIMAL(12,2))")
    conn.close()
    pair = (f"{{source: {{engine: postgres, table: public.settlements}}, target: {{engine: duckdb, path: '{duck}', "
            "table: raw.settlements}, key: [id], time_column: created_at}")
    check = f"""  - id: settlements_match
    kind: row_reconciliation
    params:
      mode: full
      pairs:
        - {pair}
"""
    text = config().replace("routes:\n", check + "routes:\n")
    proc = doctor(tmp_path, world, slack, text, dsn=monitor)
    assert proc.returncode == 0, proc.stdout + proc.stderr  # a warning, not a problem
    path = tmp_path / "alert_rules.yaml"
    [warning] = [line for line in proc.stdout.splitlines() if line.startswith("WARN")]
    assert warning == (
        "WARN    reconcile public.settlements: settlements_match: amount: source numeric scale 8, target "
        "DECIMAL(18,4) scale 4; compared at 8 digits; rows whose values need digits one side does not keep will "
        "show as stale  -> fix: declare the same scale on both sides, or leave the column out (exclude_columns at "
        f"{path}:22 (checks[3].params.pairs[0]))")
    assert "fee" not in warning  # numeric(12,2) on both sides
