"""row_reconciliation for every key type and every shape of failure found in issue 19, each on a real PostgreSQL
source against a DuckDB file and the fakesnow server: 64-bit keys spanning the sign, UUID / text / numeric keys,
composite keys with a low-cardinality first column, rows with a NULL time column, decimals past the 6th digit,
row-encoding collisions, contiguous losses, rows moved across midnight, and per-table re-sweeps of remembered
buckets."""

from __future__ import annotations

import random
import re
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from pydantic import SecretStr
from sentinel_checks.row_reconciliation import RowReconciliationCheck, RowReconciliationParams

from devstack.postgres import PostgresService
from devstack.snowflake import SnowflakeService
from sentinel.api import CheckContext, DictMemory, Finding, Status
from sentinel.clock import FakeClock
from sentinel.config.settings import Settings
from sentinel.sources import Sources
from tests.integration.reconcile_tables import Col, load_duckdb_table, load_postgres_table, load_snowflake_table

pytestmark = pytest.mark.integration

NOW = datetime(2026, 3, 29, 12, 0, tzinfo=UTC)
HOUR = datetime(2026, 3, 29, 8, 0, tzinfo=UTC)  # one closed hour, well before the in-flight window
DB = "reconcile_keys"
ENGINES = ["duckdb", "snowflake"]
TIME = [Col("created_at", "timestamptz", "TIMESTAMP", "TIMESTAMP_TZ"),
        Col("updated_at", "timestamptz", "TIMESTAMP", "TIMESTAMP_TZ")]


@pytest.fixture(scope="module")
def world(postgres: PostgresService, snowflake_server: SnowflakeService,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    dsn = postgres.create_database(DB)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
    monitor = postgres.monitor_dsn(DB, [], schemas=["payments"])
    sf = snowflake_server.connect()
    settings = Settings(postgres_dsn=SecretStr(monitor), snowflake_account=snowflake_server.account,
                        snowflake_user=snowflake_server.user, snowflake_password=SecretStr(snowflake_server.password),
                        snowflake_host=snowflake_server.host, snowflake_port=snowflake_server.port,
                        snowflake_protocol="http")
    yield {"dsn": dsn, "pg": postgres, "dir": tmp_path_factory.mktemp("keys"), "sf": sf, "sources": Sources(settings)}
    sf.close()


def tables(world: dict[str, Any], name: str, cols: Sequence[Col], source: Sequence[Sequence[Any]],
           target: Sequence[Sequence[Any]], engine: str) -> dict[str, Any]:
    """The source table in PostgreSQL (readable by the monitoring role) and its copy on `engine`."""
    load_postgres_table(world["dsn"], f"payments.{name}", cols, source)
    world["pg"].monitor_dsn(DB, [f"payments.{name}"], schemas=["payments"])
    if engine == "duckdb":
        path = world["dir"] / f"{name}.duckdb"
        path.unlink(missing_ok=True)
        load_duckdb_table(path, "payments.copy", cols, target)
        return {"engine": "duckdb", "path": str(path), "table": "payments.copy"}
    load_snowflake_table(world["sf"], f"RECON_KEYS.PAYMENTS.{name.upper()}", cols, target)
    return {"engine": "snowflake", "table": f"recon_keys.payments.{name}"}


def run(world: dict[str, Any], name: str, target: dict[str, Any], key: Sequence[str], *,
        memory: DictMemory | None = None, clock: FakeClock | None = None, pair: dict[str, Any] | None = None,
        **params: Any) -> Finding:
    spec = {"name": name, "source": {"engine": "postgres", "table": f"payments.{name}"}, "target": target,
            "key": list(key), "time_column": "created_at", "version_column": "updated_at", **(pair or {})}
    p = RowReconciliationParams.model_validate({"pairs": [spec], "sample_keys": 100, **params})
    clock = clock or FakeClock(NOW)
    ctx = CheckContext("reconcile_keys", clock, clock.monotonic() + 120, world["sources"], memory or DictMemory())
    result = RowReconciliationCheck(p).run(ctx)
    assert len(result.findings) == 1
    return result.findings[0]


def keys_of(f: Finding, kind: str) -> list[str]:
    text = f.details.get(f"{kind}_keys", "")
    return text.split(", ") if text else []


def in_hour(i: int, n: int) -> datetime:
    return HOUR + timedelta(hours=1) * i / n


# ------------------------------------------------------------------------------------------------ key types
@pytest.mark.parametrize("engine", ENGINES)
def test_bigint_keys_spanning_the_sign_drill_down_without_overflow(world: dict[str, Any], engine: str) -> None:
    """Issue 19: 'bigint out of range' when more than 512 rows shared a bucket and keys spanned the sign."""
    n = 1200
    step = (2**64 - 1) // (n - 1)
    keys = [-(2**63) + i * step for i in range(n)]
    keys[-1] = 2**63 - 1
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"), *TIME]
    source = [(k, in_hour(i, n), in_hour(i, n)) for i, k in enumerate(keys)]
    lost = {keys[0], keys[600], keys[-1]}
    target = [r for r in source if r[0] not in lost]
    f = run(world, "signed_keys", tables(world, "signed_keys", cols, source, target, engine), ["id"])
    assert f.status is Status.CRITICAL, f.summary
    assert f.values["missing_rows"] == 3 and f.values["unresolved_rows"] == 0
    assert set(keys_of(f, "missing")) == {str(k) for k in lost}


def _keyed(kind: str, n: int) -> list[Any]:
    rnd = random.Random(19)
    if kind == "uuid":
        return [uuid.UUID(int=rnd.getrandbits(128), version=4) for _ in range(n)]
    if kind == "text":
        odd = ["ünïcödé", "a|b", "x'y", "", "\\N", "👍🏽"]
        return odd + [f"pay_{rnd.getrandbits(40):012x}" for _ in range(n - len(odd))]
    return [Decimal(rnd.getrandbits(70)) for _ in range(n)]  # numeric(30,0): beyond bigint


KEY_COLS = {"uuid": Col("id", "uuid PRIMARY KEY", "UUID", "VARCHAR"),
            "text": Col("id", "text PRIMARY KEY", "VARCHAR", "VARCHAR"),
            "numeric": Col("id", "numeric(30,0) PRIMARY KEY", "DECIMAL(30,0)", "NUMBER(30,0)")}


@pytest.mark.parametrize("engine", ENGINES)
@pytest.mark.parametrize("kind", ["uuid", "text", "numeric"])
def test_uuid_text_and_numeric_keys_are_reconciled_to_the_last_key(world: dict[str, Any], engine: str,
                                                                   kind: str) -> None:
    """Issue 19: 'the first key column must be an integer'. Tiny leaves and fanout force a deep drill-down."""
    n = 1200
    keys = _keyed(kind, n)
    cols = [KEY_COLS[kind], *TIME, Col("note", "text", "VARCHAR", "VARCHAR")]
    source = [(k, in_hour(i, n), in_hour(i, n), f"n{i}") for i, k in enumerate(keys)]
    lost, stale = {keys[3], keys[100], keys[1111]}, {keys[1], keys[700]}
    added = [(_keyed(kind, n + 2)[-1], in_hour(5, n), in_hour(5, n), "x"), source[0]]  # an extra, a replayed row
    if kind == "text":
        added[0] = ("pay_extra", in_hour(5, n), in_hour(5, n), "x")
    target = [(r[0], r[1], r[2] - timedelta(minutes=5), r[3]) if r[0] in stale else r
              for r in source if r[0] not in lost] + added
    f = run(world, f"{kind}_keys", tables(world, f"{kind}_keys", cols, source, target, engine), ["id"],
            leaf_rows=8, fanout=4)
    assert f.status is Status.CRITICAL, f.summary
    assert f.values["unresolved_rows"] == 0
    assert set(keys_of(f, "missing")) == {str(k) for k in lost}
    assert set(keys_of(f, "stale")) == {str(k) for k in stale}
    assert set(keys_of(f, "extra")) == {str(added[0][0])}
    assert keys_of(f, "duplicate") == [str(keys[0])]


def test_uuid_keys_differing_only_past_their_leading_bits_and_at_the_ends_of_the_range(
        world: dict[str, Any]) -> None:
    """UUID against UUID is split by the key's leading 60 bits (no hash of every key): a key replaced by one that
    shares those bits, with the same time and version, must still differ, in each part of the other 68 bits;
    the lowest and highest UUIDs and a run of consecutive ones (time-ordered UUIDv7 shape) are found too."""
    base = uuid.UUID("01890a5d-ac96-7000-8000-000000000000").int
    keys = [uuid.UUID(int=base + (i << 20)) for i in range(1000)]  # same leading 60 bits in runs of 256
    keys += [uuid.UUID(int=0), uuid.UUID(int=2**128 - 1)]
    cols = [Col("id", "uuid PRIMARY KEY", "UUID", "VARCHAR"), *TIME]
    t, t2 = in_hour(1, 10), in_hour(1, 10) + timedelta(hours=1)
    # the swapped keys' hour has no other difference: only the key sum can tell it differs
    source = [(k, t2 if i < 300 else t, t2 if i < 300 else t) for i, k in enumerate(keys)]
    # the replacements differ from the lost key in bits 60-87, 88-119 and 120-127 of the 128 only
    swaps = {keys[10]: uuid.UUID(int=keys[10].int ^ (1 << 67)), keys[20]: uuid.UUID(int=keys[20].int ^ (1 << 9)),
             keys[30]: uuid.UUID(int=keys[30].int ^ 1)}
    lost = {*keys[500:600], keys[-1], keys[-2]}
    target = [(swaps.get(k, k), at, v) for k, at, v in source if k not in lost]
    # the default fanout: from the lowest to the highest UUID is 2^60 leading values, 10 levels of 64
    f = run(world, "uuid_bits", tables(world, "uuid_bits", cols, source, target, "duckdb"), ["id"], leaf_rows=8)
    assert f.values["unresolved_rows"] == 0, f.summary
    assert set(keys_of(f, "extra")) == {str(k) for k in swaps.values()}
    missing = set(keys_of(f, "missing")) | {r.split(" (")[0] for r in f.details["missing_ranges"].split(", ")}
    assert f.values["missing_rows"] == len(lost) + len(swaps)
    assert {str(k) for k in [*swaps, keys[-1], keys[-2]]} <= missing
    assert f"{keys[500]}..{keys[599]}" in missing  # the run of 100 is one range


@pytest.mark.parametrize("engine", ENGINES)
def test_composite_key_with_a_low_cardinality_first_column_lists_every_key_in_numeric_order(
        world: dict[str, Any], engine: str) -> None:
    """Issue 19: (tenant_id, id) exhausted the drill-down budget (21 of 30 listed) and sorted as text."""
    n = 3000
    cols = [Col("tenant_id", "integer", "INTEGER", "NUMBER(38,0)"), Col("id", "bigint", "BIGINT", "NUMBER(38,0)"),
            *TIME]
    source = [(1 + i % 3, 1000 + i * 7, in_hour(i, n), in_hour(i, n)) for i in range(n)]
    lost = set(random.Random(3).sample(range(n), 30))
    target = [r for i, r in enumerate(source) if i not in lost]
    # a budget the old split by tenant_id alone (whole tenants as leaves: 6,000 rows) could not meet
    f = run(world, "tenant_keys", tables(world, "tenant_keys", cols, source, target, engine), ["tenant_id", "id"],
            leaf_rows=8, max_leaf_rows=2000)
    assert f.values["missing_rows"] == 30 and f.values["unresolved_rows"] == 0, f.summary
    listed = re.findall(r"\(\d+, \d+\)", f.details["missing_keys"])
    expected = sorted((source[i][0], source[i][1]) for i in lost)
    assert listed == [f"({t}, {k})" for t, k in expected]  # every one, numerically ordered: (1, 5452) < (1, 22315)


# ------------------------------------------------------------------------------------------------ no silent gaps
@pytest.mark.parametrize("engine", ENGINES)
def test_rows_without_a_time_are_compared_in_a_no_time_bucket(world: dict[str, Any], engine: str) -> None:
    """Issue 19: five missing rows with a NULL time column gave OK, '990 rows match'."""
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"),
            Col("created_at", "timestamptz", "TIMESTAMP", "TIMESTAMP_TZ"),
            Col("updated_at", "timestamptz", "TIMESTAMP", "TIMESTAMP_TZ")]
    source = [(i, None if i % 100 == 0 else in_hour(i, 1000), in_hour(i, 1000)) for i in range(1, 1001)]
    same = run(world, "null_times", tables(world, "null_times", cols, source, source, engine), ["id"])
    assert same.status is Status.OK and same.values["source_rows"] == 1000, same.summary
    lost = {100, 200, 300, 400, 500}
    target = [r for r in source if r[0] not in lost]
    f = run(world, "null_times", tables(world, "null_times", cols, source, target, engine), ["id"])
    assert f.status is Status.CRITICAL
    assert f.values["missing_rows"] == 5 and set(keys_of(f, "missing")) == {str(k) for k in lost}
    assert f.details["buckets"].startswith("no time: source 10, target 5, missing 5")


@pytest.mark.parametrize("engine", ENGINES)
def test_full_mode_compares_decimals_at_their_declared_scale(world: dict[str, Any], engine: str) -> None:
    """Issue 19: changes past the 6th decimal of a numeric(18,8) were invisible (capped at numeric_scale 6)."""
    amount = Col("amount", "numeric(18,8)", "DECIMAL(18,8)", "NUMBER(38,8)")
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"), *TIME, amount]
    source = [(i, in_hour(i, 50), in_hour(i, 50), Decimal(i) + Decimal("0.12345678")) for i in range(50)]
    target = [(*r[:3], r[3] + Decimal("0.00000001")) if r[0] == 17 else r for r in source]
    f = run(world, "fine_amounts", tables(world, "fine_amounts", cols, source, target, engine), ["id"], mode="full")
    assert f.values["stale_rows"] == 1 and keys_of(f, "stale") == ["17"], f.summary
    assert "scales" not in f.details


def test_full_mode_says_when_the_two_sides_declare_different_scales(world: dict[str, Any]) -> None:
    """A target keeping 4 of the source's 8 digits: its rounded rows are stale, and the reason is in the result."""
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"), *TIME,
            Col("amount", "numeric(18,8)", "DECIMAL(18,4)", "NUMBER(38,4)")]
    source = [(i, in_hour(i, 10), in_hour(i, 10), Decimal(i) + (Decimal("0.5") if i % 2 else Decimal("0.12345678")))
              for i in range(10)]
    f = run(world, "coarse_amounts", tables(world, "coarse_amounts", cols, source, source, "duckdb"), ["id"],
            mode="full")
    assert f.values["stale_rows"] == 5, f.summary  # the even ids lost digits 5..8
    assert f.details["scales"] == ("amount: source numeric scale 8, target DECIMAL(18,4) scale 4; compared at 8 "
                                   "digits")


@pytest.mark.parametrize("engine", ENGINES)
def test_full_mode_row_encoding_has_no_collisions(world: dict[str, Any], engine: str) -> None:
    """Issue 19: NULL vs the text '\\N', and a '|' moved between adjacent text columns, hashed alike."""
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"), *TIME,
            Col("a", "text", "VARCHAR", "VARCHAR"), Col("b", "text", "VARCHAR", "VARCHAR")]
    t = in_hour(1, 10)
    source = [(1, t, t, "x", "y|z"), (2, t, t, None, "q"), (3, t, t, "", None), (4, t, t, "1:", "a"),
              (5, t, t, "same", "same")]
    target = [(1, t, t, "x|y", "z"), (2, t, t, "\\N", "q"), (3, t, t, None, ""), (4, t, t, "", "1:a"),
              (5, t, t, "same", "same")]
    f = run(world, "collisions", tables(world, "collisions", cols, source, target, engine), ["id"], mode="full")
    assert sorted(keys_of(f, "stale")) == ["1", "2", "3", "4"], f.summary


@pytest.mark.parametrize("engine", ENGINES)
def test_full_mode_finds_values_swapped_between_two_rows_of_one_bucket(world: dict[str, Any], engine: str) -> None:
    """Each row's values are bound to its key: a status, an amount or a merchant swapped between two rows of one
    hour leaves the hour's values as a whole unchanged (and the status is hashed once per distinct value and
    cell), yet both rows of each swap are found."""
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"), *TIME,
            Col("merchant_id", "integer", "INTEGER", "NUMBER(38,0)"),
            Col("amount", "numeric(12,2)", "DECIMAL(12,2)", "NUMBER(12,2)"), Col("status", "text", "VARCHAR", "VARCHAR")]
    # four hours of ten rows; one swap in each of the first three (a bucket's sum alone must show it)
    source = [(i, in_hour(i, 10), in_hour(i, 10), 100 + i, Decimal(i) + Decimal("0.25"), ("settled", "pending")[i % 2])
              for i in range(40)]
    target = [list(r) for r in source]
    for a, b, column in ((3, 4, 5), (17, 18, 4), (25, 26, 3)):
        target[a][column], target[b][column] = target[b][column], target[a][column]
    f = run(world, "swapped", tables(world, "swapped", cols, source, target, engine), ["id"], mode="full")
    assert sorted(keys_of(f, "stale"), key=int) == ["3", "4", "17", "18", "25", "26"], f.summary
    assert f.values["differing_buckets"] == 3


@pytest.mark.parametrize("engine", ENGINES)
def test_full_mode_hashes_decimals_beyond_64_bits_exactly(world: dict[str, Any], engine: str) -> None:
    """Decimals enter the row hash as integers (value * 10^scale): exact also where that exceeds 64 bits, so a
    change in the last digit of a 34-digit amount is found, and equal amounts match on every engine. A NaN in
    PostgreSQL (which no target type holds) is a difference, not an error."""
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"), *TIME,
            Col("amount", "numeric(38,2)", "DECIMAL(38,2)", "NUMBER(38,2)")]
    values = ["12345678901234567890123456789012.34", "-99999999999999999999999999999999.99", "92233720368547758.07",
              "9999999999999999.99", "10000000000000000.00", "-10000000000000000.01", "-0.01", "0", None]
    source = [(i, in_hour(i, 20), in_hour(i, 20), None if v is None else Decimal(v)) for i, v in enumerate(values)]
    target = [list(r) for r in source]
    target[0][3] = Decimal("12345678901234567890123456789012.35")
    target[2][3] = Decimal("92233720368547758.08")
    source.append((len(values), in_hour(len(values), 20), in_hour(len(values), 20), Decimal("NaN")))
    target.append([*source[-1][:3], Decimal(0)])
    f = run(world, "wide_amounts", tables(world, "wide_amounts", cols, source, target, engine), ["id"], mode="full")
    assert sorted(keys_of(f, "stale"), key=int) == ["0", "2", str(len(values))], f.summary


# ------------------------------------------------------------------------------------------------ answers on-call can act on
@pytest.mark.parametrize("engine", ENGINES)
def test_contiguous_losses_are_one_range_and_a_row_moved_across_midnight_is_one_moved_row(
        world: dict[str, Any], engine: str) -> None:
    n = 12_000
    start = datetime(2026, 3, 28, 14, tzinfo=UTC)
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"), *TIME]
    source = [(2 * i, start + timedelta(seconds=3 * i), start + timedelta(seconds=3 * i)) for i in range(n)]
    midnight = datetime(2026, 3, 29, tzinfo=UTC)
    source.append((99_999, midnight - timedelta(microseconds=1), midnight - timedelta(microseconds=1)))
    lost = set(range(2 * 1000, 2 * 6000, 2))  # 5,000 consecutive ids over about four hours
    target = [r for r in source if r[0] not in lost and r[0] not in (2 * 9000, 99_999)]
    target.append((99_999, midnight, midnight - timedelta(microseconds=1)))  # its time moved 1 µs
    f = run(world, "lost_block", tables(world, "lost_block", cols, source, target, engine), ["id"])
    assert f.values["missing_rows"] == 5001 and f.values["moved_rows"] == 1 and f.values["extra_rows"] == 0, f.summary
    assert f.details["missing_ranges"] == "2000..11998 (5,000 rows) (5,000 of 5,001 missing)"
    assert keys_of(f, "missing") == ["18000"]
    assert f.details["moved_keys"] == "99999 (2026-03-28T23:00Z -> 2026-03-29T00:00Z)"
    assert "e.g. missing id 2000..11998 (5,000 rows); missing id 18000; moved id 99999" in f.summary


def test_in_flight_updates_are_in_the_summary_of_a_differing_pair(world: dict[str, Any]) -> None:
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"), *TIME]
    source = [(i, in_hour(i, 100), in_hour(i, 100)) for i in range(100)]
    source[5] = (5, source[5][1], NOW - timedelta(minutes=2))  # updated 2 minutes ago: CDC not there yet
    target = [(i, in_hour(i, 100), in_hour(i, 100)) for i in range(100) if i != 50]
    f = run(world, "inflight_diff", tables(world, "inflight_diff", cols, source, target, "duckdb"), ["id"])
    assert f.status is Status.CRITICAL and f.values["in_flight_rows"] == 1
    assert "1 missing in 1 of" in f.summary and "; 1 recent updates still in flight" in f.summary


def test_remembered_buckets_are_re_swept_per_table(world: dict[str, Any]) -> None:
    """A delete in the warehouse inside a remembered bucket stays hidden until that pair's recheck_after."""
    cols = [Col("id", "bigint PRIMARY KEY", "BIGINT", "NUMBER(38,0)"), *TIME]
    source = [(i, in_hour(i, 100), in_hour(i, 100)) for i in range(100)]
    target = tables(world, "resweep", cols, source, source, "duckdb")
    memory, clock = DictMemory(), FakeClock(NOW)
    fast = {"recheck_after": "30m"}
    assert run(world, "resweep", target, ["id"], memory=memory, clock=clock, pair=fast).status is Status.OK
    load_duckdb_table(world["dir"] / "resweep.duckdb", "payments.copy", cols, source[1:])  # a warehouse-side delete
    clock.advance(timedelta(minutes=10))
    hidden = run(world, "resweep", target, ["id"], memory=memory, clock=clock, pair=fast)
    assert hidden.status is Status.OK and hidden.values["buckets_skipped"] > 0  # by design, until the re-sweep
    clock.advance(timedelta(minutes=25))
    swept = run(world, "resweep", target, ["id"], memory=memory, clock=clock, pair=fast)
    assert swept.status is Status.CRITICAL and keys_of(swept, "missing") == ["0"]
    never = run(world, "resweep", target, ["id"], memory=DictMemory(), pair={"remember_matched": False})
    assert never.values["buckets_skipped"] == 0 and never.status is Status.CRITICAL


def test_a_key_type_that_cannot_be_normalised_is_an_error_naming_column_and_type(world: dict[str, Any]) -> None:
    cols = [Col("id", "jsonb", "JSON", "VARIANT"), *TIME]
    source = [('{"a": 1}', in_hour(1, 10), in_hour(1, 10))]
    f = run(world, "json_keys", tables(world, "json_keys", cols, source, source, "duckdb"), ["id"])
    assert f.status is Status.ERROR
    assert "source key column id of payments.json_keys is jsonb" in f.summary
