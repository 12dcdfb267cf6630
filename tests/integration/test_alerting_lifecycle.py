"""Breach -> one Slack message and one page; reminders; resolve edits Slack and closes the page; `for`;
flapping; restarts. Against the contract-checking fake Slack and Opsgenie and the real SQLite store."""

from __future__ import annotations

from datetime import timedelta

from sentinel.model import AlertKey
from tests.integration.alerting_helpers import FRESHNESS_RULE, all_text, freshness

CONFIG = {"rules": [FRESHNESS_RULE]}


def run(pipeline, *results):
    pipeline.process(list(results))
    return pipeline.deliver_due()


def test_breach_pages_once_reminds_and_resolves(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline(CONFIG)
    p = h.build()

    run(p, freshness(h.clock, 1200))
    assert len(slack.posts) == 1 and len(slack.calls) == 1
    assert len(genie.alerts) == 1
    alias = next(iter(genie.alerts))
    expected_key = AlertKey.of("tx_freshness", {"table": "payments.transactions", "stage": "snowflake_raw",
                                                "check": "tx_freshness"}).fingerprint
    assert alias == expected_key
    assert genie.alerts[alias].priority == "P1"
    text = all_text(slack.posts[0].blocks)
    assert "age_seconds = 1200 (&gt; 900)" in text
    assert "https://runbooks.example/novapay/snowflake-freshness.md" in text
    assert "sentinel silence add" in text and "snowflake_raw" in text and "payments.transactions" in text
    assert slack.posts[0].raw["metadata"]["event_payload"]["key"] == alias

    for _ in range(5):  # still breaching: nothing new anywhere
        h.clock.advance(timedelta(minutes=5))
        run(p, freshness(h.clock, 1300))
    assert len(slack.calls) == 1 and genie.alerts[alias].creates == 1

    h.clock.advance(timedelta(minutes=40))  # 65 minutes after firing: repeat is 1h
    run(p, freshness(h.clock, 1400))
    assert len(slack.posts) == 1 and len(slack.replies) == 1 and len(slack.updates) == 1
    assert "Still firing" in slack.replies[0].text
    assert genie.alerts[alias].creates == 1  # a reminder does not page again

    h.clock.advance(timedelta(minutes=1))
    run(p, freshness(h.clock, 30))
    assert len(slack.posts) == 1 and len(slack.updates) == 2 and len(slack.replies) == 2
    parent = slack.messages[slack.posts[0].ts]
    assert parent.method == "chat.update" and "RESOLVED" in all_text(parent.blocks)
    assert "Resolved" in slack.replies[-1].text
    assert genie.alerts[alias].status == "closed"
    assert not slack.rejected

    h.clock.advance(timedelta(minutes=1))
    run(p, freshness(h.clock, 20))  # stays resolved: silence
    assert len(slack.calls) == 5


def test_warning_then_critical_escalates_and_pages(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline(CONFIG)
    p = h.build()
    run(p, freshness(h.clock, 700))
    assert len(slack.posts) == 1 and not genie.alerts  # a warning goes to Slack only
    h.clock.advance(timedelta(minutes=2))
    run(p, freshness(h.clock, 1000))
    assert len(slack.posts) == 1 and len(slack.updates) == 1 and "Escalated to critical" in slack.replies[0].text
    assert len(genie.alerts) == 1  # the page route sees it for the first time at critical


def test_for_not_elapsed_sends_nothing(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline({"rules": [{**FRESHNESS_RULE, "for": "5m"}]})
    p = h.build()
    run(p, freshness(h.clock, 1200))
    h.clock.advance(timedelta(minutes=2))
    run(p, freshness(h.clock, 1200))
    h.clock.advance(timedelta(minutes=2))
    run(p, freshness(h.clock, 50))  # cleared before `for` elapsed
    h.clock.advance(timedelta(minutes=2))
    run(p, freshness(h.clock, 1200))  # a new episode starts its own `for`
    assert slack.calls == [] and genie.alerts == {}
    h.clock.advance(timedelta(minutes=5))
    run(p, freshness(h.clock, 1200))
    assert len(slack.posts) == 1 and len(genie.alerts) == 1


def test_flapping_input_does_not_churn(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline({"rules": [{**FRESHNESS_RULE, "clear_for": "10m"}]})
    p = h.build()
    for minute in range(20):  # breach, clear, breach, clear ... once a minute
        run(p, freshness(h.clock, 1200 if minute % 2 == 0 else 100))
        h.clock.advance(timedelta(minutes=1))
    assert len(slack.calls) == 1 and sum(a.creates for a in genie.alerts.values()) == 1
    for _ in range(11):  # clear for longer than clear_for: one resolve
        run(p, freshness(h.clock, 100))
        h.clock.advance(timedelta(minutes=1))
    assert len(slack.updates) == 1 and "RESOLVED" in all_text(slack.updates[0].blocks)
    assert genie.open_aliases == []


def test_restart_while_firing_does_not_repage_and_resolve_while_down_is_sent_once(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline(CONFIG)
    run(h.build(), freshness(h.clock, 1200))
    assert len(slack.posts) == 1 and len(genie.alerts) == 1

    h.clock.advance(timedelta(minutes=3))
    run(h.build(), freshness(h.clock, 1250))  # restarted, still breaching
    assert len(slack.calls) == 1 and next(iter(genie.alerts.values())).creates == 1

    h.clock.advance(timedelta(minutes=30))  # down for 30 minutes; the data recovered meanwhile
    run(h.build(), freshness(h.clock, 40))
    h.clock.advance(timedelta(minutes=1))
    run(h.build(), freshness(h.clock, 35))
    assert len(slack.updates) == 1 and "RESOLVED" in all_text(slack.updates[0].blocks)
    closes = [r for r in genie.requests if r[0] == "close"]
    assert len(closes) == 1 and genie.open_aliases == []


def test_a_new_episode_after_resolve_is_a_new_message_and_a_new_page(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline(CONFIG)
    p = h.build()
    run(p, freshness(h.clock, 1200))
    h.clock.advance(timedelta(minutes=5))
    run(p, freshness(h.clock, 30))
    assert genie.open_aliases == []
    h.clock.advance(timedelta(minutes=30))
    run(p, freshness(h.clock, 1500))
    assert len(slack.posts) == 2  # not an edit of the resolved message
    alias = next(iter(genie.alerts))
    assert genie.open_aliases == [alias] and genie.alerts[alias].creates == 1  # the same key opens a new alert
    assert [r[0] for r in genie.requests] == ["create", "close", "create"]


def test_a_deleted_slack_parent_gets_a_fresh_message_on_update(make_pipeline, alerting_fakes):
    slack = alerting_fakes.slack
    h = make_pipeline(CONFIG, pager="none")
    p = h.build()
    run(p, freshness(h.clock, 1200))
    slack.messages.clear()  # someone deleted the message in Slack
    h.clock.advance(timedelta(minutes=1))
    run(p, freshness(h.clock, 10))
    assert ("chat.update", "message_not_found") in slack.rejected
    assert len(slack.posts) == 2 and "RESOLVED" in all_text(slack.posts[1].blocks)
