"""`sentinel doctor`."""

from __future__ import annotations

import sys

import click

from sentinel.cli import format_option, settings_from
from sentinel.errors import ConfigErrors


@click.command()
@format_option
@click.pass_context
def doctor(ctx: click.Context, fmt: str) -> None:
    """Preflight against the real systems: connections and who they are, privileges (sufficient, not excessive),
    every slot, table, query, connector, bucket prefix and dbt artifact the checks use, each reconciled table pair
    (decimals declared at different scales on its two sides are a warning), and the receivers
    (Slack token and channel membership, pager key, SMTP login). Sends, pages and changes nothing.

    \b
    One line per finding; every problem carries its fix (the GRANT, the config line, the setting).
    Exit codes: 0 ready, 1 at least one problem, 4 bad config or an identity Sentinel refuses (privileged).
    """
    from sentinel.clock import SystemClock
    from sentinel.config.loader import load_config
    from sentinel.doctor import run_doctor
    from sentinel.doctor.report import exit_code, render_json, render_text
    from sentinel.plugins import check_registry
    from sentinel.redact import Redactor

    settings = settings_from(ctx, fmt=fmt)
    try:
        config = load_config(settings.config_file, check_registry())
    except ConfigErrors as exc:
        click.echo(str(exc), err=True)
        sys.exit(4)
    lines = run_doctor(settings, config, SystemClock().now())
    text = render_json(lines) if fmt == "json" else render_text(lines)
    # drivers' errors can quote a DSN or URL: nothing leaves without passing the redactor
    click.echo(Redactor.from_settings(settings).text(text))
    sys.exit(exit_code(lines))
