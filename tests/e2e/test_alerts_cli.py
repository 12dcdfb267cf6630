"""`sentinel alerts`, `sentinel silence add/list/expire` and `sentinel notify-test` as a user runs them."""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from sentinel.cli import main
from sentinel.model import Status
from tests.integration.alerting_helpers import result
from tests.plugins.alerting import SLACK_TOKEN

pytestmark = pytest.mark.e2e


@pytest.fixture
def env(tmp_path, alerting_fakes, monkeypatch):
    config = tmp_path / "alert_rules.yaml"
    config.write_text(
        "version: 1\n"
        "routes:\n"
        "  - name: team_slack\n"
        "    receivers: [slack]\n"
        "  - name: oncall\n"
        "    receivers: [pager]\n"
        "    min_severity: critical\n"
    )
    values = {
        "SENTINEL_CONFIG_FILE": str(config), "SENTINEL_STATE_PATH": str(tmp_path / "state.db"),
        "SENTINEL_SLACK_TOKEN": SLACK_TOKEN, "SENTINEL_SLACK_BASE_URL": alerting_fakes.slack.base_url,
        "SENTINEL_PAGER_BACKEND": "opsgenie", "SENTINEL_OPSGENIE_API_KEY": "og-wrong-key-123",
        "SENTINEL_OPSGENIE_BASE_URL": alerting_fakes.opsgenie.base_url, "SENTINEL_SECRETS_DIR": str(tmp_path / "none"),
    }
    for k, v in values.items():
        monkeypatch.setenv(k, v)
    return values


def cli(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_silence_add_list_expire_and_alerts_show_silenced(env, make_pipeline):
    from sentinel.alerting.pipeline import AlertPipeline
    from sentinel.clock import SystemClock
    from sentinel.config.settings import Settings
    from sentinel.config.spec import SentinelConfig
    from sentinel.notify.console import ConsoleNotifier
    from sentinel.store.sqlite import SqliteStateStore

    out = cli("silence", "add", "--match", "table=payments.transactions", "--for", "2h", "--comment", "INC-42 failover")
    assert out.exit_code == 0, out.output
    silence_id = out.output.split()[0]
    assert silence_id.startswith("sil-") and "until" in out.output

    listed = cli("silence", "list")
    assert silence_id in listed.output and "INC-42 failover" in listed.output and "active" in listed.output

    clock = SystemClock()
    store = SqliteStateStore(env["SENTINEL_STATE_PATH"])
    pipeline = AlertPipeline(SentinelConfig(), store, {"console": ConsoleNotifier()}, clock, Settings(),
                             immediate=True, kind_runbooks={})
    pipeline.process([
        result(clock, "tx_freshness", Status.CRITICAL, "47 min old", table="payments.transactions", stage="dbt"),
        result(clock, "pg_slot", Status.WARN, "slot lag 2 GB", table="users.merchants", stage="postgres"),
    ])
    pipeline.deliver_due()
    store.close()

    shown = cli("alerts")
    assert shown.exit_code == 0
    lines = {line.split()[2]: line for line in shown.output.splitlines()[1:]}
    assert lines["tx_freshness"].startswith("silenced") and lines["pg_slot"].startswith("firing")
    assert "users.merchants" in lines["pg_slot"] and "ago" in lines["pg_slot"]

    assert cli("silence", "expire", silence_id).exit_code == 0
    assert "No active silences." in cli("silence", "list").output
    assert cli("silence", "expire", silence_id).exit_code == 64
    assert "expired" in cli("silence", "list", "--all").output


def test_silence_add_rejects_bad_matchers():
    out = CliRunner().invoke(main, ["silence", "add", "--match", "oops", "--for", "1h", "--comment", "x"])
    assert out.exit_code == 64 and "KEY=VALUE" in out.output


def test_notify_test_proves_a_route_and_reports_a_broken_one(env, alerting_fakes):
    ok = cli("notify-test", "--route", "team_slack")
    assert ok.exit_code == 0, ok.output
    assert "OK     slack" in ok.output and len(alerting_fakes.slack.posts) == 1
    assert "TEST from Sentinel" in alerting_fakes.slack.posts[0].text

    broken = cli("notify-test", "--route", "oncall")  # the Opsgenie key is wrong
    assert broken.exit_code == 1 and "FAILED pager" in broken.output and "401" in broken.output
    assert "og-wrong-key-123" not in broken.output

    unknown = cli("notify-test", "--route", "nope")
    assert unknown.exit_code == 64 and "team_slack" in unknown.output


def test_help_documents_the_commands():
    top = cli("--help").output
    assert "alerts" in top and "silence" in top and "notify-test" in top
    assert "--match" in cli("silence", "add", "--help").output
    assert "silenced" in cli("alerts", "--help").output



def test_notify_test_works_with_slas_configured(env, alerting_fakes, tmp_path):
    """The production config has `slas:`, which wraps the pipeline in the SLA sink; notify-test still reaches it."""
    config = tmp_path / "alert_rules.yaml"
    config.write_text(config.read_text() + (
        "checks:\n"
        "  - {id: orders_fresh, kind: sql_threshold, schedule: {every: 5m},\n"
        "     params: {connection: main, query: 'SELECT 1', warning: 1, critical: 2}}\n"
        "slas:\n"
        "  - {id: orders_15m, check: orders_fresh, threshold: 15m}\n"))
    ok = cli("notify-test", "--route", "team_slack")
    assert ok.exit_code == 0, ok.output
    assert "OK     slack" in ok.output and len(alerting_fakes.slack.posts) == 1
