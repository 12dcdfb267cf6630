"""One `--format table|json` on every command that prints data, and the JSON shapes the README documents."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
SENTINEL = str(Path(sys.executable).parent / "sentinel")
ROOT = Path(__file__).resolve().parents[2]
DATA_COMMANDS = [["check"], ["list"], ["validate"], ["doctor"], ["status"], ["sla"], ["alerts"], ["silence", "list"],
                 ["runbook"]]

CONFIG = """
checks:
  - id: backlog
    kind: sql_threshold
    schedule: {every: 1m}
    labels: {table: payments.transactions, stage: postgres}
    params: {query: "SELECT 7", value_name: backlog_rows, warning: 100}
  - id: parked
    kind: sql_threshold
    enabled: false
    params: {query: "SELECT 1", warning: 5}
"""
BROKEN = """
checks:
  - id: backlog
    kind: sql_threshhold
    params: {query: "SELECT 7"}
"""


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    return {**base, "SENTINEL_CONFIG_FILE": str(tmp_path / "alert_rules.yaml"),
            "SENTINEL_STATE_PATH": str(tmp_path / "state.db"), "SENTINEL_SECRETS_DIR": str(tmp_path / "none")}


def sentinel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([SENTINEL, *args], env=env, capture_output=True, text=True, timeout=60, check=False)


@pytest.mark.parametrize("command", DATA_COMMANDS, ids=" ".join)
def test_every_data_command_offers_table_or_json(command: list[str], env: dict[str, str]) -> None:
    proc = sentinel(env, *command, "--help")
    assert proc.returncode == 0 and "--format [table|json]" in proc.stdout, proc.stdout


def test_validate_json_valid_and_broken(env: dict[str, str], tmp_path: Path) -> None:
    config = tmp_path / "alert_rules.yaml"
    config.write_text(CONFIG)
    ok = sentinel(env, "validate", "--format", "json")
    assert ok.returncode == 0
    assert json.loads(ok.stdout) == {"valid": True, "file": str(config), "checks": 2, "enabled_checks": 1, "rules": 0,
                                     "routes": 0, "slas": 0, "problems": []}
    config.write_text(BROKEN)
    bad = sentinel(env, "validate", "--format", "json")
    assert bad.returncode == 4
    report = json.loads(bad.stdout)
    [problem] = report["problems"]
    assert report["valid"] is False and problem["file"] == str(config) and problem["line"] == 4
    assert problem["path"] == "checks[0].kind" and 'did you mean "sql_threshold"' in problem["message"]


def test_a_bad_setting_is_json_too(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "alert_rules.yaml").write_text(CONFIG)
    proc = sentinel({**env, "SENTINEL_HTTP_PORTT": "9108"}, "validate", "--format", "json")
    assert proc.returncode == 4
    [problem] = json.loads(proc.stdout)["problems"]
    assert "SENTINEL_HTTP_PORTT" in problem["setting"]


def test_list_json(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "alert_rules.yaml").write_text(CONFIG)
    proc = sentinel(env, "list", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    listed = json.loads(proc.stdout)
    assert listed["disabled"] == ["parked"]
    assert listed["checks"] == [{"id": "backlog", "kind": "sql_threshold", "schedule": "every 1m",
                                 "timeout_seconds": 30.0, "what": listed["checks"][0]["what"], "runbook": "sql-threshold",
                                 "labels": {"table": "payments.transactions", "stage": "postgres"}}]
    assert "backlog_rows" in listed["checks"][0]["what"]


def test_runbook_list_json(env: dict[str, str]) -> None:
    proc = sentinel(env, "runbook", "--list", "--format", "json")
    listed = json.loads(proc.stdout)
    assert "kafka-consumer-lag" in listed["runbooks"] and "TEMPLATE" not in listed["runbooks"]


def test_the_old_text_word_still_means_table(env: dict[str, str], tmp_path: Path) -> None:
    (tmp_path / "alert_rules.yaml").write_text(CONFIG)
    as_text, as_table = sentinel(env, "status", "--format", "text"), sentinel(env, "status", "--format", "table")
    # the same view (the first line says when it was drawn)
    assert as_text.returncode == as_table.returncode
    assert as_text.stdout.splitlines()[1:] == as_table.stdout.splitlines()[1:] and "no result yet" in as_text.stdout
    assert sentinel(env, "status", "--format", "xml").returncode == 64
