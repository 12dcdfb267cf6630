"""`sentinel report weekly` and `sentinel sla`."""

from __future__ import annotations

import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click

from sentinel.cli import format_option, settings_from
from sentinel.cli_time import ISO_WEEK, MOMENT
from sentinel.errors import ConfigErrors, SentinelError


def _app(ctx: click.Context) -> Any:
    from sentinel.compose_root import Wiring, build_app

    settings = settings_from(ctx)
    try:
        return build_app(settings, wiring=Wiring(alerting=False, metrics=False))
    except ConfigErrors as exc:
        click.echo(str(exc), err=True)
        sys.exit(4)
    except SentinelError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(4)


@click.group()
def report() -> None:
    """Reports built from the state store."""


@report.command()
@click.option("--week", type=ISO_WEEK, default=None, help="ISO week, e.g. 2026-W47 [default: the last complete week]")
@click.option("--out", type=click.Path(path_type=Path), help="write the HTML report (charts inline) here")
@click.option("--send", "send_it", is_flag=True, help="email it to report.to (SMTP with STARTTLS, or SES)")
@click.option("--force", is_flag=True, help="with --send: send it again although the send log says it went out")
@click.option("--at", "at", type=MOMENT, default=None,
              help="Build it as it stood at this moment (ISO 8601, UTC unless an offset is given) [default: now]; "
                   "the default week is then the last one complete at that moment. Not with --send.")
@click.pass_context
def weekly(ctx: click.Context, week: str | None, out: Path | None, send_it: bool, force: bool,
           at: datetime | None) -> None:
    """The weekly SLA report: per SLA the objective, attainment, error budget left, p50/p95/max freshness,
    breaches with their root cause, and the trend against the week before; the noisiest checks; alerts and pages.

    \b
    Without --out or --send it prints the plain-text version.
    Examples:
      sentinel report weekly --week 2026-W47 --out report.html
      sentinel report weekly --send        (last week, to the recipients in alert_rules.yaml)
      sentinel report weekly --week 2026-W48 --at 2026-11-27T12:00   (that week as it stood on Friday noon)
    """
    from sentinel.reports.render import render_html, render_text
    from sentinel.reports.weekly import ReportAlreadySent, make_report, send_by_hand
    from sentinel.weeks import iso_week, shift_week

    if force and not send_it:
        raise click.UsageError("--force only makes sense with --send.")
    if at is not None and send_it:
        raise click.UsageError("--at builds a look-back report; --send mails what is true now. Use one of them.")
    app = _app(ctx)
    try:
        now = at or app.clock.now()
        if week is None:
            week = shift_week(iso_week(now), -1)
        rep = make_report(app, week, now, charts=out is not None) if out is not None or not send_it else None
        if out is not None and rep is not None:
            out.write_text(render_html(rep), encoding="utf-8")
            click.echo(f"wrote {out} ({rep.headline})")
        if send_it:
            try:
                detail = send_by_hand(app, week, now, force=force)
            except ReportAlreadySent as exc:
                click.echo(f"not sent: {exc}", err=True)
                sys.exit(1)
            except SentinelError as exc:
                click.echo(f"error: report not sent: {exc}", err=True)
                sys.exit(3)
            click.echo(f"sent {week}: {detail}")
        if out is None and rep is not None:
            click.echo(render_text(rep), nl=False)
    finally:
        app.close()


@click.command()
@click.option("--week", type=ISO_WEEK, default=None,
              help="ISO week, e.g. 2026-W48 [default: the week of --at, i.e. this week]. A finished week shows "
                   "its full figures.")
@click.option("--at", "at", type=MOMENT, default=None,
              help="Look as of this moment (ISO 8601, UTC unless an offset is given), e.g. 2026-11-30T14:30 for a "
                   "post-incident review [default: now].")
@format_option
@click.pass_context
def sla(ctx: click.Context, week: str | None, at: datetime | None, fmt: str) -> None:
    """Per SLA for one ISO week (UTC): attainment, unknown time, error budget left, burn rates, breaches.

    \b
    Without options: this week so far. Examples:
      sentinel sla --week 2026-W48                 a past week, in full
      sentinel sla --at 2026-12-02T03:10           the week of that moment, as it stood then (burn rates too)
      sentinel sla --format json
    """
    import json

    from sentinel.reports.render import breach_length, breach_start, budget_text, dur, pct
    from sentinel.reports.weekly import ledger_of
    from sentinel.sla import burn_statuses
    from sentinel.weeks import iso_week, week_bounds

    app = _app(ctx)
    try:
        now = at or app.clock.now()
        week = week or iso_week(now)
        start, end = week_bounds(week)
        if start > now:
            click.echo(f"error: week {week} starts {start:%Y-%m-%d}, after {now:%Y-%m-%d %H:%M} UTC: nothing measured "
                       "yet (use --at to look from a later moment)", err=True)
            sys.exit(4)
        as_of = min(now, end)  # a finished week is judged whole, never past its end
        ledger = ledger_of(app)
        if not ledger.slas:
            click.echo("no SLAs configured (add `slas:` to alert_rules.yaml)")
            return
        rows = []
        for spec in ledger.slas:
            w = ledger.window(spec, start, end, as_of)
            longest = max((b.long for b in spec.burn_rate), default=timedelta(0))
            recent = app.store.sla_observations(spec.id, as_of - longest, as_of + timedelta(microseconds=1))
            burns = burn_statuses(spec, recent, as_of, app.store.sla_observation_before(spec.id, as_of - longest))
            rows.append((spec, w, burns))
        if fmt == "json":
            click.echo(json.dumps([{
                "sla": s.id, "week": week, "as_of": as_of.isoformat(), "objective": s.objective,
                "attainment": w.attainment.attainment,
                "met_seconds": w.attainment.met.total_seconds(), "breach_seconds": w.attainment.breach.total_seconds(),
                "unknown_seconds": w.attainment.unknown.total_seconds(),
                "budget_left_seconds": w.attainment.budget_left.total_seconds(),
                "burn": {b.window: {"long": b.long_rate, "short": b.short_rate, "firing": b.firing} for b in burns},
                "breaches": [{"start": b.start.isoformat(), "seconds": b.duration.total_seconds(),
                              "ongoing": b.ongoing, "continues": b.continues,
                              "began_at": b.began_at.isoformat() if b.began_at else None} for b in w.breaches],
            } for s, w, burns in rows], indent=2))
            return
        from sentinel.reports.model import SlaSection

        if as_of >= end:
            click.echo(f"SLAs, week {week} ({start:%a %d %b} to {end - timedelta(days=1):%a %d %b %Y}, UTC, complete)")
        else:
            click.echo(f"SLAs, week {week} so far ({start:%a %d %b} 00:00 to {as_of:%a %H:%M} UTC, "
                       f"{dur(as_of - start)} of 7d)")
        header = f"{'SLA':<30} {'objective':>9} {'attain':>8} {'breach':>7} {'unknown':>8}  budget left"
        click.echo(header)
        click.echo("-" * len(header))
        for s, w, burns in rows:
            a = w.attainment
            section = SlaSection(s, w, None, w.breaches)
            click.echo(f"{s.id:<30} {pct(s.objective):>9} {pct(a.attainment):>8} {dur(a.breach):>7} "
                       f"{dur(a.unknown):>8}  {budget_text(section)}")
            burn_text = ", ".join(
                f"{b.window} {'n/a' if b.long_rate is None else f'{b.long_rate:.1f}x'}/"
                f"{'n/a' if b.short_rate is None else f'{b.short_rate:.1f}x'}"
                f"{' FIRING' if b.firing else ''} (>= {b.factor:g}x)" for b in burns)
            click.echo(f"{'':<30} burn {burn_text}")
            for b in w.breaches:
                click.echo(f"{'':<30} breach {breach_start(b)} {breach_length(b)}")
    finally:
        app.close()
