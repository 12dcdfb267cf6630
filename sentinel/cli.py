"""The `sentinel` command. Imports stay lazy so `sentinel --help` answers fast."""

from __future__ import annotations

import errno
import importlib
import os
import sys
from pathlib import Path
from typing import Any

import click

from sentinel.errors import SentinelError

EXIT_CODES = """\b
Exit codes:
  0  every check OK
  1  at least one warning
  2  at least one critical breach
  3  at least one check could not run (ERROR: unreachable, timeout, bad query)
  4  bad configuration or settings (every problem is listed)
  64 usage error: unknown command or option, bad option value, unknown name
     given as an argument (never a check status, so a wrapper that pages on
     2 does not page on a typo)"""

EXIT_CONFIG = 4
# sysexits.h EX_USAGE: far from 0-4, which are check statuses and bad config.
EXIT_USAGE = 64
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report Ctrl-C

# Subcommands defined in other modules, loaded only when invoked: name -> ("module:attribute", short help).
# The short help lives here so `sentinel --help` lists commands without importing them.
LAZY_COMMANDS: dict[str, tuple[str, str]] = {
    "check": ("sentinel.cli_check:check", "Run checks now and print what they found (--once)."),
    "list": ("sentinel.cli_check:list_checks", "Show configured checks and their schedules."),
    "validate": ("sentinel.cli_check:validate", "Validate alert_rules.yaml; every error with file:line."),
    "run": ("sentinel.cli_daemon:run", "Run the daemon: scheduled checks, alerts, /metrics, /healthz."),
    "report": ("sentinel.cli_report:report", "The weekly SLA report: print, write HTML (--out) or email (--send)."),
    "sla": ("sentinel.cli_report:sla", "SLAs this week so far: attainment, error budget left, burn rates."),
    "status": ("sentinel.cli_ops:status", "Draw the pipeline per table: each stage's state, lag/age, firing alerts."),
    "runbook": ("sentinel.cli_ops:runbook", "Show a runbook in the terminal (NAME, or --list)."),
    "alerts": ("sentinel.cli_alerts:alerts", "Show firing, pending and silenced alerts: since, last notified, where."),
    "silence": ("sentinel.cli_alerts:silence", "Silence alerts: add --match K=V --for 2h --comment ..., list, expire."),
    "doctor": ("sentinel.cli_doctor:doctor", "Preflight: connections, privileges, objects and receivers, with fixes."),
    "discover": ("sentinel.cli_discover:discover", "Derive the lineage from the systems; --write adds it to the config."),
    "notify-test": ("sentinel.cli_alerts:notify_test_cmd", "Send a test notification through a route's receivers."),
}


class OutputFormat(click.Choice[str]):
    """`--format table|json`, the same two words on every command that prints data. `text`, the word `status` and
    `doctor` used before, is still read as `table` so existing scripts keep working."""

    def __init__(self) -> None:
        super().__init__(["table", "json"])

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert("table" if value == "text" else value, param, ctx)


def format_option(command: Any) -> Any:
    return click.option("--format", "fmt", type=OutputFormat(), default="table", show_default=True,
                        help="table for people, json for scripts (shapes in the README).")(command)


class LazyGroup(click.Group):
    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        """Click's standalone handling with one change: usage errors exit EXIT_USAGE, not click's 2."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.ClickException as exc:  # UsageError, BadParameter, NoSuchOption, FileError...
            exc.show()
            sys.exit(EXIT_USAGE)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except SentinelError as exc:
            # A command that did not catch it itself (a state store that cannot be opened, a bad setting found
            # late): still an answer, not a traceback. Bugs (any other exception) keep their traceback.
            click.echo(f"error: {exc}", err=True)
            sys.exit(EXIT_CONFIG)
        except OSError as exc:
            if exc.errno != errno.EPIPE and exc.filename is not None:
                # A file named by an option or a setting that cannot be used (--out into a missing folder, a CA
                # file that is not there): the path and the reason are the whole answer.
                click.echo(f"error: cannot use {exc.filename}: {exc.strerror}", err=True)
                sys.exit(EXIT_CONFIG)
            if exc.errno != errno.EPIPE:
                raise
            # Output piped into `head` that closed early: nothing left to say. Point stdout at /dev/null so the
            # final flush at exit does not raise again (the recipe of Python's signal module documentation).
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)

    def resolve_command(self, ctx: click.Context, args: list[str]) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None:
            from sentinel.plugins import suggest

            ctx.fail(f"No such command {name!r}{suggest(name, self.list_commands(ctx))}.")
        return super().resolve_command(ctx, args)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[cmd_name][0].split(":")
            command: click.Command = getattr(importlib.import_module(module), attr)
            return command
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        rows = [(name, LAZY_COMMANDS[name][1]) for name in sorted(LAZY_COMMANDS)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 110})
@click.option("--config", "config_file", type=click.Path(path_type=Path), envvar="SENTINEL_CONFIG_FILE",
              help="alert_rules.yaml to use [env SENTINEL_CONFIG_FILE; default ./alert_rules.yaml]")
@click.option("--state", "state_path", type=click.Path(path_type=Path), envvar="SENTINEL_STATE_PATH",
              help="SQLite state file [env SENTINEL_STATE_PATH; default ./sentinel-state.db]")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("--log-format", type=click.Choice(["text", "json"]), default="text", envvar="SENTINEL_LOG_FORMAT",
              show_default=True, help="Log lines on stderr as text, or one JSON object per line for a log pipeline "
                                      "[env SENTINEL_LOG_FORMAT].")
@click.version_option(package_name="sentinel-monitor", prog_name="sentinel")
@click.pass_context
def main(ctx: click.Context, config_file: Path | None, state_path: Path | None, verbose: int, log_format: str) -> None:
    """Sentinel watches the NovaPay CDC pipeline (Postgres -> Debezium -> Kafka -> S3 -> Snowpipe -> Snowflake
    -> dbt -> Looker) and tells on-call, early and once, when data is late, missing or wrong.

    \b
    Common uses:
      sentinel check --once                 run every check now, print a table, exit with a status code
      sentinel check --once --only s3_sink_lag --format json
      sentinel validate alert_rules.yaml    list every config error with file:line
      sentinel list                         configured checks and their schedules
      sentinel run                          the daemon: schedules, /metrics, /healthz, /readyz

    Connections and secrets come from SENTINEL_* environment variables or files in SENTINEL_SECRETS_DIR
    (default /run/secrets/sentinel), e.g. SENTINEL_POSTGRES_DSN, SENTINEL_KAFKA_BOOTSTRAP, SENTINEL_SLACK_TOKEN.
    """
    from sentinel.logs import configure_logging

    configure_logging(verbose, "json" if log_format == "json" else "text",
                      daemon=ctx.invoked_subcommand == "run")
    ctx.ensure_object(dict)
    ctx.obj["overrides"] = {
        k: v for k, v in {"config_file": config_file, "state_path": state_path}.items() if v is not None
    }


def settings_from(ctx: click.Context, *, fmt: str = "table", **more: Any) -> Any:
    """Settings for a command, or exit 4 naming every bad variable or secret file (as JSON with fmt="json")."""
    from sentinel.config.settings import load_settings
    from sentinel.errors import SettingsErrors

    try:
        settings = load_settings(**ctx.obj.get("overrides", {}), **more)
    except SettingsErrors as exc:
        if fmt == "json":
            import json

            click.echo(json.dumps({"valid": False, "problems": [{"setting": p} for p in exc.problems]}, indent=2))
        else:
            click.echo(str(exc), err=True)
        sys.exit(4)
    from sentinel.redact import Redactor, redact_logs

    redact_logs(Redactor.from_settings(settings))
    return settings


if __name__ == "__main__":  # pragma: no cover
    main()
