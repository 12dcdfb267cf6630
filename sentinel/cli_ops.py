"""On-call commands: `sentinel status` (the pipeline per table) and `sentinel runbook NAME`."""

from __future__ import annotations

import json
import shutil
import sys
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime
from typing import Any

import click

from sentinel.cli import EXIT_USAGE, format_option, settings_from
from sentinel.cli_time import MOMENT
from sentinel.errors import ConfigErrors, SentinelError
from sentinel.output import use_color


@click.command()
@format_option
@click.option("--table", "only_table", default=None, help="Show one table only, e.g. payments.transactions.")
@click.option("--at", "at", type=MOMENT, default=None,
              help="Draw it as it stood at this moment (ISO 8601, UTC unless an offset is given), e.g. "
                   "2026-11-30T03:10, for a post-incident review: each check's newest result at or before it, and "
                   "the alerts whose latest episode was firing then.")
@click.pass_context
def status(ctx: click.Context, fmt: str, only_table: str | None, at: datetime | None) -> None:
    """Draw the pipeline per table from the latest stored results: each stage with its state, lag or age,
    and the alerts firing there. Reads the state store the daemon writes (SENTINEL_STATE_PATH or
    SENTINEL_STATE_DSN); it runs no checks. The same view is the daemon's HTML page at `/`.

    \b
    Exit codes: 0 all OK, 1 a warning, 2 a critical stage, 3 a stage whose check could not run, 4 bad config.
    """
    from sentinel.alerting.receiver_health import receiver_health, window
    from sentinel.clock import SystemClock
    from sentinel.compose_root import build_store
    from sentinel.config.loader import load_config
    from sentinel.model import Status
    from sentinel.plugins import check_registry
    from sentinel.status import build_status, render_text

    settings = settings_from(ctx, fmt=fmt)
    try:
        config = load_config(settings.config_file, check_registry())
        store = build_store(settings)
    except ConfigErrors as exc:
        click.echo(str(exc), err=True)
        sys.exit(4)
    except SentinelError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(4)
    try:
        now = at or SystemClock().now()
        alert_states = getattr(store, "alert_states", None)  # the alerting tables (both stores have them)
        if alert_states is None:
            alerts: list[Any] = []
        elif at is None:
            alerts = list(alert_states(active_only=True).values())
        else:
            alerts = firing_at(alert_states().values(), at)
        views = build_status(config.spec, store.latest_results(as_of=at), alerts, now)
        deliveries_between = getattr(store, "deliveries_between", None)
        receivers = receiver_health(deliveries_between(*window(now))) if deliveries_between is not None else {}
        config_note = _config_note(settings, store, config.path)
    finally:
        store.close()
    if only_table:
        views = [v for v in views if v.table == only_table]
        if not views:
            raise click.BadParameter(f"no table {only_table!r} in the pipeline config or the results",
                                     param_hint="'--table'")
    privileged = config.spec.connections.privileged_allowed()
    if fmt == "json":
        click.echo(json.dumps({"as_of": now.isoformat(), "privileged_connections_allowed": privileged,
                               "receivers": [{"receiver": r.receiver, "state": r.state, "at": r.at.isoformat(),
                                              "error": r.error} for r in receivers.values()],
                               "config_differs": config_note or None, "tables": [
            {"table": v.table, "status": v.status.value, "slas": list(v.slas), "dashboards": list(v.dashboards),
             "stages": [{"stage": s.stage, "status": s.status.value if s.status else None, "key_value": s.key_value,
                         "summary": s.summary, "checks": list(s.checks), "note": s.note,
                         "firing": [{"rule": a.rule_id, "severity": a.severity, "summary": a.summary,
                                     "runbook": a.runbook, "muted": a.muted} for a in s.alerts]}
                        for s in v.stages]} for v in views]}, indent=2))
    else:
        tty = sys.stdout.isatty()
        width = shutil.get_terminal_size((140, 40)).columns if tty else 10_000
        looked_back = " (looking back: --at)" if at is not None else ""
        click.echo(f"Pipeline status as of {now:%Y-%m-%d %H:%M:%S} UTC{looked_back} "
                   f"(store: {getattr(store, 'path', '?')})\n")
        click.echo(render_text(views, color=use_color(sys.stdout), width=width))
        for health in receivers.values():
            if health.problem is not None:
                click.echo(f"WARNING: {health.problem}")
        for name in privileged:
            # allow_privileged must stay visible: it is the one setting that lets a bad query do damage
            click.echo(f"WARNING: connection {name} runs with privileges beyond monitoring (allow_privileged: true "
                       f"in {config.path}); see deploy/grants/")
        if config_note:
            click.echo(f"NOTE: {config.path}: {config_note}")
    sys.exit(Status.worst(v.status for v in views).exit_code if views else 0)


def _config_note(settings: Any, store: Any, path: Any) -> str:
    """With replicas: does this config file say what the daemons run (sentinel.config_sync)?"""
    from sentinel.config_sync import file_mismatch
    from sentinel.store.shared_config import SharedConfigTables

    if settings.state_dsn is None or not isinstance(store, SharedConfigTables):
        return ""
    try:
        return file_mismatch(path.read_text(encoding="utf-8", errors="replace"), store.shared_config())
    except Exception:  # an older store without the table, or a file gone: the pipeline view still matters more
        return ""


def firing_at(states: Iterable[Any], at: datetime) -> list[Any]:
    """Alerts whose latest stored episode was firing at `at`, shown as firing (the store keeps one episode each)."""
    from sentinel.alerting.types import Phase

    return [replace(s, phase=Phase.FIRING) for s in states
            if s.fired_at is not None and s.fired_at <= at and (s.resolved_at is None or s.resolved_at > at)
            and s.phase in (Phase.FIRING, Phase.RESOLVED)]


@click.command()
@click.argument("name", required=False)
@click.option("--list", "list_all", is_flag=True, help="List every runbook.")
@click.option("--path", "show_path", is_flag=True, help="Print the file path only.")
@format_option
@click.pass_context
def runbook(ctx: click.Context, name: str | None, list_all: bool, show_path: bool, fmt: str) -> None:
    """Show a runbook in the terminal: what fired, impact, first five minutes, diagnosis commands for this
    pipeline, remediation, escalation, how to silence. NAME is a runbook name (as in alert messages, e.g.
    kafka-consumer-lag) or a check kind (kafka_consumer_lag)."""
    from sentinel.plugins import suggest
    from sentinel.runbooks import available, render_terminal, runbooks_dir

    directory = runbooks_dir()
    names = available(directory)
    if fmt == "json" and (list_all or not name):
        import json

        click.echo(json.dumps({"directory": str(directory), "runbooks": names}, indent=2))
        return
    if list_all or not name:
        click.echo(f"Runbooks in {directory}:")
        for n in names:
            click.echo(f"  {n}")
        if not name:
            return
    assert name is not None
    chosen = name.removesuffix(".md")
    if chosen not in names and chosen.replace("_", "-") in names:
        chosen = chosen.replace("_", "-")
    if chosen not in names:
        chosen = _kind_runbook(chosen) or chosen
    if chosen not in names:
        click.echo(f"no runbook {name!r}{suggest(name, names)}", err=True)
        click.echo("available: " + ", ".join(names), err=True)
        sys.exit(EXIT_USAGE)
    path = directory / f"{chosen}.md"
    if show_path:
        click.echo(str(path))
        return
    click.echo(render_terminal(path.read_text(encoding="utf-8"), color=use_color(sys.stdout)), nl=False)
    settings = settings_from(ctx)
    click.echo(f"\nOnline: {settings.runbook_base_url.rstrip('/')}/{chosen}.md")


def _kind_runbook(kind: str) -> str | None:
    """The runbook a check kind names (its class attribute), found through the entry point."""
    from importlib.metadata import entry_points

    for ep in entry_points(group="sentinel.checks", name=kind):
        try:
            return str(getattr(ep.load(), "runbook", "") or "") or None
        except Exception:
            return None
    return None
