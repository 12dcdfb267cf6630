"""`sentinel discover` as a person runs it on the devstack: from a config with no lineage, discover the pipeline,
--write it (the result validates), then a developer adds payments.disputes at the source: discover follows it end
to end, the coverage check alerts that nothing watches it after Kafka, and stops once --write has added it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.discovery_world import DiscoveryWorld, world_fixture

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(900)]  # the first test of a session starts Kafka, Connect, dbt ...
SENTINEL = str(Path(sys.executable).parent / "sentinel")

CONFIG = """# A config with checks but no lineage yet: what a team has before `sentinel discover --write`.
version: 1

checks:
  # The pipeline's coverage, once a day: a table nobody watches, a table that is gone, a hop that moved.
  - id: coverage
    kind: pipeline_coverage
    description: discovered vs configured lineage
    schedule: {{every: 1d}}
    timeout: 2m
    params: {{dbt_location: "{dbt}"}}
  - id: dbt_prod_results
    kind: dbt_results
    params: {{location: "{dbt}", cadence: 15m}}
"""


world = world_fixture("discover-e2e")


def test_discover_write_then_a_new_table_is_found_and_alerted_until_it_is_watched(world: DiscoveryWorld,
                                                                                  tmp_path: Path) -> None:
    config = tmp_path / "alert_rules.yaml"
    config.write_text(CONFIG.format(dbt=world.dbt_location))
    env = {**os.environ, **world.env(), "SENTINEL_CONFIG_FILE": str(config),
           "SENTINEL_STATE_PATH": str(tmp_path / "state.db"), "SENTINEL_SECRETS_DIR": str(tmp_path / "none")}

    def sentinel(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([SENTINEL, *args], env=env, capture_output=True, text=True, timeout=180, check=False)

    def coverage() -> tuple[int, dict[str, str], str]:
        proc = sentinel("check", "--once", "--only", "coverage", "--format", "json")
        [result] = json.loads(proc.stdout)["results"]
        return proc.returncode, {f["key"]: f["summary"] for f in result["findings"] if f["status"] != "ok"}, proc.stderr

    shown = sentinel("discover")
    assert shown.returncode == 1, shown.stderr  # some hops do not resolve (below): said, and the exit code says so
    assert f"  s3            s3://{world.bucket}/raw/payments/transactions/" in shown.stdout
    assert f"  snowflake_raw {world.database}.RAW.TRANSACTIONS" in shown.stdout
    assert "  dbt           source payments.transactions" in shown.stdout
    assert f"  dbt           UNRESOLVED: no dbt source reads {world.database}.RAW.API_KEYS" in shown.stdout
    assert f"its stage {world.database}.RAW.SETTLEMENTS_OLD is not visible" in shown.stdout
    assert "do-not-leak" not in shown.stdout + shown.stderr

    code, before, _ = coverage()  # nothing is watched yet
    assert code == 1 and "unwatched:payments.transactions" in before

    written = sentinel("discover", "--write")
    assert "+    payments.transactions:" in written.stdout + written.stderr, written.stderr
    assert sentinel("validate").returncode == 0
    text = config.read_text()
    assert text.startswith(CONFIG.format(dbt=world.dbt_location).rstrip("\n"))  # what the person wrote, untouched
    code, after, _ = coverage()
    assert (code, after) == (0, {}), after

    world.add_table("payments.disputes", f"{world.sfx}-debezium-payments")
    shown = sentinel("discover")
    assert "payments.disputes\n" in shown.stdout
    assert f"  snowflake_raw {world.database}.RAW.DISPUTES" in shown.stdout
    code, found, alerts = coverage()
    assert code == 1
    assert found == {"unwatched:payments.disputes":
                     f"payments.disputes reaches {world.database}.RAW.DISPUTES; nothing watches it after Kafka"}
    assert "would notify [console]" in alerts and "nothing watches it after Kafka" in alerts
    assert "runbooks/pipeline-coverage.md" in alerts

    assert "payments.disputes" in sentinel("discover", "--diff").stdout
    assert config.read_text() == text  # --diff writes nothing
    sentinel("discover", "--write")
    assert sentinel("validate").returncode == 0
    code, found, alerts = coverage()
    assert (code, found) == (0, {})
    assert "payments.disputes" in alerts  # the alert is resolved (an update of the same key)
