"""Compose: messages from alert states (titles, severity of an incident, redaction) and Slack rendering limits."""

from __future__ import annotations

from datetime import timedelta

from sentinel.alerting.compose import MessageDraft, build_message
from sentinel.alerting.types import AlertState
from sentinel.notify.message import Message, MessageEvent, PageAction
from sentinel.notify.slack_render import MAX_BLOCKS, escape, fallback_text, render_blocks
from tests.unit.alert_builders import T0, alert


def message_for(states: list[AlertState]) -> Message:
    draft = MessageDraft(key="k", route="default", group="stage=postgres", event=MessageEvent.FIRED, is_update=False,
                         states=states, page_action=PageAction.TRIGGER)
    return build_message(draft, now=T0 + timedelta(minutes=5), base_url="https://rb.example/",
                         redact=lambda s: s.replace("hunter2", "[redacted]"))


def test_message_round_trip_and_redaction():
    msg = message_for([alert("pg", "postgres", summary_extra="x")])
    assert Message.from_json(msg.to_json()) == msg
    leaky = alert("pg", "postgres").evolve(summary="password hunter2 rejected")
    assert "hunter2" not in str(message_for([leaky]).to_json())


def test_slack_blocks_respect_limits_for_huge_groups():
    states = [alert(f"check_{i}", "postgres").evolve(summary="x" * 3000) for i in range(500)]
    blocks = render_blocks(message_for(states))
    assert len(blocks) <= MAX_BLOCKS
    for b in blocks:
        if b["type"] == "section" and "text" in b:
            assert len(b["text"]["text"]) <= 3000
        if b["type"] == "header":
            assert len(b["text"]["text"]) <= 150


def test_escape_and_fallback_defang():
    assert escape("<a> & <b>") == "&lt;a&gt; &amp; &lt;b&gt;"
    msg = message_for([alert("x", "dbt").evolve(summary="s")])
    msg = Message(**{**msg.__dict__, "title": "see https://evil.example @here"})
    text = fallback_text(msg)
    assert "https://evil" not in text and "@here" not in text


