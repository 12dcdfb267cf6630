"""Every bad input gets a clear answer (issue 18): the exit code that says what kind of problem it is, a message
that names the file, line, variable or option and how to fix it, no traceback, no silent acceptance, and no
secret repeated back.

The cases are the table in bad_inputs_cases.py. Each runs the real `sentinel` command (click's in-process runner
with the case's own environment), against real files written to a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from sentinel.cli import main
from tests.unit.bad_inputs_cases import ALL_CASES, CONFIG_CASES, DBT_CASES, ENV_CASES, GOOD, USAGE_CASES, Case

DBT_CONFIG = """version: 1
checks:
  - id: dbt_prod
    kind: dbt_results
    timeout: 20s
    params: {{location: "{target}"}}
"""


def run_case(case: Case, tmp_path: Path) -> Result:
    config = tmp_path / "alert_rules.yaml"
    target = tmp_path / "target"
    if case.dbt is not None:
        target.mkdir()
        case.dbt(target)
        config.write_text(DBT_CONFIG.format(target=target))
    elif isinstance(case.config, bytes):
        config.write_bytes(case.config)
    else:
        config.write_text(GOOD if case.config is None else case.config)
    secrets = tmp_path / "secrets"
    if case.secret_files:
        secrets.mkdir()
        for name, value in case.secret_files.items():
            (secrets / name).write_text(value)

    def fill(text: str) -> str:
        return text.replace("{config}", str(config)).replace("{dir}", str(tmp_path))

    # Only the case's environment: nothing inherited from the machine or other tests can change the answer.
    env: dict[str, str | None] = {k: None for k in os.environ if k.upper().startswith("SENTINEL_")}
    env.update({"NO_COLOR": "1", "SENTINEL_CONFIG_FILE": str(config), "SENTINEL_STATE_PATH": str(tmp_path / "state.db"),
                "SENTINEL_SECRETS_DIR": str(secrets)})
    env.update({k: fill(v) for k, v in case.env.items()})
    return CliRunner().invoke(main, [fill(a) for a in case.args], env=env, catch_exceptions=True)


def assert_clear_answer(case: Case, result: Result, tmp_path: Path) -> None:
    output = result.output
    crashed = result.exception is not None and not isinstance(result.exception, SystemExit)
    assert not crashed, f"{case.id}: raised {result.exception!r} instead of answering:\n{output}"
    assert "Traceback" not in output, f"{case.id}: a traceback reached the user:\n{output}"
    assert result.exit_code != 0, f"{case.id}: accepted silently (exit 0):\n{output}"
    assert result.exit_code == case.exit_code, f"{case.id}: exit {result.exit_code}, expected {case.exit_code}:\n{output}"
    for fragment in case.fragments:
        fragment = fragment.replace("{dir}", str(tmp_path))
        assert fragment in output, f"{case.id}: {fragment!r} not in:\n{output}"
    for secret in case.never_shown:
        assert secret not in output, f"{case.id}: a secret value was echoed:\n{output}"


def test_the_table_covers_every_kind_of_input_with_at_least_80_cases() -> None:
    assert len(ALL_CASES) >= 80
    assert len({c.id for c in ALL_CASES}) == len(ALL_CASES), "case ids are unique"
    assert all(len(group) >= 10 for group in (CONFIG_CASES, ENV_CASES, USAGE_CASES, DBT_CASES))
    assert all(c.fragments for c in ALL_CASES), "every case names what the user must read"


@pytest.mark.parametrize("case", ALL_CASES, ids=[c.id for c in ALL_CASES])
def test_bad_input_gets_a_clear_answer(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # whatever a case writes by a relative path stays in its own folder
    assert_clear_answer(case, run_case(case, tmp_path), tmp_path)
