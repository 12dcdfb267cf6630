"""The table of bad inputs for tests/unit/test_bad_inputs.py: configuration files, environment and secret files,
CLI arguments and dbt artifacts, each with the exit code and the message fragments a user must see.

Exit codes: 1 warning, 2 critical, 3 could not run, 4 bad configuration or settings, 64 usage error.
Times in dbt artifacts are relative to the moment the case runs (never a calendar date).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

CONFIG, SETTINGS, RUN_ERROR, USAGE, WARN, CRITICAL = 4, 4, 3, 64, 1, 2


@dataclass(frozen=True)
class Case:
    id: str
    exit_code: int
    fragments: tuple[str, ...]
    config: str | bytes | None = None  # alert_rules.yaml written to the case's folder (None: the good config)
    args: tuple[str, ...] = ("validate", "{config}")
    env: dict[str, str] = field(default_factory=dict)
    secret_files: dict[str, str] = field(default_factory=dict)
    dbt: Callable[[Path], None] | None = None  # writes artifacts into the folder the dbt check reads
    never_shown: tuple[str, ...] = ()  # values that must not appear in any output (secrets)


GOOD_CHECK = """  - id: slot_wal
    kind: sql_threshold
    schedule: {every: 1m}
    timeout: 10s
    labels: {table: payments.transactions, stage: debezium}
    params: {query: SELECT 1, value_name: retained_wal_bytes, warning: 100, critical: 1000}
"""
GOOD = "version: 1\nchecks:\n" + GOOD_CHECK


def with_check(**fields: str) -> str:
    """The good config with a second check whose top-level fields are given as YAML text."""
    body = {"id": "second", "kind": "sql_threshold", "params": "{query: SELECT 1, warning: 1}", **fields}
    lines = [f"    {k}: {v}" if i else f"  - {k}: {v}" for i, (k, v) in enumerate(body.items())]
    return GOOD + "\n".join(lines) + "\n"


def check_of(kind: str, params: str) -> str:
    return GOOD + f"  - id: second\n    kind: {kind}\n    params: {params}\n"


def rule(text: str) -> str:
    return GOOD + "rules:\n" + text


def section(text: str) -> str:
    return GOOD + text


CONFIG_CASES = [
    # --- the bytes of the file
    Case("random-bytes", CONFIG, ("alert_rules.yaml:1: not UTF-8 text", "save the file as UTF-8"),
         config=b"\x89PNG\r\n\x1a\n\x00\xff\xfe\x81binary"),
    Case("latin1-byte", CONFIG, ("alert_rules.yaml:3: not UTF-8 text: byte 0xe9", "Latin-1"),
         config=b"version: 1\nchecks:\n  - id: caf\xe9\n"),
    Case("nul-byte", CONFIG, ("alert_rules.yaml:2: malformed YAML: control character #x0000 at column 8",
                              "binary"), config=b"version: 1\nchecks:\x00\n"),
    Case("empty-file", CONFIG, ("alert_rules.yaml", "the file is empty", "add a `checks:` list"), config=""),
    Case("only-comments", CONFIG, ("the file is empty (or only comments)",), config="# nothing yet\n# TODO\n"),
    Case("top-level-list", CONFIG, ("alert_rules.yaml:1: the top level must be a mapping", "got list"),
         config="- id: a\n- id: b\n"),
    Case("top-level-scalar", CONFIG, ("the top level must be a mapping", "got str"), config="hello\n"),
    # --- YAML syntax
    Case("unclosed-brace", CONFIG, ("alert_rules.yaml:3: malformed YAML: the '{' opened here is never closed",),
         config="version: 1\nchecks:\n  - {id: a, kind: sql_threshold\n  - id: b\n"),
    Case("unclosed-bracket", CONFIG, ("alert_rules.yaml:4: malformed YAML: the '[' opened here is never closed",),
         config="checks:\n  - id: a\n    kind: sql_threshold\n    labels: [a, b\nrules: []\n"),
    Case("unclosed-quote", CONFIG, ("alert_rules.yaml:3: malformed YAML: the quote opened here is never closed",),
         config="checks:\n  - id: a\n    description: 'it is\n    kind: sql_threshold\n"),
    Case("tab-indent", CONFIG, ("alert_rules.yaml:3: malformed YAML",), config="checks:\n  - id: a\n\tkind: x\n"),
    Case("colon-in-value", CONFIG, ("alert_rules.yaml:3: malformed YAML", "quote values that contain ': '"),
         config="checks:\n  - id: a\n    description: lag: too high\n"),
    Case("python-tag", CONFIG, ("malformed YAML", "python/object"),
         config="checks: !!python/object/apply:os.system ['true']\n"),
    Case("list-as-key", CONFIG, ("alert_rules.yaml:1: malformed YAML: a mapping key must be a plain value",),
         config="? [a, b]\n: 1\n"),
    Case("deeply-nested", CONFIG, ("malformed YAML",), config="checks: " + "[" * 20000 + "]" * 20000 + "\n"),
    # --- duplicate keys: YAML keeps the last one silently
    Case("duplicate-top-key", CONFIG, ("alert_rules.yaml:9 at checks: duplicate key 'checks' (first at line 2)",),
         config=GOOD + "checks:\n" + GOOD_CHECK.replace("slot_wal", "other")),
    Case("duplicate-timeout", CONFIG, ("alert_rules.yaml:5 at checks[0].timeout: duplicate key 'timeout' (first at "
                                       "line 4)", "remove or merge one of them"),
         config="checks:\n  - id: a\n    kind: sql_threshold\n    timeout: 10s\n    timeout: 9h\n"
                "    params: {query: SELECT 1, warning: 1}\n"),
    Case("duplicate-param", CONFIG, ("at checks[0].params.warning: duplicate key 'warning'",),
         config="checks:\n  - id: a\n    kind: sql_threshold\n    params:\n      query: SELECT 1\n      warning: 1\n"
                "      warning: 5\n"),
    # --- the top level
    Case("unknown-top-key", CONFIG, ("alert_rules.yaml:2 at chekcs: unknown key 'chekcs' (did you mean \"checks\"?)",),
         config="version: 1\nchekcs: []\n"),
    Case("version-2", CONFIG, ("alert_rules.yaml:1 at version: unsupported version 2", "`version: 1`"),
         config="version: 2\n" + GOOD.removeprefix("version: 1\n")),
    Case("version-text", CONFIG, ("unsupported version 'one'",), config="version: one\n" + GOOD.removeprefix("version: 1\n")),
    Case("checks-mapping", CONFIG, ("alert_rules.yaml:1 at checks", "valid list"), config="checks: {a: 1}\n"),
    Case("defaults-threshold-0", CONFIG, ("at defaults.error_threshold", "greater than or equal to 1"),
         config=GOOD + "defaults: {error_threshold: 0}\n"),
    # --- checks
    Case("check-without-id", CONFIG, ("at checks[1].id: required key 'id' is missing",),
         config=GOOD + "  - kind: sql_threshold\n    params: {query: SELECT 1, warning: 1}\n"),
    Case("check-id-uppercase", CONFIG, ("at checks[1].id", "lowercase letters, digits and '_'"),
         config=with_check(id="Slot-WAL")),
    Case("check-kind-typo", CONFIG, ("at checks[1].kind: unknown check kind 'sql_treshold' (did you mean "
                                     "\"sql_threshold\"?)", "known kinds:"), config=with_check(kind="sql_treshold")),
    Case("check-kind-missing", CONFIG, ("at checks[1].kind: required key 'kind' is missing",),
         config=GOOD + "  - id: second\n    params: {query: SELECT 1, warning: 1}\n"),
    Case("duplicate-check-id", CONFIG, ("alert_rules.yaml:9 at checks[1].id: duplicate checks id 'slot_wal' (first "
                                        "defined at checks[0], line 3)",), config=with_check(id="slot_wal")),
    Case("timeout-without-unit", CONFIG, ("at checks[1].timeout", "with a unit"), config=with_check(timeout="30")),
    Case("timeout-zero", CONFIG, ("at checks[1]", "`timeout` must be positive"), config=with_check(timeout="0s")),
    Case("duration-garbage", CONFIG, ("at checks[1].timeout", "cannot read 'soon' as a duration"),
         config=with_check(timeout="soon")),
    Case("every-zero", CONFIG, ("at checks[1].schedule", "at least 1s"), config=with_check(schedule="{every: 0s}")),
    Case("every-and-cron", CONFIG, ("at checks[1].schedule", "set exactly one of"),
         config=with_check(schedule="{every: 1m, cron: '* * * * *'}")),
    Case("cron-never-fires", CONFIG, ("at checks[1].schedule", "never fires"),
         config=with_check(schedule="{cron: '0 0 30 2 *'}")),
    Case("cron-invalid", CONFIG, ("at checks[1].schedule", "invalid cron expression '61 * * * *'"),
         config=with_check(schedule="{cron: '61 * * * *'}")),
    Case("labels-not-text", CONFIG, ("at checks[1].labels.table", "valid string"), config=with_check(labels="{table: [1]}")),
    Case("enabled-not-bool", CONFIG, ("at checks[1].enabled", "valid boolean"), config=with_check(enabled="sometimes")),
    Case("check-runbook-unknown", CONFIG, ("at checks[1].runbook: unknown runbook 'sql-treshold' (did you mean "
                                           "\"sql-threshold\"?)", "add runbooks/<name>.md"),
         config=with_check(runbook="sql-treshold")),
    Case("check-runbook-path", CONFIG, ("at checks[1].runbook", "not a path or URL"),
         config=with_check(runbook="../../etc/passwd")),
    Case("check-runbook-url", CONFIG, ("at checks[1].runbook", "not a path or URL"),
         config=with_check(runbook="https://wiki.example/runbook")),
    # --- check params, validated by each kind
    Case("sql-inverted-thresholds", CONFIG, ("at checks[1].params", "critical (10) must be at least as bad as warning "
                                             "(100) for op '>'", "swap them"),
         config=check_of("sql_threshold", "{query: SELECT 1, warning: 100, critical: 10}")),
    Case("sql-inverted-below", CONFIG, ("critical (100) must be at least as bad as warning (10) for op '<'",),
         config=check_of("sql_threshold", "{query: SELECT 1, op: '<', warning: 10, critical: 100}")),
    Case("sql-no-threshold", CONFIG, ("check 'second'", "set `warning` and/or `critical`"),
         config=check_of("sql_threshold", "{query: SELECT 1}")),
    Case("sql-two-statements", CONFIG, ("at checks[1].params.query", "must be exactly one statement, found 2"),
         config=check_of("sql_threshold", "{query: 'SELECT 1; DROP TABLE x', warning: 1}")),
    Case("param-typo", CONFIG, ("at checks[1].params.treshold: check 'second': unknown key 'treshold'",),
         config=check_of("sql_threshold", "{query: SELECT 1, warning: 1, treshold: 5}")),
    Case("param-not-number", CONFIG, ("at checks[1].params.warning", "'lots'"),
         config=check_of("sql_threshold", "{query: SELECT 1, warning: lots}")),
    Case("dbt-cadence-zero", CONFIG, ("at checks[1].params.cadence", "must be longer than 0"),
         config=check_of("dbt_results", "{location: /tmp, cadence: 0s}")),
    Case("dbt-location-missing", CONFIG, ("at checks[1].params.location: check 'second': required key 'location'",),
         config=check_of("dbt_results", "{cadence: 15m}")),
    Case("dbt-test-status-typo", CONFIG, ("at checks[1].params.test_statuses", "'failed'"),
         config=check_of("dbt_results", "{location: /tmp, test_statuses: [failed]}")),
    Case("kafka-window-zero", CONFIG, ("at checks[1].params.window", "must be longer than 0"),
         config=check_of("kafka_consumer_lag", "{groups: [g], window: 0s}")),
    Case("kafka-inverted-lag", CONFIG, ("lag_warn must not exceed lag_critical",),
         config=check_of("kafka_consumer_lag", "{groups: [g], lag_warn: 30m, lag_critical: 5m}")),
    Case("threshold-nan", CONFIG, ("at checks[1].params.warning", "finite number"),
         config=check_of("sql_threshold", "{query: SELECT 1, warning: .nan}")),
    # --- rules
    Case("rule-runbook-unknown", CONFIG, ("at rules[0].runbook: unknown runbook 'dbt-tests'",),
         config=rule("  - {id: r1, checks: [slot_wal], runbook: dbt-tests}\n")),
    Case("rule-unknown-check", CONFIG, ("at rules[0].checks[0]: unknown check id 'slot_wall' (did you mean \"slot_wal\"?)",),
         config=rule("  - {id: r1, checks: [slot_wall], runbook: sql-threshold}\n")),
    Case("rule-unknown-route", CONFIG, ("at rules[0].route: unknown route 'pagr'", "routes: none"),
         config=rule("  - {id: r1, checks: [slot_wal], runbook: sql-threshold, route: pagr}\n")),
    Case("rule-inverted", CONFIG, ("thresholds.critical (10) must be at least as bad as thresholds.warning (100)",),
         config=rule("  - {id: r1, checks: [slot_wal], runbook: sql-threshold, value: retained_wal_bytes,"
                     " thresholds: {warning: 100, critical: 10}}\n")),
    Case("rule-selects-nothing", CONFIG, ("a rule needs `checks: [ids]` or `match:",),
         config=rule("  - {id: r1, runbook: sql-threshold}\n")),
    Case("rule-bad-regex", CONFIG, ("at rules[0].match", "matcher table='~payments.(': not a valid regular expression",),
         config=rule("  - {id: r1, match: {table: '~payments.('}, runbook: sql-threshold}\n")),
    Case("rule-repeat-short", CONFIG, ("`repeat` must be at least 1m",),
         config=rule("  - {id: r1, checks: [slot_wal], runbook: sql-threshold, repeat: 10s}\n")),
    Case("rule-without-runbook", CONFIG, ("at rules[0].runbook: required key 'runbook' is missing",),
         config=rule("  - {id: r1, checks: [slot_wal]}\n")),
    # --- notifiers, routes
    Case("notifier-kind-typo", CONFIG, ("at notifiers[0].kind: unknown notifier kind 'slak' (did you mean \"slack\"?)",),
         config=section("notifiers:\n  - {name: team, kind: slak}\n")),
    Case("duplicate-notifier", CONFIG, ("at notifiers[1].name: duplicate notifiers name 'team'",),
         config=section("notifiers:\n  - {name: team, kind: console}\n  - {name: team, kind: console}\n")),
    Case("route-unknown-receiver", CONFIG, ("at routes[0].receivers[0]: unknown receiver 'slak' (did you mean \"slack\"?)",),
         config=section("routes:\n  - {name: r, receivers: [slak]}\n")),
    Case("route-no-receivers", CONFIG, ("at routes[0].receivers", "at least 1 item"),
         config=section("routes:\n  - {name: r, receivers: []}\n")),
    Case("route-group-interval-zero", CONFIG, ("at routes[0].group_interval", "must be longer than 0"),
         config=section("routes:\n  - {name: r, receivers: [console], group_interval: 0s}\n")),
    # --- SLAs, maintenance, report, pipeline
    Case("sla-unknown-check", CONFIG, ("at slas[0].check: unknown check id 'slot_wall'",),
         config=section("slas:\n  - {id: s, check: slot_wall, threshold: 15m}\n")),
    Case("sla-no-threshold", CONFIG, ("freshness SLA 's' needs threshold",),
         config=section("slas:\n  - {id: s, check: slot_wal}\n")),
    Case("sla-objective-over-1", CONFIG, ("at slas[0].objective", "less than 1"),
         config=section("slas:\n  - {id: s, check: slot_wal, threshold: 15m, objective: 1.5}\n")),
    Case("sla-burn-short-not-shorter", CONFIG, ("short (1:00:00) must be shorter than long (1:00:00)",),
         config=section("slas:\n  - {id: s, check: slot_wal, threshold: 15m, burn_rate: "
                        "[{name: f, long: 1h, short: 1h, factor: 2}]}\n")),
    Case("maintenance-cron-fields", CONFIG, ("needs 5 fields",),
         config=section("maintenance:\n  - {name: m, cron: '0 2 * *', duration: 1h}\n")),
    Case("maintenance-duration-zero", CONFIG, ("at maintenance[0].duration", "must be longer than 0"),
         config=section("maintenance:\n  - {name: m, cron: '0 2 * * 0', duration: 0s}\n")),
    Case("report-bad-address", CONFIG, ("not a single email address: 'ops; cfo@x'",),
         config=section("report: {to: ['ops; cfo@x']}\n")),
    Case("report-bad-time", CONFIG, ("at report.at", "should match pattern"), config=section("report: {at: '25:00'}\n")),
    Case("pipeline-unknown-stage", CONFIG, ("names unknown stage(s) ['kafak']",),
         config=section("pipeline:\n  tables:\n    payments.refunds: {stages: [postgres, kafak]}\n")),
    # --- all at once: a schema error does not hide the cross-references
    Case("every-error-at-once", CONFIG, ("at checks[1].timeout", "unknown route 'pagr'", "unknown receiver 'slak'",
                                         "unknown check id 'nope'"),
         config=with_check(timeout="30") + "rules:\n  - {id: r1, checks: [slot_wal], runbook: sql-threshold, route: pagr}\n"
                "routes:\n  - {name: page, receivers: [slak]}\nslas:\n  - {id: s, check: nope, threshold: 15m}\n"),
    # --- the file itself
    Case("file-missing", CONFIG, ("nope.yaml: file not found",), args=("validate", "{dir}/nope.yaml")),
    Case("file-is-directory", CONFIG, ("is a directory",), args=("validate", "{dir}")),
    Case("config-env-missing", CONFIG, ("gone.yaml: file not found", "SENTINEL_CONFIG_FILE"),
         args=("validate",), env={"SENTINEL_CONFIG_FILE": "{dir}/gone.yaml"}),
]

SECRET_DSN = "postgresql://u:hunter2-secret@h/db"

ENV_CASES = [
    Case("env-unknown-variable", SETTINGS, ("SENTINEL_SLACK_TOKN: unknown variable", "did you mean \"SENTINEL_SLACK_TOKEN\"?"),
         env={"SENTINEL_SLACK_TOKN": "xoxb-not-shown-1"}, never_shown=("xoxb-not-shown-1",)),
    Case("env-unknown-lowercase", SETTINGS, ("sentinel_kafka_bootstrp: unknown variable",
                                             "did you mean \"SENTINEL_KAFKA_BOOTSTRAP\"?"),
         env={"sentinel_kafka_bootstrp": "kafka:9092"}),
    Case("env-unterminated-json", SETTINGS, ("SENTINEL_POSTGRES_DSNS: not valid JSON", "line 1 column"),
         env={"SENTINEL_POSTGRES_DSNS": '{"replica": "' + SECRET_DSN + '"'}, never_shown=("hunter2-secret",)),
    Case("env-json-list", SETTINGS, ("SENTINEL_POSTGRES_DSNS", "valid dictionary"),
         env={"SENTINEL_POSTGRES_DSNS": f'["{SECRET_DSN}"]'}, never_shown=("hunter2-secret",)),
    Case("env-port-not-int", SETTINGS, ("SENTINEL_HTTP_PORT", "valid integer"), env={"SENTINEL_HTTP_PORT": "nine"}),
    Case("env-pager-backend", SETTINGS, ("SENTINEL_PAGER_BACKEND", "'none', 'opsgenie', 'jsm' or 'pagerduty'"),
         env={"SENTINEL_PAGER_BACKEND": "opsgenei"}),
    Case("env-retention-zero", SETTINGS, ("SENTINEL_RESULTS_RETENTION: must be longer than 0",),
         env={"SENTINEL_RESULTS_RETENTION": "0s"}),
    Case("env-retention-garbage", SETTINGS, ("SENTINEL_RESULTS_RETENTION", "expected a duration such as '35d'"),
         env={"SENTINEL_RESULTS_RETENTION": "a while"}),
    Case("env-bool", SETTINGS, ("SENTINEL_SMTP_STARTTLS", "valid boolean"), env={"SENTINEL_SMTP_STARTTLS": "maybe"}),
    Case("env-float", SETTINGS, ("SENTINEL_SMTP_TIMEOUT_SECONDS", "valid number"),
         env={"SENTINEL_SMTP_TIMEOUT_SECONDS": "20s"}),
    Case("env-several-at-once", SETTINGS, ("2 settings error(s)", "SENTINEL_HTTP_PORT", "SENTINEL_SLACK_CHANEL"),
         env={"SENTINEL_HTTP_PORT": "x", "SENTINEL_SLACK_CHANEL": "#ops"}),
    Case("secrets-dir-is-file", SETTINGS, ("SENTINEL_SECRETS_DIR:", "is not a directory"),
         env={"SENTINEL_SECRETS_DIR": "{config}"}),
    Case("secret-file-unknown", SETTINGS, ("secret file", "slack_tokn: no setting is called 'slack_tokn'",
                                           "did you mean \"slack_token\"?"),
         secret_files={"slack_tokn": "xoxb-not-shown-2"}, never_shown=("xoxb-not-shown-2",)),
    Case("secret-file-bad-json", SETTINGS, ("secret file", "postgres_dsns: not valid JSON"),
         secret_files={"postgres_dsns": '{"replica": "' + SECRET_DSN}, never_shown=("hunter2-secret",)),
    Case("secret-file-bad-int", SETTINGS, ("secret file", "http_port: ", "valid integer"),
         secret_files={"http_port": "ninety"}),
    Case("env-port-out-of-range", SETTINGS, ("SENTINEL_HTTP_PORT", "less than or equal to 65535"),
         env={"SENTINEL_HTTP_PORT": "99999"}),
    Case("env-no-workers", SETTINGS, ("SENTINEL_MAX_WORKERS", "greater than or equal to 1"),
         env={"SENTINEL_MAX_WORKERS": "0"}),
    Case("env-negative-timeout", SETTINGS, ("SENTINEL_AWS_READ_TIMEOUT_SECONDS", "greater than 0"),
         env={"SENTINEL_AWS_READ_TIMEOUT_SECONDS": "-1"}),
    Case("state-not-a-database-alerts", SETTINGS, ("error: cannot open state store", "file is not a database"),
         args=("alerts",), env={"SENTINEL_STATE_PATH": "{config}"}),
    Case("state-not-a-database-check", SETTINGS, ("error: cannot open state store", "file is not a database"),
         args=("check", "--once", "--no-notify"), env={"SENTINEL_STATE_PATH": "{config}"}),
    Case("state-is-a-directory", SETTINGS, ("error: cannot open state store", "unable to open database file"),
         args=("status",), env={"SENTINEL_STATE_PATH": "{dir}"}),
    Case("env-bad-setting-for-check", SETTINGS, ("SENTINEL_MAX_WORKERS", "valid integer"),
         args=("check", "--once", "--no-notify"), env={"SENTINEL_MAX_WORKERS": "many"}),
]

USAGE_CASES = [
    Case("cli-unknown-command", USAGE, ("No such command 'chek' (did you mean \"check\"?)",), args=("chek",)),
    Case("cli-bad-choice", USAGE, ("Invalid value for '--format': 'xml' is not one of 'table', 'json'",),
         args=("check", "--once", "--format", "xml")),
    Case("cli-unknown-option", USAGE, ("No such option '--strict'",), args=("validate", "--strict")),
    Case("cli-missing-value", USAGE, ("Option '--config' requires an argument",), args=("--config",)),
    Case("cli-extra-argument", USAGE, ("Got unexpected extra argument",), args=("validate", "{config}", "other.yaml")),
    Case("cli-bad-moment", USAGE, ("Invalid value for '--at'",), args=("status", "--at", "yesterday")),
    Case("cli-unknown-runbook", USAGE, ("no runbook 'kafka-lag'", "available:"), args=("runbook", "kafka-lag")),
    Case("cli-silence-matcher", USAGE, ("KEY=VALUE",), args=("silence", "add", "--match", "table", "--for", "2h",
                                                             "--comment", "x")),
    Case("cli-silence-duration", USAGE, ("Invalid value", "soon"),
         args=("silence", "add", "--match", "table=x", "--for", "soon", "--comment", "x")),
    Case("cli-silence-expire-unknown", USAGE, ("no active silence 'nope'",), args=("silence", "expire", "nope")),
    Case("cli-missing-required", USAGE, ("Missing option '--route'",), args=("notify-test",)),
    Case("cli-bad-week", USAGE, ("Invalid value for '--week'",), args=("sla", "--week", "banana")),
    Case("cli-status-unknown-table", USAGE, ("Invalid value for '--table': no table 'payments.refundz'",),
         args=("status", "--table", "payments.refundz")),
    Case("cli-silence-bad-regex", USAGE, ("matcher table='~[': not a valid regular expression",),
         args=("silence", "add", "--match", "table=~[", "--for", "1h", "--comment", "x")),
    Case("cli-report-out-missing-dir", CONFIG, ("error: cannot use {dir}/missing/report.html: No such file or directory",),
         args=("report", "weekly", "--out", "{dir}/missing/report.html")),
    Case("cli-count-flag-value", USAGE, ("Option '--once' does not take a value",), args=("check", "--once=yes")),
    Case("cli-only-unknown-id", USAGE, ("Invalid value for '--only': no enabled check with id 'slot_wall' (did you "
                                        "mean \"slot_wal\"?)",),
         args=("check", "--once", "--no-notify", "--only", "slot_wall")),
]


# ----------------------------------------------------------------------------------------------- dbt artifacts

SCHEMA = "https://schemas.getdbt.com/dbt/{}/v{}.json"


def _meta(kind: str, version: int, at: datetime, invocation: str = "inv-1") -> dict[str, Any]:
    return {"dbt_schema_version": SCHEMA.format(kind, version), "dbt_version": "1.11.16",
            "generated_at": at.isoformat().replace("+00:00", "Z"), "invocation_id": invocation}


def _recent() -> datetime:
    # Relative to the moment the case runs: the check reads the real clock through the CLI.
    return datetime.now(UTC) - timedelta(minutes=2)


def manifest_doc(**over: Any) -> dict[str, Any]:
    nodes = {"model.p.fct_tx": {"name": "fct_tx", "resource_type": "model", "schema": "analytics",
                                "depends_on": {"nodes": []}},
             "test.p.not_null_fct_tx_id": {"name": "not_null_fct_tx_id", "resource_type": "test",
                                           "attached_node": "model.p.fct_tx",
                                           "depends_on": {"nodes": ["model.p.fct_tx"]}}}
    return {"metadata": _meta("manifest", 12, _recent()), "nodes": nodes, "sources": {
        "source.p.payments.transactions": {"name": "transactions", "source_name": "payments",
                                           "resource_type": "source"}}, **over}


def result_doc(uid: str = "model.p.fct_tx", status: str = "success", **over: Any) -> dict[str, Any]:
    return {"unique_id": uid, "status": status, "execution_time": 0.5, "failures": None, "message": None, **over}


def run_doc(results: list[Any] | Any = None, **over: Any) -> dict[str, Any]:
    doc = {"metadata": _meta("run-results", 6, _recent()), "elapsed_time": 3.0, "args": {"which": "build"},
           "results": [result_doc()] if results is None else results}
    doc.update(over)
    return doc


def sources_doc(**over: Any) -> dict[str, Any]:
    return {"metadata": _meta("sources", 3, _recent()), "results": [{
        "unique_id": "source.p.payments.transactions", "status": "error", "max_loaded_at_time_ago_in_s": 9000,
        "max_loaded_at": (_recent() - timedelta(hours=2, minutes=30)).isoformat(),
        "criteria": {"warn_after": {"count": 30, "period": "minute"}, "error_after": {"count": 2, "period": "hour"}}}],
        **over}


def write_artifacts(run: Any = None, manifest: Any = None, sources: Any = None, *, raw: dict[str, bytes] | None = None,
                    skip: tuple[str, ...] = ()) -> Callable[[Path], None]:
    """A writer of one dbt target/: JSON documents (defaults: a green run and its manifest), raw bytes, or
    nothing for the names in `skip`. Documents are built when the case runs, so their times are recent."""

    def write(folder: Path) -> None:
        docs = {"run_results.json": run() if callable(run) else run or run_doc(),
                "manifest.json": manifest() if callable(manifest) else manifest or manifest_doc(),
                "sources.json": sources() if callable(sources) else sources}
        for name, doc in docs.items():
            if name in skip or doc is None:
                continue
            (folder / name).write_text(json.dumps(doc))
        for name, data in (raw or {}).items():
            (folder / name).write_bytes(data)

    return write


def _future_run() -> dict[str, Any]:
    return run_doc(metadata=_meta("run-results", 6, datetime.now(UTC) + timedelta(hours=3)))


def _other_manifest() -> dict[str, Any]:
    return manifest_doc(metadata=_meta("manifest", 12, _recent(), invocation="inv-from-yesterday"))


DBT_ARGS = ("check", "--once", "--no-notify")
DBT_CASES = [
    Case("dbt-nodes-is-list", RUN_ERROR, ("manifest.json: `nodes` is a JSON list, expected an object keyed by unique_id",),
         args=DBT_ARGS, dbt=write_artifacts(manifest=lambda: manifest_doc(nodes=[{"name": "fct_tx"}]))),
    Case("dbt-execution-time-text", RUN_ERROR, ("run_results.json: results[0].execution_time is 'fast', expected a number",),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc([result_doc(execution_time="fast")]))),
    Case("dbt-failures-text", RUN_ERROR, ("results[0].failures is 'many', expected a number",),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc([result_doc(failures="many")]))),
    Case("dbt-elapsed-text", RUN_ERROR, ("run.elapsed_time is 'long', expected a number",),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc(elapsed_time="long"))),
    Case("dbt-results-not-list", RUN_ERROR, ("run_results.json: `results` is a JSON object, expected a list",),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc({"model.p.fct_tx": "success"}))),
    Case("dbt-result-not-object", RUN_ERROR, ("results[0] is a JSON string, expected an object",),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc(["model.p.fct_tx"]))),
    Case("dbt-result-without-id", RUN_ERROR, ("results[0].unique_id is missing, expected a non-empty string",),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc([{"status": "success"}]))),
    Case("dbt-truncated-json", RUN_ERROR, ("run_results.json: malformed JSON", "truncated"),
         args=DBT_ARGS, dbt=write_artifacts(raw={"run_results.json": b'{"metadata": {"dbt_schema_version": '})),
    Case("dbt-binary-file", RUN_ERROR, ("run_results.json: malformed JSON",),
         args=DBT_ARGS, dbt=write_artifacts(raw={"run_results.json": b"\x89PNG\x00\xff\xfe"})),
    Case("dbt-json-array", RUN_ERROR, ("run_results.json: expected a JSON object, found list",),
         args=DBT_ARGS, dbt=write_artifacts(raw={"run_results.json": b"[]"})),
    Case("dbt-old-version", RUN_ERROR, ("unsupported version run-results v5", "dbt-core 1.11 writes run-results v6"),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc(metadata=_meta("run-results", 5, _recent())))),
    Case("dbt-wrong-artifact", RUN_ERROR, ("manifest.json: is not a dbt manifest artifact (found", "run-results/v6"),
         args=DBT_ARGS, dbt=write_artifacts(manifest=lambda: run_doc())),
    Case("dbt-no-generated-at", RUN_ERROR, ("metadata.generated_at is missing or not a timestamp",),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc(metadata={
             "dbt_schema_version": SCHEMA.format("run-results", 6)}))),
    Case("dbt-parent-map-broken", RUN_ERROR, ("parent_map['model.p.fct_tx']` must be a list of unique_ids",),
         args=DBT_ARGS, dbt=write_artifacts(manifest=lambda: manifest_doc(parent_map={"model.p.fct_tx": "none"}))),
    Case("dbt-sources-results-not-list", RUN_ERROR, ("sources.json: `results` is a JSON object, expected a list",),
         args=DBT_ARGS, dbt=write_artifacts(sources=lambda: sources_doc(results={}))),
    Case("dbt-source-age-text", RUN_ERROR, ("results[0].max_loaded_at_time_ago_in_s is 'old', expected a number",),
         args=DBT_ARGS, dbt=write_artifacts(sources=lambda: {**sources_doc(), "results": [
             {**sources_doc()["results"][0], "max_loaded_at_time_ago_in_s": "old"}]})),
    Case("dbt-threshold-count-text", RUN_ERROR, ("results[0].criteria.warn_after.count is 'thirty', expected a number",),
         args=DBT_ARGS, dbt=write_artifacts(sources=lambda: {**sources_doc(), "results": [
             {**sources_doc()["results"][0], "criteria": {"warn_after": {"count": "thirty", "period": "minute"}}}]})),
    Case("dbt-manifest-missing", RUN_ERROR, ("has no readable manifest.json beside it",
                                             "upload the whole target/"),
         args=DBT_ARGS, dbt=write_artifacts(skip=("manifest.json",))),
    Case("dbt-no-artifacts", RUN_ERROR, ("no run_results.json or sources.json under", "dbt-not-running"),
         args=DBT_ARGS, dbt=write_artifacts(skip=("run_results.json", "manifest.json"))),
    # Read, but not healthy: each is its own finding instead of "all 0 nodes OK" or silence.
    Case("dbt-empty-results", WARN, ("ran no nodes", "nothing was built or tested", "--select"),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc([]))),
    Case("dbt-generated-in-future", WARN, ("in the future", "clock is ahead or its time zone is not UTC"),
         args=DBT_ARGS, dbt=write_artifacts(run=_future_run)),
    Case("dbt-mixed-invocations", WARN, ("is from another dbt invocation (inv-from-yesterday)",
                                         "upload each run's target/ as a whole"),
         args=DBT_ARGS, dbt=write_artifacts(manifest=_other_manifest)),
    Case("dbt-skipped-test", WARN, ("1 test skipped", "dbt test not_null_fct_tx_id was skipped"),
         args=DBT_ARGS, dbt=write_artifacts(run=lambda: run_doc([result_doc(), result_doc(
             "test.p.not_null_fct_tx_id", "skipped")]))),
    Case("dbt-freshness-only-job", CRITICAL, ("dbt source freshness (no run_results.json)",
                                              "source payments.transactions is stale"),
         args=DBT_ARGS, dbt=write_artifacts(sources=sources_doc, skip=("run_results.json",))),
]

ALL_CASES = [*CONFIG_CASES, *ENV_CASES, *USAGE_CASES, *DBT_CASES]
