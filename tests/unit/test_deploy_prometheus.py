"""Sentinel's own alert rules and Grafana dashboard (deploy/), checked by Prometheus' promtool: the rules load, their
unit tests (sentinel-alerts.test.yaml) pass, and every dashboard query is valid PromQL. Which metric names they use
exist in a real scrape is checked in tests/e2e/test_metrics_promtool.py."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "sentinel-alerts.yaml"
RULE_TESTS = ROOT / "deploy" / "prometheus" / "sentinel-alerts.test.yaml"
DASHBOARD = ROOT / "deploy" / "grafana" / "sentinel-dashboard.json"
# Sentinel's own alerts the issue asks for: down or not leading, broken checks, notification failures, heartbeat
REQUIRED_ALERTS = {"SentinelDown", "SentinelNotLeading", "SentinelChecksBroken", "SentinelNotificationsFailing",
                   "SentinelHeartbeatMissing"}


def promtool(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    path = shutil.which("promtool")
    assert path, "promtool is missing: scripts/bootstrap installs Debian's prometheus package, which has it"
    return subprocess.run([path, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)


def dashboard_queries() -> list[tuple[str, str]]:
    board = json.loads(DASHBOARD.read_text())
    return [(p["title"], t["expr"]) for p in board["panels"] for t in p.get("targets", [])]


def test_the_alert_rules_load() -> None:
    proc = promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    alerts = {r["alert"] for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]}
    assert alerts >= REQUIRED_ALERTS


def test_the_alert_rules_fire_when_and_only_when_their_tests_say() -> None:
    proc = promtool("test", "rules", RULE_TESTS.name, cwd=RULE_TESTS.parent)
    assert proc.returncode == 0 and "SUCCESS" in proc.stdout, proc.stdout + proc.stderr
    tested = {t["alertname"] for case in yaml.safe_load(RULE_TESTS.read_text())["tests"]
              for t in case.get("alert_rule_test", [])}
    assert tested >= REQUIRED_ALERTS


def test_every_dashboard_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool has no stand-alone PromQL check, so each query becomes a recording rule that `check rules` parses."""
    queries = dashboard_queries()
    assert len(queries) >= 15
    rules = [{"record": f"dashboard:query_{i}", "expr": re.sub(r"\$__rate_interval", "5m", expr).replace("$job", "sentinel")}
             for i, (_, expr) in enumerate(queries)]
    path = tmp_path / "dashboard-queries.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    proc = promtool("check", "rules", str(path))
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dashboard_panels_use_the_datasource_variable_and_the_job_filter() -> None:
    board = json.loads(DASHBOARD.read_text())
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource", "job"}
    ids = [p["id"] for p in board["panels"]]
    assert len(ids) == len(set(ids))
    for title, expr in dashboard_queries():
        assert 'job="$job"' in expr, f"panel {title!r} would mix other jobs' series in: {expr}"
    for p in board["panels"]:
        if p["type"] != "row":
            assert p["datasource"]["uid"] == "${datasource}", p["title"]
