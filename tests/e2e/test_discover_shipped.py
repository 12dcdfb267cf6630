"""`sentinel discover --write` on the devstack, from a config with no lineage and no pipeline checks, compared with
what the shipped alert_rules.yaml watches: the same tables, the same hops of each, and at every hop the shipped
config watches, a generated check of a kind the shipped config uses there too.

The devstack is the project's own session services: PostgreSQL (Sentinel's least-privilege role), Kafka, Kafka
Connect holding the Debezium and S3 sink connector configs, fakesnow with the external stage and the pipes (behind
the SHOW PIPES stand-in), the dbt fixture project's real artifacts uploaded to the moto S3 server as the dbt job
does, and the Looker double. Its names carry a suffix (the services are shared by the session); the comparison
maps them back to NovaPay's names before asking which checks watch each hop.

The differences are intended, and each is listed in DIFFERENCES with its reason; any other difference fails.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.s3 import S3Service
from sentinel.config.checks_spec import CheckSpec
from sentinel.config.settings import Settings
from sentinel.config.spec import SentinelConfig
from sentinel.discovery.coverage import WATCHED_HOPS, watchers
from sentinel.discovery.model import Discovery, TableLineage
from sentinel.discovery.read import discover
from sentinel.sources import Sources
from tests.integration.discovery_world import DiscoveryWorld, world_fixture

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the first test of a session starts Kafka, Connect, dbt ...
SENTINEL = str(Path(sys.executable).parent / "sentinel")
SHIPPED = Path(__file__).resolve().parents[2] / "alert_rules.yaml"

START = """# Before discovery: where the dbt job uploads its artifacts, and the coverage check. Nothing else.
version: 1

checks:
  - id: pipeline_coverage
    kind: pipeline_coverage
    schedule: {{every: 1d}}
    timeout: 2m
    params: {{dbt_location: "{dbt}", call_timeout: 30s}}
"""

# Kinds the shipped config uses that carry a person's judgement no system holds, so --write does not invent them:
JUDGEMENT_KINDS = {
    "kafka_topic_arrival": "how long a quiet topic may stay quiet (refunds, users.* change rarely)",
    "row_reconciliation": "the keys, time and version columns and the deleted-row marker of each pair",
    "volume_anomaly": "the seasonality, direction and holidays of each table's volume",
    "schema_drift": "which hops of a table must keep the same columns",
    "postgres_replication_slot": "the slot name (Debezium's slot.name) and the WAL it may retain",
    "sql_threshold": "a query a person wrote",
}

# The devstack is not NovaPay: where its pipeline differs, the lineage differs, and so may the checks.
# table: (stages only the shipped config has, stages only discovery found, why)
STAGE_DIFFERENCES = {
    "payments.refunds": ({"dbt", "analytics", "looker"}, set(),
                         "the dbt fixture project has no source over RAW.REFUNDS: on the devstack refunds ends in "
                         "Snowflake raw, where NovaPay's project carries it on to dbt and Looker"),
    "payment.events": (set(), {"snowpipe", "snowflake_raw"},
                       "the devstack loads the event stream into RAW.PAYMENT_EVENTS with a pipe; the shipped config "
                       "has the stream end in S3 (and Looker)"),
}
# (table, hop): (kinds only the shipped config has there, beyond JUDGEMENT_KINDS; kinds only generated; why)
CHECK_DIFFERENCES = {
    ("payment.events", "snowpipe"): (set(), {"snowpipe_load_history"}, "the devstack's pipe for the stream"),
    ("payment.events", "snowflake_raw"): (set(), {"snowpipe_load_history"}, "the devstack's pipe for the stream"),
    # warehouse_freshness is generated from a dbt source's loaded_at_field; these raw tables have none here
    ("payments.refunds", "snowflake_raw"): ({"warehouse_freshness"}, set(),
                                            "no dbt source over RAW.REFUNDS on the devstack (STAGE_DIFFERENCES)"),
    ("users.api_keys", "snowflake_raw"): ({"warehouse_freshness"}, set(),
                                          "no dbt source reads RAW.API_KEYS (in NovaPay's project either): its 6h/24h "
                                          "freshness is a person's judgement of a table loaded for audit"),
}
# Which kinds measure each hop. coverage.watchers counts any check naming a hop's identifier anywhere in its params
# (the looker check's `tables: [payment.events]` names the topic too); the comparison is between measuring kinds.
HOP_KINDS = {
    "debezium": {"kafka_connect_status", "postgres_replication_slot", "sql_threshold"},
    "kafka": {"kafka_consumer_lag", "kafka_topic_arrival"},
    "s3": {"s3_partition_arrival", "volume_anomaly", "schema_drift"},
    "snowpipe": {"snowpipe_load_history"},
    "snowflake_raw": {"snowpipe_load_history", "warehouse_freshness", "row_reconciliation", "volume_anomaly",
                      "schema_drift"},
    "dbt": {"dbt_results", "schema_drift"},
    "looker": {"looker", "volume_anomaly"},
}
# table: dashboards discovery lists that the shipped config does not, and why
DASHBOARD_DIFFERENCES = {
    "payments.transactions": ({"Merchant Health"}, "dashboards follow the dbt graph: fct_merchant_health is built "
                                                   "from transactions as well as merchants"),
}
# What the shipped config never states and discovery never infers: the lake's processed/ outputs (no system says
# which job writes them) and the SLAs per table (a promise, not a fact a system holds).
NOT_DISCOVERED = {"processed"}
HOP_STAGES = {"s3": ["s3_sink", "s3"]}


world = world_fixture("discover-shipped")


@pytest.fixture(scope="module")
def dbt_location(world: DiscoveryWorld, s3_server: S3Service) -> str:
    """The fixture project's artifacts where the production dbt job puts them: s3://<bucket>/prod/<run>/."""
    bucket = f"novapay-dbt-artifacts-{world.sfx}"
    client = s3_server.client()
    client.create_bucket(Bucket=bucket)
    stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H-%M-%SZ")
    for artifact in sorted(world.dbt_location.glob("*.json")):
        client.put_object(Bucket=bucket, Key=f"prod/{stamp}/{artifact.name}", Body=artifact.read_bytes())
    return f"s3://{bucket}/prod/"


def production_names(world: DiscoveryWorld) -> dict[str, str]:
    """The devstack's suffixed names -> NovaPay's (longest first, so a name is never half replaced)."""
    sfx = world.sfx
    names = {f"cdc_{sfx}": "cdc", f"payment_{sfx}.events": "payment.events", f"{sfx}-": "",
             f"connect-{sfx}-": "connect-", world.bucket: "novapay-data-lake", world.database: "NOVAPAY",
             rf"cdc_{sfx}\.": r"cdc\."}
    return dict(sorted(names.items(), key=lambda kv: -len(kv[0])))


def renamed(value: Any, names: dict[str, str]) -> Any:
    """A discovered value (lineage dataclasses, tuples, strings) with the devstack's names made NovaPay's."""
    if isinstance(value, str):
        for old, new in names.items():
            value = value.replace(old, new)
        return value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.replace(value, **{f.name: renamed(getattr(value, f.name), names)
                                             for f in dataclasses.fields(value) if f.init})
    if isinstance(value, tuple):
        return tuple(renamed(v, names) for v in value)
    return value


def watched(tables: tuple[TableLineage, ...], checks: list[CheckSpec]) -> dict[tuple[str, str], set[str]]:
    """(table, hop) -> the kinds of the enabled checks watching it, for every hop each table reaches."""
    kinds = {c.id: c.kind for c in checks}
    return {(t.table, hop): {kinds[i] for i in ids} & HOP_KINDS[hop]
            for t in tables for hop, ids in watchers(t, checks).items() if hop in WATCHED_HOPS}


def discovered(env: dict[str, str], location: str, monkeypatch: pytest.MonkeyPatch) -> Discovery:
    """The same discovery in this process (its lineage, to ask which checks watch each hop), with the CLI's env."""
    for key, value in env.items():
        if key.startswith("SENTINEL_"):
            monkeypatch.setenv(key, value)
    sources = Sources(Settings())
    try:
        return discover(sources, dbt_location=location, timeout=30)
    finally:
        sources.kafka().close()  # here, not by a collector on a librdkafka thread


def test_discover_write_on_the_devstack_watches_what_the_shipped_config_watches(
        world: DiscoveryWorld, dbt_location: str, s3_server: S3Service, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "alert_rules.yaml"
    config.write_text(START.format(dbt=dbt_location))
    env = {**os.environ, **world.env(), **s3_server.env(), "SENTINEL_CONFIG_FILE": str(config),
           "SENTINEL_STATE_PATH": str(tmp_path / "state.db"), "SENTINEL_SECRETS_DIR": str(tmp_path / "none")}

    def sentinel(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SENTINEL, *args], env=env, capture_output=True, text=True, timeout=300, check=False)

    written = sentinel("discover", "--write")
    assert written.returncode in (0, 1), written.stderr  # 1: some hops end (api_keys has no dbt source), said
    assert "do-not-leak" not in written.stdout + written.stderr
    assert sentinel("validate").returncode == 0
    assert config.read_text().startswith(START.format(dbt=dbt_location))  # what the person wrote, untouched
    generated = SentinelConfig.model_validate(yaml.safe_load(config.read_text()))
    shipped = SentinelConfig.model_validate(yaml.safe_load(SHIPPED.read_text()))

    found = discovered(env, dbt_location, monkeypatch)
    names = production_names(world)
    as_novapay = renamed(found.tables, names)

    # the lineage entries: the same tables (the stream is named by its topic: no system calls it
    # events.payment_events), with the dashboards the shipped config lists
    expected_tables = set(shipped.pipeline.tables) - {"events.payment_events"} | {"payment.events"}
    assert {renamed(name, names) for name in generated.pipeline.tables} == expected_tables
    for name, entry in generated.pipeline.tables.items():
        production = shipped.pipeline.tables.get(renamed(name, names)) or shipped.pipeline.tables["events.payment_events"]
        table = renamed(name, names)
        if "looker" not in STAGE_DIFFERENCES.get(table, (set(),))[0]:  # refunds: no dashboard on the devstack
            extra = DASHBOARD_DIFFERENCES.get(table, (set(), ""))[0]
            assert set(entry.dashboards) == set(production.dashboards) | extra, name
    tx = generated.pipeline.tables["payments.transactions"]
    assert renamed((tx.topic, tx.s3_path, tx.pipe, tx.raw_table, tx.dbt_source), names) == (
        "cdc.payments.transactions", "s3://novapay-data-lake/raw/payments/transactions/",
        "NOVAPAY.RAW.TRANSACTIONS_PIPE", "NOVAPAY.RAW.TRANSACTIONS", "payments.transactions")

    # the stages each table passes: as the shipped config states them (all stages where it lists none)
    for t in as_novapay:
        entry = shipped.pipeline.tables.get(t.table) or shipped.pipeline.tables["events.payment_events"]
        stated = set(entry.stages or shipped.pipeline.stages) - NOT_DISCOVERED
        reached = {stage for hop in t.reached() for stage in HOP_STAGES.get(hop, [hop])}
        if t.connector is None:  # a stream starts in Kafka
            reached -= {"postgres"}
        assert (stated - reached, reached - stated) == STAGE_DIFFERENCES.get(t.table, (set(), set()))[:2], t.table

    # the checks: at each hop of each table, watched in both or in neither, and by kinds the shipped config uses
    got = {(renamed(t, names), hop): kinds for (t, hop), kinds in watched(found.tables, generated.checks).items()}
    want = watched(as_novapay, shipped.checks)
    assert set(got) == set(want)  # the same tables reach the same hops
    differences = {}
    for key in sorted(got):
        if bool(got[key]) != bool(want[key]):
            differences[key] = (want[key], got[key])  # watched in one config only: never intended
            continue
        only_shipped, only_generated = want[key] - got[key] - set(JUDGEMENT_KINDS), got[key] - want[key]
        if only_shipped or only_generated:
            differences[key] = (only_shipped, only_generated)
    assert differences == {key: d[:2] for key, d in CHECK_DIFFERENCES.items()}, differences

    # the warehouse_freshness the shipped config keeps on every raw table a dbt source reads, from loaded_at_field
    [fresh] = [c for c in generated.checks if c.kind == "warehouse_freshness"]
    targets = {renamed(t["table"], names): t for t in fresh.params["tables"]}
    assert set(targets) == {"NOVAPAY.RAW.TRANSACTIONS", "NOVAPAY.RAW.MERCHANTS"}  # the fixture's dbt sources
    tx_fresh = targets["NOVAPAY.RAW.TRANSACTIONS"]
    assert (tx_fresh["column"], tx_fresh["warn_after"], tx_fresh["critical_after"]) == ("_loaded_at", "30m", "2h")
    assert "declares no freshness" in written.stdout + written.stderr  # merchants: the defaults, named
    shipped_fresh = {t["table"] for c in shipped.checks if c.kind == "warehouse_freshness" for t in c.params["tables"]}
    assert set(targets) <= shipped_fresh

    # and once written, the coverage check finds nothing unwatched
    proc = sentinel("check", "--once", "--only", "pipeline_coverage", "--format", "json")
    [result] = json.loads(proc.stdout)["results"]
    assert [f["key"] for f in result["findings"] if f["status"] != "ok"] == []
