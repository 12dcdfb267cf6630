"""The weekly report as HTML (jinja2, autoescaped, inline styles and table layout so mail clients show it) and as
plain text (the other half of the multipart email, and what `sentinel report weekly` prints)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import ROUND_FLOOR, Decimal
from typing import Any

from sentinel.durations import format_duration
from sentinel.reports.incidents import Incident
from sentinel.reports.model import SlaSection, WeeklyReport
from sentinel.reports.templates import WEEKLY_HTML
from sentinel.sla import Breach


def pct(value: float | None, digits: int = 2) -> str:
    """A share as a percentage, rounded down: 99.4998% must never print as 99.50% next to a 99.50% objective it
    missed, nor a week with one unknown second as 100.00%. Decimal of the float's shortest repr, so an exact
    0.995 is 99.50%, not 99.49% from binary noise."""
    if value is None:
        return "n/a"
    shown = (Decimal(repr(value)) * 100).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_FLOOR)
    return f"{shown}%"


def pct_against(value: float | None, objective: float, digits: int = 2) -> str:
    """`value` with as many more digits as it takes (up to 6) to read differently from a missed `objective`."""
    text = pct(value, digits)
    while value is not None and value < objective and text == pct(objective, digits) and digits < 6:
        digits += 1
        text = pct(value, digits)
    return text


def dur(delta: timedelta) -> str:
    if delta < timedelta(0):
        return "-" + format_duration(-delta)
    return format_duration(delta) if delta >= timedelta(seconds=1) else "0s"


def minutes(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds / 60:.1f} min"


def trend(points: float | None) -> str:
    if points is None:
        return "no data last week"
    if abs(points) < 0.005:
        return "unchanged"
    return f"{'+' if points > 0 else '-'}{abs(points):.2f} pp"


def budget_text(section: SlaSection) -> str:
    att = section.attainment
    left = att.budget_left
    if left < timedelta(0):
        return f"exhausted, over by {dur(-left)} (budget {dur(att.budget)})"
    return f"{dur(left)} of {dur(att.budget)} ({pct(att.budget_left_fraction, 0)})"


def breach_start(b: Breach, zone: str = " UTC") -> str:
    """When the breach began; one carried in from the week before says so instead of claiming Monday 00:00.
    (The HTML table's header already says UTC: it passes zone="".)"""
    if b.began_at is not None:
        return f"{b.began_at:%a %Y-%m-%d %H:%M}{zone} (began the week before)"
    return f"{b.start:%a %Y-%m-%d %H:%M}{zone}"


def breach_length(b: Breach) -> str:
    """How long it lasted inside this window, and what happened beyond its edges."""
    if b.ongoing:
        return f"ongoing, {dur(b.duration)} so far"
    text = dur(b.duration) + (" in this week" if b.began_at is not None or b.continues else "")
    if b.continues:
        until = f", ended {b.ended_at:%a %Y-%m-%d %H:%M} UTC" if b.ended_at is not None else ""
        text += f", continued into the next week{until}"
    return text


def incident_kind(i: Incident) -> str:
    return f"{i.kind} ({i.check_id})" if i.kind and i.kind != i.check_id else i.check_id


def incident_end(i: Incident, now: datetime) -> str:
    """How it ended, or how long it has been going on when the report was made."""
    if i.resolved_at is None:
        return f"still firing ({dur(now - i.started_at)} at {now:%a %H:%M} UTC)"
    return f"resolved {i.resolved_at:%a %H:%M} UTC after {dur(i.resolved_at - i.started_at)}"


def data_uri(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _environment() -> Any:
    from sentinel.extras import require

    require("report")
    import jinja2

    env = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    env.filters.update(pct=pct, pct_against=pct_against, dur=dur, minutes=minutes, trend=trend, breach_start=breach_start,
                       breach_length=breach_length)
    return env


def render_html(report: WeeklyReport, image_src: Callable[[str], str] | None = None) -> str:
    """`image_src(sla_id)` gives each chart's src: a data: URI for a file, `cid:...` for an email."""
    src = image_src or (lambda sla_id: data_uri(report.charts[sla_id]) if sla_id in report.charts else "")
    template = _environment().from_string(WEEKLY_HTML)
    return str(template.render(r=report, src=src, budget_text=budget_text, verdict_color=_VERDICT_COLORS,
                               incident_kind=incident_kind, incident_end=incident_end))


_VERDICT_COLORS = {"met": "#188038", "on track": "#188038", "at risk": "#e37400", "missed": "#d93025"}


def render_text(report: WeeklyReport) -> str:
    lines = [f"Sentinel weekly SLA report {report.week} "
             f"({report.start:%Y-%m-%d} to {(report.end - timedelta(days=1)):%Y-%m-%d}, UTC)",
             report.headline if report.complete else f"{report.headline} (as of {report.generated_at:%a %H:%M} UTC)",
             ""]
    for s in report.sections:
        a, v = s.attainment, s.window.values
        lines += [
            f"== {s.sla.id}: {s.sla.description or s.threshold_text} [{s.verdict.upper()}]",
            f"   objective {pct(s.sla.objective)} of the week, {s.threshold_text}; owner {s.sla.owner}",
            f"   attainment {pct_against(a.attainment, s.sla.objective)} ({trend(s.trend_points)} vs {report.previous_week});"
            f" breach {dur(a.breach)}, unknown (no data) {dur(a.unknown)}",
            f"   error budget left: {budget_text(s)}",
            f"   {'lateness' if s.sla.kind == 'deadline' else 'freshness'} p50 {minutes(v.p50)}, p95 {minutes(v.p95)},"
            f" max {minutes(v.max)} ({v.count} observations)",
        ]
        if s.breaches:
            lines.append(f"   breaches ({len(s.breaches)}):")
            for b in s.breaches:
                lines.append(f"   - {breach_start(b)} for {breach_length(b)}, worst {minutes(b.worst_value)}")
                lines.append(f"     root cause: {b.root_cause}")
        else:
            lines.append("   breaches: none")
        lines.append("")
    lines.append(f"Incidents ({len(report.incidents)}):")
    for i in report.incidents:
        lines.append(f"- {i.started_at:%a %Y-%m-%d %H:%M} UTC {i.severity} {incident_kind(i)} {i.where}: {i.summary}"
                     f" [{incident_end(i, report.generated_at)}]")
    if not report.incidents:
        lines.append("- none")
    lines.append("")
    lines.append("Noisiest checks (alerts sent / not-OK results):")
    for n in report.noisiest or []:
        results = f", {n.not_ok}/{n.results} not OK ({n.errors} errors)" if n.results else ""
        lines.append(f"- {n.check_id}: {n.alerts} alerts, {n.episodes} fired{results}")
    if not report.noisiest:
        lines.append("- none: a quiet week")
    al = report.alerts
    lines += ["", f"Alerts: {al.messages} messages sent, {al.fired} alerts fired, {al.pages} pages,"
                  f" {al.failed} failed deliveries",
              "   by receiver: " + (", ".join(f"{k} {v}" for k, v in al.by_receiver.items()) or "none"), ""]
    lines.append("Attainment is met time over elapsed time; time without observations is unknown and never counted "
                 "as met.")
    return "\n".join(lines) + "\n"
