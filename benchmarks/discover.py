"""Pipeline discovery benchmark (issue 24): `sentinel discover` against real services, NovaPay-sized and scaled.

    .venv/bin/python benchmarks/discover.py [--repeat 3] [--sizes 4:30,125:1250,500:5000]

Starts the devstack's own PostgreSQL, Kafka (KRaft) + a Kafka Connect worker and fakesnow, plus the Looker double
(devstack/looker.py) in-process. For each size (captured tables : dbt nodes) it builds a pipeline: the tables in
PostgreSQL, one topic each, two Debezium-style connectors and an S3 sink on Connect, an external stage and one pipe
per table (SHOW PIPES stand-in), the payment event stream (its own sink and pipe), a dbt manifest (v12) with one
source per table, models built on them and exposures, and one Looker dashboard per ten tables. Then times, in the
same run (median of --repeat, interleaved):

  baseline  reads_only   the reads through Sentinel's sources (Connect configs, PostgreSQL tables, Kafka topics,
                         SHOW PIPES/STAGES, the dbt artifacts, Looker dashboards and explores): the I/O floor
  discover               reads + stitching the lineage per table + coverage against an empty config + the --write
                         plan (every table new, every hop unwatched: the most work there is)

Target: the NovaPay size (4 tables, the event stream, ~30 dbt nodes) < 10 s. Writes benchmarks/results/discover.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pydantic import SecretStr  # noqa: E402

from sentinel.config.settings import Settings  # noqa: E402
from sentinel.config.spec import SentinelConfig  # noqa: E402
from sentinel.discovery.coverage import coverage  # noqa: E402
from sentinel.discovery.plan import plan  # noqa: E402
from sentinel.discovery.read import discover, observe  # noqa: E402
from sentinel.sources import Sources  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results" / "discover.json"
TARGET_SECONDS = 10.0
SCHEMAS = ("payments", "users", "ledger", "risk")


def _manifest(tables: list[str], nodes: int, database: str) -> dict[str, Any]:
    """dbt manifest v12: a source per table, models (staging per source, then marts on 2-3 earlier models) up to
    `nodes`, one exposure per ten tables on the newest marts."""
    meta = {"dbt_schema_version": "https://schemas.getdbt.com/dbt/manifest/v12.json", "dbt_version": "1.11.16",
            "generated_at": datetime.now(UTC).isoformat(), "invocation_id": "bench", "project_name": "novapay"}
    sources = {}
    for t in tables:
        schema, name = t.split(".")
        uid = f"source.novapay.{schema}.{name}"
        sources[uid] = {"unique_id": uid, "resource_type": "source", "source_name": schema, "name": name,
                        "database": database, "schema": "RAW", "identifier": name.upper(),
                        "relation_name": f'"{database}"."RAW"."{name.upper()}"', "loaded_at_field": "_loaded_at",
                        "meta": {"owner": "data-platform@novapay.example"}, "columns": {}}
    n_exposures = max(1, len(tables) // 10)
    n_models = max(len(tables), nodes - len(sources) - n_exposures)
    source_ids = list(sources)
    nodes_out: dict[str, Any] = {}
    parent_map: dict[str, list[str]] = {}
    model_ids: list[str] = []
    for i in range(n_models):
        if i < len(source_ids):
            parents = [source_ids[i]]
            name = f"stg_{source_ids[i].split('.', 2)[2].replace('.', '_')}"
        else:
            parents = sorted({model_ids[(i * 7) % len(model_ids)], model_ids[(i * 13 + 1) % len(model_ids)]})
            name = f"fct_{i}"
        uid = f"model.novapay.{name}"
        model_ids.append(uid)
        parent_map[uid] = parents
        nodes_out[uid] = {"unique_id": uid, "resource_type": "model", "name": name, "schema": "ANALYTICS",
                          "alias": name, "relation_name": f'"{database}"."ANALYTICS"."{name.upper()}"',
                          "depends_on": {"nodes": parents}, "config": {"meta": {}}, "tags": []}
    exposures = {}
    for i in range(n_exposures):
        uid = f"exposure.novapay.dash_{i}"
        exposures[uid] = {"name": f"dash_{i}", "label": f"Dashboard {i}", "type": "dashboard",
                          "depends_on": {"nodes": [model_ids[-1 - i]]}}
        parent_map[uid] = [model_ids[-1 - i]]
    return {"metadata": meta, "nodes": nodes_out, "sources": sources, "exposures": exposures, "groups": {},
            "parent_map": parent_map, "child_map": {}, "unit_tests": {}, "macros": {}}


def _run_results() -> dict[str, Any]:
    return {"metadata": {"dbt_schema_version": "https://schemas.getdbt.com/dbt/run-results/v6.json",
                         "dbt_version": "1.11.16", "generated_at": datetime.now(UTC).isoformat(),
                         "invocation_id": "bench"}, "results": [], "elapsed_time": 1.0, "args": {}}


def build(size: tuple[int, int], services: dict[str, Any], work: Path) -> tuple[Sources, str, dict[str, int], list[str]]:
    import psycopg
    import requests
    from confluent_kafka.admin import AdminClient, NewTopic

    from devstack.looker import FakeLooker, start_looker
    from sentinel.sources.snowflake_pipes import SHOW_PIPES_STANDIN_DDL

    n_tables, n_nodes = size
    sfx = uuid.uuid4().hex[:6]
    tables = [f"{SCHEMAS[i % len(SCHEMAS)]}.t{i}_{sfx}" for i in range(n_tables)]
    if n_tables == 4:
        tables = ["payments.transactions", "payments.refunds", "users.merchants", "users.api_keys"]
    pg = services["postgres"]
    db = f"bench_discover_{sfx}"
    admin = pg.create_database(db)
    with psycopg.connect(admin, autocommit=True) as conn:
        for schema in SCHEMAS:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        for t in tables:
            conn.execute(f"CREATE TABLE {t} (id bigint PRIMARY KEY, updated_at timestamptz)")
    monitor = pg.monitor_dsn(db, schemas=list(SCHEMAS))
    prefix = f"cdc_{sfx}"
    topics = [f"{prefix}.{t}" for t in tables] + [f"payment_{sfx}.events"]
    with AdminClient({"bootstrap.servers": services["kafka"].bootstrap}) as admin_client:
        for future in admin_client.create_topics([NewTopic(t, 1, 1) for t in topics]).values():
            future.result(60)
    connect = services["connect"].url
    layout = {"partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
              "path.format": "'dt'=YYYY-MM-dd", "s3.bucket.name": f"lake-{sfx}", "topics.dir": "raw"}
    halves = {"payments": tables[: n_tables // 2], "users": tables[n_tables // 2:]}
    for name, part in halves.items():
        config = {"connector.class": "org.apache.kafka.connect.file.FileStreamSourceConnector",
                  "file": str(work / f"{sfx}-{name}.in"), "topic": f"{prefix}.filestream", "topic.prefix": prefix,
                  "table.include.list": ",".join(t.replace(".", "\\.") for t in part)}
        requests.put(f"{connect}/connectors/{sfx}-debezium-{name}/config", json=config, timeout=60).raise_for_status()
    sink = {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
            "file": str(work / f"{sfx}-sink.out"), "topics.regex": rf"{prefix}\..*", "transforms": "f",
            "transforms.f.type": "org.apache.kafka.connect.transforms.RegexRouter",
            "transforms.f.regex": rf"{prefix}\.([^.]+)\.([^.]+)", "transforms.f.replacement": "$1/$2", **layout}
    requests.put(f"{connect}/connectors/{sfx}-s3-sink/config", json=sink, timeout=60).raise_for_status()
    events = {"connector.class": "org.apache.kafka.connect.file.FileStreamSinkConnector",
              "file": str(work / f"{sfx}-events.out"), "topics": f"payment_{sfx}.events", **layout,
              "topics.dir": "raw/events"}
    requests.put(f"{connect}/connectors/{sfx}-s3-sink-events/config", json=events, timeout=60).raise_for_status()
    sf = services["snowflake"]
    database = f"BENCH_{sfx.upper()}"
    relation = f"{database}.RAW.SHOW_PIPES"
    with sf.connect() as conn:
        cur = conn.cursor()
        cur.execute(f"CREATE DATABASE {database}")
        cur.execute(f"CREATE SCHEMA {database}.RAW")
        cur.execute(f"CREATE STAGE {database}.RAW.LAKE URL = 's3://lake-{sfx}/raw/'")
        cur.execute(SHOW_PIPES_STANDIN_DDL.format(relation=relation))
        rows = [(f"{t.split('.')[1].upper()}_PIPE", database,
                 f"COPY INTO {database}.RAW.{t.split('.')[1].upper()} FROM @{database}.RAW.LAKE/"
                 f"{t.split('.')[0]}/{t.split('.')[1]}/ FILE_FORMAT = (TYPE = PARQUET)") for t in tables]
        rows.append(("PAYMENT_EVENTS_PIPE", database, f"COPY INTO {database}.RAW.PAYMENT_EVENTS FROM "
                     f"@{database}.RAW.LAKE/events/payment_{sfx}.events/ FILE_FORMAT = (TYPE = PARQUET)"))
        cur.executemany(f"INSERT INTO {relation} (name, database_name, schema_name, definition) "
                        "VALUES (%s, %s, 'RAW', %s)", rows)
    dbt_dir = work / f"dbt-{sfx}"
    dbt_dir.mkdir()
    manifest = _manifest(tables, n_nodes, database)
    (dbt_dir / "manifest.json").write_text(json.dumps(manifest))
    (dbt_dir / "run_results.json").write_text(json.dumps(_run_results()))
    marts = [m for m in manifest["nodes"].values() if m["name"].startswith("fct_")] or list(manifest["nodes"].values())
    n_dash = max(4, n_tables // 10)
    fake = FakeLooker(dashboards=[f"Dashboard {i}" for i in range(n_dash)], tiles={}, explores={})
    for i in range(n_dash):
        tiles = [("novapay", f"explore_{(i * 3 + k) % len(marts)}") for k in range(3)]
        fake.tiles[f"Dashboard {i}"] = tiles
        for model, explore in tiles:
            fake.explores[(model, explore)] = f"ANALYTICS.{marts[int(explore.split('_')[1])]['name'].upper()}"
    looker = start_looker(fake)
    services.setdefault("lookers", []).append(looker)
    settings = Settings(
        postgres_dsn=SecretStr(monitor), kafka_bootstrap=services["kafka"].bootstrap, kafka_connect_url=connect,
        snowflake_account=sf.account, snowflake_user=sf.user, snowflake_password=SecretStr(sf.password),
        snowflake_host=sf.host, snowflake_port=sf.port, snowflake_protocol="http", snowflake_database=database,
        snowflake_schema="RAW", snowflake_show_pipes_relation=relation, looker_base_url=looker.base_url,
        looker_client_id=SecretStr(fake.client_id), looker_client_secret=SecretStr(fake.client_secret))
    shape = {"tables": n_tables, "dbt_nodes": len(manifest["nodes"]) + len(manifest["sources"]) +
             len(manifest["exposures"]), "dashboards": n_dash, "pipes": n_tables + 1, "topics": len(topics)}
    connectors = [f"{sfx}-debezium-payments", f"{sfx}-debezium-users", f"{sfx}-s3-sink", f"{sfx}-s3-sink-events"]
    return Sources(settings), str(dbt_dir), shape, connectors


def measure(sources: Sources, dbt: str) -> tuple[float, float, dict[str, Any]]:
    t0 = time.perf_counter()
    observe(sources, dbt_location=dbt, timeout=60)
    reads = time.perf_counter() - t0
    t0 = time.perf_counter()
    found = discover(sources, dbt_location=dbt, timeout=60)
    findings = coverage(found, [], SentinelConfig().pipeline)
    additions = plan(found, SentinelConfig(), dbt_location=dbt)
    total = time.perf_counter() - t0
    reached = sum(1 for t in found.tables if t.reached()[-1] in ("analytics", "looker"))
    return reads, total, {"tables_found": len(found.tables), "reached_dbt_models": reached,
                          "findings": len(findings), "checks_planned": len(additions.checks),
                          "per_system": list(found.systems)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--sizes", default="4:30,125:1250,500:5000", help="tables:dbt_nodes, comma separated")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    sizes = [tuple(int(x) for x in s.split(":")) for s in args.sizes.split(",")]

    import logging

    import requests

    from devstack.kafka import start_kafka, start_kafka_connect
    from devstack.postgres import start_postgres
    from devstack.snowflake import start_snowflake

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the Looker double's access log
    services: dict[str, Any] = {}
    work = Path(tempfile.mkdtemp(prefix="bench-discover-"))
    try:
        services["postgres"] = start_postgres(f"bench-discover-{os.getpid()}", throwaway=True)
        services["kafka"] = start_kafka()
        services["connect"] = start_kafka_connect(services["kafka"].bootstrap)
        services["snowflake"] = start_snowflake()
        rows = []
        for size in sizes:
            sources, dbt, shape, connectors = build(size, services, work)  # type: ignore[arg-type]
            measure(sources, dbt)  # warm: imports, first logins, Connect's first answer
            reads, totals, info = [], [], dict[str, Any]()
            for _ in range(args.repeat):
                r, t, info = measure(sources, dbt)
                reads.append(r)
                totals.append(t)
            row = {"shape": shape, **info, "baseline_reads_only_seconds": round(statistics.median(reads), 3),
                   "discover_seconds": round(statistics.median(totals), 3),
                   "stitch_overhead_seconds": round(statistics.median(totals) - statistics.median(reads), 3),
                   "runs": {"reads_only": [round(x, 3) for x in reads], "discover": [round(x, 3) for x in totals]}}
            rows.append(row)
            sources.kafka().close()  # in this thread (see sentinel.sources.kafka: never on a librdkafka thread)
            for name in connectors:  # the next size discovers only its own pipeline
                requests.delete(f"{services['connect'].url}/connectors/{name}", timeout=60)
            print(f"{shape['tables']:>4} tables {shape['dbt_nodes']:>5} dbt nodes {shape['dashboards']:>3} dashboards:"
                  f" reads_only (baseline) {row['baseline_reads_only_seconds']:.2f}s, discover "
                  f"{row['discover_seconds']:.2f}s (+{row['stitch_overhead_seconds']:.2f}s)", flush=True)
            print("      " + "; ".join(info["per_system"]), flush=True)
        novapay = rows[0]["discover_seconds"]
        verdict = "PASS" if novapay < TARGET_SECONDS else "FAIL"
        print(f"NovaPay size: {novapay:.2f}s, target < {TARGET_SECONDS:.0f}s: {verdict}")
        args.out.write_text(json.dumps({
            "benchmark": "discover", "python": platform.python_version(), "machine": platform.machine(),
            "cpus": os.cpu_count(), "repeat": args.repeat, "target_novapay_seconds": TARGET_SECONDS,
            "novapay_verdict": verdict, "sizes": rows,
            "note": "medians; the machine is shared with other jobs (2 cores), so absolute times are noisy"},
            indent=2) + "\n")
        print(f"wrote {args.out}")
    finally:
        for looker in services.get("lookers", []):
            looker.stop()
        for name in ("connect", "snowflake", "kafka", "postgres"):
            svc = services.get(name)
            if svc is not None:
                (svc.cleanup if name == "kafka" else svc.stop)()


if __name__ == "__main__":
    main()
