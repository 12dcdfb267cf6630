"""`sentinel discover` against the real services: the lineage of each table hop by hop, and every hop it cannot
follow with the reason, read with Sentinel's least-privilege PostgreSQL role and without leaking connector secrets."""

from __future__ import annotations

import psycopg
import pytest
import requests
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict
from pydantic import SecretStr

from devstack.postgres import MONITOR_ROLE
from sentinel.config.alerting_spec import PipelineSpec
from sentinel.config.settings import Settings
from sentinel.discovery.coverage import coverage
from sentinel.discovery.model import Discovery, TableLineage
from sentinel.discovery.read import discover
from sentinel.discovery.render import render_json, render_text
from sentinel.sources import Sources
from tests.integration.discovery_world import DiscoveryWorld, world_fixture

pytestmark = pytest.mark.integration


world = world_fixture("discover")


def sources(world: DiscoveryWorld) -> Sources:
    env = world.env()
    return Sources(Settings(
        postgres_dsn=SecretStr(env["SENTINEL_POSTGRES_DSN"]), kafka_bootstrap=env["SENTINEL_KAFKA_BOOTSTRAP"],
        kafka_connect_url=env["SENTINEL_KAFKA_CONNECT_URL"], snowflake_account=world.snowflake.account,
        snowflake_user=world.snowflake.user, snowflake_password=SecretStr(world.snowflake.password),
        snowflake_host=world.snowflake.host, snowflake_port=world.snowflake.port, snowflake_protocol="http",
        snowflake_database=world.database, snowflake_schema="RAW",
        snowflake_show_pipes_relation=world.show_pipes, looker_base_url=world.looker.base_url,
        looker_client_id=SecretStr(world.looker.fake.client_id),
        looker_client_secret=SecretStr(world.looker.fake.client_secret),
    ))


def run(world: DiscoveryWorld) -> Discovery:
    src = sources(world)
    try:
        return discover(src, dbt_location=str(world.dbt_location), timeout=15)
    finally:
        # Destroy the Kafka client here, in this thread: left to the garbage collector it may be freed on a
        # librdkafka thread (when a later test stops the broker), which aborts the process.
        src.kafka().close()


def table(found: Discovery, name: str) -> TableLineage:
    return next(t for t in found.tables if t.table == name)


def test_each_captured_table_is_followed_from_postgres_to_looker(world: DiscoveryWorld) -> None:
    found = run(world)
    tx = table(found, "payments.transactions")
    assert tx.exists_at_source is True
    assert tx.connector == f"{world.sfx}-debezium-payments" and tx.topic == f"cdc_{world.sfx}.payments.transactions"
    assert tx.s3 is not None and tx.s3.url == f"s3://{world.bucket}/raw/payments/transactions/"
    assert tx.s3.layout == "dt=YYYY-MM-DD" and tx.s3.group == f"connect-{world.sfx}-s3-sink"
    assert tx.pipe is not None and tx.pipe.pipe == f"{world.database}.RAW.TRANSACTIONS_PIPE"
    assert tx.pipe.target == f"{world.database}.RAW.TRANSACTIONS"
    assert tx.dbt_source is not None and tx.dbt_source.name == "payments.transactions"
    assert tx.dbt_source.loaded_at_field == "_loaded_at"
    assert (tx.dbt_source.warn_after, tx.dbt_source.error_after) == ("30m", "2h")  # sources.yml's freshness
    assert {"stg_transactions", "fct_transactions", "fct_daily_volume"} <= set(tx.models)
    assert "Executive Dashboard" in tx.exposures
    assert {"Executive Dashboard", "Payments Operations"} <= set(tx.dashboards)
    assert tx.reached()[-1] == "looker" and not tx.unresolved
    merchants = table(found, "users.merchants")
    assert "Merchant Health" in merchants.dashboards and "fct_merchant_health" in merchants.models
    assert merchants.dbt_source is not None and merchants.dbt_source.error_after is None  # dbt declares none


def test_a_hop_that_cannot_be_followed_is_reported_with_its_reason(world: DiscoveryWorld) -> None:
    found = run(world)
    keys = table(found, "users.api_keys")  # loaded into Snowflake raw, but no dbt source reads it
    assert keys.reached()[-1] == "snowflake_raw"
    assert [(u.hop, u.reason) for u in keys.unresolved] == [
        ("dbt", f"no dbt source reads {world.database}.RAW.API_KEYS")]
    stale = [u for u in found.unresolved if u.subject == f"{world.database}.RAW.SETTLEMENTS_PIPE"]
    assert stale and "stage" in stale[0].reason and f"{world.database}.RAW.SETTLEMENTS_OLD" in stale[0].reason
    assert "GRANT USAGE ON STAGE" in stale[0].reason
    events = table(found, f"payment_{world.sfx}.events")  # a stream: no CDC connector, straight from Kafka
    assert events.connector is None and events.s3 is not None
    assert events.s3.prefix == f"raw/events/payment_{world.sfx}.events/"
    assert events.pipe is not None and events.pipe.target == f"{world.database}.RAW.PAYMENT_EVENTS"
    assert events.dashboards == ("Operational Dashboard",)  # its explore reads the raw table, no dbt model between
    assert not [u for u in found.unresolved if u.subject == "Operational Dashboard"]


def test_no_grant_on_an_explore_is_an_unresolved_hop_naming_the_permission(world: DiscoveryWorld) -> None:
    world.looker.fake.forbid.add("/lookml_models/novapay_merchants/explores/merchant_health")
    try:
        found = run(world)
    finally:
        world.looker.fake.forbid.clear()
    denied = [u for u in found.unresolved if u.hop == "looker" and "merchant_health" in u.subject]
    assert denied and "HTTP 403" in denied[0].reason and "see_lookml" in denied[0].reason
    assert "Merchant Health" not in table(found, "users.merchants").dashboards


def test_connector_secrets_never_reach_the_output(world: DiscoveryWorld) -> None:
    found = run(world)
    for text in (render_text(found), render_json(found)):
        assert "do-not-leak" not in text and world.snowflake.password not in text
    assert "payments.transactions" in render_text(found)


def test_coverage_of_real_discovery_reports_a_table_gone_at_the_source_and_a_moved_hop(world: DiscoveryWorld) -> None:
    legacy = f"{world.sfx}-debezium-legacy"
    world.capture(legacy, ["payments.chargebacks"])  # Debezium still lists it; PostgreSQL never had it
    try:
        found = run(world)
    finally:
        requests.delete(f"{world.connect.url}/connectors/{legacy}", timeout=30)
        world.connectors.remove(legacy)
    recorded = f"s3://{world.bucket}/raw/payments/transactions_v1/"
    pipeline = PipelineSpec.model_validate({"tables": {"payments.transactions": {"s3_path": recorded}}})
    findings = {f.key: f.summary for f in coverage(found, [], pipeline)}
    assert findings["gone:payments.chargebacks"] == (
        f"payments.chargebacks is captured by {legacy} but PostgreSQL has no such table any more (dropped or renamed?)")
    assert findings["changed:payments.transactions"] == (
        f"payments.transactions: the pipeline changed under the config: s3_path was {recorded}, is now "
        f"s3://{world.bucket}/raw/payments/transactions/")


def test_doctor_checks_each_read_discovery_makes_and_names_the_missing_grant(world: DiscoveryWorld) -> None:
    """`sentinel doctor` with a pipeline_coverage check: one ok line per system discovery reads, and a missing grant
    (CONNECT on the source database, dashboards hidden from the Looker user, a stage) is a problem naming it."""
    from sentinel.doctor.discovery import probe
    from sentinel.doctor.needs import Need

    need = Need("discovery", str(world.dbt_location), "coverage", ("checks", 0, "params"))
    lines = probe(sources(world), [need], lambda _: "alert_rules.yaml:9 (checks[0].params)")
    assert [x.message.split(":")[0] for x in lines if x.level == "ok"] == [
        "Kafka Connect", "PostgreSQL default", "Kafka", "Snowflake", f"dbt {world.dbt_location}", "Looker"]
    [stage] = [x for x in lines if x.level != "ok"]  # the pipe whose stage the role cannot see (world: dropped)
    assert stage.fix.startswith(f"GRANT USAGE ON STAGE {world.database}.RAW.SETTLEMENTS_OLD TO ROLE")

    grant = sql.SQL("{} CONNECT ON DATABASE {} {} PUBLIC, {}")
    db = sql.Identifier(conninfo_to_dict(world.admin_dsn)["dbname"])
    with psycopg.connect(world.admin_dsn, autocommit=True) as conn:
        conn.execute(grant.format(sql.SQL("REVOKE"), db, sql.SQL("FROM"), sql.Identifier(MONITOR_ROLE)))
    world.looker.fake.forbid.add("/dashboards")
    try:
        lines = probe(sources(world), [need], lambda _: "-")
    finally:
        world.looker.fake.forbid.clear()
        with psycopg.connect(world.admin_dsn, autocommit=True) as conn:
            conn.execute(grant.format(sql.SQL("GRANT"), db, sql.SQL("TO"), sql.Identifier(MONITOR_ROLE)))
    problems = {x.component: x for x in lines if x.level == "problem"}
    assert "CONNECT" in problems["discovery PostgreSQL"].message
    assert problems["discovery PostgreSQL"].fix.startswith("GRANT CONNECT ON DATABASE")
    assert "403" in problems["discovery Looker"].message and "see_lookml_dashboards" in problems["discovery Looker"].fix
    assert "Kafka Connect" in [x.message.split(":")[0] for x in lines if x.level == "ok"]
