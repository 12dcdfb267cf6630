"""`scripts/demo`: bring up a local NovaPay pipeline, seed it with a few realistic problems, and run
`sentinel check --once` against it so a newcomer sees real checks, real alerts and runbook links.

Each pipeline area seeds itself in devstack/demo_<area>.py and adds its checks in demo/fragments/<area>.yaml.
Services are stopped at the end unless --keep is given (then `python -m devstack.demo --down` stops them).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from devstack import procs
from devstack.base import PROJECT_ROOT, ServiceUnavailable, cache_dir
from devstack.postgres import PostgresService, start_postgres

DEMO_DIR = PROJECT_ROOT / "demo"


def say(text: str) -> None:
    print(f"demo: {text}", file=sys.stderr, flush=True)


class DemoStack:
    """The running services and the SENTINEL_* environment the seeders build up."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.env: dict[str, str] = {}
        self._stops: list[Callable[[], None]] = []
        self.services: dict[str, Any] = {}

    def start(self, name: str, starter: Callable[[], Any]) -> Any:
        if name not in self.services:
            say(f"starting {name} ...")
            began = time.monotonic()
            service = starter()
            self.services[name] = service
            self._stops.append(service.stop)
            say(f"{name} up in {time.monotonic() - began:.1f}s")
        return self.services[name]

    def postgres(self) -> PostgresService:
        service: PostgresService = self.start("postgres", lambda: start_postgres("demo", throwaway=True))
        return service

    def stop(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):
                stop()


def seed_postgres(stack: DemoStack) -> None:
    """payments.transactions with some stuck payouts, and an inactive Debezium slot holding WAL."""
    import psycopg

    pg = stack.postgres()
    dsn = pg.create_database("novapay")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
        conn.execute("DROP TABLE IF EXISTS payments.transactions")
        conn.execute(
            "CREATE TABLE payments.transactions (id bigint PRIMARY KEY, merchant_id int, amount numeric(12,2),"
            " currency text, status text, created_at timestamptz, updated_at timestamptz)"
        )
        conn.execute(
            "INSERT INTO payments.transactions SELECT g, g % 50, (g % 997) * 1.25, 'EUR',"
            " CASE WHEN g % 40 = 0 THEN 'pending' ELSE 'settled' END,"
            " now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval FROM generate_series(1, 4000) g"
        )
        exists = conn.execute("SELECT 1 FROM pg_replication_slots WHERE slot_name = 'debezium_novapay'").fetchone()
        if not exists:
            conn.execute("SELECT pg_create_logical_replication_slot('debezium_novapay', 'pgoutput')")
        # Writes nobody consumes: the inactive slot retains their WAL, as when the Debezium task is down.
        conn.execute("CREATE TABLE IF NOT EXISTS payments.wal_filler (payload text)")
        conn.execute("INSERT INTO payments.wal_filler SELECT repeat('x', 1000) FROM generate_series(1, 3000)")
        seed_other_captured_tables(conn)
    # Sentinel itself connects as the least-privilege role of deploy/grants/postgres.sql, as in production.
    stack.env["SENTINEL_POSTGRES_DSN"] = monitor_dsn(pg)


# The four captured tables (the quality area adds its own table to the grants).
CAPTURED = ["payments.transactions", "payments.refunds", "users.merchants", "users.api_keys"]


def monitor_dsn(pg: PostgresService, extra_tables: tuple[str, ...] = ()) -> str:
    return pg.monitor_dsn("novapay", [*CAPTURED, *extra_tables], schemas=["payments", "users"])


def seed_other_captured_tables(conn: Any) -> None:
    """payments.refunds, users.merchants and users.api_keys with an hour of writes, so every stage of every
    captured table has something to measure (the quality area later re-creates refunds with a drifted column)."""
    conn.execute("CREATE SCHEMA IF NOT EXISTS users")
    conn.execute("DROP TABLE IF EXISTS payments.refunds")
    conn.execute("CREATE TABLE payments.refunds (id bigint PRIMARY KEY, transaction_id bigint NOT NULL, "
                 "amount numeric(12,2) NOT NULL, created_at timestamptz NOT NULL)")
    conn.execute("INSERT INTO payments.refunds SELECT g, g * 40, 12.50, now() - (g * 30 || ' seconds')::interval "
                 "FROM generate_series(1, 120) g")
    conn.execute("DROP TABLE IF EXISTS users.merchants")
    conn.execute("CREATE TABLE users.merchants (id bigint PRIMARY KEY, name text NOT NULL, country char(2), "
                 "created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)")
    conn.execute("INSERT INTO users.merchants SELECT g, 'merchant ' || g, 'DE', now() - (g || ' minutes')::interval,"
                 " now() - (g || ' minutes')::interval FROM generate_series(1, 50) g")
    conn.execute("DROP TABLE IF EXISTS users.api_keys")
    conn.execute("CREATE TABLE users.api_keys (id bigint PRIMARY KEY, merchant_id bigint NOT NULL, "
                 "created_at timestamptz NOT NULL, revoked_at timestamptz)")
    conn.execute("INSERT INTO users.api_keys SELECT g, g % 50, now() - (g * 3 || ' minutes')::interval, NULL "
                 "FROM generate_series(1, 20) g")


# (area, module, function): each seeder takes the DemoStack and returns nothing.
AREAS: list[tuple[str, str, str]] = [
    ("lake", "devstack.demo_lake", "seed"),
    ("sla", "devstack.demo_sla", "seed"),
    ("reconcile", "devstack.demo_reconcile", "seed"),
    ("dbt", "devstack.demo_dbt", "seed"),
    ("kafka", "devstack.demo_kafka", "seed"),
    ("looker", "devstack.demo_looker", "seed"),
    ("quality", "devstack.demo_quality", "seed"),
]


def build_config(work: Path, areas: list[str]) -> Path:
    config = yaml.safe_load((DEMO_DIR / "base.yaml").read_text())
    for area in areas:
        fragment = DEMO_DIR / "fragments" / f"{area}.yaml"
        if fragment.exists():
            extra = yaml.safe_load(fragment.read_text()) or {}
            for key, value in extra.items():
                if isinstance(value, list):
                    config.setdefault(key, []).extend(value)
                elif isinstance(value, dict):
                    config.setdefault(key, {}).update(value)
    path = work / "alert_rules.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def down() -> int:
    """`--down`: stop what `--keep` left running."""
    stopped = procs.stop_kept()
    for rec in stopped:
        say(f"stopped {rec.name} (pid {rec.pid})")
    say(f"{len(stopped)} services stopped" if stopped else "nothing was running")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keep", action="store_true", help="leave the services running after the check")
    parser.add_argument("--down", action="store_true",
                        help="stop the services an earlier --keep left running (and any left by a killed run), then exit")
    parser.add_argument("--only-area", action="append", default=None, help="seed only these areas (postgres is always on)")
    args = parser.parse_args(argv)
    if args.down:
        return down()
    for rec in procs.reap_stale():
        say(f"stopped {rec.name} (pid {rec.pid}), left running by an earlier run that did not finish")
    # The in-process moto server logs every request through werkzeug; the newcomer wants Sentinel's output.
    logging.getLogger("werkzeug").setLevel(logging.ERROR)

    work = cache_dir("demo")
    stack = DemoStack(work)
    ran: list[str] = []
    try:
        seed_postgres(stack)
        for area, module, func in AREAS:
            if args.only_area and area not in args.only_area:
                continue
            try:
                getattr(importlib.import_module(module), func)(stack)
                ran.append(area)
            except ServiceUnavailable as exc:
                say(f"{area}: could not start its services, skipping it in the demo: {exc}")
        config = build_config(work, ran)
        state = work / "state.db"
        state.unlink(missing_ok=True)
        env = {**os.environ, **stack.env, "SENTINEL_CONFIG_FILE": str(config), "SENTINEL_STATE_PATH": str(state),
               "SENTINEL_SECRETS_DIR": str(work / "secrets")}
        if "kafka" in ran:
            # STALL is a verdict over a window of stored offsets: take two samples before the run you read.
            from devstack.demo_kafka import warm_up

            say("sampling consumer offsets twice so the lag check has a window ...")
            warm_up(env)
        say(f"config {config}; running: sentinel check --once")
        print(file=sys.stderr)
        sentinel = Path(sys.executable).parent / "sentinel"
        code = subprocess.run([str(sentinel), "check", "--once"], env=env, check=False).returncode
        print()
        say(f"`sentinel check --once` exited {code} (0 ok, 1 warning, 2 critical, 3 could not run). "
            "The breaches above are seeded on purpose; each row names its runbook.")
        say("the same results per table and stage: sentinel status (the daemon serves it at / too)")
        print(file=sys.stderr)
        subprocess.run([str(sentinel), "status"], env=env, check=False)
        if args.keep:
            kept = procs.keep_started()
            say(f"{len(kept)} services left running (--keep); `python -m devstack.demo --down` stops them. "
                "Environment for more commands:")
            for key, value in sorted(env.items()):
                if key.startswith("SENTINEL_"):
                    print(f"export {key}='{value}'")
        return 0
    finally:
        if not args.keep:
            stack.stop()


if __name__ == "__main__":
    raise SystemExit(main())
