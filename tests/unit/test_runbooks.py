"""Every runbook an alert can link to exists and follows the template; every runbook is linked from something.

References come from: each check kind's `runbook` class attribute (through its entry point), `runbook:` of
checks and rules in alert_rules.yaml and the demo configs, and runbook names in the code (the "check broken"
alert, SLA burn-rate alerts, runbooks named by findings such as dbt's "not running")."""

from __future__ import annotations

import re
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import pytest
import yaml
from click.testing import CliRunner

from sentinel import runbooks
from sentinel.cli import main
from sentinel.rules import BROKEN_RUNBOOK

ROOT = Path(__file__).resolve().parents[2]
RUNBOOKS = ROOT / "runbooks"
CONFIGS = [ROOT / "alert_rules.yaml", *sorted((ROOT / "demo").glob("**/*.yaml"))]
# `runbook = "x"`, `"runbook": "x"`, `runbook="x"`, `BURN_RUNBOOK = "x"` in the code
CODE_REFERENCE = re.compile(r"""(?:runbook|RUNBOOK)["']?\s*[:=]\s*["']([a-z0-9][a-z0-9-]+)["']""")


def config_references() -> dict[str, str]:
    """runbook name -> where it is referenced, from every check and rule in the shipped and demo configs."""
    refs: dict[str, str] = {}
    for path in CONFIGS:
        data: Any = yaml.safe_load(path.read_text()) or {}
        for section in ("checks", "rules"):
            for i, item in enumerate(data.get(section) or []):
                if isinstance(item, dict) and item.get("runbook"):
                    refs.setdefault(str(item["runbook"]), f"{path.relative_to(ROOT)} {section}[{i}] ({item.get('id')})")
    return refs


def entry_point_references() -> dict[str, str]:
    refs = {}
    for ep in entry_points(group="sentinel.checks"):
        name = getattr(ep.load(), "runbook", None)
        assert name, f"check kind {ep.name!r} ({ep.value}) has no `runbook` class attribute"
        refs.setdefault(str(name), f"check kind {ep.name} ({ep.value})")
    return refs


def code_references() -> dict[str, str]:
    refs = {BROKEN_RUNBOOK: "sentinel.rules.BROKEN_RUNBOOK (check broken alerts)"}
    for path in sorted([*ROOT.glob("sentinel/**/*.py"), *ROOT.glob("checks/**/*.py")]):
        for match in CODE_REFERENCE.finditer(path.read_text()):
            refs.setdefault(match.group(1), f"{path.relative_to(ROOT)}")
    return refs


def prometheus_rule_references() -> dict[str, str]:
    """The runbook_url of Sentinel's own alerts in deploy/prometheus/ (they go through Alertmanager)."""
    refs = {}
    for path in sorted((ROOT / "deploy" / "prometheus").glob("*.yaml")):
        for group in (yaml.safe_load(path.read_text()) or {}).get("groups") or []:
            for rule in group.get("rules") or []:
                url = (rule.get("annotations") or {}).get("runbook_url", "")
                if url:
                    refs.setdefault(url.rsplit("/", 1)[-1].removesuffix(".md"), f"{path.relative_to(ROOT)} {rule['alert']}")
    return refs


def all_references() -> dict[str, str]:
    return {**code_references(), **config_references(), **entry_point_references(), **prometheus_rule_references()}


def test_every_referenced_runbook_exists() -> None:
    have = set(runbooks.available(RUNBOOKS))
    missing = {name: where for name, where in all_references().items() if name not in have}
    assert not missing, "runbooks referenced but missing (write runbooks/<name>.md from runbooks/TEMPLATE.md):\n" + \
        "\n".join(f"  {name}.md  <- {where}" for name, where in sorted(missing.items()))


def test_every_runbook_is_referenced_by_a_check_or_rule() -> None:
    refs = all_references()
    orphans = [name for name in runbooks.available(RUNBOOKS) if name not in refs]
    assert not orphans, f"runbooks no check kind, check, rule or alert links to: {orphans}"


@pytest.mark.parametrize("name", runbooks.available(RUNBOOKS))
def test_runbook_follows_the_template(name: str) -> None:
    text = (RUNBOOKS / f"{name}.md").read_text()
    assert text.startswith(f"# {name}: "), f"{name}.md must start with '# {name}: <what is wrong>'"
    assert runbooks.section_problems(text) == []
    diagnosis = text.split("## Diagnosis", 1)[1].split("\n## ", 1)[0]
    assert "`" in diagnosis, f"{name}.md: Diagnosis needs real commands (in backticks or a code block)"
    silence = text.split("## How to silence", 1)[1]
    assert "sentinel silence" in silence or "silence" in silence.lower()


def test_the_template_itself_has_every_section_in_order() -> None:
    assert runbooks.section_problems((RUNBOOKS / "TEMPLATE.md").read_text()) == []


def test_the_section_checker_catches_a_missing_and_a_misplaced_section() -> None:
    text = "# x: y\n## What fired\n## Diagnosis\n## Impact (SLAs, dashboards)\n## First five minutes\n## Remediation\n"
    problems = runbooks.section_problems(text)
    assert "missing section '## Escalation'" in problems and "missing section '## How to silence'" in problems
    assert any("out of order" in p for p in problems)


def test_reference_scanner_sees_config_rules_and_checks(tmp_path: Path) -> None:
    refs = config_references()
    assert all(where for where in refs.values())
    assert CODE_REFERENCE.search('    runbook = "kafka-consumer-lag"').group(1) == "kafka-consumer-lag"  # type: ignore[union-attr]
    assert CODE_REFERENCE.search('details={"runbook": "dbt-not-running"}').group(1) == "dbt-not-running"  # type: ignore[union-attr]


def test_runbook_command_renders_one_in_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_RUNBOOK_BASE_URL", "https://git.example/analytics/docs/runbooks")
    monkeypatch.setenv("SENTINEL_RUNBOOKS_DIR", str(RUNBOOKS))
    result = CliRunner().invoke(main, ["runbook", "sql-threshold"])
    assert result.exit_code == 0, result.output
    assert "sql-threshold: a number from a SQL query crossed its threshold\n=====" in result.output
    assert "First five minutes\n------------------" in result.output
    assert "```" not in result.output and "    SELECT slot_name" in result.output  # code blocks indented
    assert result.output.rstrip().endswith("Online: https://git.example/analytics/docs/runbooks/sql-threshold.md")
    by_kind = CliRunner().invoke(main, ["runbook", "sql_threshold"])  # a check kind finds its runbook
    assert by_kind.exit_code == 0 and "sql-threshold" in by_kind.output


def test_runbook_command_suggests_and_lists_on_an_unknown_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_RUNBOOKS_DIR", str(RUNBOOKS))
    result = CliRunner().invoke(main, ["runbook", "sql-treshold"])
    assert result.exit_code == 64  # a usage error, not the "critical" status
    assert "no runbook 'sql-treshold' (did you mean \"sql-threshold\"?)" in result.output
    assert "available: " in result.output and "check-broken" in result.output
    listing = CliRunner().invoke(main, ["runbook", "--list"])
    assert listing.exit_code == 0 and "  sql-threshold" in listing.output and "TEMPLATE" not in listing.output
