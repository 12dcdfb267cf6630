"""docs/plugins.md is a working guide: its package is extracted, pip-installed and run as a plugin author would.

The files come from the guide's fenced blocks that carry a `title="path"`, byte for byte, so the guide cannot
drift from what Sentinel accepts. Only two things are changed for the test, and they are named here: the
notifier's output path points into the test's directory, and `older_than` is shortened from 5m to 1s so the test
does not wait five minutes for a session to count as idle.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest

from devstack.postgres import PostgresService
from sentinel.runbooks import SECTIONS, sections

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
GUIDE = ROOT / "docs" / "plugins.md"
SENTINEL = Path(sys.executable).with_name("sentinel")
FENCE = re.compile(r'^(?P<fence>`{3,})\w*\s+title="(?P<path>[^"]+)"\n(?P<body>.*?)^(?P=fence)\n', re.M | re.S)


def guide_files() -> dict[str, str]:
    return {m["path"]: m["body"] for m in FENCE.finditer(GUIDE.read_text())}


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The guide's package, installed with pip (no network: the build backend comes from Sentinel's env)."""
    work = tmp_path_factory.mktemp("plugin-guide")
    for rel, body in guide_files().items():
        if rel.startswith("novapay-extras/"):
            target = work / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(body)
    site = work / "site"
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation", "--no-index",
         "--target", str(site), str(work / "novapay-extras")],
        capture_output=True, text=True, timeout=180,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert list(site.glob("novapay_extras-*.dist-info/entry_points.txt")), "pip did not register the entry points"
    return site


@pytest.fixture
def env(installed: Path, tmp_path: Path, postgres: PostgresService) -> dict[str, str]:
    postgres.create_database(database := "plugin_guide")
    runbooks = tmp_path / "runbooks"
    shutil.copytree(ROOT / "runbooks", runbooks)
    files = guide_files()
    (runbooks / "postgres-idle-transactions.md").write_text(files["runbooks/postgres-idle-transactions.md"])
    config = files["alert_rules.yaml"]
    assert "older_than: 5m" in config and "/var/lib/sentinel/alerts.jsonl" in config
    config = config.replace("older_than: 5m", "older_than: 1s")
    config = config.replace("/var/lib/sentinel/alerts.jsonl", str(tmp_path / "alerts.jsonl"))
    (tmp_path / "alert_rules.yaml").write_text(config)
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")},
        "PYTHONPATH": str(installed),
        "SENTINEL_CONFIG_FILE": str(tmp_path / "alert_rules.yaml"),
        "SENTINEL_RUNBOOKS_DIR": str(runbooks),
        "SENTINEL_STATE_PATH": str(tmp_path / "state.db"),
        "SENTINEL_SECRETS_DIR": str(tmp_path / "no-secrets"),
        # The least-privilege role from deploy/grants/postgres.sql: pg_monitor is enough to see other sessions.
        "SENTINEL_POSTGRES_DSN": postgres.monitor_dsn(database),
    }


def sentinel(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(SENTINEL), *args], env=env, capture_output=True, text=True, timeout=120)


@contextmanager
def idle_in_transaction(dsn: str, sessions: int) -> Iterator[None]:
    conns = [psycopg.connect(dsn) for _ in range(sessions)]
    try:
        for conn in conns:
            conn.execute("SELECT 1")  # psycopg opens a transaction and leaves it open: "idle in transaction"
        time.sleep(1.5)  # past older_than (1s)
        yield
    finally:
        for conn in conns:
            conn.close()


def test_the_guides_runbook_follows_the_template() -> None:
    text = guide_files()["runbooks/postgres-idle-transactions.md"]
    assert [s for s in sections(text) if s in SECTIONS] == list(SECTIONS)


def test_the_installed_kind_is_listed_and_its_params_validated(env: dict[str, str], tmp_path: Path) -> None:
    listed = sentinel(env, "list")
    assert listed.returncode == 0, listed.stderr
    assert "source_idle_transactions" in listed.stdout and "idle > 1s on default" in listed.stdout

    assert sentinel(env, "validate").returncode == 0

    config = tmp_path / "alert_rules.yaml"
    config.write_text(config.read_text().replace("warning: 1", "warnng: 1").replace("older_than: 1s", "older_than: soon"))
    bad = sentinel(env, "validate")
    assert bad.returncode == 4
    assert "alert_rules.yaml:" in bad.stdout + bad.stderr
    assert "warnng" in bad.stdout + bad.stderr and "older_than" in bad.stdout + bad.stderr
    assert "Traceback" not in bad.stdout + bad.stderr


def test_the_check_measures_real_sessions_and_the_notifier_delivers(env: dict[str, str], tmp_path: Path,
                                                                     postgres: PostgresService) -> None:
    quiet = sentinel(env, "check", "--once", "--format", "json")
    assert quiet.returncode == 0, quiet.stdout + quiet.stderr
    [result] = json.loads(quiet.stdout)["results"]
    assert result["status"] == "ok" and result["values"]["idle_transactions"] == 0

    with idle_in_transaction(postgres.dsn("plugin_guide"), sessions=2):
        busy = sentinel(env, "check", "--once")
    assert busy.returncode == 1, busy.stdout + busy.stderr  # WARN: 2 sessions, warning at 1, critical at 5
    assert "2 session(s) idle in a transaction for more than 1s" in busy.stdout

    sent = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert sent, "the jsonl_file notifier received nothing"
    [alert] = sent[-1]["alerts"]
    assert alert["check_id"] == "source_idle_transactions" and alert["severity"] == "warning"
    assert alert["runbook_url"].endswith("/postgres-idle-transactions.md")
