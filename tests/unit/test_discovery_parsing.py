"""Connector configs, pipe definitions and stitching rules, as plain values."""

from __future__ import annotations

from sentinel.discovery.connectors import capture_rule, daily_layout, expand, kind_of, sink_rule
from sentinel.discovery.model import CaptureRule, Unresolved
from sentinel.sources.snowflake_pipes import parse_pipe

SINK = {"connector.class": "io.confluent.connect.s3.S3SinkConnector", "s3.bucket.name": "novapay-data-lake",
        "topics.regex": r"cdc\..*", "topics.dir": "raw", "transforms": "folder",
        "transforms.folder.type": "org.apache.kafka.connect.transforms.RegexRouter",
        "transforms.folder.regex": r"cdc\.([^.]+)\.([^.]+)", "transforms.folder.replacement": "$1/$2",
        "partitioner.class": "io.confluent.connect.storage.partitioner.TimeBasedPartitioner",
        "path.format": "'dt'=YYYY-MM-dd"}


def test_the_s3_sink_folder_follows_topics_dir_and_the_regex_router() -> None:
    rule, problems = sink_rule("s3-sink", SINK)
    assert rule is not None and not problems
    route = rule.route("cdc.payments.transactions")
    assert route is not None and route.url == "s3://novapay-data-lake/raw/payments/transactions/"
    assert route.layout == "dt=YYYY-MM-DD" and route.group == "connect-s3-sink"
    assert rule.route("payment.events") is None


def test_a_path_format_that_is_not_daily_dt_partitions_is_an_unresolved_hop_with_the_reason() -> None:
    assert daily_layout({**SINK, "path.format": "'dt'=YYYY-MM-dd/'hour'=HH"})[1] == (
        "path.format \"'dt'=YYYY-MM-dd/'hour'=HH\" is not 'dt'=YYYY-MM-dd (s3_partition_arrival reads "
        "dt=YYYY-MM-DD folders)")
    assert "an unclosed quote" in str(daily_layout({**SINK, "path.format": "'dt=YYYY-MM-dd"})[1])
    assert "year=/month=/day=" in str(daily_layout({**SINK, "partitioner.class": "x.DailyPartitioner"})[1])
    rule, problems = sink_rule("s3-sink", {**SINK, "path.format": "'dt=YYYY-MM-dd"})
    assert rule is not None and rule.layout is None and problems[0].hop == "s3"
    assert sink_rule("s3-sink", {"topics": "a"}) == (None, [Unresolved("s3", "s3-sink", "no s3.bucket.name in the "
                                                                                         "sink's config")])


def test_debezium_include_list_regexes_expand_against_postgres_tables_minus_excludes() -> None:
    config = {"connector.class": "io.debezium.connector.postgresql.PostgresConnector", "topic.prefix": "cdc",
              "table.include.list": r"payments\..*,users\.merchants,users\.gone",
              "table.exclude.list": r"payments\.tmp_.*"}
    assert kind_of(config) == "cdc" and kind_of(SINK) == "s3_sink" and kind_of({"connector.class": "x"}) is None
    rule = capture_rule("debezium-payments", config)
    assert isinstance(rule, CaptureRule)
    captures, problems = expand(rule, {"payments.transactions", "payments.tmp_x", "users.merchants"}, "")
    # a named table PostgreSQL no longer has is still captured (so coverage can call it gone), and reported
    assert [(c.table, c.topic) for c in captures] == [("payments.transactions", "cdc.payments.transactions"),
                                                     ("users.merchants", "cdc.users.merchants"),
                                                     ("users.gone", "cdc.users.gone")]
    assert [p.subject for p in problems] == [r"debezium-payments: users\.gone"]
    assert "no such table" in problems[0].reason
    # without PostgreSQL, literal names are still captured; a regex cannot be expanded, and says why
    captures, problems = expand(rule, None, "no grant on pg_class")
    assert [c.table for c in captures] == ["users.merchants", "users.gone"]
    assert problems[0].reason == "a table.include.list regex needs PostgreSQL's table list: no grant on pg_class"
    assert isinstance(capture_rule("x", {"table.include.list": "a.b"}), Unresolved)


def test_a_pipe_definition_gives_its_target_and_stage_path_qualified_by_the_pipe_schema() -> None:
    row = {"name": "TRANSACTIONS_PIPE", "database_name": "NOVAPAY", "schema_name": "RAW", "pattern": None,
           "definition": "copy into transactions from (select $1 from @lake/raw/payments/transactions/) "
                         "file_format = (type = parquet)"}
    pipe = parse_pipe(row)
    assert (pipe.pipe, pipe.target, pipe.stage, pipe.path) == (
        "NOVAPAY.RAW.TRANSACTIONS_PIPE", "NOVAPAY.RAW.TRANSACTIONS", "NOVAPAY.RAW.LAKE", "raw/payments/transactions/")
    broken = parse_pipe({**row, "definition": "INSERT INTO x SELECT 1"})
    assert broken.target is None and "COPY INTO" in str(broken.problem)
    invalid = parse_pipe({**row, "invalid_reason": "stage dropped"})
    assert invalid.problem == "Snowflake marks the pipe invalid: stage dropped"
