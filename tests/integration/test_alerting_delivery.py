"""Delivery: Slack 429 with Retry-After, Slack down for ten minutes, pager 401 -> meta-alert, JSM, PagerDuty,
email over aiosmtpd, the heartbeat, and grouping with group_wait in real (fake-clock) time."""

from __future__ import annotations

import time
from datetime import timedelta

from sentinel.alerting.types import DeliveryStatus
from sentinel.compose_root import build_heartbeat
from sentinel.model import Status
from tests.fakes.alerting_apis import Fault
from tests.integration.alerting_helpers import FRESHNESS_RULE, all_text, freshness, result

CONFIG = {"rules": [FRESHNESS_RULE]}


def test_slack_429_is_rescheduled_by_the_outbox_after_retry_after(make_pipeline, alerting_fakes):
    slack = alerting_fakes.slack
    slack.rate_limit(1)
    h = make_pipeline(CONFIG, pager="none")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    started = time.monotonic()
    first = p.deliver_due()
    assert time.monotonic() - started < 1.0  # nobody sleeps out Retry-After inside a send
    assert [d.status for d in first] == [DeliveryStatus.RETRY] and slack.posts == [] and slack.requests_seen == 1
    assert p.deliver_due() == []  # Retry-After (1s of the fake clock) has not passed: nothing is tried
    h.clock.advance(timedelta(seconds=1))
    assert [d.status for d in p.deliver_due()] == [DeliveryStatus.SENT]
    assert len(slack.posts) == 1


def test_slack_down_ten_minutes_delivers_everything_in_order_when_back(make_pipeline, alerting_fakes):
    slack = alerting_fakes.slack
    slack.faults.down = True
    h = make_pipeline({"rules": [{**FRESHNESS_RULE, "checks": ["a", "b", "c"]}]}, pager="none")
    p = h.build()
    for check in ("a", "b", "c"):
        p.process([freshness(h.clock, 1200, check_id=check, summary=f"alert {check}")])
        p.deliver_due()
        h.clock.advance(timedelta(minutes=1))
    for _ in range(8):
        assert all(d.status is DeliveryStatus.RETRY for d in p.deliver_due())
        h.clock.advance(timedelta(minutes=1))
    assert slack.posts == []
    slack.faults.down = False
    h.clock.advance(timedelta(minutes=5))  # the longest backoff
    sent = p.deliver_due()
    assert [d.status for d in sent] == [DeliveryStatus.SENT] * 3
    assert [all_text(m.blocks).split("What broke:* ")[1][:7] for m in slack.posts] == ["alert a", "alert b",
                                                                                     "alert c"]


def test_pager_401_raises_a_meta_alert_in_slack(make_pipeline, alerting_fakes):
    slack, genie = alerting_fakes.slack, alerting_fakes.opsgenie
    h = make_pipeline(CONFIG, opsgenie_api_key="og-wrong-key-000")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    deliveries = p.deliver_due()
    statuses = {d.receiver: d.status for d in deliveries}
    error = next(d.error for d in deliveries if d.receiver == "pager")
    assert statuses["pager"] is DeliveryStatus.FAILED and "401" in error and "Key format is not valid!" in error
    assert genie.alerts == {}
    p.deliver_due()  # the meta-alert was queued by the failure
    assert len(slack.posts) == 2
    meta = all_text(slack.posts[1].blocks)
    assert "REFUSED" in meta and "pager" in meta and "page on-call by hand" in meta
    # not retried: a 4xx other than 429 is a configuration problem
    h.clock.advance(timedelta(minutes=10))
    assert p.deliver_due() == []


def test_pager_5xx_is_retried_by_the_outbox_not_forever_by_the_sdk(make_pipeline, alerting_fakes):
    genie = alerting_fakes.opsgenie
    genie.faults.down = True
    h = make_pipeline(CONFIG)
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    started = time.monotonic()
    deliveries = p.deliver_due()
    assert time.monotonic() - started < 5  # one request: the SDK does not retry, the outbox does
    assert {d.receiver: d.status for d in deliveries} == {"slack": DeliveryStatus.SENT, "pager": DeliveryStatus.RETRY}
    assert len(alerting_fakes.slack.posts) == 1  # Slack still gets the alert
    h.clock.advance(timedelta(seconds=5))
    assert [d.status for d in p.deliver_due()] == [DeliveryStatus.RETRY]  # second failure: chat hears about it
    p.deliver_due()
    assert len(alerting_fakes.slack.posts) == 2
    meta = all_text(alerting_fakes.slack.posts[1].blocks)
    assert "UNCONFIRMED (still retrying)" in meta and "at most once" in meta and "not paged" not in meta.lower()
    genie.faults.down = False
    h.clock.advance(timedelta(seconds=10))
    assert [d.status for d in p.deliver_due()] == [DeliveryStatus.SENT]
    assert len(genie.alerts) == 1


def test_jsm_creates_and_closes_by_alias(make_pipeline, alerting_fakes):
    jsm = alerting_fakes.jsm
    h = make_pipeline(CONFIG, pager="jsm")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    p.deliver_due()
    assert len(jsm.alerts) == 1 and jsm.open_aliases
    body = jsm.requests[0][1]
    assert body["alias"].startswith("sentinel-") and body["priority"] == "P1" and "sentinel" in body["tags"]
    h.clock.advance(timedelta(minutes=1))
    p.process([freshness(h.clock, 10)])
    p.deliver_due()
    assert jsm.open_aliases == [] and [r[0] for r in jsm.requests] == ["create", "close"]


def test_pagerduty_trigger_and_resolve_with_dedup_key(make_pipeline, alerting_fakes):
    pd = alerting_fakes.pagerduty
    h = make_pipeline(CONFIG, pager="pagerduty")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    p.deliver_due()
    assert [e["event_action"] for e in pd.events] == ["trigger"]
    key = pd.events[0]["dedup_key"]
    assert pd.events[0]["payload"]["severity"] == "critical" and pd.events[0]["links"][0]["href"].endswith(".md")
    h.clock.advance(timedelta(minutes=1))
    p.process([freshness(h.clock, 10)])
    p.deliver_due()
    assert [e["event_action"] for e in pd.events] == ["trigger", "resolve"] and pd.incidents == {key: "resolved"}


def test_email_route_over_smtp(make_pipeline, alerting_fakes, smtp_server):
    host, port, sink = smtp_server
    sink.clear()
    config = {
        "rules": [FRESHNESS_RULE],
        "notifiers": [{"name": "data_eng_mail", "kind": "email", "options": {"to": ["data-eng@novapay.example"]}}],
        "routes": [{"name": "mail", "receivers": ["data_eng_mail"], "group_wait": "0s"}],
    }
    h = make_pipeline(config, pager="none", smtp_host=host, smtp_port=port, smtp_starttls=False)
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    p.deliver_due()
    assert len(sink.messages) == 1
    mail = sink.messages[0]
    assert mail["To"] == "data-eng@novapay.example" and "CRITICAL" in mail["Subject"]
    assert "snowflake-freshness.md" in mail.get_payload()
    assert alerting_fakes.slack.calls == []  # the only route is email


def test_heartbeat_pings_the_pager(make_pipeline, alerting_fakes):
    h = make_pipeline(CONFIG, heartbeat_name="sentinel-prod")
    heartbeat = build_heartbeat(h.settings)
    assert heartbeat is not None and heartbeat.ping() is True and heartbeat.ping() is True
    assert alerting_fakes.opsgenie.heartbeats == {"sentinel-prod": 2}


def test_heartbeat_url_with_basic_auth_for_jsm(make_pipeline, alerting_fakes):
    jsm = alerting_fakes.jsm
    jsm.basic_auth = ("oncall@novapay.example", "atlassian-token-1")
    url = jsm.base_url.replace("/integration", "/api/cloud-1/v1/teams/team-9/heartbeats/ping?name=sentinel")
    h = make_pipeline(CONFIG, pager="jsm", heartbeat_url=url,
                      heartbeat_basic_auth="oncall@novapay.example:atlassian-token-1")
    heartbeat = build_heartbeat(h.settings)
    assert heartbeat is not None and heartbeat.ping() is True
    assert jsm.heartbeats == {"sentinel": 1}
    wrong = make_pipeline(CONFIG, pager="jsm", heartbeat_url=url, heartbeat_basic_auth="oncall@novapay.example:nope")
    heartbeat = build_heartbeat(wrong.settings)
    assert heartbeat is not None and heartbeat.ping() is False


def test_group_wait_collects_alerts_into_one_message(make_pipeline, alerting_fakes):
    slack = alerting_fakes.slack
    h = make_pipeline({}, pager="none")
    p = h.build(immediate=False)
    p.process([result(h.clock, "pg_a", Status.CRITICAL, "replication slot a lags", stage="postgres")])
    h.clock.advance(timedelta(seconds=10))
    p.process([result(h.clock, "pg_b", Status.CRITICAL, "replication slot b lags", stage="postgres")])
    p.deliver_due()
    assert slack.calls == []  # group_wait (30s) not over
    h.clock.advance(timedelta(seconds=21))
    p.deliver_due()
    assert len(slack.posts) == 1
    text = all_text(slack.posts[0].blocks)
    assert "2 of 2 alerts" in text and "pg_a" in text and "pg_b" in text


def test_alerting_metrics_on_the_app_registry(make_pipeline, alerting_fakes):
    from prometheus_client import CollectorRegistry, generate_latest

    from sentinel.alerting.pipeline import AlertPipeline
    from sentinel.compose_root import build_notifiers
    from sentinel.metrics import SentinelMetrics
    from sentinel.store.sqlite import SqliteStateStore

    h = make_pipeline(CONFIG, pager="none")
    metrics = SentinelMetrics(CollectorRegistry())
    store = SqliteStateStore(h.state_path)
    h.stores.append(store)
    p = AlertPipeline(h.config, store, build_notifiers(h.config, h.settings), h.clock, h.settings, metrics,
                      immediate=True, kind_runbooks={})
    alerting_fakes.slack.faults.down = True
    p.process([freshness(h.clock, 1200)])
    p.deliver_due()
    text = generate_latest(metrics.registry).decode()
    assert 'sentinel_alert_events_total{event="fired",severity="critical"} 1.0' in text
    assert 'sentinel_notifications_total{receiver="slack",status="retry"} 1.0' in text
    assert "sentinel_outbox_pending 1.0" in text and "sentinel_alerts_firing 1.0" in text


def test_opsgenie_429_waits_for_retry_after_in_the_outbox(make_pipeline, alerting_fakes):
    genie = alerting_fakes.opsgenie
    genie.faults.push(Fault(429, {"message": "rate limited", "took": 0.0}, {"Retry-After": "5"}))
    h = make_pipeline(CONFIG)
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    started = time.monotonic()
    statuses = {d.receiver: d.status for d in p.deliver_due()}
    assert statuses == {"slack": DeliveryStatus.SENT, "pager": DeliveryStatus.RETRY}
    assert time.monotonic() - started < 2 and len(genie.requests) == 0  # one request, no SDK retry at +0.2 s
    h.clock.advance(timedelta(seconds=4))
    assert p.deliver_due() == []  # Retry-After: 5 has not passed
    h.clock.advance(timedelta(seconds=1))
    assert [d.status for d in p.deliver_due()] == [DeliveryStatus.SENT] and len(genie.alerts) == 1


def test_pagerduty_429_waits_for_retry_after_and_400_is_not_retried(make_pipeline, alerting_fakes):
    pd = alerting_fakes.pagerduty
    pd.faults.push(Fault(429, {"status": "throttled"}, {"Retry-After": "30"}))
    h = make_pipeline(CONFIG, pager="pagerduty")
    p = h.build()
    p.process([freshness(h.clock, 1200)])
    assert {d.receiver: d.status for d in p.deliver_due()}["pager"] is DeliveryStatus.RETRY
    h.clock.advance(timedelta(seconds=29))
    assert p.deliver_due() == []
    h.clock.advance(timedelta(seconds=1))
    assert [d.status for d in p.deliver_due()] == [DeliveryStatus.SENT] and len(pd.events) == 1

    bad = make_pipeline(CONFIG, pager="pagerduty", pagerduty_routing_key="wrong-routing-key-000000000000000")
    q = bad.build()
    q.process([freshness(bad.clock, 1200)])
    failed = {d.receiver: d for d in q.deliver_due()}["pager"]
    assert failed.status is DeliveryStatus.FAILED and "400" in failed.error and "routing_key" in failed.error
    assert "wrong-routing-key" not in failed.error


def test_the_leadership_fence_is_asked_before_every_row_and_stops_the_round(make_pipeline, alerting_fakes):
    from sentinel.store.lease import Claim

    slack = alerting_fakes.slack
    h = make_pipeline({"rules": [{**FRESHNESS_RULE, "checks": ["a", "b", "c"]}]}, pager="none")
    p = h.build()
    for check in ("a", "b", "c"):
        p.process([freshness(h.clock, 1200, check_id=check, summary=f"alert {check}")])
        p.flush(force=True)
    asked: list[int] = []
    answers = [Claim.CLAIMED, Claim.FENCED]  # the term ends after the first row (its lock session was lost)

    def fence(row):
        asked.append(row.seq)
        return answers.pop(0) if answers else Claim.CLAIMED

    p.outbox.fence = fence
    sent = p.outbox.deliver_due()
    assert [d.status for d in sent] == [DeliveryStatus.SENT] and len(slack.posts) == 1
    assert len(asked) == 2  # claimed right before each send, and nothing after the fence said stop
    assert len(p.store.outbox_pending()) == 2  # left for the new leader

    p.outbox.fence = lambda row: Claim.BUSY  # another live term is sending the head: the rest wait behind it
    assert p.outbox.deliver_due() == [] and len(slack.posts) == 1
    p.outbox.fence = lambda row: Claim.CLAIMED
    assert [d.status for d in p.outbox.deliver_due()] == [DeliveryStatus.SENT] * 2
    assert len(slack.posts) == 3
