from pydantic import SecretStr

from sentinel.config.settings import Settings
from sentinel.redact import Redactor


def test_every_secret_setting_and_the_password_inside_a_dsn_are_masked() -> None:
    settings = Settings(
        postgres_dsn=SecretStr("postgresql://svc:pa55-word-x@db:5432/app"),
        slack_token=SecretStr("xoxb-123-456-abcdef"),
        postgres_dsns={"replica": SecretStr("postgresql://ro:r3plica-pw@db2/app")},
    )
    redactor = Redactor.from_settings(settings)
    text = "failed: password pa55-word-x for xoxb-123-456-abcdef and r3plica-pw; url-encoded pa55-word-x"
    out = redactor.text(text)
    assert "pa55-word-x" not in out and "xoxb-123" not in out and "r3plica-pw" not in out
    assert out.count("[redacted]") == 4


def test_settings_repr_never_shows_secrets() -> None:
    settings = Settings(slack_token=SecretStr("xoxb-123-456-abcdef"))
    assert "xoxb" not in repr(settings) and "xoxb" not in str(settings.model_dump())
