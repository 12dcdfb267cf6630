"""A process killed for real (SIGKILL) while a notification is on its way: after restart nobody sees a stale
duplicate. Pagers collapse the resend by alias; Slack finds the message the dead process posted (by the delivery
id in its metadata) and edits it instead of posting a second parent that would stay CRITICAL forever."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest

from devstack.base import PROJECT_ROOT
from tests.fakes.alerting_apis import Fault
from tests.integration.alerting_helpers import FRESHNESS_RULE, all_text, freshness


def _env(settings) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SENTINEL_")}
    for name in ("slack_base_url", "pager_backend", "opsgenie_base_url", "runbook_base_url"):
        env[f"SENTINEL_{name.upper()}"] = str(getattr(settings, name))
    env["SENTINEL_SLACK_TOKEN"] = settings.slack_token.get_secret_value()
    env["SENTINEL_OPSGENIE_API_KEY"] = settings.opsgenie_api_key.get_secret_value()
    env["SENTINEL_SECRETS_DIR"] = "/nonexistent"
    return env


def _child(h, victim: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.integration.alerting_crash_child", str(h.state_path), victim],
        cwd=PROJECT_ROOT, env=_env(h.settings), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _restart_and_deliver(h) -> None:
    p = h.build()  # restart on the same state file
    p.deliver_due()
    h.clock.advance(timedelta(minutes=1))
    p.deliver_due()


@pytest.mark.parametrize("victim", ["slack", "pager"])
def test_sigkill_between_send_and_record_leaves_no_stale_duplicate(victim, make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline({"rules": [FRESHNESS_RULE]})
    child = _child(h, victim)
    _, stderr = child.communicate(timeout=60)
    assert child.returncode == -signal.SIGKILL, stderr[-2000:]
    assert len(slack.posts) <= 1

    _restart_and_deliver(h)
    assert len(slack.posts) == 1  # one parent message in the channel, whichever receiver the kill hit
    key = slack.posts[0].raw["metadata"]["event_payload"]["key"]
    assert len(genie.alerts) == 1 and next(iter(genie.alerts)) == key  # the pager collapsed any resend by alias
    alert = next(iter(genie.alerts.values()))
    assert alert.creates <= 2 and alert.status == "open"
    if victim == "slack":
        assert len(slack.updates) == 1 and slack.history_calls >= 1  # found and adopted, not posted again


def test_sigkill_while_chat_post_is_in_flight_leaves_one_message_that_later_resolves(make_pipeline, alerting_fakes):
    """The crash from the issue: the daemon dies while chat.postMessage is in flight; Slack posts it anyway."""
    slack = alerting_fakes.slack
    slack.faults.push(Fault(0, delay=2.0))  # Slack takes 2 s to answer; it posts all the same
    h = make_pipeline({"rules": [FRESHNESS_RULE]}, pager="none")
    child = _child(h, "none")
    deadline = time.monotonic() + 30
    while slack.requests_seen == 0 and time.monotonic() < deadline:
        time.sleep(0.02)
    assert slack.requests_seen == 1, "the child never reached Slack"
    os.kill(child.pid, signal.SIGKILL)
    child.communicate(timeout=30)
    deadline = time.monotonic() + 10
    while not slack.posts and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(slack.posts) == 1  # Slack finished the post the dead process asked for

    p = h.build()
    p.deliver_due()
    assert len(slack.posts) == 1 and len(slack.updates) == 1  # adopted and brought up to date
    h.clock.advance(timedelta(minutes=10))
    p.process([freshness(h.clock, 10)])
    p.deliver_due()
    assert len(slack.posts) == 1
    parent = slack.messages[slack.posts[0].ts]
    assert "RESOLVED" in parent.blocks[0]["text"]["text"]  # the only parent is not left CRITICAL forever
    assert "resolved" in all_text(slack.replies[-1].blocks).lower()
