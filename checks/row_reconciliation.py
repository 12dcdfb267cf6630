"""row_reconciliation: is every row of a PostgreSQL table in its warehouse copy (Snowflake, or DuckDB), once,
and up to date?

Per table pair, both databases compute per-hour (or per-day) aggregates concurrently; Sentinel moves aggregates,
not rows. Buckets (hour for the last 48 h, day for the last 30 days by default) that differ are drilled down by key
range to the exact missing, extra, duplicated and stale keys (see sentinel.sources.reconcile). Rows newer than the in-flight
window are not compared. Closed buckets that matched are remembered (ctx.memory) and skipped until `recheck_after`,
so a run every few minutes only re-reads recent data. One finding per table pair, keyed by the pair name.

Plugin rule exception: the algorithm lives in the engine-neutral library `sentinel.sources.reconcile` (also used by the
benchmark); this module only maps params to it and results to findings.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckError,
    CheckResult,
    ConnectionName,
    Duration,
    Finding,
    Params,
    PositiveDuration,
    SourceError,
    Status,
    judge,
    measured_status,
)
from sentinel.sources.reconcile import PairReport, ReconcileMode, ReconcileOptions, Side, Tier, dialect_for, plan_buckets
from sentinel.sources.reconcile.engine import DeletedFilter, Execute, SideSpec, key_order, key_text, reconcile_pair
from sentinel.sources.reconcile.plan import BucketPlan
from sentinel.sources.reconcile.sides import duckdb_execute, postgres_execute, snowflake_execute

from ._bucket_counts import counts_key, merged_counts

MEMORY_KEY = "matched_buckets"
ENCODING = 2  # 2: length-prefixed text, declared decimal scales, hashed non-integer keys


def _check_ident(value: str) -> str:
    if not value or len(value) > 255 or "\x00" in value or value != value.strip():
        raise ValueError(f"{value!r} is not a usable identifier")
    return value


class TableParams(Params):
    engine: Literal["postgres", "snowflake", "duckdb"]
    table: str = Field(description="schema.table (Postgres, DuckDB) or database.schema.table (Snowflake)")
    connection: ConnectionName = Field("default", description="Postgres: the connection name (SENTINEL_POSTGRES_DSNS)")
    path: str | None = Field(None, description="DuckDB: the database file (opened read-only)")

    @field_validator("table")
    @classmethod
    def _table(cls, value: str) -> str:
        parts = value.split(".")
        if not 2 <= len(parts) <= 3:
            raise ValueError(f"expected schema.table or database.schema.table, got {value!r}")
        for p in parts:
            _check_ident(p)
        return value

    @model_validator(mode="after")
    def _path(self) -> TableParams:
        if self.engine == "duckdb" and not self.path:
            raise ValueError("a duckdb table needs `path` (the database file)")
        return self


class DeletedParams(Params):
    column: str = Field(description="target column marking CDC deletes, e.g. __deleted or __op")
    values: list[str] = Field(min_length=1, description="values meaning deleted, compared as text: ['true'], ['d']")


class TierParams(Params):
    every: PositiveDuration
    last: PositiveDuration


class PairParams(Params):
    name: str | None = Field(None, description="pipeline table label; default: the source table")
    source: TableParams
    target: TableParams
    key: list[str] = Field(min_length=1, description="key column(s), source names: integer, numeric, text, UUID, "
                           "date or timestamp; composite keys in any order of cardinality")
    time_column: str = Field(description="bucket time column, e.g. created_at")
    version_column: str | None = Field(None, description="e.g. updated_at: catches missed updates")
    target_deleted: DeletedParams | None = None
    column_map: dict[str, str] = Field(default_factory=dict, description="source column -> target column")
    columns: list[str] | None = Field(None, description="full mode: source columns to compare (default: all)")
    exclude_columns: list[str] = Field(default_factory=list, description="full mode: source columns to skip")
    stage: str = "snowflake_raw"
    remember_matched: bool | None = Field(None, description="this pair: remember matched closed buckets "
                                          "(default: the check's remember_matched)")
    recheck_after: PositiveDuration | None = Field(None, description="this pair: compare remembered buckets again "
                                                   "after this (default: the check's recheck_after)")
    settle_after: Duration | None = Field(None, description="this pair: late-data margin before a matched bucket "
                                          "is remembered (default: the check's settle_after)")

    @model_validator(mode="after")
    def _names(self) -> PairParams:
        for n in [*self.key, self.time_column, *([self.version_column] if self.version_column else []),
                  *self.column_map, *self.column_map.values()]:
            _check_ident(n)
        if self.source.engine != "postgres":
            raise ValueError("the source of a table pair is a PostgreSQL table")
        return self

    @property
    def label(self) -> str:
        return self.name or self.source.table

    def target_name(self, source_column: str) -> str:
        return self.column_map.get(source_column, source_column)


class RowReconciliationParams(Params):
    pairs: list[PairParams] = Field(min_length=1)
    mode: Literal["count", "checksum", "full"] = Field(
        "checksum", description="count: counts per bucket; checksum: + key and version-hash sums, drill down to keys; "
        "full: every column hashed")
    buckets: list[TierParams] = Field(default_factory=lambda: [
        TierParams(every=timedelta(hours=1), last=timedelta(hours=48)),
        TierParams(every=timedelta(days=1), last=timedelta(days=30))])
    in_flight: Duration = Field(timedelta(minutes=15), description="rows newer than this are not compared (the SLA)")
    tolerance_abs: int = Field(0, ge=0, description="differing rows per bucket tolerated")
    tolerance_pct: float = Field(0.0, ge=0, le=100, description="differing rows per bucket tolerated, % of source rows")
    numeric_scale: int = Field(6, ge=0, le=18)
    sample_keys: int = Field(10, ge=0, le=100)
    leaf_rows: int = Field(512, ge=1)
    fanout: int = Field(64, ge=2, le=1024)
    max_leaf_rows: int = Field(200_000, ge=1)
    remember_matched: bool = True
    postgres_parallel: bool = Field(True, description="let PostgreSQL share checksum scans among its parallel workers "
                                    "(max_parallel_workers_per_gather still caps them)")
    postgres_parallel_workers: int = Field(
        1, ge=0, le=32, description="parallel workers a scan may take on the watched database, beside the session's own "
        "process (never more than its max_parallel_workers_per_gather). One halves a scan of millions of rows; more "
        "take more of the database's CPU than a monitor should (on 2 cores two were slower than one)")
    duckdb_threads: int = Field(1, ge=1, le=64, description="threads a DuckDB side may use")
    duckdb_memory_mb: int = Field(16, ge=4, le=1 << 20, description="DuckDB buffer pool per thread (MiB): the "
                                  "comparison scans each table once, so caching the scanned blocks buys nothing")
    settle_after: Duration = Field(timedelta(hours=2), description="late-data margin before a matched bucket is remembered")
    recheck_after: PositiveDuration = Field(timedelta(hours=24), description="remembered buckets are compared again after this")

    @field_validator("buckets")
    @classmethod
    def _tiers(cls, value: list[TierParams]) -> list[TierParams]:
        for t in value:
            Tier(t.every, t.last)  # raises ValueError with the reason
        return value


# ------------------------------------------------------------------------------------------------- pure evaluation
def _fmt(n: float) -> str:
    return f"{int(n):,}"


def pair_finding(pair: PairParams, report: PairReport, params: RowReconciliationParams) -> Finding:
    """Status and words for one compared table pair (pure)."""
    # Per bucket: any difference warns; past the tolerance (absolute rows or a share of the bucket) is critical.
    status = Status.worst(
        judge(d.differing_rows, warn=0.0, critical=max(params.tolerance_abs, params.tolerance_pct / 100 * d.source_rows))
        for d in report.diffs)
    differing = [d for d in report.diffs if d.differing_rows > 0]
    totals = {k: report.total(k) for k in KINDS}
    where = f"{pair.source.table} -> {pair.target.engine} {pair.target.table}"
    values = {
        "source_rows": float(report.source_rows), "target_rows": float(report.target_rows),
        "missing_rows": float(totals["missing"]), "extra_rows": float(totals["extra"]),
        "duplicate_rows": float(totals["duplicate"]), "stale_rows": float(totals["stale"]),
        "moved_rows": float(totals["moved"]),
        "in_flight_rows": float(totals["in_flight"]), "unresolved_rows": float(totals["unresolved"]),
        "differing_buckets": float(len(differing)), "buckets_checked": float(report.buckets_checked),
        "buckets_skipped": float(report.buckets_skipped),
    }
    details: dict[str, str] = {"compared": where, "mode": params.mode,
                               "queries": f"source {report.queries.get('source', 0)}, target {report.queries.get('target', 0)}"
                               f", drill-down levels {report.levels}"}
    if report.sql:
        details["bucket_sql"] = report.sql
    if report.notes:
        details["scales"] = "\n".join(report.notes)
    in_flight = f"; {_fmt(totals['in_flight'])} recent updates still in flight" if totals["in_flight"] else ""
    if not differing:
        skipped = f"; {report.buckets_skipped} remembered buckets skipped" if report.buckets_skipped else ""
        summary = (f"{pair.label}: {_fmt(report.source_rows)} rows match in {report.buckets_checked} buckets "
                   f"({where}{skipped}){in_flight}")
        return Finding(pair.label, status, summary, values, _labels(pair), details)
    parts = [f"{_fmt(totals[k])} {WORDS[k]}" for k in ("missing", "extra", "duplicate", "stale", "moved") if totals[k]]
    if totals["unresolved"]:
        parts.append(f"{_fmt(totals['unresolved'])} rows of count difference"
                     + (" not drilled down" if params.mode != "count" else ""))
    worst = max(differing, key=lambda d: d.differing_rows)
    tolerance = (f"tolerance {params.tolerance_abs} rows / {params.tolerance_pct:g}% per bucket"
                 if params.tolerance_abs or params.tolerance_pct else "tolerance 0")
    summary = (f"{pair.label}: {', '.join(parts)} in {len(differing)} of {report.buckets_checked} buckets "
               f"({tolerance}); worst {worst.bucket.label}: source {_fmt(worst.source_rows)} vs target "
               f"{_fmt(worst.target_rows)}{in_flight}")
    key_name = "/".join(pair.key)
    ranges = [f"{key_text(r.first)}..{key_text(r.last)} ({_fmt(r.count)} rows)" for r in report.missing_ranges]
    in_ranges = sum(r.count for r in report.missing_ranges)
    samples = dict(report.samples)
    samples["missing"] = _outside_ranges(report)
    examples = []
    if ranges:
        examples.append(f"missing {key_name} {', '.join(ranges[:2])}")
    examples += [f"{WORDS[kind]} {key_name} {', '.join(keys[:3])}" for kind, keys in samples.items() if keys]
    moved = [f"{key_text(m.key)} ({m.source_bucket.label} -> {m.target_bucket.label})" for m in report.moved]
    if moved:
        examples.append(f"moved {key_name} {', '.join(moved[:2])}")
    if examples:
        summary += "; e.g. " + "; ".join(examples)
    details["buckets"] = "\n".join(
        f"{d.bucket.label}: source {_fmt(d.source_rows)}, target {_fmt(d.target_rows)}, missing {d.missing}, "
        f"extra {d.extra}, duplicated {d.duplicate}, stale {d.stale}" + (f", moved {d.moved}" if d.moved else "")
        + (f", not drilled {d.unresolved}" if d.unresolved else "") + (f", in flight {d.in_flight}" if d.in_flight else "")
        for d in differing[:50])
    if ranges:
        details["missing_ranges"] = ", ".join(ranges) + f" ({_fmt(in_ranges)} of {_fmt(totals['missing'])} missing)"
    for kind, keys in samples.items():
        if keys:
            details[f"{kind}_keys"] = ", ".join(keys)
    if moved:
        details["moved_keys"] = ", ".join(moved[:params.sample_keys])
    if report.truncated:
        details["note"] = "drill-down stopped at max_leaf_rows/max_levels: some differences are counted, not listed"
    return Finding(pair.label, status, summary, values, _labels(pair), details)


KINDS = ("missing", "extra", "duplicate", "stale", "moved", "in_flight", "unresolved")
WORDS = {"missing": "missing", "extra": "extra", "duplicate": "duplicated", "stale": "stale", "moved": "moved"}


def _outside_ranges(report: PairReport) -> list[str]:
    """Sample missing keys that no reported range already covers (each key's sort order computed once: a loss
    of 100,000 keys in ten ranges is not a million key_order calls)."""
    bounds = [(key_order(r.first), key_order(r.last)) for r in report.missing_ranges]
    orders = [(key_order(k), k) for k in report.found["missing"]]
    rest = [(o, k) for o, k in orders if not any(lo <= o <= hi for lo, hi in bounds)]
    if len(rest) == len(orders):
        return report.samples["missing"]
    rest.sort(key=lambda ok: ok[0])
    return [key_text(k) for _, k in rest[:len(report.samples["missing"]) or 10]]


def _labels(pair: PairParams) -> dict[str, str]:
    return {"table": pair.label, "stage": pair.stage, "target": pair.target.table}


def fingerprint(pair: PairParams, params: RowReconciliationParams) -> str:
    """What a remembered match depends on: the pair definition and the comparison settings."""
    # ENCODING: the version of the normalisation and hashing (sentinel.sources.reconcile): a match remembered
    # under another encoding proves nothing about this one
    payload = json.dumps([ENCODING, pair.model_dump(mode="json"), params.mode, params.numeric_scale], sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def remembered(memory: Any, fp: str, plan: BucketPlan, now: datetime, recheck_after: timedelta) -> list[datetime]:
    """Starts of planned buckets remembered as matched, with the same bounds, verified less than recheck_after ago."""
    if not isinstance(memory, dict) or memory.get("fp") != fp:
        return []
    matched = memory.get("matched", {})
    out = []
    for b in plan.buckets:
        at = matched.get(f"{b.start.isoformat()}|{b.end.isoformat()}")
        if b.closed and at and now - datetime.fromisoformat(at) < recheck_after:
            out.append(b.start)
    return out


def remember(memory: Any, fp: str, plan: BucketPlan, report: PairReport, now: datetime,
             settle_after: timedelta) -> dict[str, Any]:
    old = memory.get("matched", {}) if isinstance(memory, dict) and memory.get("fp") == fp else {}
    keep = {k: v for k, v in old.items() if datetime.fromisoformat(k.split("|")[0]) >= plan.start}
    for b in report.matched_buckets:
        if b.closed and b.end <= plan.cutoff - settle_after:
            keep[f"{b.start.isoformat()}|{b.end.isoformat()}"] = now.isoformat()
    return {"fp": fp, "matched": keep}


# ------------------------------------------------------------------------------------------------- the check
class RowReconciliationCheck(Check[RowReconciliationParams]):
    kind = "row_reconciliation"
    Params = RowReconciliationParams
    runbook = "row-count-mismatch"
    warm_imports = ("sentinel.sources.reconcile", "sentinel.sources.postgres")

    def describe(self) -> str:
        p = self.params
        return (f"{len(p.pairs)} table pair(s), mode {p.mode}, in-flight {p.in_flight}, "
                f"tolerance {p.tolerance_abs}/{p.tolerance_pct:g}%")

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        plan = plan_buckets(ctx.now(), [Tier(t.every, t.last) for t in p.buckets], p.in_flight)
        options = ReconcileOptions(mode=ReconcileMode(p.mode), numeric_scale=p.numeric_scale, fanout=p.fanout,
                                   leaf_rows=p.leaf_rows, max_leaf_rows=p.max_leaf_rows, sample_keys=p.sample_keys)
        memory = ctx.memory.load(MEMORY_KEY) or {}
        findings: list[Finding] = []
        for pair in p.pairs:
            fp = fingerprint(pair, p)
            keep = p.remember_matched if pair.remember_matched is None else pair.remember_matched
            recheck = pair.recheck_after or p.recheck_after
            skip = remembered(memory.get(pair.label), fp, plan, ctx.now(), recheck) if keep else []
            try:
                with ctx.doing(f"reconciling {pair.label}: {pair.source.engine} {pair.source.table} vs "
                               f"{pair.target.engine} {pair.target.table}"):
                    report = self._compare(ctx, pair, plan, options, skip)
            except CheckError as exc:  # SourceError included: this pair could not be measured, the others can
                findings.append(Finding(pair.label, Status.ERROR, f"{pair.label}: cannot reconcile: {exc}",
                                        labels=_labels(pair), details={"error": str(exc)}))
                continue
            findings.append(pair_finding(pair, report, p))
            self._keep_counts(ctx, pair, fp, plan, report)
            if keep:
                settle = p.settle_after if pair.settle_after is None else pair.settle_after
                memory[pair.label] = remember(memory.get(pair.label), fp, plan, report, ctx.now(), settle)
            else:
                memory.pop(pair.label, None)
        if memory or p.remember_matched:
            ctx.memory.save(MEMORY_KEY, memory)
        status = measured_status(findings)  # a pair that could not be reconciled does not blind the others
        bad = [f for f in findings if f.status is not Status.OK]
        if len(findings) == 1:
            summary = findings[0].summary
        elif bad:
            summary = f"{len(bad)} of {len(findings)} table pairs differ: " + "; ".join(f.summary for f in bad[:3])
        else:
            summary = f"all {len(findings)} table pairs match (" + ", ".join(f.key for f in findings) + ")"
        values = {k: sum(f.values.get(k, 0.0) for f in findings) for k in
                  ("missing_rows", "extra_rows", "duplicate_rows", "stale_rows", "differing_buckets")}
        return ctx.result(self.kind, status, summary, values=values, findings=findings,
                          details={"window": f"{plan.start.isoformat()} .. {plan.cutoff.isoformat()} (in-flight cutoff)"})

    @staticmethod
    def _keep_counts(ctx: CheckContext, pair: PairParams, fp: str, plan: BucketPlan, report: PairReport) -> None:
        """Rows per bucket for volume_anomaly (checks/_bucket_counts.py), so it need not count the table again."""
        key = counts_key(pair.label)
        counted = [(b.start, b.end, rows.source, rows.target) for b, rows in report.bucket_rows.items()]
        ctx.memory.save(key, merged_counts(ctx.memory.load(key), fp, counted, counted_to=plan.cutoff,
                                           keep_from=plan.start, source=(pair.source.table, pair.time_column),
                                           target=(pair.target.table, pair.target_name(pair.time_column))))

    def _compare(self, ctx: CheckContext, pair: PairParams, plan: BucketPlan, options: ReconcileOptions,
                 skip: list[datetime]) -> PairReport:
        src_cols = list(pair.columns or [])
        src_spec = SideSpec("source", tuple(pair.source.table.split(".")), tuple(pair.key), pair.time_column,
                            pair.version_column, None, tuple(src_cols))
        deleted = (DeletedFilter(pair.target_deleted.column, tuple(pair.target_deleted.values))
                   if pair.target_deleted else None)
        t = pair.target_name
        tgt_spec = SideSpec("target", tuple(pair.target.table.split(".")), tuple(t(k) for k in pair.key),
                            t(pair.time_column), t(pair.version_column) if pair.version_column else None, deleted,
                            tuple(t(c) for c in src_cols))
        with self._open_both(ctx, pair, options) as (src_exec, tgt_exec):
            source = Side(src_spec, dialect_for(pair.source.engine), src_exec, self._where(pair.source))
            target = Side(tgt_spec, dialect_for(pair.target.engine), tgt_exec, self._where(pair.target))
            return reconcile_pair(source, target, plan, options, skip, column_map=pair.column_map,
                                  exclude=tuple(pair.exclude_columns))

    @staticmethod
    def _where(table: TableParams) -> str:
        if table.engine == "postgres":
            return f"postgres connection {table.connection!r}"
        return f"duckdb {table.path}" if table.engine == "duckdb" else "snowflake"

    @contextlib.contextmanager
    def _open_both(self, ctx: CheckContext, pair: PairParams,
                   options: ReconcileOptions) -> Iterator[tuple[Execute, Execute]]:
        """Both sides' sessions, opened at the same time: a Snowflake login or a remote connection need not wait
        for the other side's (nor for DuckDB's import and file open). If one cannot open, the other is closed."""
        cms = [self._open(ctx, pair.source, options), self._open(ctx, pair.target, options)]
        with contextlib.ExitStack() as stack:
            with ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile-open") as pool:
                futures = [pool.submit(cm.__enter__) for cm in cms]
            opened: list[Execute] = []
            failure: BaseException | None = None
            for cm, future in zip(cms, futures, strict=True):
                exc = future.exception()
                if exc is None:
                    opened.append(future.result())
                    stack.push(cm.__exit__)
                elif failure is None:
                    failure = exc
            if failure is not None:
                raise failure
            yield opened[0], opened[1]

    @contextlib.contextmanager
    def _open(self, ctx: CheckContext, table: TableParams, options: ReconcileOptions) -> Iterator[Execute]:
        if table.engine == "postgres":
            parallel = self.params.postgres_parallel and options.mode is not ReconcileMode.COUNT
            with postgres_execute(ctx.sources.postgres(table.connection), ctx.remaining, parallel=parallel,
                                  workers=self.params.postgres_parallel_workers) as ex:
                yield ex
        elif table.engine == "duckdb":
            assert table.path is not None
            p = self.params
            with duckdb_execute(ctx.sources.duckdb(table.path), ctx.remaining, threads=p.duckdb_threads,
                                memory_mb=p.duckdb_memory_mb * p.duckdb_threads) as ex:
                yield ex
        else:
            source = ctx.sources.snowflake(timeout=ctx.remaining_seconds())
            try:
                with snowflake_execute(source, ctx.remaining) as ex:
                    yield ex
            finally:
                source.close()


__all__ = ["RowReconciliationCheck", "RowReconciliationParams", "SourceError"]
