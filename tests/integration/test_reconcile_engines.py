"""The crux of reconciliation: identical rows give identical normalised values and aggregates on PostgreSQL, DuckDB
and Snowflake (the fakesnow server), whatever each engine's column types, session time zone or NULLs."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from pydantic import SecretStr

from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.config.settings import Settings
from sentinel.sources import Sources
from sentinel.sources.duckdb import DuckDBSource
from sentinel.sources.postgres import PostgresSource
from sentinel.sources.reconcile import ReconcileMode, ReconcileOptions, Side, Tier, dialect_for, plan_buckets
from sentinel.sources.reconcile.engine import SideSpec, cell_aggregates, resolve, row_fingerprints, table_columns
from sentinel.sources.reconcile.sides import duckdb_execute, postgres_execute, snowflake_execute
from tests.integration.reconcile_data import Row, load_duckdb, load_postgres, load_snowflake, make_rows

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)  # Europe's spring-forward was at 01:00 UTC that day
FULL = ("id", "merchant_id", "amount", "currency", "status", "note", "created_at", "updated_at")


def edge_rows() -> list[Row]:
    """Values that break naive normalisation: DST edges, .999999 µs, extreme and negative amounts, NULL vs ''."""
    t = datetime(2026, 3, 29, 0, 59, 59, 999999, tzinfo=UTC)
    return [
        (9_000_001, 1, Decimal("9999999999.99"), "EUR", "settled", "", t, t),
        (9_000_002, 2, Decimal("-0.01"), "EUR", "settled", None, t + timedelta(microseconds=1), t + timedelta(hours=1)),
        (9_000_003, 3, Decimal("0.00"), "USD", "pending", "ünïcödé ✓", datetime(2026, 3, 28, 23, 0, tzinfo=UTC),
         datetime(2026, 3, 29, 2, 30, tzinfo=UTC)),
        (9_000_004, 4, None, "USD", "pending", "\\N-like but not NULL", datetime(2026, 3, 27, 0, 0, tzinfo=UTC),
         datetime(2026, 3, 27, 0, 0, 0, 1, tzinfo=UTC)),
    ]


@pytest.fixture(scope="module")
def engines(postgres: PostgresService, snowflake_server: SnowflakeService,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    rows = make_rows(NOW, n=400) + edge_rows()
    dsn = postgres.create_database("reconcile_engines")
    with psycopg.connect(dsn, autocommit=True) as conn:  # sessions in a DST zone must still bucket in UTC
        conn.execute("ALTER DATABASE reconcile_engines SET timezone = 'Europe/Berlin'")
    load_postgres(dsn, "payments.tx", rows)
    duck = tmp_path_factory.mktemp("engines") / "target.duckdb"
    load_duckdb(duck, "payments.tx", rows)
    conn = snowflake_server.connect()
    load_snowflake(conn, "RECON_ENG.PAYMENTS.TX_TZ", rows, tz=True)
    load_snowflake(conn, "RECON_ENG.PAYMENTS.TX_NTZ", rows, tz=False)
    conn.close()
    sf_settings = Settings(snowflake_account=snowflake_server.account, snowflake_user=snowflake_server.user,
                           snowflake_password=SecretStr(snowflake_server.password), snowflake_host=snowflake_server.host,
                           snowflake_port=snowflake_server.port, snowflake_protocol="http")
    monitor = postgres.monitor_dsn("reconcile_engines", ["payments.tx"], schemas=["payments"])
    yield {"dsn": monitor, "owner_dsn": dsn, "duck": duck, "sf": Sources(sf_settings), "rows": rows}


def _remaining() -> timedelta:
    return timedelta(seconds=60)


def _run_on(engine: str, env: dict[str, Any], fn: Any, mode: ReconcileMode, scales: dict[str, int] | None = None) -> Any:
    cols = FULL if mode is ReconcileMode.FULL else ()
    table = {"postgres": ("payments", "tx"), "duckdb": ("payments", "tx"),
             "snowflake_tz": ("RECON_ENG", "PAYMENTS", "TX_TZ"), "snowflake_ntz": ("RECON_ENG", "PAYMENTS", "TX_NTZ")}
    spec = SideSpec(engine, table[engine], ("id",), "created_at", "updated_at", None, cols)
    if engine == "postgres":
        with postgres_execute(PostgresSource("src", SecretStr(env["dsn"])), _remaining) as ex:
            return fn(Side(spec, dialect_for("postgres"), ex, engine, scales=dict(scales or {})))
    if engine == "duckdb":
        with duckdb_execute(DuckDBSource(env["duck"]), _remaining) as ex:
            return fn(Side(spec, dialect_for("duckdb"), ex, engine, scales=dict(scales or {})))
    source = env["sf"].snowflake(timeout=60)
    try:
        with snowflake_execute(source, _remaining) as ex:
            return fn(Side(spec, dialect_for("snowflake"), ex, engine, scales=dict(scales or {})))
    finally:
        source.close()


ENGINES = ["postgres", "duckdb", "snowflake_tz", "snowflake_ntz"]


@pytest.mark.parametrize(("mode", "scales"), [(ReconcileMode.CHECKSUM, None), (ReconcileMode.FULL, None),
                                               (ReconcileMode.FULL, {"amount": 2})])
def test_every_row_normalises_and_hashes_identically_on_all_engines(engines: dict[str, Any], mode: ReconcileMode,
                                                                    scales: dict[str, int] | None) -> None:
    """scales {"amount": 2}: numeric(12,2) prints as is in PostgreSQL, DECIMAL(18,4)/NUMBER(38,4) are cast to it."""
    options = ReconcileOptions(mode=mode)
    start, end = NOW - timedelta(days=5), NOW + timedelta(days=1)
    per_engine = {e: _run_on(e, engines, lambda s: row_fingerprints(s, start, end, options), mode, scales)
                  for e in ENGINES}
    reference = per_engine["postgres"]
    assert len(reference) == len(engines["rows"])
    assert len({h for h, _ in reference.values()}) > len(reference) * 0.9  # a real hash, not a constant
    for engine, got in per_engine.items():
        diffs = {k: (reference[k], got.get(k)) for k in reference if got.get(k) != reference[k]}
        assert not diffs, f"{engine} disagrees with postgres on {len(diffs)} rows, e.g. {list(diffs.items())[:3]}"
    # the version normalisation is exact UTC epoch microseconds, including the .999999 and DST-edge rows
    row = next(r for r in engines["rows"] if r[0] == 9_000_002)
    assert reference[(9_000_002,)][1] == int((row[7] - datetime(1970, 1, 1, tzinfo=UTC)) / timedelta(microseconds=1))


def test_bucket_aggregates_are_identical_on_all_engines(engines: dict[str, Any]) -> None:
    options = ReconcileOptions(mode=ReconcileMode.FULL)
    plan = plan_buckets(NOW, [Tier(timedelta(hours=1), timedelta(hours=48)), Tier(timedelta(days=1), timedelta(days=30))],
                        timedelta(minutes=15))
    per_engine = {e: _run_on(e, engines, lambda s: cell_aggregates(s, plan, options), options.mode) for e in ENGINES}
    reference = per_engine["postgres"]
    assert sum(a.count for a in reference.values()) > 380
    # cells are UTC hours: the row at 00:59:59.999999 UTC and the one a microsecond later are in different hours
    assert datetime(2026, 3, 29, 0, tzinfo=UTC) in reference and datetime(2026, 3, 29, 1, tzinfo=UTC) in reference
    for engine, got in per_engine.items():
        assert got == reference, f"{engine} bucket aggregates differ from postgres"


def test_duckdb_buffer_pool_cap_is_applied_and_changes_no_aggregate(engines: dict[str, Any]) -> None:
    """The check caps DuckDB's buffer pool (duckdb_memory_mb) so a scanned table is not kept cached; the cap is
    set on the session and the full-mode aggregates under the smallest allowed cap equal the uncapped ones."""
    options = ReconcileOptions(mode=ReconcileMode.FULL)
    plan = plan_buckets(NOW, [Tier(timedelta(days=1), timedelta(days=30))], timedelta(minutes=15))
    spec = SideSpec("duckdb", ("payments", "tx"), ("id",), "created_at", "updated_at", None, FULL)
    got = {}
    for cap in (None, 4):
        with duckdb_execute(DuckDBSource(engines["duck"]), _remaining, memory_mb=cap) as ex:
            limit = ex("SELECT current_setting('memory_limit')", [])[0][0]
            got[cap] = cell_aggregates(Side(spec, dialect_for("duckdb"), ex, "duckdb"), plan, options)
        if cap:
            assert limit == "3.8 MiB", limit  # 4 MB in DuckDB's binary units
    assert sum(a.count for a in got[4].values()) > 380
    assert got[4] == got[None]


def test_postgres_bigint_sub_range_equals_the_numeric_one_at_the_ends_of_the_bigint_range(
        postgres: PostgresService) -> None:
    """The drill-down's sub-range in bigint arithmetic (where key - lo fits) is the floor the numeric path gives,
    also for lo = -2^63 (a literal PostgreSQL reads as numeric) and keys at either end of the range."""
    d = dialect_for("postgres")
    lo_end, hi_end = -(2**63), 2**63 - 1
    cases = [(lo_end, lo_end, 3), (lo_end + 7, lo_end, 3), (-1, lo_end, 2**62), (-5, -9, 2), (0, -9, 4),
             (hi_end, 0, 2**61), (hi_end, hi_end - 10, 3), (2**60 - 1, 0, 2**54), (12, 12, 1)]
    dsn = postgres.create_database("reconcile_sub_range")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for key, lo, width in cases:
            k = f"({key})::bigint"
            fast = d.sub_range(k, lo, width, in_bigint=True)
            exact = d.sub_range(k, lo, width)
            row = conn.execute(f"SELECT {fast}, {exact}, pg_typeof({fast})::text").fetchone()
            assert row is not None
            assert (row[0], int(row[1]), row[2]) == ((key - lo) // width, (key - lo) // width, "bigint"), (key, lo)


@pytest.mark.parametrize("type_name", ["timestamp with time zone", "timestamp without time zone"])
def test_postgres_double_epoch_path_equals_exact_numeric_path(postgres: PostgresService, type_name: str) -> None:
    """The fast date_part normalisation (1900..2100) and its exact fallback (outside) equal extract(epoch)
    (NUMERIC) to the microsecond: random instants in and far beyond those years, negative epochs, the bounds
    themselves and .999999 values, also in a session that is not in UTC."""
    d = dialect_for("postgres")
    pg_type = "timestamptz" if "with time" in type_name else "timestamp"
    fast_us = d.epoch_us("t", d.classify(type_name, None))
    assert "CASE WHEN" in fast_us  # both paths are under test here
    dsn = postgres.create_database("reconcile_engines")
    edges = ", ".join(f"{pg_type} '{v}'" for v in (
        "1900-01-01 00:00:00", "1899-12-31 23:59:59.999999", "2099-12-31 23:59:59.999999", "2100-01-01 00:00:00",
        "1970-01-01 00:00:00", "1969-12-31 23:59:59.999999", "2038-01-19 03:14:07.999999", "0001-01-01 00:00:00",
        "9999-12-31 23:59:59.999999"))
    with psycopg.connect(dsn) as conn:
        conn.execute("SET TimeZone = 'Asia/Kathmandu'")  # +05:45
        counts = conn.execute(f"""
            SELECT count(*) FILTER (WHERE fast <> exact), count(*) FROM (
              SELECT {fast_us} AS fast, (extract(epoch FROM t) * 1000000)::bigint AS exact
              FROM (SELECT ({pg_type} '{{start}}' + (random() * interval '{{years}} years')
                            + (floor(random() * 1000000) * interval '1 microsecond'))::{pg_type} AS t
                    FROM generate_series(1, 100000)
                    UNION ALL SELECT unnest(ARRAY[{edges}])) a) b""".replace("{start}", "1900-01-01 00:00:00")
                              .replace("{years}", "200")).fetchone()
        wide = conn.execute(f"""
            SELECT count(*) FILTER (WHERE fast <> exact) FROM (
              SELECT {fast_us} AS fast, (extract(epoch FROM t) * 1000000)::bigint AS exact
              FROM (SELECT ({pg_type} '0001-01-01 00:00:00' + (random() * interval '9000 years')
                            + (floor(random() * 1000000) * interval '1 microsecond'))::{pg_type} AS t
                    FROM generate_series(1, 100000)) a) b""").fetchone()
    assert counts == (0, 100_009)
    assert wide == (0,)


@pytest.mark.parametrize("type_name", ["timestamp with time zone", "timestamp without time zone"])
def test_postgres_cells_from_date_bin_equal_date_trunc_in_utc(postgres: PostgresService, type_name: str) -> None:
    """PostgreSQL's cells come from date_bin (cheaper per row); they are the UTC hours and days of date_trunc on
    100,000 random instants from year 1 to 9999 and on the edges around midnight and the epoch, also when the
    session's own zone is not UTC."""
    d = dialect_for("postgres")
    pg_type = "timestamptz" if "with time" in type_name else "timestamp"
    kind = d.classify(type_name, None)
    dsn = postgres.create_database("reconcile_date_bin")
    edges = ", ".join(f"({pg_type} '{v}')" for v in (
        "1969-12-31 23:59:59.999999", "1970-01-01 00:00:00", "1999-12-31 23:59:59.999999", "2000-01-01 00:00:00",
        "2026-03-29 00:59:59.999999", "2026-03-29 01:00:00", "0001-01-01 00:30:00", "9999-12-31 23:59:59.999999"))
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET TimeZone = 'Asia/Kathmandu'")
        conn.execute(f"CREATE TEMP TABLE ts AS SELECT {pg_type} '0001-01-01 00:00:00+00' + random() * "
                     f"interval '3652058 days' AS t FROM generate_series(1, 100000) UNION ALL SELECT * FROM (VALUES {edges}) e")
        for grain in ("hour", "day"):
            utc = "(t AT TIME ZONE 'UTC')" if pg_type == "timestamptz" else "t"
            back = " AT TIME ZONE 'UTC'" if pg_type == "timestamptz" else ""
            row = conn.execute(f"SELECT count(*), count(*) FILTER (WHERE {d.trunc('t', kind, grain)} "
                               f"<> date_trunc('{grain}', {utc}){back}) FROM ts").fetchone()
            assert row == (100_008, 0), (grain, row)


def test_config_identifiers_are_quoted_not_spliced() -> None:
    evil = 'id"; DROP TABLE payments.tx; --'
    for name in ("postgres", "duckdb", "snowflake"):
        quoted = dialect_for(name).ident(evil)
        assert quoted.startswith('"') and quoted.endswith('"') and '""' in quoted
    assert dialect_for("snowflake").table(["raw", "payments", "transactions"]) == '"RAW"."PAYMENTS"."TRANSACTIONS"'
    assert dialect_for("postgres").table(["payments", "Tx"]) == '"payments"."Tx"'




def test_postgres_sessions_take_at_most_the_workers_asked_and_never_more_than_the_server_allows(
        postgres: PostgresService) -> None:
    """A monitor's scan must not take more of the watched database than asked, nor override the DBA's cap."""
    dsn = postgres.create_database("reconcile_workers")
    source = PostgresSource("src", SecretStr(postgres.monitor_dsn("reconcile_workers")))
    with postgres_execute(source, _remaining, parallel=True, workers=1) as ex:
        assert ex("SELECT current_setting('max_parallel_workers_per_gather')", []) == [("1",)]
        assert ex("SELECT current_setting('enable_sort')", []) == [("off",)]
    with psycopg.connect(dsn, autocommit=True) as conn:  # the DBA allows none
        conn.execute("ALTER DATABASE reconcile_workers SET max_parallel_workers_per_gather = 0")
    with postgres_execute(source, _remaining, parallel=True, workers=4) as ex:
        assert ex("SELECT current_setting('max_parallel_workers_per_gather')", []) == [("0",)]
    with postgres_execute(source, _remaining) as ex:  # count mode: the server's planner settings untouched
        assert ex("SELECT current_setting('enable_sort')", []) == [("on",)]


def test_postgres_sessions_jit_compile_only_the_scan_unoptimised_and_never_against_the_server(
        postgres: PostgresService) -> None:
    """JIT pays on the scan of the compared range when it skips LLVM's optimisation and inlining. Every other
    statement stays interpreted: with enable_sort = off any sort costs 10^10, which would JIT-compile each small
    catalog query (30 ms apiece). A DBA who turned JIT off is obeyed."""
    dsn = postgres.create_database("reconcile_jit")
    source = PostgresSource("src", SecretStr(postgres.monitor_dsn("reconcile_jit")))
    setting = "SELECT current_setting('jit'), current_setting('jit_optimize_above_cost'), " \
              "current_setting('jit_inline_above_cost')"
    with postgres_execute(source, _remaining, parallel=True) as ex:
        assert ex(setting, [])[0][0] == "off"
        assert ex(setting, [], scan=True) == [("on", "-1", "-1")]
        assert ex(setting, [])[0][0] == "off"  # only that statement
        with pytest.raises(psycopg.errors.DivisionByZero):
            ex("SELECT 1 / 0", [], scan=True)
        assert ex(setting, [])[0][0] == "off"  # also after a scan that failed
        plan = "\n".join(r[0] for r in ex("EXPLAIN SELECT * FROM pg_class ORDER BY relname", []))
        assert "JIT" not in plan, plan
        # a scan whose session dies reports its own error, not the failed reset of jit after it
        pid = ex("SELECT pg_backend_pid()", [])[0][0]
        with psycopg.connect(dsn, autocommit=True) as admin:
            killer = threading.Timer(0.5, lambda: admin.execute("SELECT pg_terminate_backend(%s)", [pid]))
            killer.start()
            with pytest.raises(psycopg.OperationalError, match="terminat"):
                ex("SELECT pg_sleep(10)", [], scan=True)
            killer.join()
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("ALTER DATABASE reconcile_jit SET jit = off")
    with postgres_execute(source, _remaining, parallel=True) as ex:
        assert ex(setting, [], scan=True)[0][0] == "off"


@pytest.mark.parametrize("text", ["currency", "reference", None])
def test_postgres_aggregates_and_hashes_each_rows_share_in_its_parallel_workers(postgres: PostgresService,
                                                                               text: str | None) -> None:
    """The planner must see that the cells are few, so each parallel worker aggregates (and hashes) its own share
    of the rows. Grouped by date_trunc of the table's column, the planner took that column's statistics (one group
    per row), gathered every row to the leader and ran every md5 there (full mode over 5M rows: 10.1 s, then 6.9 s).
    Every shape of the cell query: checksum mode (None) and full mode where `reference` is distinct per row
    (statistics say so), so each row is hashed, group a column of a UNION ALL, which has no statistics;
    `currency` has one value, so rows are grouped by it as well and its md5 is computed once per cell: its
    statistics must stay visible, so that query groups by a joined calendar of the cells instead.
    The plan depends on the table's size and statistics, so this table is big enough to be scanned in parallel."""
    from sentinel.sources.reconcile.queries import cells, prepare

    dsn = postgres.create_database(f"reconcile_parallel_{text or 'checksum'}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA payments")
        conn.execute("""CREATE TABLE payments.big AS SELECT i AS id, (i % 1000) / 100.0 AS amount,
                        'EUR'::text AS currency, 'ref-' || i AS reference,
                        timestamptz '2026-03-01' + i * interval '10 seconds' AS created_at,
                        timestamptz '2026-03-01' + i * interval '11 seconds' AS updated_at
                        FROM generate_series(1, 300000) AS i""")
        conn.execute("ANALYZE payments.big")
    options = ReconcileOptions(mode=ReconcileMode.FULL if text else ReconcileMode.CHECKSUM)
    plan = plan_buckets(NOW, [Tier(timedelta(days=1), timedelta(days=31))], timedelta(minutes=15))
    spec = SideSpec("postgres", ("payments", "big"), ("id",), "created_at", "updated_at", None,
                    ("id", "amount", text, "created_at", "updated_at") if text else ())
    plans: list[str] = []
    monitor = postgres.monitor_dsn(f"reconcile_parallel_{text or 'checksum'}", ["payments.big"], schemas=["payments"])
    with postgres_execute(PostgresSource("src", SecretStr(monitor)), _remaining, parallel=True, workers=2) as ex:

        def explaining(sql: str, params: list[Any], /, *, scan: bool = False) -> list[tuple[Any, ...]]:
            if scan:
                plans.append("\n".join(str(r[0]) for r in ex("EXPLAIN " + sql, params)))
            return ex(sql, params, scan=scan)

        side = Side(spec, dialect_for("postgres"), explaining, "postgres")
        prepare(side, options)
        got, sql = cells(side, plan, plan.ranges(), options)
    assert side.group_text is (text == "currency")
    rows_read = sql.split(" UNION ALL ")[0]  # the second branch reads nothing
    assert rows_read.count("md5(") == (1 if text else 0)
    assert ("JOIN generate_series" in sql) is (text == "currency") and ("UNION ALL" in sql) is (text != "currency")
    first = datetime(2026, 3, 1, tzinfo=UTC)
    compared = sum(1 for i in range(1, 300_001) if plan.start <= first + timedelta(seconds=10 * i) < plan.cutoff)
    assert sum(a.count for a in got.values()) == compared
    assert len(plans) == 1, "the cells statement is the side's scan (JIT-compiled where the server allows it)"
    # the planner knows the cells are few (the root of it: it estimated one per row), and aggregates in the workers
    estimated_cells = int(re.search(r"rows=(\d+)", plans[0].splitlines()[0]).group(1))  # type: ignore[union-attr]
    assert estimated_cells <= 1000, plans[0]
    assert "Partial HashAggregate" in plans[0] and "Gather" in plans[0], plans[0]


@pytest.mark.parametrize("key_type", ["text", "uuid"])
def test_postgres_drill_down_computes_a_keys_hash_or_bits_once_per_row(postgres: PostgresService,
                                                                      key_type: str) -> None:
    """A drill-down statement reads the key's computed form (k0) more than once: to pick its sub-range, in the key
    sum, and for a text key in the join to the segments' bounds. Flattened, PostgreSQL copied the computation
    into every use: a text key's md5 ran twice per row and segment in the join filter (a leaf fetch of 3,600 rows
    with 64 segments: 230,000 pairs, 0.34 s instead of 0.02 s), a UUID's hex conversion twice per row (a level
    over 90 cells of 5M rows: 0.63 s instead of 0.50 s). EXPLAIN cannot show the difference (it prints a
    reference to a computed column as the expression), so this pins the fence, PostgreSQL's documented barrier
    to flattening (OFFSET 0), on every subquery whose k0 is read twice, and checks the fenced statements' answers."""
    from sentinel.sources.reconcile.model import Agg, Segment
    from sentinel.sources.reconcile.queries import HASH_MAX, prepare, segment_sql

    db = f"reconcile_once_{key_type}"
    dsn = postgres.create_database(db)
    key = "'k-' || i" if key_type == "text" else "md5(i::text)::uuid"
    cell = (NOW - timedelta(days=9)).replace(hour=0, minute=0)  # a day cell well inside the plan, from NOW
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA payments")
        conn.execute(f"""CREATE TABLE payments.keyed AS SELECT {key} AS id,
                         %(cell)s::timestamptz + i * interval '1 second' AS created_at,
                         %(cell)s::timestamptz + i * interval '2 seconds' AS updated_at
                         FROM generate_series(1, 3600) AS i""", {"cell": cell})
        conn.execute("ALTER TABLE payments.keyed ADD PRIMARY KEY (id)")
        conn.execute("ANALYZE payments.keyed")
    options = ReconcileOptions(mode=ReconcileMode.CHECKSUM)
    plan = plan_buckets(NOW, [Tier(timedelta(days=1), timedelta(days=31))], timedelta(minutes=15))
    spec = SideSpec("postgres", ("payments", "keyed"), ("id",), "created_at", "updated_at", None, ())
    monitor = postgres.monitor_dsn(db, ["payments.keyed"], schemas=["payments"])
    with postgres_execute(PostgresSource("src", SecretStr(monitor)), _remaining) as ex:
        side = Side(spec, dialect_for("postgres"), ex, "postgres")
        prepare(side, options)
        assert side.ordered_key is (key_type == "uuid")  # a text key is split by its hash, a UUID by its bits
        width = (HASH_MAX + 1) // 8
        segs = [(n, Segment(cell, n * width, (n + 1) * width - 1, Agg(), Agg()), width // 64) for n in range(8)]
        level, params = segment_sql(side, plan, segs, options, leaf=False)
        branches = level.count(" UNION ALL ") + 1
        assert level.count(" OFFSET 0) q") == branches  # k0: its sub-range, its sum (and the join to the bounds)
        rows = ex(level, params)
        assert sum(int(r[2]) for r in rows) == 3600  # every row of the cell, in exactly one sub-range
        assert len({(r[0], r[1]) for r in rows}) == len(rows)
        leaves, params = segment_sql(side, plan, segs, options, leaf=True)
        # a UUID leaf reads k0 once (its bounds are on the column itself); a hashed leaf joins it to the bounds
        assert leaves.count(" OFFSET 0) q") == (0 if key_type == "uuid" else leaves.count(" UNION ALL ") + 1)
        got = ex(leaves, params)
        assert len(got) == 3600 and len({r[1] for r in got}) == 3600  # each row once, in its own segment
        assert all(segs[r[0]][1].lo <= int(r[1]) <= segs[r[0]][1].hi for r in got)


@pytest.mark.parametrize("engine", ["postgres", "duckdb"])
def test_full_mode_cells_hashed_once_per_text_combination_equal_the_sum_of_their_rows(engines: dict[str, Any],
                                                                                    engine: str) -> None:
    """A cell's sum of row hashes computed two ways: md5 per row, and md5 once per distinct combination of the
    text columns (NULLs, '' and '\\N' among them) times the sum of the rows' key weights. Both equal, and both
    equal the sum of the rows' own hashes."""
    from sentinel.sources.reconcile.queries import cells, prepare

    options = ReconcileOptions(mode=ReconcileMode.FULL)
    plan = plan_buckets(NOW, [Tier(timedelta(days=1), timedelta(days=30))], timedelta(minutes=15))

    def both(side: Side) -> tuple[dict[Any, Any], dict[Any, Any], dict[Any, Any]]:
        prepare(side, options)
        assert side.group_text  # currency, status and note have few values
        grouped, sql = cells(side, plan, plan.ranges(), options)
        assert sql.startswith("SELECT g, SUM(c)")
        side.group_text = False
        per_row, _ = cells(side, plan, plan.ranges(), options)
        return grouped, per_row, row_fingerprints(side, plan.start, plan.cutoff, options)

    if engine == "postgres":  # the planner's statistics decide for PostgreSQL; the test table has none yet
        with psycopg.connect(engines["owner_dsn"], autocommit=True) as conn:
            conn.execute("ANALYZE payments.tx")
    grouped, per_row, rows = _run_on(engine, engines, both, ReconcileMode.FULL)
    assert grouped == per_row
    assert sum(a.sum_hash for a in grouped.values()) == sum(h for h, _ in rows.values())
    assert sum(a.count for a in grouped.values()) == len(rows) > 380


def test_duckdb_groups_text_columns_only_when_a_sample_says_they_have_few_values(tmp_path: Path) -> None:
    """A text column of distinct values (a payment reference) would make one group per row: such a table is
    hashed row by row; a currency column is grouped."""
    from sentinel.sources.reconcile.queries import decide_text_grouping

    path = tmp_path / "card.duckdb"
    conn = duckdb.connect(str(path))
    conn.execute("CREATE SCHEMA payments")
    conn.execute("CREATE TABLE payments.t AS SELECT i AS id, 'ref-' || i AS reference, "
                 "(['EUR', 'USD', 'GBP'])[1 + i % 3] AS currency, TIMESTAMP '2026-03-01' + i * INTERVAL 1 SECOND AS "
                 "created_at FROM range(200000) r(i)")
    conn.close()
    options = ReconcileOptions(mode=ReconcileMode.FULL)
    decided = {}
    for column in ("reference", "currency"):
        spec = SideSpec("duckdb", ("payments", "t"), ("id",), "created_at", None, None, ("id", column))
        with duckdb_execute(DuckDBSource(path), _remaining) as ex:
            side = Side(spec, dialect_for("duckdb"), ex, "duckdb")
            resolve(side, table_columns(side), ["id", "created_at", column])
            decide_text_grouping(side, options)
            decided[column] = side.group_text
    assert decided == {"reference": False, "currency": True}


@pytest.mark.parametrize("mode", [ReconcileMode.CHECKSUM, ReconcileMode.FULL])
def test_uuid_key_cells_are_identical_in_postgres_and_duckdb_at_every_sign_boundary(
        postgres: PostgresService, tmp_path: Path, mode: ReconcileMode) -> None:
    """The cell query reads a UUID as two signed 64-bit halves: UUIDs whose top bit or whose 64th bit is set, the
    lowest and the highest, and 2,000 random ones give the same cells in both engines."""
    import random
    import uuid

    rnd = random.Random(19)
    keys = [uuid.UUID(int=v) for v in (0, 2**128 - 1, 2**127, 2**127 - 1, 2**64, 2**64 - 1, 2**63, 2**63 - 1,
                                       (2**64 - 1) << 64, 2**127 + 2**63)]
    keys += [uuid.UUID(int=rnd.getrandbits(128)) for _ in range(2000)]
    rows = [(k, NOW - timedelta(hours=1 + i % 40), NOW - timedelta(hours=1 + i % 40), f"s{i % 3}")
            for i, k in enumerate(keys)]
    dsn = postgres.create_database(f"reconcile_uuid_cells_{mode.value}")
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA payments")
        conn.execute("CREATE TABLE payments.u (id uuid PRIMARY KEY, created_at timestamptz, updated_at timestamptz, "
                     "status text)")
        with conn.cursor() as cur, cur.copy("COPY payments.u FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)
        conn.execute("ANALYZE payments.u")
    path = tmp_path / "u.duckdb"
    duck = duckdb.connect(str(path))
    duck.execute("SET TimeZone = 'UTC'")
    duck.execute("CREATE SCHEMA payments")
    duck.execute("CREATE TABLE payments.u (id UUID, created_at TIMESTAMPTZ, updated_at TIMESTAMPTZ, status VARCHAR)")
    duck.executemany("INSERT INTO payments.u VALUES (?, ?, ?, ?)", [(str(k), a, b, s) for k, a, b, s in rows])
    duck.close()
    options = ReconcileOptions(mode=mode)
    plan = plan_buckets(NOW, [Tier(timedelta(hours=1), timedelta(hours=48))], timedelta(minutes=15))
    cols = ("id", "created_at", "updated_at", "status") if mode is ReconcileMode.FULL else ()
    monitor = postgres.monitor_dsn(f"reconcile_uuid_cells_{mode.value}", ["payments.u"], schemas=["payments"])
    got = {}
    for engine in ("postgres", "duckdb"):
        spec = SideSpec(engine, ("payments", "u"), ("id",), "created_at", "updated_at", None, cols)
        opened = (postgres_execute(PostgresSource("src", SecretStr(monitor)), _remaining, parallel=True)
                  if engine == "postgres" else duckdb_execute(DuckDBSource(path), _remaining))
        with opened as ex:
            side = Side(spec, dialect_for(engine), ex, engine)
            got[engine] = cell_aggregates(side, plan, options)
            assert side.uuid_key
    assert sum(a.count for a in got["postgres"].values()) == len(keys)
    assert got["postgres"] == got["duckdb"]
    if mode is ReconcileMode.CHECKSUM:
        # a checksum cell holds the XOR of its keys' 128 bits (one conversion per row); full mode keeps the sums
        xor: dict[Any, int] = {}
        for k, at, _, _ in rows:
            cell = at.replace(minute=0, second=0, microsecond=0)
            xor[cell] = xor.get(cell, 0) ^ k.int
        assert {cell: agg.sum_key for cell, agg in got["postgres"].items()} == xor
