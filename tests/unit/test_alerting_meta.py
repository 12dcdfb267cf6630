"""Pure parts of issue 15: who hears about a broken receiver and in what words, receiver health from the delivery
log, and mrkdwn made inert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sentinel.alerting.meta_alerts import FailedDelivery, meta_message, meta_targets
from sentinel.alerting.receiver_health import receiver_health, receiver_problems
from sentinel.alerting.types import Delivery, DeliveryStatus
from sentinel.notify.message import Message
from sentinel.notify.slack_render import inert

NOW = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
CHANNELS = {"slack": "chat", "pager": "pager", "mail": "email", "console": "console"}
PAGE = Message(key="k", route="oncall", event="fired", is_update=False, severity="critical",
               title="CRITICAL: tx_freshness", created_at=NOW, page_action="trigger")


def test_a_failing_page_is_told_to_everyone_but_pagers():
    failed = FailedDelivery("pager", "pager", 7, 2, "PagerDuty unreachable: ReadTimeout", retrying=True)
    assert meta_targets(failed, CHANNELS) == ["slack", "mail", "console"]


def test_broken_chat_pages_but_a_retrying_chat_does_not():
    broken = FailedDelivery("slack", "chat", 3, 1, "Slack refused the message: invalid_auth", retrying=False)
    assert meta_targets(broken, CHANNELS) == ["pager", "mail", "console"]
    mail = FailedDelivery("mail", "email", 3, 1, "535 auth failed", retrying=False)
    assert "pager" not in meta_targets(mail, CHANNELS)


def test_unconfirmed_is_never_called_not_paged():
    failed = FailedDelivery("pager", "pager", 7, 2, "PagerDuty unreachable: ReadTimeout", retrying=True)
    meta = meta_message(failed, PAGE, NOW, to_pager=False)
    text = " ".join((meta.title, *meta.notes)).lower()
    assert "unconfirmed" in text and "not paged" not in text and "not been paged" not in text
    refused = meta_message(FailedDelivery("pager", "pager", 7, 1, "HTTP 401", retrying=False), PAGE, NOW,
                           to_pager=False)
    assert "REFUSED" in refused.title and "page on-call by hand" in " ".join(refused.notes)


def test_the_page_about_broken_chat_has_one_alias_per_receiver():
    failed = FailedDelivery("slack", "chat", 3, 1, "invalid_auth", retrying=False)
    first = meta_message(failed, PAGE, NOW, to_pager=True)
    again = meta_message(FailedDelivery("slack", "chat", 9, 1, "invalid_auth", retrying=False), PAGE, NOW,
                         to_pager=True)
    assert first.key == again.key == "sentinel-receiver-slack"
    assert first.page_action == "trigger" and first.severity == "warning"


def _delivery(receiver: str, status: DeliveryStatus, minutes: int, error: str = "") -> Delivery:
    return Delivery(1, receiver, "k", "fired", status, 1, NOW + timedelta(minutes=minutes), error=error)


def test_the_latest_delivery_decides_a_receivers_health():
    log = [_delivery("slack", DeliveryStatus.SENT, 0), _delivery("slack", DeliveryStatus.FAILED, 5, "invalid_auth"),
           _delivery("pager", DeliveryStatus.RETRY, 1, "HTTP 503"), _delivery("pager", DeliveryStatus.SENT, 2)]
    health = receiver_health(log)
    assert {n: h.state for n, h in health.items()} == {"pager": "ok", "slack": "broken"}
    problems = receiver_problems(log)
    assert len(problems) == 1 and "receiver slack is BROKEN since 2026-11-23 09:05 UTC: invalid_auth" in problems[0]
    assert receiver_problems([*log, _delivery("slack", DeliveryStatus.SENT, 6)]) == []


def test_inert_mrkdwn_keeps_snake_case_and_escapes():
    assert inert("a_b *x* _y_ ~z~ `c` <!here> &") == (
        "a_b \u2217x\u2217 \uff3fy\uff3f \u223cz\u223c \u02cbc\u02cb &lt;!here&gt; &amp;")
