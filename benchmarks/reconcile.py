"""Row reconciliation benchmark: Sentinel vs reladiff 0.6.0 vs one GROUP BY date_trunc('hour') per side.

    .venv/bin/python benchmarks/reconcile.py [--rows 5000000] [--scale 1000000,20000000]

1. Starts a throwaway PostgreSQL (devstack.postgres.start_postgres("bench")) and generates payments.transactions
   (id, merchant_id, amount numeric(12,2), currency, status, created_at, updated_at): N rows over 30 days, server-side
   with generate_series, and payments.transactions_uuid, the same rows keyed by a UUID (md5 of the integer id).
   The same rows are generated in a DuckDB file with the same formulas: `transactions_clean` (identical),
   `transactions` (40 rows deleted, 40 modified (amount changed and updated_at bumped, as a real update does) and
   20 added, seeded, spread over the whole range), `transactions_clustered` (a lost block of 5,000 consecutive rows,
   about 43 minutes, and 100 consecutive rows of one hour modified) and the UUID-keyed `transactions_uuid_clean` /
   `transactions_uuid` (the same 100 changes).
2. Runs each contender in its own subprocess (so peak RSS is its own), one after another, in `--repeat` interleaved
   rounds (median reported; the machine may be shared): Sentinel recommended (checksum: key + version column),
   Sentinel full-column, Sentinel count-only, reladiff (hashdiff, defaults, every column), the baseline of one
   GROUP BY date_trunc('hour') per side run concurrently, and Sentinel's steady state (a second run five minutes
   after a full pass, remembered buckets skipped: what a check every few minutes costs).
3. Prints wall time, peak RSS (compared with reladiff's: Sentinel's highest run against reladiff's lowest) and
   whether exactly the differing keys were found in every run (loss ranges expanded against the source);
   with --scale, the checksum and full modes again at each of those sizes (fresh data per size, no reladiff) to
   show how time and memory grow; writes benchmarks/results/reconcile.json with the machine's load.
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


UUID_OF = {"postgres": "md5(({i})::text)::uuid", "duckdb": "CAST(md5(CAST({i} AS VARCHAR)) AS UUID)"}


def generate_postgres(dsn: str, rows: int) -> None:
    import psycopg

    step = _step_us(rows)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("CREATE SCHEMA IF NOT EXISTS payments")
        for table, key_type, key in (("transactions", "bigint", "2 * i"),
                                     ("transactions_uuid", "uuid", UUID_OF["postgres"].format(i="2 * i"))):
            conn.execute(f"DROP TABLE IF EXISTS payments.{table}")
            conn.execute(f"CREATE TABLE payments.{table} (id {key_type} PRIMARY KEY, merchant_id integer NOT NULL, "
                         "amount numeric(12,2) NOT NULL, currency text NOT NULL, status text NOT NULL, "
                         "created_at timestamptz NOT NULL, updated_at timestamptz NOT NULL)")
            conn.execute(f"""
                INSERT INTO payments.{table}
                SELECT {key}, 1 + (i * 7919) % 5000, (((i * 104729) % 100000) / 100.0)::numeric(12,2),
                       (ARRAY['EUR','USD','GBP','CHF'])[1 + i % 4],
                       (ARRAY['settled','pending','failed','refunded'])[1 + (i / 3) % 4],
                       timestamptz '{START.isoformat()}' + (i * {step}) * interval '1 microsecond',
                       timestamptz '{START.isoformat()}' + (i * {step}) * interval '1 microsecond'
                         + (i % 600) * interval '1 second'
                FROM generate_series(1::bigint, {rows}) AS i""")
            conn.execute(f"CREATE INDEX ON payments.{table} (created_at)")
            conn.execute(f"VACUUM ANALYZE payments.{table}")


def changes(rows: int, seed: int = 20261125) -> dict[str, list[int]]:
    """Which generator indexes i are deleted / modified on the DuckDB side, and after which i a row is added."""
    rnd = random.Random(seed)
    picked = rnd.sample(range(1, rows + 1), 100)
    return {"delete": sorted(picked[:40]), "modify": sorted(picked[40:80]), "add_after": sorted(picked[80:])}


def clustered(rows: int) -> dict[str, range]:
    """A lost block of 5,000 consecutive rows and 100 consecutive modified rows two thirds in."""
    lost = rows // 3
    return {"delete": range(lost, lost + 5000), "modify": range(2 * rows // 3, 2 * rows // 3 + 100)}


def expected_keys(rows: int) -> dict[str, set[str]]:
    """The differing keys of each case, as the check prints them."""
    ch, cl = changes(rows), clustered(rows)
    diff = {2 * i for i in ch["delete"] + ch["modify"]} | {2 * i + 1 for i in ch["add_after"]}
    return {"clean": set(), "diff": {str(k) for k in diff},
            "clustered": {str(2 * i) for i in [*cl["delete"], *cl["modify"]]},
            "uuid_clean": set(), "uuid_diff": {_uuid(k) for k in diff}}


def _uuid(n: int) -> str:
    import hashlib
    import uuid

    return str(uuid.UUID(hashlib.md5(str(n).encode()).hexdigest()))


def generate_duckdb(path: Path, rows: int) -> None:
    """The DuckDB tables of every case (see the module doc)."""
    import duckdb

    step = _step_us(rows)
    path.unlink(missing_ok=True)
    conn = duckdb.connect(str(path))
    conn.execute("SET TimeZone = 'UTC'")
    conn.execute("CREATE SCHEMA payments")
    amount = "CAST(CAST(c // 100 AS VARCHAR) || '.' || lpad(CAST(c % 100 AS VARCHAR), 2, '0') AS DECIMAL(12,2))"
    for table, key in (("transactions_clean", "2 * i"), ("transactions_uuid_clean", UUID_OF["duckdb"].format(i="2 * i"))):
        conn.execute(f"""
            CREATE TABLE payments.{table} AS
            SELECT id, merchant_id, {amount} AS amount, currency, status, created_at, updated_at FROM (
              SELECT {key} AS id, CAST(1 + (i * 7919) % 5000 AS INTEGER) AS merchant_id, (i * 104729) % 100000 AS c,
                     ['EUR','USD','GBP','CHF'][1 + i % 4] AS currency,
                     ['settled','pending','failed','refunded'][1 + (i // 3) % 4] AS status,
                     TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(i * {step}) AS created_at,
                     TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(i * {step}) + to_seconds(i % 600) AS updated_at
              FROM range(1, {rows} + 1) t(i)) s ORDER BY created_at""")
    ch = changes(rows)
    for table, key in (("transactions", "{i}"), ("transactions_uuid", UUID_OF["duckdb"])):
        conn.execute(f"CREATE TABLE payments.{table} AS SELECT * FROM payments.{table}_clean")
        k = key.format(i="CAST(? AS BIGINT)")
        conn.executemany(f"DELETE FROM payments.{table} WHERE id = {k}", [[2 * i] for i in ch["delete"]])
        conn.executemany(f"UPDATE payments.{table} SET amount = amount + 1, updated_at = updated_at + INTERVAL 1 HOUR "
                         f"WHERE id = {k}", [[2 * i] for i in ch["modify"]])
        conn.executemany(f"""INSERT INTO payments.{table} VALUES ({k}, 42, 12.34, 'EUR', 'settled',
                         TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(CAST(? AS BIGINT) * {step} + 1),
                         TIMESTAMPTZ '{START.isoformat()}' + to_microseconds(CAST(? AS BIGINT) * {step} + 1))""",
                         [[2 * i + 1, i, i] for i in ch["add_after"]])
    cl = clustered(rows)
    conn.execute("CREATE TABLE payments.transactions_clustered AS SELECT * FROM payments.transactions_clean")
    conn.execute("DELETE FROM payments.transactions_clustered WHERE id >= ? AND id < ?",
                 [2 * cl["delete"].start, 2 * cl["delete"].stop])
    conn.execute("UPDATE payments.transactions_clustered SET amount = amount + 1, updated_at = updated_at + "
                 "INTERVAL 1 HOUR WHERE id >= ? AND id < ?", [2 * cl["modify"].start, 2 * cl["modify"].stop])
    conn.execute("CHECKPOINT")
    conn.close()


CASES = {  # case: (source table, DuckDB table)
    "clean": ("transactions", "transactions_clean"), "diff": ("transactions", "transactions"),
    "clustered": ("transactions", "transactions_clustered"),
    "uuid_clean": ("transactions_uuid", "transactions_uuid_clean"), "uuid_diff": ("transactions_uuid", "transactions_uuid"),
}


# ----------------------------------------------------------------------------------------------------- contenders
def run_sentinel(mode: str, dsn: str, duck: Path, case: str) -> dict[str, Any]:
    """One check run; mode "steady": a full pass, then the run five minutes later (its time is the result)."""
    from pydantic import SecretStr
    from sentinel_checks.row_reconciliation import RowReconciliationCheck, RowReconciliationParams

    from sentinel.api import CheckContext, DictMemory
    from sentinel.clock import FakeClock
    from sentinel.config.settings import Settings
    from sentinel.sources import Sources

    source, target = CASES[case]
    clock = FakeClock(START + timedelta(days=30, hours=2))
    params = RowReconciliationParams.model_validate({
        "mode": "checksum" if mode == "steady" else mode, "sample_keys": 100,
        "buckets": [{"every": "1h", "last": "48h"}, {"every": "1d", "last": "31d"}],
        "pairs": [{"source": {"engine": "postgres", "table": f"payments.{source}"},
                   "target": {"engine": "duckdb", "path": str(duck), "table": f"payments.{target}"},
                   "key": ["id"], "time_column": "created_at", "version_column": "updated_at"}]})
    memory = DictMemory()
    sources = Sources(Settings(postgres_dsn=SecretStr(dsn)))
    out: dict[str, Any] = {}
    if mode == "steady":
        t0 = time.perf_counter()
        RowReconciliationCheck(params).run(CheckContext("bench", clock, clock.monotonic() + 600, sources, memory))
        out["full_pass_seconds"] = time.perf_counter() - t0
        clock.advance(timedelta(minutes=5))
    t0 = time.perf_counter()
    result = RowReconciliationCheck(params).run(CheckContext("bench", clock, clock.monotonic() + 600, sources, memory))
    out["check_seconds"] = time.perf_counter() - t0
    f = result.findings[0]
    keys: set[str] = set()
    for kind in ("missing", "extra", "duplicate", "stale"):
        keys |= {k for k in f.details.get(f"{kind}_keys", "").split(", ") if k}
    ranges = [r.split(" (")[0].split("..") for r in f.details.get("missing_ranges", "").split(", ") if ".." in r]
    return out | {"keys": sorted(keys), "ranges": ranges, "source": source, "status": f.status.value,
                  "summary": f.summary, "values": {k: v for k, v in f.values.items() if v},
                  "differing_rows": sum(f.values[k] for k in ("missing_rows", "extra_rows", "duplicate_rows",
                                                              "stale_rows", "moved_rows", "unresolved_rows")),
                  "queries": f.details.get("queries", "")}


def expand_ranges(dsn: str, out: dict[str, Any]) -> None:
    """The keys of reported loss ranges (first..last), read from the source after the timed part."""
    import psycopg

    with psycopg.connect(dsn) as conn:
        for first, last in out.pop("ranges", []):
            rows = conn.execute(f"SELECT id::text FROM payments.{out['source']} WHERE id BETWEEN %s AND %s",
                                (first, last)).fetchall()
            out["keys"] = sorted(set(out["keys"]) | {r[0] for r in rows})


def run_reladiff(dsn: str, duck: Path, case: str) -> dict[str, Any]:
    from reladiff import connect_to_table, diff_tables  # type: ignore[import-untyped]

    source, target = CASES[case]
    extra = tuple(c for c in COLUMNS if c != "id")
    t1 = connect_to_table(dsn.split("?")[0], f"payments.{source}", "id", extra_columns=extra)
    t2 = connect_to_table(f"duckdb://{duck}", f"payments.{target}", "id", extra_columns=extra)
    keys = {str(row[0]) for _sign, row in diff_tables(t1, t2)}
    return {"keys": sorted(keys)}


def run_baseline(dsn: str, duck: Path, case: str) -> dict[str, Any]:
    table = CASES[case][1]
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


def child(name: str, dsn: str, duck: Path, case: str) -> None:
    t0 = time.perf_counter()
    if name.startswith("sentinel_"):
        out = run_sentinel(name.removeprefix("sentinel_"), dsn, duck, case)
    elif name == "reladiff":
        out = run_reladiff(dsn, duck, case)
    else:
        out = run_baseline(dsn, duck, case)
    out["wall_seconds"] = time.perf_counter() - t0
    if name == "sentinel_steady":  # the run five minutes after the full pass, not both
        out["wall_seconds"] = out["check_seconds"]
    out["peak_rss_mib"] = peak_rss_mib()
    if "ranges" in out:
        expand_ranges(dsn, out)
    print("RESULT " + json.dumps(out))


def measure(name: str, dsn: str, duck: Path, case: str) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, __file__, "--child", name, "--dsn", dsn, "--duck", str(duck),
                           "--case", case], capture_output=True, text=True, timeout=1800, check=False,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    line = next((x for x in proc.stdout.splitlines() if x.startswith("RESULT ")), None)
    if proc.returncode != 0 or line is None:
        return {"error": (proc.stderr or proc.stdout)[-2000:]}
    result: dict[str, Any] = json.loads(line.removeprefix("RESULT "))
    return result


CONTENDERS = [("sentinel_checksum", "clean"), ("sentinel_checksum", "diff"), ("sentinel_checksum", "clustered"),
              ("sentinel_checksum", "uuid_clean"), ("sentinel_checksum", "uuid_diff"), ("sentinel_full", "clean"),
              ("sentinel_full", "diff"), ("sentinel_count", "diff"), ("group_by_hour", "diff"),
              ("sentinel_steady", "clean"), ("reladiff", "clean"), ("reladiff", "diff"), ("reladiff", "clustered")]
SCALE_CONTENDERS = [("sentinel_checksum", "clean"), ("sentinel_checksum", "diff"), ("sentinel_full", "clean")]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=5_000_000)
    ap.add_argument("--child")
    ap.add_argument("--dsn")
    ap.add_argument("--duck")
    ap.add_argument("--case")
    ap.add_argument("--skip-reladiff", action="store_true")
    ap.add_argument("--reuse", action="store_true", help="keep the data of the previous run (same --rows)")
    ap.add_argument("--only", help="comma-separated contenders to run")
    ap.add_argument("--cases", help="comma-separated cases to run (clean, diff, clustered, uuid_clean, uuid_diff)")
    ap.add_argument("--out", type=Path, default=RESULTS, help="where to write the JSON results")
    ap.add_argument("--repeat", type=int, default=3, help="interleaved runs of every contender (median reported)")
    ap.add_argument("--scale", default="", help="comma-separated row counts for the growth series, e.g. 20000000")
    ap.add_argument("--scale-repeat", type=int, default=2)
    args = ap.parse_args()
    if args.child:
        child(args.child, args.dsn, Path(args.duck), args.case)
        return

    from devstack.postgres import start_postgres

    pg = start_postgres("bench", fresh=not args.reuse)
    try:
        contenders = [c for c in CONTENDERS if not (args.skip_reladiff and c[0] == "reladiff")]
        if args.only:
            contenders = [c for c in contenders if c[0] in args.only.split(",")]
        if args.cases:
            contenders = [c for c in contenders if c[1] in args.cases.split(",")]
        load_before = os.getloadavg()
        results = run_series(pg, args.rows, contenders, args.repeat, args.reuse, "bench")
        summary = _compare(results)
        scale = []
        for rows in [int(x) for x in args.scale.split(",") if x]:
            scale += run_series(pg, rows, SCALE_CONTENDERS, args.scale_repeat, args.reuse, f"bench_{rows}")
        summary["lines"] += _growth(results, scale, args.rows)
        for line in summary["lines"]:
            print(line)
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({
            "rows": args.rows, "repeat": args.repeat,
            "machine": {"cpus": os.cpu_count(), "loadavg_before": load_before, "loadavg_after": os.getloadavg(),
                        "note": "shared by other jobs during the run: compare contenders within this run only"},
            "results": results, "comparison": summary, "scale": scale}, indent=2))
        print(f"wrote {args.out}")
    finally:
        pg.stop()


def run_series(pg: Any, rows: int, contenders: list[tuple[str, str]], repeat: int, reuse: bool,
               name: str) -> list[dict[str, Any]]:
    from devstack.base import cache_dir

    dsn = pg.create_database(name)
    duck = cache_dir("bench") / f"{name}.duckdb"
    t0 = time.perf_counter()
    if not (reuse and duck.exists()):
        generate_postgres(dsn, rows)
        generate_duckdb(duck, rows)
    expected = expected_keys(rows)
    print(f"{rows:,} rows in PostgreSQL and DuckDB ready in {time.perf_counter() - t0:.1f}s", flush=True)
    # every contender reads as the least-privilege role Sentinel runs as in production
    dsn = pg.monitor_dsn(name, ["payments.transactions", "payments.transactions_uuid"], schemas=["payments"])
    # On a shared machine one run's noise can exceed the differences measured, so every contender runs `repeat`
    # times in interleaved rounds (all contenders once per round) and reports its median run.
    runs: dict[tuple[str, str], list[dict[str, Any]]] = {c: [] for c in contenders}
    for round_no in range(repeat):
        for name_, case in contenders:
            r = measure(name_, dsn, duck, case)
            r["loadavg"] = os.getloadavg()[0]
            runs[(name_, case)].append(r)
        print(f"{rows:,} rows: round {round_no + 1}/{repeat} done (load {os.getloadavg()[0]:.1f})", flush=True)
    results = []
    for name_, case in contenders:
        ok = sorted((x for x in runs[(name_, case)] if "wall_seconds" in x), key=lambda x: x["wall_seconds"])
        r = ok[len(ok) // 2] if ok else runs[(name_, case)][0]
        r["wall_seconds_all"] = [round(x["wall_seconds"], 2) for x in runs[(name_, case)] if "wall_seconds" in x]
        r["loadavg_all"] = [round(x["loadavg"], 1) for x in runs[(name_, case)]]
        r["peak_rss_mib_max"] = max((x["peak_rss_mib"] for x in ok), default=None)
        r["peak_rss_mib_min"] = min((x["peak_rss_mib"] for x in ok), default=None)
        if name_ == "sentinel_steady":
            r["full_pass_seconds_all"] = [round(x["full_pass_seconds"], 2) for x in ok]
        exact = all(set(x.get("keys", [])) == expected[case] for x in ok) and bool(ok)  # in every run
        r |= {"contender": name_, "case": case, "rows": rows,
              "exact_keys": None if name_ in ("sentinel_count", "group_by_hour") else exact}
        r["keys_found"] = len(r.pop("keys", []))
        results.append(r)
        print(f"{rows:>10,} {name_:18} {case:10}  " + (f"ERROR {r['error'][-300:]}" if "error" in r else
              f"{r['wall_seconds']:7.2f}s  {r['peak_rss_mib']:7.1f} MiB  keys {r['keys_found']:5}  "
              f"exact {r['exact_keys']}"), flush=True)
    return results


def _growth(results: list[dict[str, Any]], scale: list[dict[str, Any]], rows: int) -> list[str]:
    """Time and peak RSS per size, and a linear extrapolation of time to NovaPay's 50M rows a day."""
    lines = []
    points = sorted(((r["rows"], r) for r in [*results, *scale] if "wall_seconds" in r
                     and (r["contender"], r["case"]) in SCALE_CONTENDERS), key=lambda p: p[0])
    for name, case in SCALE_CONTENDERS:
        series = [(n, r) for n, r in points if (r["contender"], r["case"]) == (name, case)]
        if len(series) < 2:
            continue
        text = ", ".join(f"{n / 1e6:g}M {r['wall_seconds']:.1f}s {r['peak_rss_mib_max']:.0f} MiB" for n, r in series)
        (n0, r0), (n1, r1) = series[-2], series[-1]  # the two largest: fixed costs matter least there
        per_m = (r1["wall_seconds"] - r0["wall_seconds"]) / ((n1 - n0) / 1e6)
        at50 = r1["wall_seconds"] + per_m * (50e6 - n1) / 1e6
        lines.append(f"{name} {case}: {text}; {per_m:.2f}s per extra million rows, about {at50:.0f}s at 50M "
                     "(linear extrapolation)")
    return lines


def _pick(results: list[dict[str, Any]], name: str, case: str, field: str = "wall_seconds") -> float | None:
    """One figure of a contender's median run, None when it has none (an error, or not run)."""
    for r in results:
        if r["contender"] == name and r["case"] == case and r.get(field) is not None:
            return float(r[field])
    return None


def _speedups(results: list[dict[str, Any]], out: dict[str, Any]) -> list[str]:
    lines = []
    for case in ("clean", "diff", "clustered"):
        rd = _pick(results, "reladiff", case)
        for name in ("sentinel_checksum", "sentinel_full"):
            s = _pick(results, name, case)
            if rd and s:
                out[f"{name}_{case}_speedup_vs_reladiff"] = rd / s
                lines.append(f"{name} {case}: {rd / s:.1f}x faster than reladiff ({s:.2f}s vs {rd:.2f}s)")
    return lines


def _memory(results: list[dict[str, Any]], out: dict[str, Any]) -> list[str]:
    lines = []
    for case in ("clean", "diff"):
        rd_rss = _pick(results, "reladiff", case, "peak_rss_mib_min")
        for name in ("sentinel_checksum", "sentinel_full"):
            s_rss = _pick(results, name, case, "peak_rss_mib_max")
            if rd_rss and s_rss:  # conservative: Sentinel's worst run against reladiff's best
                out[f"{name}_{case}_peak_rss_vs_reladiff"] = s_rss / rd_rss
                lines.append(f"{name} {case}: peak RSS {s_rss:.1f} MiB (highest run) vs reladiff {rd_rss:.1f} MiB "
                             f"(lowest run): {'below' if s_rss < rd_rss else 'NOT below'}")
    return lines


def _key_types(results: list[dict[str, Any]], out: dict[str, Any]) -> list[str]:
    lines = []
    for case in ("clean", "diff"):
        u, i = _pick(results, "sentinel_checksum", f"uuid_{case}"), _pick(results, "sentinel_checksum", case)
        if u and i:
            out[f"uuid_vs_integer_key_{case}"] = u / i
            lines.append(f"sentinel_checksum {case}: UUID key {u / i:.2f}x the time of the integer key "
                         f"({u:.2f}s vs {i:.2f}s)")
    return lines


def _steady_and_count(results: list[dict[str, Any]], out: dict[str, Any]) -> list[str]:
    lines = []
    steady = next((r for r in results if r["contender"] == "sentinel_steady" and "check_seconds" in r), None)
    if steady:
        full = sorted(steady["full_pass_seconds_all"])[len(steady["full_pass_seconds_all"]) // 2]
        ratio = steady["check_seconds"] / full
        out["steady_state_vs_full_pass"] = ratio
        lines.append(f"steady state (remembered buckets skipped, the last hours re-read): {steady['check_seconds']:.2f}s"
                     f", {ratio:.1%} of a full pass ({full:.2f}s)")
    c, b = _pick(results, "sentinel_count", "diff"), _pick(results, "group_by_hour", "diff")
    if c and b:
        out["count_vs_group_by_hour"] = c / b
        lines.append(f"sentinel_count: {c / b:.2f}x the time of one GROUP BY date_trunc('hour') per side ({c:.2f}s vs {b:.2f}s)")
    return lines


def _compare(results: list[dict[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    lines = [*_speedups(results, out), *_memory(results, out), *_key_types(results, out),
             *_steady_and_count(results, out)]
    out["lines"] = lines
    return out


if __name__ == "__main__":
    main()
