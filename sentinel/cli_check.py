"""`sentinel check`, `sentinel list`, `sentinel validate`."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from sentinel.cli import EXIT_CODES, EXIT_CONFIG, format_option, settings_from
from sentinel.errors import ConfigErrors, SentinelError

if TYPE_CHECKING:
    from sentinel.app import App
    from sentinel.model import CheckResult



def _exit_now(code: int) -> NoReturn:
    """End a one-shot run without interpreter teardown.

    By now the output is written, the store is closed and alerts are delivered; finalising every imported module
    and object would only add ~0.1 s that a shell script or CI job waits for. Under an in-process test runner
    (stdout without a file descriptor) exit normally.
    """
    logging.shutdown()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
        sys.stdout.fileno()
    except (OSError, ValueError, AttributeError):
        sys.exit(code)
    os._exit(code)


def _fail_config(exc: ConfigErrors, fmt: str = "table") -> None:
    if fmt == "json":  # the problems on stdout, as the success would be: a script reads one place
        click.echo(json.dumps({"valid": False, "problems": [
            {"file": p.file, "line": p.line, "path": p.path, "message": p.message} for p in exc.problems]}, indent=2))
    else:
        click.echo(str(exc), err=True)
    sys.exit(EXIT_CONFIG)


@click.command(epilog=EXIT_CODES)
@click.option("--once", is_flag=True, help="Run each selected check once now (the only mode of `check`; the daemon is `run`).")
@click.option("--only", "only", multiple=True, metavar="ID", help="Run only this check id (repeatable).")
@format_option
@click.option("--no-notify", is_flag=True, help="Do not send alerts; just measure and print.")
@click.pass_context
def check(ctx: click.Context, once: bool, only: tuple[str, ...], fmt: str, no_notify: bool) -> None:
    """Run checks now and print what they found.

    Each check runs under its own deadline in its own worker process (a crash or hang is that check's ERROR),
    SENTINEL_MAX_WORKERS (8) at a time: with up to 8 checks this takes about as long as the slowest one; more run
    in waves, longest-running first, so a broker that is down costs each of its checks their full deadline.
    Results are stored (the daemon and the SLA report see them) and, unless --no-notify, alerts go out
    through the configured routes exactly as the daemon would send them.
    """
    from sentinel.compose_root import Wiring, build_app
    from sentinel.model import Status
    from sentinel.output import render_json, render_table, use_color

    settings = settings_from(ctx, fmt=fmt)
    try:
        app = build_app(settings, wiring=Wiring(alerting=not no_notify, metrics=False, immediate_alerts=True,
                                                isolate_checks=True))
        _known_ids_or_usage_error(app, only)
        if not app.planned:
            # Exit 0 with "0 checks" would tell a wrapper that everything is fine while nothing was looked at.
            app.close()
            click.echo(f"error: {app.config.path} has no enabled checks, so there is nothing to run; add checks or "
                       "set `enabled: true`", err=True)
            sys.exit(EXIT_CONFIG)
        results = app.run_checks(only or None)
    except ConfigErrors as exc:
        _fail_config(exc)
        return
    except SentinelError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)
    planned = {p.id: p for p in app.planned}

    def runbook_for(check_id: str) -> tuple[str, str]:
        name = planned[check_id].runbook
        return name, app.runbook_url(name)

    # What the checks found first, then what was sent about it (the console notifier prints there too).
    if fmt == "json":
        click.echo(render_json(results, runbook_for))
    else:
        click.echo(render_table(results, runbook_for, tty=sys.stdout.isatty(), color=use_color(sys.stdout)))
    for problem in app.store_problems:
        click.echo(f"error: the results above were not stored: {problem}", err=True)
    try:
        if app.alerting is not None:
            # Keep stdout pure JSON for machines: the console notifier's text goes to stderr then.
            with contextlib.redirect_stdout(sys.stderr) if fmt == "json" else contextlib.nullcontext():
                app.alerting.process(results)
                app.alerting.deliver_due()
    except SentinelError as exc:  # e.g. the state store locked or full: what was measured is printed above
        click.echo(f"error: alerts for these results were not processed: {exc}", err=True)
    finally:
        app.close()
    refused = _refused_connections(results)
    if refused:
        # A privileged identity is a configuration problem, not a measurement: exit 4 with what to grant instead.
        for line in refused:
            click.echo(line, err=True)
        _exit_now(EXIT_CONFIG)
    _exit_now(Status.worst(r.status for r in results).exit_code)


def _known_ids_or_usage_error(app: App, only: tuple[str, ...]) -> None:
    """`--only` naming no enabled check is a mistake in the command line (exit 64), not in the configuration."""
    from sentinel.plugins import suggest

    known = [p.id for p in app.planned]
    known_set = set(known)
    unknown = [o for o in only if o not in known_set]
    if unknown:
        app.close()
        hints = "; ".join(f"{u!r}{suggest(u, known)}" for u in unknown)
        raise click.BadParameter(f"no enabled check with id {hints} in {app.config.path}", param_hint="'--only'")


def _refused_connections(results: list[CheckResult]) -> list[str]:
    """One block per distinct refused connection: the reason, then the GRANTs (from the runner's details)."""
    seen: dict[str, str] = {}
    for r in results:
        if r.details.get("error_kind") == "privileged_connection":
            reason = r.details["error"].split(" (hint:")[0]
            seen.setdefault(reason, f"error: {reason}\n  fix: {r.details.get('fix', '')}")
    return list(seen.values())


@click.command(name="list")
@format_option
@click.pass_context
def list_checks(ctx: click.Context, fmt: str) -> None:
    """Show configured checks: id, kind, schedule, timeout, what they compare, runbook."""
    from sentinel.compose_root import plan_checks
    from sentinel.config.loader import load_config
    from sentinel.durations import format_duration
    from sentinel.plugins import check_registry

    settings = settings_from(ctx, fmt=fmt)
    registry = check_registry()
    try:
        config = load_config(settings.config_file, registry)
        planned = plan_checks(config, registry)
    except ConfigErrors as exc:
        _fail_config(exc, fmt)
        return
    if fmt == "json":
        click.echo(json.dumps({
            "config": str(config.path),
            "checks": [{"id": p.id, "kind": p.spec.kind, "schedule": p.spec.schedule.describe(),
                        "timeout_seconds": p.spec.timeout.total_seconds(), "what": p.check.describe(),
                        "runbook": p.runbook, "labels": dict(p.spec.labels)} for p in planned],
            "disabled": [c.id for c in config.spec.checks if not c.enabled],
        }, indent=2))
        return
    rows = [("CHECK", "KIND", "SCHEDULE", "TIMEOUT", "WHAT", "RUNBOOK")]
    for p in planned:
        rows.append((p.id, p.spec.kind, p.spec.schedule.describe(), format_duration(p.spec.timeout), p.check.describe(),
                     p.runbook))
    disabled = [c.id for c in config.spec.checks if not c.enabled]
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for row in rows:
        click.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    click.echo(f"\n{len(planned)} enabled check(s) in {config.path}" + (f"; disabled: {', '.join(disabled)}" if disabled else ""))


VALIDATE_EPILOG = """\b
What is checked, every problem at once (file:line, YAML path, a suggestion):
  the file     UTF-8 text, well-formed YAML (an unclosed bracket or quote is
               shown where it opens), no duplicate keys, not empty
  the schema   every section and each check kind's params: unknown keys,
               types, finite numbers, durations with units and > 0 where 0
               means nothing, thresholds in the right order, cron that
               fires, ~regex matchers that compile, version: 1
  references   unique ids; rules, routes and SLAs name existing checks,
               routes and receivers; notifier kinds and runbooks exist
  environment  SENTINEL_* variables and secret files: unknown names, bad
               values and bad JSON (values are never printed)

\b
Exit codes:
  0  valid (a file with no enabled checks gets a note: `check --once`
     refuses to run nothing)
  4  bad configuration or settings (every problem is listed)
  64 usage error: unknown option or extra argument"""


@click.command(epilog=VALIDATE_EPILOG)
@click.argument("file", required=False, type=click.Path(path_type=Path))
@format_option
@click.pass_context
def validate(ctx: click.Context, file: Path | None, fmt: str) -> None:
    """Validate alert_rules.yaml (FILE, default SENTINEL_CONFIG_FILE or ./alert_rules.yaml) and the SENTINEL_*
    environment, without connecting to anything."""
    from sentinel.compose_root import validate_config
    from sentinel.plugins import check_registry

    # The environment is checked too: a misspelt or invalid SENTINEL_* variable is as much a configuration error.
    settings = settings_from(ctx, fmt=fmt)
    path = file or settings.config_file
    try:
        summary = validate_config(path, check_registry())
    except ConfigErrors as exc:
        _fail_config(exc, fmt)
        return
    if fmt == "json":
        click.echo(json.dumps({"valid": True, "file": str(path), "checks": summary.checks,
                               "enabled_checks": summary.enabled_checks, "rules": summary.rules,
                               "routes": summary.routes, "slas": summary.slas, "problems": []}, indent=2))
        return
    click.echo(f"{path}: OK ({summary.checks} checks, {summary.rules} rules, {summary.routes} routes, "
               f"{summary.slas} SLAs)")
    if not summary.enabled_checks:
        click.echo(f"note: {path} has no enabled checks: fine for a report-only daemon, but `check --once` will "
                   "refuse to run", err=True)
