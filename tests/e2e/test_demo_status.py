"""`scripts/demo` measures every stage of every captured table and of the event stream (issue 20, point 4): the real
demo (PostgreSQL, Kafka and Kafka Connect, moto S3, fakesnow, dbt, the Looker contract server), then
`sentinel status --format json` with the environment the demo printed; a stage with no result ("-") fails the test.

Each table's lineage lists only the hops it really passes, so a hop it never reaches is not a "-" either."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from devstack.base import PROJECT_ROOT

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(1500)]  # the whole demo: Kafka, Connect, dbt ...

TABLES = ["payments.transactions", "payments.refunds", "users.merchants", "users.api_keys", "events.payment_events"]


def _demo(cache: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}, "SENTINEL_DEVSTACK_CACHE": str(cache)}
    return subprocess.run([sys.executable, "-m", "devstack.demo", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=900, check=False)


def _exports(stdout: str) -> dict[str, str]:
    out = {}
    for line in stdout.splitlines():
        if line.startswith("export SENTINEL_") and "=" in line:
            key, _, value = line.removeprefix("export ").partition("=")
            out[key] = value.strip("'")
    return out


def test_the_demo_measures_every_stage_of_every_table(tmp_path: Path) -> None:
    cache = tmp_path / "devstack"
    try:
        demo = _demo(cache, "--keep")
        assert demo.returncode == 0, demo.stderr[-3000:]
        env = {**{k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}, **_exports(demo.stdout)}
        assert "SENTINEL_KAFKA_BOOTSTRAP" in env and "SENTINEL_LOOKER_BASE_URL" in env, demo.stderr[-3000:]
        status = subprocess.run([str(Path(sys.executable).parent / "sentinel"), "status", "--format", "json"], env=env,
                                capture_output=True, text=True, timeout=120, check=False, cwd=PROJECT_ROOT)
        data: dict[str, Any] = json.loads(status.stdout)
    finally:
        _demo(cache, "--down")
    views = {t["table"]: t for t in data["tables"]}
    assert set(TABLES) <= set(views)
    unmeasured = [(table, s["stage"], s["note"]) for table in TABLES for s in views[table]["stages"]
                  if s["status"] is None]
    assert unmeasured == []
    lineage = {table: [s["stage"] for s in views[table]["stages"]] for table in TABLES}
    assert lineage["events.payment_events"] == ["kafka", "s3_sink", "s3", "looker"]
    # nothing downstream of Snowflake raw reads api_keys: those hops are not shown (schema_drift adds its own stage)
    assert lineage["users.api_keys"] == ["postgres", "debezium", "kafka", "s3_sink", "s3", "snowpipe", "snowflake_raw",
                                         "schema"]
