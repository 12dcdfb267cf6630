"""Block Kit rendering of a Message with slack_sdk.models.blocks, whose to_dict() also checks Slack's limits
(50 blocks, 150-char headers, 3000-char sections, 10 fields of 2000 chars); texts are cut to fit first.

Data from check results is made inert in mrkdwn: `&`, `<`, `>` are escaped and every mrkdwn text is `verbatim`,
so nothing becomes a link, a mention or a channel reference; and the formatting characters (`*bold*`, `_italic_`,
`~strike~`, backticks) are swapped for look-alikes, because Slack has no escape for them. Only the runbook URL
(from settings) is a link. The header is `plain_text`, which Slack shows as is: it is not HTML-escaped (that would
show a literal `&lt;`).
"""

from __future__ import annotations

import re
from typing import Any

from slack_sdk.models.blocks import (
    Block,
    ContextBlock,
    HeaderBlock,
    MarkdownTextObject,
    PlainTextObject,
    SectionBlock,
)

from sentinel.notify.message import AlertLine, Message

MAX_BLOCKS = 50
MAX_HEADER = 150
MAX_SECTION = 3000
MAX_FIELD = 2000
MAX_FIELDS = 10
MAX_CONTEXT_ELEMENTS = 10
MAX_FALLBACK = 3000
_ICONS = {"critical": ":red_circle:", "warning": ":large_orange_circle:", "resolved": ":white_check_mark:"}
# look-alikes that Slack does not read as formatting
_INERT = str.maketrans({"*": "\u2217", "~": "\u223c", "`": "\u02cb"})
_EDGE_UNDERSCORE = re.compile(r"(?<![0-9A-Za-z])_|_(?![0-9A-Za-z])")  # `_x_` italicises; snake_case does not


def escape(text: object) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def inert(text: object) -> str:
    """Data for a mrkdwn text: escaped, and with no character Slack would read as formatting."""
    return _EDGE_UNDERSCORE.sub("\uff3f", escape(text).translate(_INERT))


def code(text: object) -> str:
    """Data inside a `code span`: nothing is formatted there, but a backtick would end the span."""
    return escape(text).replace("`", "\u02cb")


def defang(text: str) -> str:
    """For the plain fallback text (no `verbatim` there): break URL schemes so clients do not auto-link."""
    return text.replace("://", ":/\u200b/").replace("@", "@\u200b")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "\u2026"


def _mrkdwn(text: str, limit: int = MAX_SECTION) -> MarkdownTextObject:
    return MarkdownTextObject(text=_cut(text, limit), verbatim=True)


def _section(text: str) -> SectionBlock:
    return SectionBlock(text=_mrkdwn(text))


def _context(*texts: str) -> ContextBlock:
    return ContextBlock(elements=[_mrkdwn(t, MAX_FIELD) for t in texts[:MAX_CONTEXT_ELEMENTS]])


def _header(message: Message) -> HeaderBlock:
    state = "resolved" if message.resolved else message.severity
    text = f"{_ICONS.get(state, '')} {message.title}".strip()
    return HeaderBlock(text=PlainTextObject(text=_cut(text, MAX_HEADER), emoji=True))


def _alert_blocks(a: AlertLine, message: Message) -> list[Block]:
    fields = [f"*Severity:*\n{inert(a.severity)}{' (resolved)' if a.phase == 'resolved' else ''}"]
    if a.value_text:
        fields.append(f"*Value vs threshold:*\n`{code(a.value_text)}`")
    if a.since:
        fields.append(f"*Since:*\n{inert(a.since_text(message.created_at))}")
    if a.stage:
        fields.append(f"*Stage:*\n{inert(a.stage)}")
    if a.table:
        fields.append(f"*Table:*\n{inert(a.table)}")
    fields.append(f"*Check:*\n`{code(a.check_id)}` (rule `{code(a.rule_id)}`)")
    links = [f"*Runbook:* <{a.runbook_url}|{inert(a.runbook)}>"]
    if a.phase != "resolved" and a.silence_command:
        links.append(f"*Silence:* `{code(a.silence_command)}`")
    return [
        _section(f"*What broke:* {inert(a.summary)}"),
        SectionBlock(fields=[_mrkdwn(f, MAX_FIELD) for f in fields[:MAX_FIELDS]]),
        _context(*links),
    ]


def _alert_row(a: AlertLine) -> str:
    icon = _ICONS["resolved"] if a.phase == "resolved" else _ICONS.get(a.severity, "")
    where = f" ({inert(a.where)})" if a.where else ""
    value = f" `{code(a.value_text)}`" if a.value_text else ""
    return f"{icon} `{code(a.check_id)}`{where}: {inert(a.summary)}{value} \u2013 <{a.runbook_url}|runbook>"


def _alert_rows(message: Message, max_rows: int) -> list[Block]:
    blocks: list[Block] = []
    rows = [_alert_row(a) for a in message.alerts[:max_rows]]
    chunk: list[str] = []
    for row in rows:
        if chunk and sum(len(r) + 1 for r in chunk) + len(row) > MAX_SECTION - 100:
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
        blocks.append(_context(f"*Silence one:* `{code(first.silence_command)}`"))
    return blocks


def render_blocks(message: Message, *, max_rows: int = 30) -> list[dict[str, Any]]:
    blocks: list[Block] = [_header(message)]
    for note in message.notes:
        blocks.append(_section(f":warning: {escape(note)}"))  # notes are Sentinel's own words, commands in `code`
    if message.total_alerts == 1:
        blocks += _alert_blocks(message.alerts[0], message)
    elif message.alerts:
        blocks += _alert_rows(message, max_rows)
    if message.symptoms:
        rows = [f"\u2022 `{code(s.check_id)}` ({inert(s.where)}, {inert(s.severity)}): {inert(s.summary)}"
                for s in message.symptoms[:15]]
        hidden = message.total_symptoms - min(15, len(message.symptoms))
        more = f"\n\u2026 and {hidden} more" if hidden > 0 else ""
        blocks.append(_section("*Symptoms attached to this incident:*\n" + "\n".join(rows) + more))
    if message.at_risk:
        blocks.append(_section("*At risk:* " + inert(", ".join(message.at_risk))))
    if len(blocks) > MAX_BLOCKS:
        blocks = [*blocks[: MAX_BLOCKS - 1], _section("\u2026 (truncated: run `sentinel alerts`)")]
    return [b.to_dict() for b in blocks]  # to_dict() validates every block against Slack's limits


def fallback_text(message: Message) -> str:
    return _cut(defang(inert(message.title)), MAX_FALLBACK)


def reply_text(message: Message) -> str:
    lines = [inert(c) for c in message.changes] or [inert(message.title)]
    lines += [f":warning: {escape(n)}" for n in message.notes]
    return _cut("\n".join(lines), MAX_SECTION)


def reply_blocks(message: Message) -> list[dict[str, Any]]:
    return [_section(reply_text(message)).to_dict()]
