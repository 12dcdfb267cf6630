"""Row reconciliation benchmark: Sentinel vs reladiff 0.6.0 vs one GROUP BY date_trunc('hour') per side.

    .venv/bin/python benchmarks/reconcile.py [--rows 5000000]

1. Starts a throwaway PostgreSQL (devstack.postgres.start_postgres("bench")) and generates payments.transactions
   (id, merchant_id, amount numeric(12,2), currency, status, created_at, updated_at): N rows over 30 days, server-side
   with generate_series. The same rows are generated in a DuckDB file with the same formulas (two tables:
   `transactions_clean`, identical, and `transactions`, where 40 rows are deleted, 40 modified (amount changed and
   updated_at bumped, as a real update does) and 20 added, seeded, spread over the whole range).
2. Runs each contender in its own subprocess (so peak RSS is its own), one after another, in `--repeat` interleaved
   rounds (median reported; the machine may be shared):
   Sentinel recommended (checksum: key + version column), Sentinel full-column, Sentinel count-only,
   reladiff (hashdiff, defaults, every column), and the baseline of one GROUP BY date_trunc('hour') per side run
   concurrently; on the clean and the 100-difference tables.
3. Prints wall time, peak RSS (compared with reladiff's: Sentinel's highest run against reladiff's lowest) and
   whether exactly the 100 differing keys were found; writes benchmarks/results/reconcile.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START = datetime(2026, 10, 20, tzinfo=UTC)
SPAN_US = 30 * 86400 * 1_000_000
COLUMNS = ("id", "merchant_id", "amount", "currency", "status", "created_at", "updated_at")
RESULTS = ROOT / "benchmarks" / "results" / "reconcile.json"


# ----------------------------------------------------------------------------------------------------------- data
def _step_us(rows: int) -> int:
    return SPAN_US // rows


def generate_postgres(dsn: str, rows: int) -> None:
    import psycopg

    step = _step_us(rows)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
        conn.execute("DROP TABLE IF EXISTS payments.transactions")
        conn.execute("CREATE TABLE payments.transactions (id bigint PRIMARY KEY, merchant_id integer NOT NULL, "
                     "amount numeric(12,2) NOT NULL, currency text NOT NULL, status text NOT NULL, "
                     "created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)")
        conn.execute(f"""
            INSERT INTO payments.transactions
            SELECT 2 * i, 1 + (i * 7919) % 5000, (((i * 104729) % 100000) / 100.0)::numeric(12,2),
                   (ARRAY['EUR','USD','GBP','CHF'])[1 + i % 4], (ARRAY['settled','pending','failed','refunded'])[1 + (i / 3) % 4],
                   timestamptz '{START.isoformat()}' + (i * {step}) * interval '1 microsecond',
                   timestamptz '{START.isoformat()}' + (i * {step}) * interval '1 microsecond' + (i % 600) * interval '1 second'
            FROM generate_series(1::bigint, {rows}) AS i""")
        conn.execute("CREATE INDEX ON payments.transactions (created_at)")
        conn.execute("VACUUM ANALYZE payments.transactions")


def changes(rows: int, seed: int = 20261125) -> dict[str, list[int]]:
    """Which generator indexes i are deleted / modified on the DuckDB side, and after which i a row is added."""
    rnd = random.Random(seed)
    picked = rnd.sample(range(1, rows + 1), 100)
    return {"delete": sorted(picked[:40]), "modify": sorted(picked[40:80]), "add_after": sorted(picked[80:])}


def generate_duckdb(path: Path, rows: int) -> set[int]:
    """Both DuckDB tables; returns the 100 keys that differ in `transactions`."""
    import duckdb

    step = _step_us(rows)
    path.unlink(missing_ok=True)
    conn = duckdb.connect(str(path))
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE SCHEMA payments")
    amount = "CAST(CAST(c // 100 AS VARCHAR) || '.' || lpad(CAST(c % 100 AS VARCHAR), 2, '0') AS DECIMAL(12,2))"
    conn.execute(f"""
        CREATE TABLE payments.transactions_clean AS
        SELECT id, merchant_id, {amount} AS amount, currency, status, created_at, updated_at FROM (
          SELECT 2 * i AS id, CAST(1 + (i * 7919) % 5000 AS INTEGER) AS merchant_id, (i * 104729) % 100000 AS c,
                 ['EUR','USD','GBP','CHF'][1 + i % 4] AS currency,
                 ['settled','pending','failed','refunded'][1 + (i // 3) % 4] AS status,
                 TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(i * {step}) AS created_at,
                 TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(i * {step}) + to_seconds(i % 600) AS updated_at
          FROM range(1, {rows} + 1) t(i)) s ORDER BY id""")
    ch = changes(rows)
    conn.execute("CREATE TABLE payments.transactions AS SELECT * FROM payments.transactions_clean")
    conn.executemany("DELETE FROM payments.transactions WHERE id = ?", [[2 * i] for i in ch["delete"]])
    conn.executemany("UPDATE payments.transactions SET amount = amount + 1, updated_at = updated_at + INTERVAL 1 HOUR "
                     "WHERE id = ?", [[2 * i] for i in ch["modify"]])
    conn.executemany(f"""INSERT INTO payments.transactions VALUES (?, 42, 12.34, 'EUR', 'settled',
                     TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(CAST(? AS BIGINT) * {step} + 1),
                     TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(CAST(? AS BIGINT) * {step} + 1))""",
                     [[2 * i + 1, i, i] for i in ch["add_after"]])
    conn.execute("CHECKPOINT")
    conn.close()
    return {2 * i for i in ch["delete"] + ch["modify"]} | {2 * i + 1 for i in ch["add_after"]}


# ----------------------------------------------------------------------------------------------------- contenders
def run_sentinel(mode: str, dsn: str, duck: Path, table: str) -> dict[str, Any]:
    from pydantic import SecretStr

    from checks.row_reconciliation import RowReconciliationCheck, RowReconciliationParams
    from sentinel.api import CheckContext, DictMemory
    from sentinel.clock import FakeClock
    from sentinel.config.settings import Settings
    from sentinel.sources import Sources

    clock = FakeClock(START + timedelta(days=30, hours=2))
    params = RowReconciliationParams.model_validate({
        "mode": mode, "sample_keys": 100,
        "buckets": [{"every": "1h", "last": "48h"}, {"every": "1d", "last": "31d"}],
        "pairs": [{"source": {"engine": "postgres", "table": "payments.transactions"},
                   "target": {"engine": "duckdb", "path": str(duck), "table": f"payments.{table}"},
                   "key": ["id"], "time_column": "created_at", "version_column": "updated_at"}]})
    ctx = CheckContext("bench", clock, clock.monotonic() + 600, Sources(Settings(postgres_dsn=SecretStr(dsn))),
                       DictMemory())
    result = RowReconciliationCheck(params).run(ctx)
    f = result.findings[0]
    keys: set[int] = set()
    for kind in ("missing", "extra", "duplicate", "stale"):
        keys |= {int(k) for k in f.details.get(f"{kind}_keys", "").split(", ") if k}
    return {"keys": sorted(keys), "status": f.status.value, "summary": f.summary,
            "differing_rows": sum(f.values[k] for k in ("missing_rows", "extra_rows", "duplicate_rows", "stale_rows",
                                                        "unresolved_rows")),
            "queries": f.details.get("queries", "")}


def run_reladiff(dsn: str, duck: Path, table: str) -> dict[str, Any]:
    from reladiff import connect_to_table, diff_tables  # type: ignore[import-untyped]

    extra = tuple(c for c in COLUMNS if c != "id")
    t1 = connect_to_table(dsn.split("?")[0], "payments.transactions", "id", extra_columns=extra)
    t2 = connect_to_table(f"duckdb://{duck}", f"payments.{table}", "id", extra_columns=extra)
    keys = {int(row[0]) for _sign, row in diff_tables(t1, t2)}
    return {"keys": sorted(keys)}


def run_baseline(dsn: str, duck: Path, table: str) -> dict[str, Any]:
    import duckdb
    import psycopg

    def pg() -> int:
        with psycopg.connect(dsn) as conn:
            return len(conn.execute("SELECT date_trunc('hour', created_at), count(*) FROM payments.transactions "
                                    "GROUP BY 1").fetchall())

    def dk() -> int:
        conn = duckdb.connect(str(duck), read_only=True)
        try:
            return len(conn.execute(f"SELECT date_trunc('hour', created_at), count(*) FROM payments.{table} "
                                    "GROUP BY 1").fetchall())
        finally:
            conn.close()

    with ThreadPoolExecutor(2) as pool:
        a, b = pool.submit(pg), pool.submit(dk)
        return {"groups": [a.result(), b.result()], "keys": []}


def peak_rss_mib() -> float:
    """VmHWM of this process. (ru_maxrss survives exec, so a child would report its parent's peak.)"""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(name: str, dsn: str, duck: Path, table: str) -> None:
    t0 = time.perf_counter()
    if name.startswith("sentinel_"):
        out = run_sentinel(name.removeprefix("sentinel_"), dsn, duck, table)
    elif name == "reladiff":
        out = run_reladiff(dsn, duck, table)
    else:
        out = run_baseline(dsn, duck, table)
    out["wall_seconds"] = time.perf_counter() - t0
    out["peak_rss_mib"] = peak_rss_mib()
    print("RESULT " + json.dumps(out))


def measure(name: str, dsn: str, duck: Path, table: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", name, "--dsn", dsn, "--duck", str(duck),
                           "--table", table], capture_output=True, text=True, timeout=1800, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return {"error": (proc.stderr or proc.stdout)[-2000:]}
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--child")
    ap.add_argument("--dsn")
    ap.add_argument("--duck")
    ap.add_argument("--table")
    ap.add_argument("--skip-reladiff", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="keep the data of the previous run (same --rows)")
    ap.add_argument("--only", help="comma-separated contenders to run")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of every contender (median reported)")
    args = ap.parse_args()
    if args.child:
        child(args.child, args.dsn, Path(args.duck), args.table)
        return

    from devstack.base import cache_dir
    from devstack.postgres import start_postgres

    pg = start_postgres("bench", fresh=not args.reuse)
    try:
        dsn = pg.create_database("bench")
        duck = cache_dir("bench") / "reconcile.duckdb"
        t0 = time.perf_counter()
        if args.reuse and duck.exists():
            ch = changes(args.rows)
            expected = {2 * i for i in ch["delete"] + ch["modify"]} | {2 * i + 1 for i in ch["add_after"]}
        else:
            generate_postgres(dsn, args.rows)
            expected = generate_duckdb(duck, args.rows)
        print(f"generated {args.rows:,} rows in PostgreSQL and DuckDB in {time.perf_counter() - t0:.1f}s; "
              f"{len(expected)} differing keys on the DuckDB side")
        # every contender reads as the least-privilege role Sentinel runs as in production
        dsn = pg.monitor_dsn("bench", ["payments.transactions"], schemas=["payments"])
        contenders = [("sentinel_checksum", "clean"), ("sentinel_checksum", "diff"), ("sentinel_full", "clean"),
                      ("sentinel_full", "diff"), ("sentinel_count", "diff"), ("group_by_hour", "diff")]
        if not args.skip_reladiff:
            contenders += [("reladiff", "clean"), ("reladiff", "diff")]
        if args.only:
            contenders = [c for c in contenders if c[0] in args.only.split(",")]
        results: list[dict[str, Any]] = []
        # On a shared machine one run's noise can exceed the differences measured, so every contender runs
        # `--repeat` times in interleaved rounds (all contenders once per round) and reports its median run.
        runs: dict[tuple[str, str], list[dict[str, Any]]] = {c: [] for c in contenders}
        for round_no in range(args.repeat):
            for name, case in contenders:
                table = "transactions_clean" if case == "clean" else "transactions"
                runs[(name, case)].append(measure(name, dsn, duck, table))
            print(f"round {round_no + 1}/{args.repeat} done", flush=True)
        for name, case in contenders:
            ok = sorted((x for x in runs[(name, case)] if "wall_seconds" in x), key=lambda x: x["wall_seconds"])
            r = ok[len(ok) // 2] if ok else runs[(name, case)][0]
            r["wall_seconds_all"] = [round(x["wall_seconds"], 2) for x in runs[(name, case)] if "wall_seconds" in x]
            r["peak_rss_mib_max"] = max((x["peak_rss_mib"] for x in ok), default=None)
            r["peak_rss_mib_min"] = min((x["peak_rss_mib"] for x in ok), default=None)
            want = set() if case == "clean" else expected
            exact = all(set(x.get("keys", [])) == want for x in ok) and bool(ok)  # in every run
            r |= {"contender": name, "case": case,
                  "exact_keys": None if name in ("sentinel_count", "group_by_hour") else exact}
            r["keys_found"] = len(r.pop("keys", []))
            results.append(r)
            print(f"{name:18} {case:5}  " + (f"ERROR {r['error'][-300:]}" if "error" in r else
                  f"{r['wall_seconds']:7.2f}s  {r['peak_rss_mib']:7.1f} MiB  keys {r['keys_found']:3}  "
                  f"exact {r['exact_keys']}"), flush=True)
        summary = _compare(results)
        for line in summary["lines"]:
            print(line)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({"rows": args.rows, "repeat": args.repeat,
                                       "machine": {"cpus": os.cpu_count(), "loadavg_after": os.getloadavg()},
                                       "results": results, "comparison": summary}, indent=2))
        print(f"wrote {args.out}")
    finally:
        pg.stop()


def _compare(results: list[dict[str, Any]]) -> dict[str, Any]:
    def wall(name: str, case: str) -> float | None:
        for r in results:
            if r["contender"] == name and r["case"] == case and "wall_seconds" in r:
                return float(r["wall_seconds"])
        return None

    lines = []
    out: dict[str, Any] = {}
    for case in ("clean", "diff"):
        rd = wall("reladiff", case)
        for name in ("sentinel_checksum", "sentinel_full"):
            s = wall(name, case)
            if rd and s:
                out[f"{name}_{case}_speedup_vs_reladiff"] = rd / s
                lines.append(f"{name} {case}: {rd / s:.1f}x faster than reladiff ({s:.2f}s vs {rd:.2f}s)")
    def rss(name: str, case: str, which: str) -> float | None:
        for r in results:
            if r["contender"] == name and r["case"] == case and r.get(which) is not None:
                return float(r[which])
        return None

    for case in ("clean", "diff"):
        rd_rss = rss("reladiff", case, "peak_rss_mib_min")
        for name in ("sentinel_checksum", "sentinel_full"):
            s_rss = rss(name, case, "peak_rss_mib_max")
            if rd_rss and s_rss:  # conservative: Sentinel's worst run against reladiff's best
                out[f"{name}_{case}_peak_rss_vs_reladiff"] = s_rss / rd_rss
                lines.append(f"{name} {case}: peak RSS {s_rss:.1f} MiB (highest run) vs reladiff {rd_rss:.1f} MiB "
                             f"(lowest run): {'below' if s_rss < rd_rss else 'NOT below'}")
    c, b = wall("sentinel_count", "diff"), wall("group_by_hour", "diff")
    if c and b:
        out["count_vs_group_by_hour"] = c / b
        lines.append(f"sentinel_count: {c / b:.2f}x the time of one GROUP BY date_trunc('hour') per side ({c:.2f}s vs {b:.2f}s)")
    out["lines"] = lines
    return out


if __name__ == "__main__":
    main()
