"""A credential pasted into alert_rules.yaml is flagged with its line and never repeated; credential-shaped text
is masked in results and logs even when Sentinel was never told it is a secret."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from sentinel.config.loader import load_config
from sentinel.errors import ConfigErrors
from sentinel.plugins import check_registry
from sentinel.redact import Redactor, redact_logs

PASSWORD = "Tr0ub4dor-prod-pw"
DSN = f"postgresql://sentinel:{PASSWORD}@prod-db.internal:5432/novapay"
SLACK = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp"

CONFIG = f"""version: 1
checks:
  - id: backlog
    kind: sql_threshold
    params:
      connection: "{DSN}"
      query: SELECT 1
      warning: "{DSN}"
notifiers:
  - name: team_slack
    kind: slack
    options:
      token: {SLACK}
      channel: "#data"
  - name: ops
    kind: opsgenie
    options:
      api_key: 7c9e6679-7425-40de-944b-e07fc1f90ae7
"""


def problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "alert_rules.yaml"
    path.write_text(text)
    with pytest.raises(ConfigErrors) as info:
        load_config(path, check_registry())
    return [str(p) for p in info.value.problems]


def test_each_secret_literal_is_flagged_with_its_line_and_where_it_belongs(tmp_path: Path) -> None:
    found = problems(tmp_path, CONFIG)
    text = "\n".join(found)
    f = tmp_path / "alert_rules.yaml"
    assert f"{f}:6 at checks[0].params.connection: this value looks like a connection URL with a password" in text
    assert any(p.startswith(f"{f}:13 ") and "looks like a credential (key 'token')" in p for p in found)
    assert any(p.startswith(f"{f}:18 ") and "looks like a credential (key 'api_key')" in p for p in found)
    assert all("SENTINEL_SECRETS_DIR" in p for p in found if "this value looks like" in p)
    # the connection must be a name: said without repeating the DSN
    assert any("must be a connection name" in p and "put it in SENTINEL_POSTGRES_DSNS" in p for p in found)
    # a password in the wrong field is not echoed back in "(got ...)"
    assert any("warning" in p and "<a connection URL with a password, not shown>" in p for p in found)
    for secret in (PASSWORD, SLACK, "7c9e6679-7425"):
        assert secret not in text


def test_the_production_config_has_no_secret_literals() -> None:
    load_config(Path(__file__).resolve().parents[2] / "alert_rules.yaml", check_registry())


def test_credential_shapes_are_masked_without_being_configured() -> None:
    redactor = Redactor([])
    text = redactor.text(f"no PostgreSQL connection named {DSN!r}; slack said {SLACK}; key AKIAABCDEFGHIJKLMNOP")
    assert PASSWORD not in text and SLACK not in text and "AKIAABCDEFGHIJKLMNOP" not in text
    assert "postgresql://sentinel:[redacted]@prod-db.internal:5432/novapay" in text


def test_log_lines_are_redacted(caplog: pytest.LogCaptureFixture) -> None:
    root = logging.getLogger()
    handler = logging.StreamHandler()
    root.addHandler(handler)
    try:
        redact_logs(Redactor(["configured-secret-value"]))
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "connect %s failed (%s)",
                                   (DSN, "configured-secret-value"), None)
        assert handler.filter(record)
        assert record.getMessage() == ("connect postgresql://sentinel:[redacted]@prod-db.internal:5432/novapay "
                                       "failed ([redacted])")
    finally:
        root.removeHandler(handler)


@pytest.mark.parametrize("spelt", [
    # a double-quoted escape spells 'AKIA' where the file text never holds it
    '"\\x41KIAIOSFODNN7EXAMPLE"',
    # a folded line break becomes the space inside '-----BEGIN RSA PRIVATE KEY-----'
    "-----BEGIN RSA PRIVATE\n        KEY-----",
], ids=["escaped", "folded"])
def test_a_credential_the_file_text_does_not_spell_out_is_still_flagged(tmp_path: Path, spelt: str) -> None:
    # The loader skips judging values when the whole text cannot hold a credential; these must not slip past.
    found = problems(tmp_path, "version: 1\nchecks:\n  - id: a\n    kind: sql_threshold\n    description: "
                               f"{spelt}\n    params: {{query: SELECT 1, warning: 1}}\n")
    assert any("checks[0].description: this value looks like" in p for p in found), found
