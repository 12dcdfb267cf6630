"""The daemon's `/`: the pipeline status view (sentinel/status.py) as one small server-rendered HTML page.
No JavaScript, no build step; every value is escaped; it refreshes itself every 30 s."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from html import escape
from typing import TYPE_CHECKING

from sentinel.http import Route
from sentinel.status import TableView, build_status

if TYPE_CHECKING:
    from sentinel.app import App

HTML = "text/html; charset=utf-8"

_CSS = """
body{font:14px/1.4 system-ui,sans-serif;margin:1.5rem;color:#1d2330;background:#f6f7f9}
h1{font-size:1.3rem;margin:0 0 .2rem} .meta{color:#5b6170;margin-bottom:1rem}
section{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:.8rem 1rem;margin-bottom:1rem}
h2{font-size:1.05rem;margin:0 0 .5rem} h2 .badge{font-size:.8rem}
ol.pipeline{display:flex;flex-wrap:wrap;gap:.35rem;list-style:none;padding:0;margin:.3rem 0 .6rem}
ol.pipeline li{padding:.25rem .5rem;border-radius:4px;border:1px solid #ccd2da;background:#eef1f4}
.ok{background:#dff3e4!important;border-color:#7cc491!important}
.warn{background:#fff4d6!important;border-color:#e6b84d!important}
.critical{background:#fde0df!important;border-color:#e0625c!important;font-weight:600}
.error{background:#efe0fb!important;border-color:#a468d5!important;font-weight:600}
.unwatched{color:#8a909c} .unknown{color:#5b6170}
table{border-collapse:collapse;width:100%} td,th{text-align:left;padding:.25rem .5rem;border-top:1px solid #eceff3}
th{font-weight:600;color:#5b6170} td.alerts div{margin:.1rem 0}
.badge{display:inline-block;padding:0 .4rem;border-radius:3px;border:1px solid #ccd2da}
"""


def render_html(views: Sequence[TableView], *, now: datetime, runbook_base_url: str, title: str = "Sentinel",
                role: str = "") -> str:
    base = runbook_base_url.rstrip("/") + "/"
    parts = [
        "<!doctype html><html lang=en><head><meta charset=utf-8>",
        '<meta http-equiv="refresh" content="30">',
        f"<title>{escape(title)} - pipeline status</title><style>{_CSS}</style></head><body>",
        f"<h1>{escape(title)}: NovaPay CDC pipeline</h1>",
        f'<div class=meta>as of {now:%Y-%m-%d %H:%M:%S} UTC &middot; Postgres &rarr; Debezium &rarr; Kafka &rarr; S3 '
        "&rarr; Snowpipe &rarr; Snowflake &rarr; dbt &rarr; Looker"
        + (f" &middot; served by the <b class=role>{escape(role)}</b>" if role else "") + "</div>",
    ]
    if not views:
        parts.append("<p>No tables configured: add <code>pipeline.tables</code> or <code>table</code>/<code>stage</code>"
                     " labels to checks.</p>")
    for view in views:
        tid = "table-" + view.table.replace(".", "-")
        css = view.status.value if view.watched else "unwatched"
        parts.append(f'<section id="{escape(tid)}" data-table="{escape(view.table)}" data-status="{css}">')
        parts.append(f'<h2>{escape(view.table)} <span class="badge {css}">{escape(view.badge)}</span></h2>')
        if view.slas or view.dashboards:
            parts.append(f"<div class=meta>SLAs: {escape(', '.join(view.slas) or '-')} &middot; dashboards: "
                         f"{escape(', '.join(view.dashboards) or '-')}</div>")
        parts.append("<ol class=pipeline>")
        for s in view.stages:
            parts.append(f'<li class="stage {s.css}" data-stage="{escape(s.stage)}" data-status="{s.css}">'
                         f"{escape(s.stage)} <b>{escape(s.label)}</b></li>")
        parts.append("</ol>")
        failing = view.first_failing
        if failing is not None:
            parts.append(f'<p class="first-failing">First failing stage: <b>{escape(failing.stage)}</b>; '
                         "stages after it are likely symptoms.</p>")
        if not view.watched and not any(s.alerts for s in view.stages):
            parts.append("<p class=unwatched>No check reports on this table yet.</p></section>")
            continue
        parts.append("<table><tr><th>stage</th><th>state</th><th>lag / age</th><th>what the checks see</th>"
                     "<th>firing alerts</th></tr>")
        for s in view.stages:
            if s.status is None and not s.alerts:
                continue
            alerts = "".join(
                f'<div class="alert {escape(a.severity)}">{escape(a.severity.upper())} {escape(a.rule_id)}: '
                f"{escape(a.summary)}{' [' + escape(a.muted) + ']' if a.muted else ''} "
                f'<a href="{escape(base + a.runbook + ".md")}">runbook</a></div>'
                for a in s.alerts)
            checks = escape(", ".join(s.checks))
            parts.append(
                f'<tr class="row {s.css}" data-stage="{escape(s.stage)}"><td>{escape(s.stage)}</td>'
                f'<td><span class="badge {s.css}">{escape(s.label)}</span></td><td>{escape(s.key_value)}</td>'
                f"<td>{escape(s.summary or s.note)}<br><small>{checks}"
                f"{' &middot; ' + escape(s.note) if s.summary and s.note else ''}</small></td>"
                f'<td class="alerts">{alerts or "-"}</td></tr>')
        parts.append("</table></section>")
    parts.append("</body></html>")
    return "\n".join(parts)


def status_routes(app: App) -> dict[str, Route]:
    def page() -> tuple[int, str, bytes]:
        now = app.clock.now()
        alert_states = getattr(app.store, "alert_states", None)
        alerts = alert_states(active_only=True).values() if alert_states is not None else []
        views = build_status(app.config.spec, app.store.latest_results(), alerts, now)
        elector = app.leader
        role = f"{elector.role} replica" if elector is not None else ""
        return 200, HTML, render_html(views, now=now, runbook_base_url=app.settings.runbook_base_url,
                                      role=role).encode()

    return {"/": page}
