"""`sentinel discover`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from sentinel.cli import EXIT_CONFIG, settings_from


@click.command()
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@click.option("--dbt-location", help="dbt artifacts (directory or s3://bucket/prefix/) [default: the dbt_results "
                                     "check's location]")
@click.option("--diff", "show_diff", is_flag=True, help="Show what --write would add to the config, write nothing.")
@click.option("--write", is_flag=True, help="Add what is missing to the config file (lineage entries and the "
                                            "standard checks per hop); prints the diff. Never removes or rewrites.")
@click.option("--timeout", "timeout_text", default="10s", show_default=True, metavar="DURATION",
              help="Deadline of each remote call, e.g. 10s, 1m.")
@click.pass_context
def discover(ctx: click.Context, fmt: str, dbt_location: str | None, show_diff: bool, write: bool,
             timeout_text: str) -> None:
    """Derive the pipeline from the systems themselves: Debezium's and the S3 sink's connector configs (Kafka
    Connect), PostgreSQL's tables, Snowflake's pipes and stages, the dbt manifest and Looker's dashboards, read
    with Sentinel's own connections and grants. Read-only.

    \b
    Prints the lineage per table and hop: source table -> topic -> S3 prefix -> pipe -> raw table -> dbt source
    -> models -> exposures and dashboards, and every hop it could not follow with the reason.
    Exit codes: 0 every hop resolved, 1 some hop unresolved, 4 bad config (or --write would make it invalid).
    """
    from sentinel.config.loader import load_config
    from sentinel.discovery.coverage import dbt_location_of
    from sentinel.discovery.read import discover as run_discovery
    from sentinel.discovery.render import render_json, render_text
    from sentinel.durations import parse_duration
    from sentinel.errors import ConfigErrors
    from sentinel.plugins import check_registry
    from sentinel.redact import Redactor
    from sentinel.sources import Sources

    try:
        timeout = parse_duration(timeout_text).total_seconds()
        if timeout <= 0:
            raise ValueError("it must be longer than 0")
    except ValueError as exc:
        raise click.BadParameter(f"{timeout_text!r}: {exc}", param_hint="--timeout") from None
    settings = settings_from(ctx)
    path: Path = settings.config_file
    try:
        config = load_config(path, check_registry())
    except ConfigErrors as exc:
        click.echo(str(exc), err=True)
        sys.exit(EXIT_CONFIG)
    redactor = Redactor.from_settings(settings)
    location = dbt_location or dbt_location_of(config.spec.checks)
    sources = Sources(settings, config.spec.connections)
    try:
        found = run_discovery(sources, dbt_location=location, timeout=timeout)
    finally:
        if settings.kafka_bootstrap:  # the Kafka client is destroyed here, never by a collector on its own threads
            sources.kafka().close()
    text = render_json(found) if fmt == "json" else render_text(found)
    click.echo(redactor.text(text))
    if show_diff or write:
        from sentinel.discovery.write import WriteRefused, write_config

        try:
            diff = write_config(path, found, config.spec, dry_run=not write, dbt_location=location)
        except WriteRefused as exc:
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        click.echo(redactor.text(diff) if diff else f"{path}: nothing to add", err=fmt == "json")
    unresolved = found.unresolved or any(t.unresolved for t in found.tables)
    sys.exit(1 if unresolved else 0)
