"""`sentinel discover`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sentinel.cli import EXIT_CONFIG, settings_from


def _dbt_location(checks: list[object]) -> str | None:
    """The dbt artifacts the config already reads (a dbt_results check), so discovery sees the same run."""
    for check in checks:
        params = getattr(check, "params", {})
        for key in ("location", "dbt_location"):
            if getattr(check, "kind", "") in ("dbt_results", "schema_drift") and isinstance(params.get(key), str):
                return str(params[key])
    return None


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--dbt-location", help="dbt artifacts (directory or s3://bucket/prefix/) [default: the dbt_results "
                                     "check's location]")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds per remote call.")
@click.pass_context
def discover(ctx: click.Context, fmt: str, dbt_location: str | None, timeout: float) -> None:
    """Derive the pipeline from the systems themselves: Debezium's and the S3 sink's connector configs (Kafka
    Connect), PostgreSQL's tables, Snowflake's pipes and stages, the dbt manifest and Looker's dashboards, read
    with Sentinel's own connections and grants. Read-only.

    \b
    Prints the lineage per table and hop: source table -> topic -> S3 prefix -> pipe -> raw table -> dbt source
    -> models -> exposures and dashboards, and every hop it could not follow with the reason.
    Exit codes: 0 every hop resolved, 1 some hop unresolved, 4 bad config.
    """
    from sentinel.config.loader import load_config
    from sentinel.discovery.read import discover as run_discovery
    from sentinel.discovery.render import render_json, render_text
    from sentinel.errors import ConfigErrors
    from sentinel.plugins import check_registry
    from sentinel.redact import Redactor
    from sentinel.sources import Sources

    settings = settings_from(ctx)
    path: Path = settings.config_file
    try:
        config = load_config(path, check_registry())
    except ConfigErrors as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_CONFIG)
    redactor = Redactor.from_settings(settings)
    found = run_discovery(Sources(settings, config.spec.connections),
                          dbt_location=dbt_location or _dbt_location(list(config.spec.checks)), timeout=timeout)
    text = render_json(found) if fmt == "json" else render_text(found)
    click.echo(redactor.text(text))
    unresolved = found.unresolved or any(t.unresolved for t in found.tables)
    sys.exit(1 if unresolved else 0)
