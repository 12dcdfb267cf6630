"""A process killed for real (SIGKILL) between a receiver accepting a message and the outbox recording it:
after restart the message is sent again, once, with the same key, which the receiver collapses."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from devstack.base import PROJECT_ROOT
from tests.plugins.alerting import fake_settings


def _env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    for name in ("slack_base_url", "pager_backend", "opsgenie_base_url", "runbook_base_url"):
        env[f"SENTINEL_{name.upper()}"] = str(getattr(settings, name))
    env["SENTINEL_SLACK_TOKEN"] = settings.slack_token.get_secret_value()
    env["SENTINEL_OPSGENIE_API_KEY"] = settings.opsgenie_api_key.get_secret_value()
    env["SENTINEL_SECRETS_DIR"] = "/nonexistent"
    return env


@pytest.mark.parametrize("victim", ["slack", "pager"])
def test_sigkill_between_send_and_record_gives_at_most_one_duplicate(victim, make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline({"rules": [{"id": "tx_freshness", "checks": ["tx_freshness"], "value": "age_seconds",
                                  "thresholds": {"warning": 600, "critical": 900}, "repeat": "1h",
                                  "runbook": "snowflake-freshness"}]})
    child = subprocess.run(
        [sys.executable, "-m", "tests.integration.alerting_crash_child", str(h.state_path), victim],
        cwd=PROJECT_ROOT, env=_env(fake_settings(alerting_fakes)), capture_output=True, text=True, timeout=60,
    )
    assert child.returncode == -signal.SIGKILL, child.stderr[-2000:]
    assert len(slack.posts) == 1  # slack is first in the outbox: sent before the kill in both cases
    assert (sum(a.creates for a in genie.alerts.values()) == 1) is (victim == "pager")

    p = h.build()  # restart on the same state file
    p.deliver_due()
    p.deliver_due()
    if victim == "slack":
        assert len(slack.posts) == 2  # exactly one duplicate ...
        keys = {post.raw["metadata"]["event_payload"]["key"] for post in slack.posts}
        assert len(keys) == 1  # ... carrying the same alert key
    else:
        assert len(slack.posts) == 1
    assert len(genie.alerts) == 1  # the pager collapsed the resend by alias
    alert = next(iter(genie.alerts.values()))
    assert alert.creates == (2 if victim == "pager" else 1) and alert.status == "open"
