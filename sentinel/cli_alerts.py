"""`sentinel alerts`, `sentinel silence add/list/expire`, `sentinel notify-test --route NAME`."""

from __future__ import annotations

import getpass
import json
import sys
from datetime import datetime
from typing import Any

import click

from sentinel.cli import EXIT_USAGE, format_option, settings_from


def _store(settings: Any) -> Any:
    from sentinel.compose_root import build_store

    return build_store(settings)


def _ago(now: datetime, then: datetime | None) -> str:
    from sentinel.durations import format_duration

    if then is None:
        return "-"
    return f"{then.strftime('%m-%d %H:%M')} ({format_duration(now - then)} ago)"


@click.command()
@click.option("--all", "show_all", is_flag=True, help="Include resolved alerts (default: firing and pending only).")
@format_option
@click.pass_context
def alerts(ctx: click.Context, show_all: bool, fmt: str) -> None:
    """Show alerts: firing, pending and silenced ones, since when, when on-call was last told, and where.

    \b
    STATE is firing, pending (its `for` has not elapsed), silenced (firing, but a silence or maintenance window
    covers it: tracked, not lost), inhibited (a symptom of an upstream incident on the same table) or resolved.
    """
    from sentinel.alerting.silences import Suppressor
    from sentinel.alerting.types import Phase
    from sentinel.clock import SystemClock

    settings = settings_from(ctx, fmt=fmt)
    store = _store(settings)
    now = SystemClock().now()
    suppressor = Suppressor(store.silences(now=now), [], now)
    states = [s for s in store.alert_states().values()
              if show_all or s.phase in (Phase.FIRING, Phase.PENDING)]
    states.sort(key=lambda s: (s.phase is not Phase.FIRING, -s.severity.rank, s.check_id))
    rows = []
    for s in states:
        state = s.phase.value
        silenced = s.silenced_by or (suppressor.reason(s) if s.phase is Phase.FIRING else None)
        if s.phase is Phase.FIRING and silenced:
            state = "silenced"
        elif s.phase is Phase.FIRING and s.inhibited_by:
            state = "inhibited"
        rows.append({
            "state": state, "severity": s.severity.value, "alert": s.rule_id if s.rule_id == s.check_id
            else f"{s.rule_id}/{s.check_id}", "since": s.since, "last_notified": s.last_notified_at,
            "where": " / ".join(v for v in (s.labels.get("stage"), s.labels.get("table")) if v) or "-",
            "summary": s.summary, "key": s.fingerprint, "silenced_by": silenced, "inhibited_by": s.inhibited_by,
            "resolved_at": s.resolved_at,
        })
    store.close()
    if fmt == "json":
        click.echo(json.dumps([{k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in r.items()}
                               for r in rows], indent=2))
        return
    if not rows:
        click.echo("No alerts firing or pending." if not show_all else "No alerts.")
        return
    header = f"{'STATE':<10} {'SEVERITY':<9} {'ALERT':<32} {'SINCE':<22} {'LAST NOTIFIED':<22} {'WHERE':<34} SUMMARY"
    click.echo(header)
    for r in rows:
        click.echo(f"{r['state']:<10} {r['severity']:<9} {r['alert'][:32]:<32} {_ago(now, r['since']):<22} "
                   f"{_ago(now, r['last_notified']):<22} {r['where'][:34]:<34} {r['summary'][:100]}")


@click.group()
def silence() -> None:
    """Silence alerts for a while (tracked, not lost; they show as silenced in `sentinel alerts`).

    \b
    Examples:
      sentinel silence add --match table=payments.transactions --for 2h --comment "RDS failover, INC-123"
      sentinel silence add --match alertname=tx_freshness --match stage=snowflake_raw --for 30m -c "backfill"
      sentinel silence list
      sentinel silence expire sil-1a2b3c4d

    Matchers: KEY=VALUE is equality, KEY=~REGEX a full-match regex, KEY=!VALUE inequality. Keys are alert labels
    (table, stage, ...) plus alertname (the rule id), check and severity.
    """


@silence.command("add")
@click.option("--match", "-m", "matches", multiple=True, required=True, metavar="KEY=VALUE",
              help="Label matcher (repeatable; all must match).")
@click.option("--for", "duration", required=True, metavar="DURATION", help="How long, e.g. 30m, 2h, 1d.")
@click.option("--comment", "-c", required=True, help="Why (an incident id helps the next person).")
@click.option("--author", default=None, help="Who (default: the current user).")
@click.pass_context
def silence_add(ctx: click.Context, matches: tuple[str, ...], duration: str, comment: str, author: str | None) -> None:
    """Add a silence."""
    from sentinel.alerting.silences import new_silence, parse_matchers
    from sentinel.clock import SystemClock
    from sentinel.durations import parse_duration

    try:
        matchers = parse_matchers(matches)
        length = parse_duration(duration)
        item = new_silence(matchers, SystemClock().now(), length, created_by=author or _user(), comment=comment)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    store = _store(settings_from(ctx))
    store.silence_add(item)
    store.close()
    click.echo(f"{item.id} silences {_fmt_matchers(item.matchers)} until {item.ends_at.strftime('%Y-%m-%d %H:%M UTC')}")


@silence.command("list")
@click.option("--all", "show_all", is_flag=True, help="Include expired silences.")
@format_option
@click.pass_context
def silence_list(ctx: click.Context, show_all: bool, fmt: str) -> None:
    """List active silences (with --all, expired ones too)."""
    from sentinel.clock import SystemClock

    now = SystemClock().now()
    store = _store(settings_from(ctx, fmt=fmt))
    items = store.silences(include_expired=show_all, now=None if show_all else now)
    store.close()
    if fmt == "json":
        import json

        click.echo(json.dumps([{
            "id": s.id, "state": _silence_state(s, now), "matchers": dict(s.matchers),
            "starts_at": s.starts_at.isoformat(), "ends_at": s.ends_at.isoformat(), "created_by": s.created_by,
            "comment": s.comment} for s in items], indent=2))
        return
    if not items:
        click.echo("No active silences.")
        return
    click.echo(f"{'ID':<14} {'STATE':<8} {'ENDS (UTC)':<17} {'BY':<12} {'MATCHERS':<40} COMMENT")
    for s in items:
        state = _silence_state(s, now)
        click.echo(f"{s.id:<14} {state:<8} {s.ends_at.strftime('%Y-%m-%d %H:%M'):<17} {s.created_by[:12]:<12} "
                   f"{_fmt_matchers(s.matchers)[:40]:<40} {s.comment}")


@silence.command("expire")
@click.argument("silence_id")
@click.pass_context
def silence_expire(ctx: click.Context, silence_id: str) -> None:
    """End a silence now."""
    from sentinel.clock import SystemClock

    store = _store(settings_from(ctx))
    done = store.silence_expire(silence_id, SystemClock().now())
    store.close()
    if not done:
        click.echo(f"no active silence {silence_id!r} (see `sentinel silence list --all`)", err=True)
        sys.exit(EXIT_USAGE)
    click.echo(f"{silence_id} expired")


@click.command("notify-test")
@click.option("--route", "route_name", required=True, help="Route whose receivers get the test (see alert_rules.yaml).")
@click.pass_context
def notify_test_cmd(ctx: click.Context, route_name: str) -> None:
    """Send a test notification to every receiver of a route, to prove the integration works.

    Pagers get a low-priority test alert that is closed right away. Exit 0 when every receiver accepted it.
    """
    from sentinel.alerting.notify_test import notify_test
    from sentinel.alerting.pipeline import AlertPipeline
    from sentinel.compose_root import Wiring, build_app
    from sentinel.errors import ConfigErrors, SentinelError

    settings = settings_from(ctx)
    try:
        app = build_app(settings, wiring=Wiring(metrics=False, immediate_alerts=True))
    except ConfigErrors as exc:
        click.echo(str(exc), err=True)
        sys.exit(4)
    except SentinelError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(4)
    from sentinel.sla_ledger import SlaAlertSink

    # with `slas:` (the production config) the pipeline sits inside the sink that adds burn-rate results
    alerting = app.alerting
    pipeline = alerting.pipeline if isinstance(alerting, SlaAlertSink) else alerting
    assert isinstance(pipeline, AlertPipeline)
    try:
        outcomes = notify_test(pipeline, route_name)
    except KeyError as exc:
        click.echo(f"error: {exc.args[0]}", err=True)
        sys.exit(EXIT_USAGE)
    finally:
        app.close()
    for receiver, ok, detail in outcomes:
        click.echo(f"{'OK    ' if ok else 'FAILED'} {receiver}: {detail}")
    sys.exit(0 if all(ok for _, ok, _ in outcomes) else 1)


def _silence_state(s: Any, now: datetime) -> str:
    return "active" if s.active_at(now) else ("pending" if s.starts_at > now else "expired")


def _fmt_matchers(matchers: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in matchers.items())


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "unknown"
