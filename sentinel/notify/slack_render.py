"""Block Kit rendering of a Message, within Slack's limits (50 blocks, 150-char headers, 3000-char sections,
10 fields of 2000 chars). Data values are escaped (&, <, >) and every mrkdwn text is `verbatim`, so nothing
from a check result becomes a link, a mention or a channel reference. Only the runbook URL (from settings)
is a link."""

from __future__ import annotations

from typing import Any

from sentinel.notify.message import AlertLine, Message

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 3000
_ICONS = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "resolved": ":white_check_mark:"}


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def defang(text: str) -> str:
    """For the plain fallback text (no `verbatim` there): break URL schemes so clients do not auto-link."""
    return text.replace("://", ":/\u200b/").replace("@", "@\u200b")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _mrkdwn(text: str, limit: int = MAX_SECTION) -> dict[str, Any]:
    return {"type": "mrkdwn", "text": _cut(text, limit), "verbatim": True}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": _mrkdwn(text)}


def _header(message: Message) -> dict[str, Any]:
    state = "resolved" if message.resolved else message.severity
    text = f"{_ICONS.get(state, '')} {escape(message.title)}".strip()
    return {"type": "header", "text": {"type": "plain_text", "text": _cut(text, MAX_HEADER), "emoji": True}}


def _alert_blocks(a: AlertLine, message: Message) -> list[dict[str, Any]]:
    fields = [f"*Severity:*\n{escape(a.severity)}{' (resolved)' if a.phase == 'resolved' else ''}"]
    if a.value_text:
        fields.append(f"*Value vs threshold:*\n`{escape(a.value_text)}`")
    if a.since:
        fields.append(f"*Since:*\n{escape(a.since_text(message.created_at))}")
    if a.stage:
        fields.append(f"*Stage:*\n{escape(a.stage)}")
    if a.table:
        fields.append(f"*Table:*\n{escape(a.table)}")
    fields.append(f"*Check:*\n`{escape(a.check_id)}` (rule `{escape(a.rule_id)}`)")
    blocks: list[dict[str, Any]] = [
        _section(f"*What broke:* {escape(a.summary)}"),
        {"type": "section", "fields": [_mrkdwn(f, MAX_FIELD) for f in fields[:MAX_FIELDS]]},
    ]
    links = [f"*Runbook:* <{a.runbook_url}|{escape(a.runbook)}>"]
    if a.phase != "resolved" and a.silence_command:
        links.append(f"*Silence:* `{escape(a.silence_command)}`")
    blocks.append({"type": "context", "elements": [_mrkdwn(t, MAX_FIELD) for t in links]})
    return blocks


def _alert_row(a: AlertLine) -> str:
    icon = _ICONS["resolved"] if a.phase == "resolved" else _ICONS.get(a.severity, "")
    where = f" ({escape(a.where)})" if a.where else ""
    value = f" `{escape(a.value_text)}`" if a.value_text else ""
    return f"{icon} `{escape(a.check_id)}`{where}: {escape(a.summary)}{value} \u2013 <{a.runbook_url}|runbook>"


def render_blocks(message: Message, *, max_rows: int = 30) -> list[dict[str, Any]]:
    blocks: list[dict[str, Any]] = [_header(message)]
    for note in message.notes:
        blocks.append(_section(f":warning: {escape(note)}"))
    if message.total_alerts == 1:
        blocks += _alert_blocks(message.alerts[0], message)
    elif message.alerts:
        rows = [_alert_row(a) for a in message.alerts[:max_rows]]
        chunk: list[str] = []
        for row in rows:
            if sum(len(r) + 1 for r in chunk) + len(row) > MAX_SECTION - 100:
                blocks.append(_section("\n".join(chunk)))
                chunk = []
            chunk.append(row)
        if chunk:
            blocks.append(_section("\n".join(chunk)))
        if message.total_alerts > min(max_rows, len(rows)):
            extra = message.total_alerts - min(max_rows, len(rows))
            blocks.append(_section(f"\u2026 and {extra} more: run `sentinel alerts`"))
        first = next((a for a in message.alerts if a.phase != "resolved"), None)
        if first is not None and first.silence_command:
            blocks.append({"type": "context", "elements": [
                _mrkdwn(f"*Silence one:* `{escape(first.silence_command)}`", MAX_FIELD)]})
    if message.symptoms:
        rows = [f"\u2022 `{escape(s.check_id)}` ({escape(s.where)}): {escape(s.summary)}" for s in message.symptoms[:15]]
        hidden = message.total_symptoms - min(15, len(message.symptoms))
        more = f"\n\u2026 and {hidden} more" if hidden > 0 else ""
        blocks.append(_section("*Symptoms attached to this incident (not paged):*\n" + "\n".join(rows) + more))
    if message.at_risk:
        blocks.append(_section("*At risk:* " + escape(", ".join(message.at_risk))))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _section("\u2026 (truncated: run `sentinel alerts`)")]
    return blocks


def fallback_text(message: Message) -> str:
    return _cut(defang(escape(message.title)), MAX_FALLBACK)


def reply_text(message: Message) -> str:
    lines = [escape(c) for c in message.changes] or [escape(message.title)]
    lines += [f":warning: {escape(n)}" for n in message.notes]
    return _cut("\n".join(lines), MAX_SECTION)


def reply_blocks(message: Message) -> list[dict[str, Any]]:
    return [_section(reply_text(message))]
