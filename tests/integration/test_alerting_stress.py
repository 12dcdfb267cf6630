"""Alerting under stress (issue 15), against the contract-enforcing API doubles: pages never wait on chat (and chat
never waits on a pager), page state says what is known, a broken receiver is reported through one that works, and
a symptom never lowers its incident's page."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import timedelta

from prometheus_client import CollectorRegistry, generate_latest

from sentinel.alerting.pipeline import AlertPipeline
from sentinel.alerting.types import DeliveryStatus
from sentinel.compose_root import build_notifiers
from sentinel.metrics import SentinelMetrics
from sentinel.model import Status
from sentinel.store.sqlite import SqliteStateStore
from tests.fakes.alerting_apis import Fault
from tests.integration.alerting_helpers import FRESHNESS_RULE, all_text, freshness, result

CONFIG = {"rules": [FRESHNESS_RULE]}
TX = "payments.transactions"


def _within(seconds: float, condition: Callable[[], bool]) -> float:
    """Wall-clock seconds until `condition` held; fails after `seconds`."""
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.01)
    raise AssertionError(f"not within {seconds}s")


# -- 1. independent delivery ----------------------------------------------------------------------------------
def test_page_leaves_within_2s_while_slack_answers_429_retry_after_60(make_pipeline, alerting_fakes):
    slack, pd = alerting_fakes.slack, alerting_fakes.pagerduty
    slack.rate_limit(60, times=50)
    h = make_pipeline(CONFIG, pager="pagerduty")
    p = h.build()
    p.start_delivery_workers(idle_poll_seconds=0.05)  # as the daemon delivers
    try:
        p.process([freshness(h.clock, 1200)])  # the breach
        took = _within(2.0, lambda: len(pd.events) == 1)
    finally:
        p.stop_delivery_workers()
    assert pd.events[0]["event_action"] == "trigger" and took < 2.0
    assert slack.posts == [] and slack.requests_seen == 1  # Slack asked once, then waits out its 60 s alone
    row = next(r for r in p.store.outbox_pending() if r.receiver == "slack")
    assert row.next_attempt_at - h.clock.now() >= timedelta(seconds=59)


def test_chat_leaves_within_2s_while_the_pager_hangs(make_pipeline, alerting_fakes):
    slack, pd = alerting_fakes.slack, alerting_fakes.pagerduty
    pd.faults.push(Fault(0, delay=6.0))  # PagerDuty takes 6 s to answer
    h = make_pipeline(CONFIG, pager="pagerduty")
    p = h.build()
    p.start_delivery_workers(idle_poll_seconds=0.05)
    try:
        p.process([freshness(h.clock, 1200)])  # the page hangs for 6 s ...
        _within(2.0, lambda: len(slack.posts) == 1 and any(  # Slack has it; the page is in flight
            r.receiver == "pager" and r.attempts == 1 for r in p.store.outbox_pending()))
        h.clock.advance(timedelta(minutes=1))
        p.process([freshness(h.clock, 800, check_id="tx_freshness_eu")])  # ... and a warning for chat comes now
        took = _within(2.0, lambda: len(slack.posts) == 2)
        assert pd.events == []  # the pager is still busy with the page
        _within(15.0, lambda: len(pd.events) == 1)
    finally:
        p.stop_delivery_workers(timeout_seconds=15)
    assert took < 2.0


def test_synchronous_delivery_drains_receivers_side_by_side(make_pipeline, alerting_fakes):
    """`sentinel check --once` delivers without workers: a slow pager and a slow Slack overlap, not add up."""
    slack, pd = alerting_fakes.slack, alerting_fakes.pagerduty
    slack.faults.push(Fault(0, delay=2.0))
    pd.faults.push(Fault(0, delay=2.0))
    h = make_pipeline(CONFIG, pager="pagerduty")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    started = time.monotonic()
    statuses = {d.receiver: d.status for d in p.deliver_due()}
    assert statuses == {"slack": DeliveryStatus.SENT, "pager": DeliveryStatus.SENT}
    assert time.monotonic() - started < 3.5  # 2 s each, side by side


# -- 4. a slow pager is neither re-sent nor called "not paged" -------------------------------------------------
def test_a_pager_slower_than_the_old_10s_timeout_is_sent_once(make_pipeline, alerting_fakes):
    slack, pd = alerting_fakes.slack, alerting_fakes.pagerduty
    pd.faults.push(Fault(0, delay=11.0))
    h = make_pipeline(CONFIG, pager="pagerduty")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    statuses = {d.receiver: d.status for d in p.deliver_due()}
    assert statuses == {"slack": DeliveryStatus.SENT, "pager": DeliveryStatus.SENT}
    h.clock.advance(timedelta(minutes=5))
    assert p.deliver_due() == []
    assert len(pd.events) == 1 and len(slack.posts) == 1  # no re-send, no meta-alert


def test_an_unanswered_page_is_unconfirmed_and_its_resend_collapses(make_pipeline, alerting_fakes):
    slack, pd = alerting_fakes.slack, alerting_fakes.pagerduty
    config = {**CONFIG,
              "notifiers": [{"name": "pd", "kind": "pagerduty", "options": {"timeout_seconds": 1}}],
              "routes": [{"name": "team", "receivers": ["slack"], "group_wait": "0s"},
                         {"name": "oncall", "receivers": ["pd"], "min_severity": "critical", "group_wait": "0s"}]}
    pd.faults.push(Fault(0, delay=2.0), times=2)  # PagerDuty processes both, but answers after the 1 s timeout
    h = make_pipeline(config, pager="none")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    assert {d.receiver: d.status for d in p.deliver_due()}["pd"] is DeliveryStatus.RETRY
    h.clock.advance(timedelta(seconds=5))
    assert [d.status for d in p.deliver_due()] == [DeliveryStatus.RETRY]
    p.deliver_due()  # the meta-alert goes out
    meta = all_text(slack.posts[-1].blocks)
    assert "UNCONFIRMED" in meta and "may still have reached pd" in meta and "at most once" in meta
    assert "not paged" not in meta.lower() and "not been paged" not in meta.lower()
    _within(5.0, lambda: len(pd.events) == 2)
    assert {e["dedup_key"] for e in pd.events} == set(pd.incidents)  # both carried one dedup key: one incident
    assert len(pd.incidents) == 1


def test_opsgenie_202_is_followed_to_its_outcome(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    genie.pending_polls = 2  # not processed on the first two status reads
    h = make_pipeline(CONFIG)
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    sent = {d.receiver: d for d in p.deliver_due()}
    assert sent["pager"].status is DeliveryStatus.SENT and genie.status_reads == 3

    genie.fail_processing = "Alert creation failed: no responder named data-oncall"
    h.clock.advance(timedelta(minutes=1))
    p.process([freshness(h.clock, 1200, check_id="tx_freshness_eu")])
    failed = {d.receiver: d for d in p.deliver_due()}["pager"]
    assert failed.status is DeliveryStatus.FAILED  # "accepted" was not accepted: a 202 alone is not a page
    assert "could not process it" in failed.error and "no responder named data-oncall" in failed.error
    p.deliver_due()
    meta = all_text(slack.posts[-1].blocks)
    assert "REFUSED" in meta and "no responder named data-oncall" in meta


# -- 5. a broken receiver is reported through one that works --------------------------------------------------
def test_a_broken_slack_token_pages_and_shows_in_health_and_metrics(make_pipeline, alerting_fakes, capsys):
    genie = alerting_fakes.opsgenie
    h = make_pipeline(CONFIG, slack_token="xoxb-revoked-token-000")
    metrics = SentinelMetrics(CollectorRegistry())
    store = SqliteStateStore(h.state_path)
    h.stores.append(store)
    p = AlertPipeline(h.config, store, build_notifiers(h.config, h.settings), h.clock, h.settings, metrics,
                      immediate=True, kind_runbooks={})
    p.process([freshness(h.clock, 800)])  # a warning: chat only, no page of its own
    failed = {d.receiver: d for d in p.deliver_due()}["slack"]
    assert failed.status is DeliveryStatus.FAILED and "invalid_auth" in failed.error
    p.deliver_due()
    assert list(genie.alerts) == ["sentinel-receiver-slack"]  # the pager hears that chat is broken
    page = genie.alerts["sentinel-receiver-slack"]
    assert page.priority == "P3" and "slack" in page.message and "invalid_auth" in page.payload["description"]
    assert "slack is BROKEN" in capsys.readouterr().out  # and the console, the last resort
    assert any("receiver slack is BROKEN" in line and "invalid_auth" in line for line in p.receiver_problems())
    assert 'sentinel_receiver_broken{receiver="slack"} 1.0' in generate_latest(metrics.registry).decode()
    h.clock.advance(timedelta(minutes=1))
    p.process([freshness(h.clock, 820)])
    p.deliver_due()
    assert len(genie.alerts) == 1  # more failures collapse into the same pager alert by alias

    fixed = make_pipeline(CONFIG)  # the token is replaced; Sentinel restarts on the same state
    fixed.state_path, fixed.clock = h.state_path, h.clock
    q = fixed.build()
    h.clock.advance(timedelta(minutes=1))
    q.process([freshness(h.clock, 1200, check_id="tx_freshness_eu")])
    q.deliver_due()
    q.deliver_due()
    assert genie.alerts["sentinel-receiver-slack"].status == "closed"  # chat delivers again: the page is closed
    q.process([freshness(h.clock, 1300, check_id="tx_freshness_eu")])
    q.deliver_due()
    assert [r[0] for r in genie.requests].count("close") == 1  # once


# -- 6. a symptom never lowers the page of its incident -------------------------------------------------------
ONCALL = {"routes": [{"name": "team", "receivers": ["slack"], "group_wait": "0s"},
                     {"name": "oncall", "receivers": ["pager"], "min_severity": "critical", "group_wait": "0s"}]}


def _wal(clock, status):
    return result(clock, "debezium_slot_retained_wal", status, "slot debezium_payments retains 3 MB of WAL",
                  kind="postgres_replication_slot", table=TX, stage="debezium")


def _stall(clock, status):
    return result(clock, "s3_sink_stall", status, "S3 sink wrote nothing for payments.transactions in 20 min",
                  kind="kafka_connect_status", table=TX, stage="s3_sink")


def test_warning_root_with_a_critical_symptom_pages_critical_titled_by_the_root(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline(ONCALL)
    p = h.build()
    p.process([_wal(h.clock, Status.WARN)])
    p.deliver_due()
    assert genie.alerts == {} and len(slack.posts) == 1  # a warning alone does not page
    h.clock.advance(timedelta(minutes=2))
    p.process([_stall(h.clock, Status.CRITICAL)])
    p.deliver_due()
    assert len(genie.alerts) == 1
    page = next(iter(genie.alerts.values()))
    assert page.priority == "P1" and page.message.startswith("CRITICAL: debezium_slot_retained_wal")
    assert "S3 sink wrote nothing" in page.payload["description"]  # the symptom rides along
    assert len(slack.posts) == 1  # chat: still one incident, its header now critical
    assert slack.messages[slack.posts[0].ts].blocks[0]["text"]["text"].startswith(":red_circle: CRITICAL")
    assert "Symptom attached (critical)" in slack.replies[-1].text


def test_warning_root_and_critical_symptom_in_one_flush_page_critical(make_pipeline, alerting_fakes):
    genie = alerting_fakes.opsgenie
    h = make_pipeline(ONCALL)
    p = h.build()
    p.process([_wal(h.clock, Status.WARN), _stall(h.clock, Status.CRITICAL)])
    p.deliver_due()
    assert [(a.priority, a.message.split(" (")[0]) for a in genie.alerts.values()] == [
        ("P1", "CRITICAL: debezium_slot_retained_wal")]


def test_critical_root_with_a_warning_symptom_pages_critical_once(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline(ONCALL)
    p = h.build()
    p.process([_wal(h.clock, Status.CRITICAL), _stall(h.clock, Status.WARN)])
    p.deliver_due()
    assert [(a.priority, a.message.split(" (")[0]) for a in genie.alerts.values()] == [
        ("P1", "CRITICAL: debezium_slot_retained_wal")]
    assert len(slack.posts) == 1 and "s3_sink_stall" in all_text(slack.posts[0].blocks)


# -- 7. smaller points ----------------------------------------------------------------------------------------
def test_jsm_errors_keep_the_apis_words(make_pipeline, alerting_fakes):
    h = make_pipeline(CONFIG, pager="jsm", jsm_api_key="jsm-wrong-key")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    failed = {d.receiver: d for d in p.deliver_due()}["pager"]
    assert failed.status is DeliveryStatus.FAILED and failed.error == "JSM: HTTP 401: Could not authenticate"


def test_mrkdwn_formatting_from_data_is_inert(make_pipeline, alerting_fakes):
    slack = alerting_fakes.slack
    h = make_pipeline({}, pager="none")
    p = h.build()
    p.process([result(h.clock, "weird", Status.CRITICAL, "rows *bold* and _x_ and ~gone~ and `code`",
                      table="a_b", stage="dbt")])
    p.deliver_due()
    text = all_text(slack.posts[0].blocks[1:])
    for marked in ("*bold*", "_x_", "~gone~", "`code`"):
        assert marked not in text
    assert "bold" in text and "a_b" in text  # still readable; snake_case is left alone
    assert "*bold*" not in slack.posts[0].text and "_x_" not in slack.posts[0].text


# -- 3. a resend never duplicates what Slack already has ----------------------------------------------------
def test_a_thread_reply_that_timed_out_but_posted_is_not_posted_again(make_pipeline, alerting_fakes):
    slack = alerting_fakes.slack
    config = {**CONFIG, "notifiers": [{"name": "chat", "kind": "slack", "options": {"timeout_seconds": 1}}],
              "routes": [{"name": "team", "receivers": ["chat"], "group_wait": "0s"}]}
    h = make_pipeline(config, pager="none")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    p.deliver_due()
    slack.faults.push(Fault(0))  # the edit of the parent answers at once ...
    slack.faults.push(Fault(0, delay=2.0))  # ... the thread reply after the 1 s timeout, but it is posted
    h.clock.advance(timedelta(minutes=10))
    p.process([freshness(h.clock, 10)])
    assert [d.status for d in p.deliver_due()] == [DeliveryStatus.RETRY]
    _within(5.0, lambda: len(slack.replies) == 1)
    h.clock.advance(timedelta(seconds=5))
    assert [d.status for d in p.deliver_due()] == [DeliveryStatus.SENT]
    assert len(slack.replies) == 1 and len(slack.posts) == 1  # found in the thread by its delivery id
    assert "RESOLVED" in slack.messages[slack.posts[0].ts].blocks[0]["text"]["text"]
