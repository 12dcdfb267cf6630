from pathlib import Path

import pytest

from sentinel.config.settings import load_settings
from sentinel.errors import SettingsErrors


def test_env_and_kubernetes_secret_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "slack_token").write_text("xoxb-from-a-mounted-secret")
    (secrets / "postgres_dsn").write_text("postgresql://svc:pw-from-file@db:5432/app")
    monkeypatch.setenv("SENTINEL_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("SENTINEL_KAFKA_BOOTSTRAP", "kafka-1:9092,kafka-2:9092")
    monkeypatch.setenv("SENTINEL_POSTGRES_DSNS", '{"replica": "postgresql://ro:x@db2/app"}')
    settings = load_settings()
    assert settings.slack_token is not None and settings.slack_token.get_secret_value() == "xoxb-from-a-mounted-secret"
    assert settings.postgres_dsn is not None and "pw-from-file" in settings.postgres_dsn.get_secret_value()
    assert settings.kafka_bootstrap == "kafka-1:9092,kafka-2:9092"
    assert settings.postgres_dsns["replica"].get_secret_value().startswith("postgresql://ro:")
    assert "pw-from-file" not in repr(settings) and "xoxb" not in repr(settings)


def test_missing_secrets_dir_is_fine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_SECRETS_DIR", str(tmp_path / "absent"))
    assert load_settings().slack_token is None


@pytest.mark.parametrize(("text", "seconds"), [("5m", 300), ("1h30m", 5400), ("3600", 3600), ("P35D", 35 * 86400)])
def test_durations_read_as_in_the_yaml_and_as_pydantic_does(text: str, seconds: int, tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_SECRETS_DIR", str(tmp_path / "absent"))
    monkeypatch.setenv("SENTINEL_RESULTS_RETENTION", text)
    assert load_settings().results_retention.total_seconds() == seconds


def test_variables_other_tools_read_and_kubernetes_service_links_are_not_typos(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SENTINEL_SECRETS_DIR", str(tmp_path / "absent"))
    for name in ("SENTINEL_RUNBOOKS_DIR", "SENTINEL_DEVSTACK_CACHE", "SENTINEL_SERVICE_HOST", "SENTINEL_SERVICE_PORT",
                 "SENTINEL_SERVICE_PORT_HTTP", "SENTINEL_PORT", "SENTINEL_PORT_9108_TCP", "SENTINEL_PORT_9108_TCP_ADDR"):
        monkeypatch.setenv(name, "x")
    load_settings()  # no SettingsErrors


def test_every_settings_problem_at_once_naming_variables_and_files_never_values(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secrets = tmp_path / "secrets"
    secrets.mkdir()
    (secrets / "slack_tokn").write_text("xoxb-secret-value")
    (secrets / "..data").mkdir()  # Kubernetes' own bookkeeping beside the secret files
    monkeypatch.setenv("SENTINEL_SECRETS_DIR", str(secrets))
    monkeypatch.setenv("SENTINEL_SNOWFLAKE_PASWORD", "pw-secret-value")
    monkeypatch.setenv("SENTINEL_HTTP_PORT", "eighty")
    with pytest.raises(SettingsErrors) as info:
        load_settings()
    text = str(info.value)
    assert len(info.value.problems) == 3, text
    assert 'SENTINEL_SNOWFLAKE_PASWORD: unknown variable, so it is ignored (did you mean "SENTINEL_SNOWFLAKE_PASSWORD"?)' \
        in text
    assert f"secret file {secrets / 'slack_tokn'}: no setting is called 'slack_tokn'" in text
    assert "SENTINEL_HTTP_PORT: Input should be a valid integer" in text
    assert "secret-value" not in text and "..data" not in text
