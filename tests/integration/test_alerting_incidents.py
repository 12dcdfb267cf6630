"""Pipeline-aware inhibition, grouping of a mass failure, silences and maintenance windows, check-broken
alerts, and the promises about data in messages: escaped, never a link, never a secret."""

from __future__ import annotations

import dataclasses
import logging
import sqlite3
from datetime import timedelta

from sentinel.alerting.silences import new_silence
from sentinel.alerting.types import Phase
from sentinel.model import Finding, Status
from sentinel.redact import Redactor
from tests.fakes.alerting_apis import Fault, slack_block_problems
from tests.integration.alerting_helpers import FRESHNESS_RULE, all_text, freshness, result
from tests.plugins.alerting import SECRETS, SLACK_TOKEN

TX = "payments.transactions"
PIPELINE = {
    "tables": {TX: {"slas": ["tx_freshness_15m"], "dashboards": ["Looker: Payments overview"]}},
}


def incident_results(clock):
    return [
        result(clock, "tx_freshness", Status.CRITICAL, "payments.transactions in Snowflake is 47 min old (SLA 15 min)",
               kind="snowflake_freshness", table=TX, stage="snowflake_raw"),
        result(clock, "s3_tx_partitions", Status.CRITICAL, "no Parquet file in raw/payments/transactions/ for 40 min",
               kind="s3_partition_arrival", table=TX, stage="s3"),
        result(clock, "connect_s3_sink", Status.CRITICAL, "Kafka Connect task s3-sink-payments/0 is FAILED",
               kind="kafka_connect_task", table=TX, stage="s3_sink"),
    ]


def test_upstream_failure_and_downstream_symptoms_are_one_incident(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline({"pipeline": PIPELINE})
    p = h.build()
    p.process(incident_results(h.clock))
    p.deliver_due()
    assert len(slack.posts) == 1, [all_text(m.blocks)[:80] for m in slack.posts]
    text = all_text(slack.posts[0].blocks)
    assert "connect_s3_sink" in slack.posts[0].blocks[0]["text"]["text"]  # the root cause is the headline
    assert "Symptoms attached to this incident" in text and "s3_tx_partitions" in text and "tx_freshness" in text
    assert "SLA tx_freshness_15m" in text and "dashboard Looker: Payments overview" in text
    assert len(genie.alerts) == 1  # one page, for the root cause
    assert "connect_s3_sink" in next(iter(genie.alerts.values())).payload["details"]["check"]


def test_symptom_arriving_after_the_root_joins_its_thread(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline({"pipeline": PIPELINE})
    p = h.build()
    connect = incident_results(h.clock)[2]
    p.process([connect])
    p.deliver_due()
    h.clock.advance(timedelta(minutes=5))
    p.process([result(h.clock, "tx_freshness", Status.CRITICAL, "47 min old", table=TX, stage="snowflake_raw")])
    p.deliver_due()
    assert len(slack.posts) == 1 and len(slack.replies) == 1 and "Symptom attached" in slack.replies[0].text
    assert len(genie.alerts) == 1
    # the root resolves while the symptom still fires: the symptom is announced on its own now
    h.clock.advance(timedelta(minutes=1))
    p.process([result(h.clock, "connect_s3_sink", Status.OK, "task RUNNING", table=TX, stage="s3_sink")])
    p.deliver_due()
    p.deliver_due()
    assert len(slack.posts) == 2 and "tx_freshness" in slack.posts[1].blocks[0]["text"]["text"]


def test_two_hundred_failing_checks_arrive_as_one_message(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline({})
    p = h.build()
    p.process([result(h.clock, f"pg_check_{i:03d}", Status.CRITICAL, f"query {i} failed: connection refused",
                      stage="postgres") for i in range(200)])
    p.deliver_due()
    assert len(slack.posts) == 1 and not slack.rejected  # within Slack's block limits
    text = all_text(slack.posts[0].blocks)
    assert "200 of 200 alerts" in text and "170 more" in text
    assert len(genie.alerts) == 1


def test_a_silence_suppresses_then_expires(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline({"rules": [FRESHNESS_RULE]})
    p = h.build()
    p.store.silence_add(new_silence({"table": TX}, h.clock.now(), timedelta(hours=1), created_by="test",
                                    comment="snowflake maintenance"))
    p.process([freshness(h.clock, 1200)])
    p.deliver_due()
    assert slack.calls == [] and genie.alerts == {}
    states = list(p.store.alert_states().values())
    assert states[0].phase is Phase.FIRING and (states[0].silenced_by or "").startswith("silence:")
    h.clock.advance(timedelta(minutes=61))
    p.process([freshness(h.clock, 1300)])
    p.deliver_due()
    assert len(slack.posts) == 1 and len(genie.alerts) == 1  # still firing when the silence ended


def test_an_expired_silence_stops_suppressing(make_pipeline, alerting_fakes):
    h = make_pipeline({"rules": [FRESHNESS_RULE]})
    p = h.build()
    silence = new_silence({"alertname": "tx_freshness"}, h.clock.now(), timedelta(hours=4))
    p.store.silence_add(silence)
    p.process([freshness(h.clock, 1200)])
    p.deliver_due()
    assert alerting_fakes.slack.calls == []
    assert p.store.silence_expire(silence.id, h.clock.now()) is True
    p.deliver_due()
    assert len(alerting_fakes.slack.posts) == 1


def test_maintenance_window_suppresses_only_while_open(make_pipeline, alerting_fakes):
    config = {"rules": [FRESHNESS_RULE], "maintenance": [
        {"name": "snowflake_upgrade", "match": {"stage": "snowflake_raw"}, "cron": "0 9 * * 1", "duration": "1h"}]}
    h = make_pipeline(config)  # the fake clock starts Monday 2026-11-23 09:00 UTC: inside the window
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    p.deliver_due()
    assert alerting_fakes.slack.calls == []
    h.clock.advance(timedelta(minutes=61))
    p.deliver_due()
    assert len(alerting_fakes.slack.posts) == 1


def test_check_broken_after_n_errors_is_its_own_alert(make_pipeline, alerting_fakes):
    slack = alerting_fakes.slack
    h = make_pipeline({"defaults": {"error_threshold": 3}})
    p = h.build()
    for _ in range(2):
        p.process([result(h.clock, "tx_freshness", Status.ERROR, "Snowflake login timed out", stage="snowflake_raw")])
        p.deliver_due()
        h.clock.advance(timedelta(minutes=1))
    assert slack.calls == []
    p.process([result(h.clock, "tx_freshness", Status.ERROR, "Snowflake login timed out", stage="snowflake_raw")])
    p.deliver_due()
    assert len(slack.posts) == 1
    text = all_text(slack.posts[0].blocks)
    assert "check broken" in slack.posts[0].blocks[0]["text"]["text"] and "check-broken.md" in text
    assert alerting_fakes.opsgenie.alerts == {}  # a blind check is a warning, not a page


def test_findings_are_separate_alerts_and_vanish_when_fixed(make_pipeline, alerting_fakes):
    slack = alerting_fakes.slack
    h = make_pipeline({}, pager="none")
    p = h.build()

    def dbt(*failing):
        findings = [Finding(key=f"test.{t}", status=Status.CRITICAL, summary=f"dbt test {t} failed") for t in failing]
        base = result(h.clock, "dbt_tests", Status.CRITICAL if failing else Status.OK, "dbt tests", stage="dbt")
        return dataclasses.replace(base, findings=tuple(findings))

    p.process([dbt("not_null_id", "unique_id")])
    p.deliver_due()
    assert len(slack.posts) == 1 and "2 of 2 alerts" in all_text(slack.posts[0].blocks)
    h.clock.advance(timedelta(minutes=1))
    p.process([dbt("unique_id")])  # not_null_id no longer reported: it resolves
    p.deliver_due()
    assert len(slack.updates) == 1 and "Resolved: dbt_tests" in slack.replies[0].text
    assert "1 of 2 alerts" in all_text(slack.updates[0].blocks)


def test_slack_special_characters_are_escaped_and_never_links(make_pipeline, alerting_fakes):
    slack = alerting_fakes.slack
    nasty = "<!channel> rows & <https://evil.example/x|click here> > 5 @here https://bare.example"
    h = make_pipeline({}, pager="none")
    p = h.build()
    p.process([result(h.clock, "weird", Status.CRITICAL, nasty, table="a<b>&c", stage="dbt")])
    p.deliver_due()
    post = slack.posts[0]
    header = post.blocks[0]["text"]
    assert header["type"] == "plain_text" and "a<b>&c" in header["text"] and "&lt;" not in header["text"]
    text = all_text(post.blocks[1:])  # the mrkdwn blocks
    assert "&lt;!channel&gt;" in text and "&amp;" in text and "&lt;https://evil.example/x|click here&gt;" in text
    assert "<!channel>" not in text and "<https://evil" not in text and "a&lt;b&gt;&amp;c" in text
    links = [seg.split("|")[0] for seg in text.split("<")[1:]]
    assert links and all(link.startswith("https://runbooks.example/") for link in links)  # only runbooks link

    def mrkdwn(node):
        if isinstance(node, dict):
            if node.get("type") == "mrkdwn":
                yield node
            for v in node.values():
                yield from mrkdwn(v)
        elif isinstance(node, list):
            for v in node:
                yield from mrkdwn(v)

    assert all(m.get("verbatim") is True for m in mrkdwn(post.blocks))  # no auto-linking, no @-mentions
    assert "://" not in post.text and "<" not in post.text
    assert slack_block_problems(post.blocks) == []


def test_secrets_never_reach_messages_logs_or_stored_rows(make_pipeline, alerting_fakes, caplog):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    caplog.set_level(logging.DEBUG)
    h = make_pipeline({"rules": [FRESHNESS_RULE]})
    redactor = Redactor.from_settings(h.settings)
    p = h.build(redact=redactor.text)
    leaky = f"login failed for token {SLACK_TOKEN} (check the token)"
    p.process([freshness(h.clock, 1200, summary=leaky)])
    p.deliver_due()
    genie.faults.push(Fault(500))
    h.clock.advance(timedelta(minutes=2))
    p.process([freshness(h.clock, 10, summary=leaky)])
    p.deliver_due()
    h.clock.advance(timedelta(minutes=2))
    p.deliver_due()
    assert len(slack.posts) == 1 and genie.alerts
    sent = [str(c.raw) for c in slack.calls] + [str(r) for r in genie.requests]
    logs = [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    rows = []
    with sqlite3.connect(h.state_path) as conn:
        for (table,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'"):
            rows += [str(row) for row in conn.execute(f"SELECT * FROM {table}")]
    everything = "\n".join(sent + logs + rows)
    assert "[redacted]" in everything  # the leaky summary went through, masked
    for secret in SECRETS:
        assert secret not in everything
