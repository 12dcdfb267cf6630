"""Process settings: SENTINEL_* environment variables and a secrets directory (Kubernetes secret mounts).

Secrets are SecretStr: their repr is '**********', so they cannot leak through logs or exceptions by accident.
A file named after a field in the secrets directory (e.g. /run/secrets/sentinel/slack_token) sets that field.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BeforeValidator, Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SecretsSettingsSource, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from sentinel.config import settings_problems as problems_of
from sentinel.durations import parse_duration
from sentinel.errors import SettingsErrors

DEFAULT_SECRETS_DIR = Path("/run/secrets/sentinel")


def _env_duration(value: Any) -> Any:
    """'35d' or '90m' as in alert_rules.yaml, or a bare number of seconds (the unit is in the README and the
    variable has always taken seconds); other text (ISO 8601 'P35D') is left to pydantic."""
    if isinstance(value, str):
        text = value.strip()
        if text.replace(".", "", 1).isdigit():
            return timedelta(seconds=float(text))
        try:
            return parse_duration(text)
        except ValueError:
            return value
    return value


def _positive(value: timedelta) -> timedelta:
    if value <= timedelta(0):
        raise ValueError("must be longer than 0, e.g. '35d'")
    return value


# A duration from the environment: the YAML's units, or the seconds and ISO 8601 forms pydantic reads.
EnvDuration = Annotated[timedelta, BeforeValidator(_env_duration), AfterValidator(_positive)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SENTINEL_", extra="ignore", frozen=True)

    config_file: Path = Path("alert_rules.yaml")
    state_path: Path = Field(Path("sentinel-state.db"), description="SQLite state file (embedded store)")
    state_dsn: SecretStr | None = Field(None, description="PostgreSQL DSN for the shared (HA) state store")
    http_host: str = "0.0.0.0"  # noqa: S104 - a sidecar must be scrapable from the pod network
    http_port: int = Field(9108, ge=0, le=65535)
    # POST /-/reload from anywhere but loopback needs `Authorization: Bearer <this>` (a file in the secrets dir).
    reload_token: SecretStr | None = Field(None, description="bearer token for POST /-/reload off loopback")
    # Read by the CLI before anything else (--log-format); declared so the variable is known, not "unknown".
    log_format: Literal["text", "json"] = Field("text", description="log lines as text or JSON (--log-format)")
    runbook_base_url: str = "https://github.com/novapay/analytics/blob/main/docs/runbooks/"
    max_workers: int = Field(8, ge=1, description="checks run at the same time")
    # Each check runs in a supervised worker process (a crash, hang or memory blow-up is that check's ERROR);
    # "thread" runs them in the caller's process, for debugging with a plain traceback.
    check_isolation: Literal["process", "thread"] = "process"
    check_memory_limit_mb: int = Field(1024, ge=64, description="resident memory a check's worker may use")
    # SLA observations and alert history live in their own tables; raw results serve `status`, reports and debugging.
    results_retention: EnvDuration = Field(timedelta(days=35), description="how long check results are kept")

    # PostgreSQL (source database). `postgres_dsn` is the connection named "default".
    postgres_dsn: SecretStr | None = None
    postgres_dsns: dict[str, SecretStr] = Field(default_factory=dict)

    # Kafka and Kafka Connect
    kafka_bootstrap: str | None = None
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    kafka_connect_url: str | None = None
    kafka_connect_username: str | None = None
    kafka_connect_password: SecretStr | None = None

    # Looker API 4.0 (the looker check): API3 client id/secret of a dedicated API user
    looker_base_url: str | None = Field(None, description="https://novapay.looker.com:19999 (the API host and port)")
    looker_client_id: SecretStr | None = None
    looker_client_secret: SecretStr | None = None
    looker_verify_ssl: bool = True

    # AWS (S3, SES)
    aws_region: str = "us-east-1"
    aws_endpoint_url: str | None = None
    aws_access_key_id: SecretStr | None = None
    aws_secret_access_key: SecretStr | None = None

    # Snowflake
    snowflake_account: str | None = None
    snowflake_user: str | None = None
    snowflake_password: SecretStr | None = None
    snowflake_private_key_file: Path | None = None
    snowflake_private_key_passphrase: SecretStr | None = None
    snowflake_role: str | None = None
    snowflake_warehouse: str | None = None
    snowflake_database: str | None = None
    snowflake_host: str | None = None
    snowflake_port: int | None = Field(None, ge=1, le=65535)
    snowflake_protocol: Literal["https", "http"] = "https"
    snowflake_schema: str | None = None
    # Only for stand-ins without COPY_HISTORY / SYSTEM$PIPE_STATUS (fakesnow in tests and the demo): a table/view
    # with the real output columns. Leave unset in production. See sentinel/sources/snowpipe.py.
    snowflake_copy_history_relation: str | None = None
    snowflake_pipe_status_relation: str | None = None
    snowflake_show_pipes_relation: str | None = None  # SHOW PIPES stand-in: sentinel/sources/snowflake_pipes.py
    aws_connect_timeout_seconds: float = Field(5.0, gt=0)
    aws_read_timeout_seconds: float = Field(20.0, gt=0)

    # Slack
    slack_token: SecretStr | None = None
    slack_base_url: str = "https://slack.com/api/"
    slack_channel: str = "#data-pipeline-alerts"

    # Pager
    pager_backend: Literal["none", "opsgenie", "jsm", "pagerduty"] = "none"
    opsgenie_api_key: SecretStr | None = None
    opsgenie_base_url: str = "https://api.opsgenie.com"
    jsm_api_key: SecretStr | None = None
    jsm_base_url: str = "https://api.atlassian.com/jsm/ops/integration"
    pagerduty_routing_key: SecretStr | None = None
    pagerduty_base_url: str = "https://events.pagerduty.com"
    heartbeat_name: str | None = None
    heartbeat_url: str | None = Field(None, description="a URL to GET after each healthy cycle (dead man's switch), e.g."
                                      " JSM .../v1/teams/{teamId}/heartbeats/ping?name=sentinel")
    heartbeat_basic_auth: SecretStr | None = Field(None, description="user:token for heartbeat_url (JSM: email:api_token)")

    # Email
    smtp_host: str | None = None
    smtp_port: int = Field(587, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_from: str = "sentinel@novapay.example"
    smtp_timeout_seconds: float = Field(20.0, gt=0)
    smtp_ca_file: Path | None = Field(None, description="CA bundle to verify the SMTP server's STARTTLS certificate")


    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # Secret files are named after the field alone (`slack_token`), as Kubernetes mounts them; env wins over files.
        secrets_dir = Path(os.environ.get("SENTINEL_SECRETS_DIR", str(DEFAULT_SECRETS_DIR)))
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if secrets_dir.is_dir():
            sources.append(SecretsSettingsSource(settings_cls, secrets_dir=secrets_dir, env_prefix=""))
        return tuple(sources)


def load_settings(**overrides: Any) -> Settings:
    """Settings from arguments, then SENTINEL_* environment variables, then files in the secrets directory
    (SENTINEL_SECRETS_DIR, default the Kubernetes mount /run/secrets/sentinel).

    Raises SettingsErrors listing every problem at once: invalid values, unparsable JSON, and variables or secret
    files that set nothing (a typo such as SENTINEL_SLACK_TOKN would otherwise silently mean "no Slack").
    """
    environ = dict(os.environ)
    secrets_dir = Path(environ.get("SENTINEL_SECRETS_DIR", str(DEFAULT_SECRETS_DIR)))
    readable_dir = secrets_dir if secrets_dir.is_dir() else None
    fields = list(Settings.model_fields)

    def describe(field: str) -> str:
        return problems_of.where(field, environ, readable_dir, overrides)

    problems = problems_of.unknown_variables(environ, fields)
    bad_dir = problems_of.secrets_dir_problem(secrets_dir, "SENTINEL_SECRETS_DIR" in environ)
    problems += [bad_dir] if bad_dir else []
    problems += problems_of.unknown_secret_files(readable_dir, fields) if readable_dir else []
    settings: Settings | None = None
    try:
        settings = Settings(**overrides)
    except ValidationError as exc:
        problems += problems_of.validation_problems(exc, describe)
    except SettingsError as exc:
        problems.append(problems_of.parse_problem(exc, describe))
    if problems or settings is None:
        raise SettingsErrors(problems)
    return settings
