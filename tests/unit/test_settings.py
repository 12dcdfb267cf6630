from pathlib import Path

import pytest

from sentinel.config.settings import load_settings


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
