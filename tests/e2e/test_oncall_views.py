"""On-call views on the local demo pipeline: the demo's PostgreSQL seeding (stuck payouts, an inactive Debezium slot
holding WAL) and the demo config, a real `sentinel run`; then `sentinel status` in the terminal and the daemon's `/`
page in headless Chromium both show the failing stages of payments.transactions with their values and alerts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from devstack.base import ServiceUnavailable
from devstack.demo import build_config, seed_postgres
from devstack.postgres import PostgresService, start_postgres
from tests.e2e.daemon_util import SENTINEL, Daemon, base_env, start_daemon, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.integration]
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


class DemoPostgres:
    """What devstack.demo.seed_postgres needs from the demo stack, on a cluster of this test's own (the demo leaves a
    logical replication slot behind, which must not leak into the shared test cluster)."""

    def __init__(self, service: PostgresService) -> None:
        self.service = service
        self.env: dict[str, str] = {}

    def postgres(self) -> PostgresService:
        return self.service


@pytest.fixture(scope="module")
def demo_daemon(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Daemon, dict[str, str]]]:
    try:
        service = start_postgres(f"oncall-demo-{os.getpid()}", throwaway=True)
    except ServiceUnavailable as exc:
        pytest.fail(f"PostgreSQL could not start: {exc}", pytrace=False)
    work = tmp_path_factory.mktemp("oncall")
    stack = DemoPostgres(service)
    seed_postgres(stack)  # type: ignore[arg-type]
    build_config(work, [])
    env = base_env(work, **stack.env)
    daemon = start_daemon("demo", env, work)
    try:
        wait_for(lambda: "retained_wal_bytes" in daemon.get("/metrics")[1] and
                 _stage(status_json(env), "payments.transactions", "debezium")["status"] == "warn",
                 60, "the demo checks did not report", daemon)
        # the daemon groups warnings for group_wait before announcing; firing state is there at once
        wait_for(lambda: bool(_stage(status_json(env), "payments.transactions", "debezium")["firing"]), 30,
                 "no firing alert on the debezium stage", daemon)
        yield daemon, env
    finally:
        daemon.stop()
        service.stop()


def status_json(env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([SENTINEL, "status", "--format", "json"], env=env, capture_output=True, text=True, timeout=60,
                          check=False)
    assert proc.returncode in (0, 1, 2, 3), proc.stderr
    data: dict[str, Any] = json.loads(proc.stdout)
    return data


def _stage(data: dict[str, Any], table: str, stage: str) -> dict[str, Any]:
    [view] = [t for t in data["tables"] if t["table"] == table]
    [found] = [s for s in view["stages"] if s["stage"] == stage]
    return found


def test_sentinel_status_draws_the_failing_stages_in_the_terminal(demo_daemon: tuple[Daemon, dict[str, str]]) -> None:
    _daemon, env = demo_daemon
    proc = subprocess.run([SENTINEL, "status"], env=env, capture_output=True, text=True, timeout=60, check=False)
    out = proc.stdout
    assert proc.returncode == 1, proc.stderr  # worst stage is a warning
    lines = out.splitlines()
    assert "payments.transactions  [WARN]  SLAs: transactions_freshness  dashboards: Executive Dashboard," \
           " Payments Operations" in out
    # the line under the table's heading: its stages in pipeline order
    chain = lines[next(i for i, x in enumerate(lines) if x.startswith("payments.transactions  ")) + 1]
    assert chain.split(" -> ")[1:3] == ["debezium[WARN]", "kafka[-]"] and chain.endswith(" -> looker[-]")
    [debezium] = [line for line in lines if line.strip().startswith("debezium ")]
    assert "WARN" in debezium and "retained wal bytes" in debezium and "checked" in debezium
    assert any("FIRING warning debezium_slot_retained_wal" in line and "runbook: debezium-replication-slot" in line
               for line in lines)
    first = next(s.split("[")[0].strip() for s in chain.split(" -> ") if not s.endswith(("[OK]", "[-]")))
    assert f"first failing stage: {first} (WARN) - downstream stages are likely symptoms" in out
    assert "users.merchants  [NOT WATCHED]" in out  # nothing in the demo base config watches it


class _Dom(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.elements: list[tuple[str, dict[str, str]]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.elements.append((tag, {k: v or "" for k, v in attrs}))

    def handle_data(self, data: str) -> None:
        self.text.append(data)


def test_the_status_page_in_headless_chromium_shows_the_failing_stage(demo_daemon: tuple[Daemon, dict[str, str]],
                                                                      tmp_path: Path) -> None:
    daemon, _env = demo_daemon
    url = f"http://127.0.0.1:{daemon.port}/"
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_path / 'chromium'}"]
    dump = subprocess.run([CHROMIUM, *flags, "--dump-dom", url], capture_output=True, text=True, timeout=90,
                          check=False)
    assert dump.returncode == 0, dump.stderr[-2000:]
    dom = _Dom()
    dom.feed(dump.stdout)
    text = " ".join(" ".join(dom.text).split())
    sections = [a for tag, a in dom.elements if tag == "section"]
    tx = next(a for a in sections if a.get("data-table") == "payments.transactions")
    assert tx["data-status"] == "warn"
    stages = [a for tag, a in dom.elements if tag == "li" and "stage" in a.get("class", "")]
    tx_stages = stages[:10]  # the first section's pipeline, in order
    assert [s["data-stage"] for s in tx_stages] == ["postgres", "debezium", "kafka", "s3_sink", "s3", "snowpipe",
                                                    "snowflake_raw", "dbt", "analytics", "looker"]
    assert [s["data-status"] for s in tx_stages[1:3]] == ["warn", "unwatched"]  # debezium fails, kafka unwatched
    first = next(s["data-stage"] for s in tx_stages if s["data-status"] not in ("ok", "unwatched"))
    assert f"First failing stage: {first}" in text
    assert "retained wal bytes" in text and "WARNING" in text
    links = [a["href"] for tag, a in dom.elements if tag == "a"]
    assert "https://runbooks.example/novapay/debezium-replication-slot.md" in links

    shot = tmp_path / "status.png"
    taken = subprocess.run([CHROMIUM, *flags, f"--screenshot={shot}", "--window-size=1280,900", url],
                           capture_output=True, text=True, timeout=90, check=False)
    assert taken.returncode == 0 and shot.stat().st_size > 10_000, taken.stderr[-2000:]
