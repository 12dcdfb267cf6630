"""The reconciliation algorithm, independent of any engine: it only builds SQL through a Dialect and runs it
through a Side's `execute`.

1. Introspect both tables (one information_schema query per side): a missing table or column is a clear error.
2. Cells: one GROUP BY date_trunc(hour|day) per side, both sides concurrently, over the planned window minus the
   remembered buckets and minus the in-flight rows: count, and (checksum/full modes) sum(key), min/max(key),
   sum(hash). Cells roll up into the report buckets.
3. Drill-down (checksum/full modes) from each differing cell: split its key range into `fanout` sub-ranges,
   compare the same aggregates per sub-range (one UNION ALL query per side and level for all segments), recurse into
   the sub-ranges that differ, and fetch keys (+ hash, version) only once a segment holds <= `leaf_rows` rows.
4. Classify the leaf rows: missing in target, extra in target, duplicate in target, stale (hash differs), and
   stale-but-in-flight (the source version is newer than the cutoff: CDC is merely behind).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from sentinel.sources.reconcile.dialects import ColumnKind
from sentinel.sources.reconcile.model import (
    Agg,
    BucketDiff,
    DeletedFilter,
    Execute,
    PairReport,
    PairSpec,
    ReconcileMode,
    ReconcileOptions,
    Segment,
    Side,
    SideSpec,
)
from sentinel.sources.reconcile.plan import EPOCH, BucketPlan
from sentinel.sources.reconcile.queries import (
    as_int,
    cell_aggregates,
    cells,
    needed,
    prepare,
    resolve,
    row_fingerprints,
    segment_sql,
    table_columns,
)

__all__ = [
    "Agg",
    "BucketDiff",
    "DeletedFilter",
    "Execute",
    "PairReport",
    "PairSpec",
    "ReconcileMode",
    "ReconcileOptions",
    "Side",
    "SideSpec",
    "cell_aggregates",
    "prepare",
    "reconcile_pair",
    "row_fingerprints",
]

T = TypeVar("T")
SEGMENTS_PER_QUERY = {"postgres": 200, "snowflake": 200, "duckdb": 10}


def _both(pool: ThreadPoolExecutor, a: Callable[[], T], b: Callable[[], T]) -> tuple[T, T]:
    fa, fb = pool.submit(a), pool.submit(b)
    return fa.result(), fb.result()


def _agree_scales(source: Side, target: Side, options: ReconcileOptions) -> None:
    """Decimals are compared at the source column's declared scale (numeric(12,2) -> 2 digits, whatever the
    target's NUMBER(38,4)), capped at numeric_scale; undeclared scales and floats use numeric_scale."""
    pairs = list(zip(source.spec.columns, target.spec.columns, strict=True))
    if source.spec.version_column and target.spec.version_column:
        pairs.append((source.spec.version_column, target.spec.version_column))
    for s_name, t_name in pairs:
        col = source.columns[s_name]
        if col.kind is ColumnKind.DECIMAL and col.scale is not None:
            scale = min(col.scale, options.numeric_scale)
            source.scales[s_name.lower()] = scale
            target.scales[t_name.lower()] = scale


def _key_text(values: Sequence[Any]) -> str:
    return str(values[0]) if len(values) == 1 else "(" + ", ".join(str(v) for v in values) + ")"


def reconcile_pair(source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions,
                   skip: Sequence[datetime] = (), *, column_map: Mapping[str, str] | None = None,
                   exclude: Sequence[str] = ()) -> PairReport:
    """Compare one table pair over the plan; `skip` = starts of buckets remembered as matched.

    In full mode with no explicit column list, every source column except `exclude` is compared with the target
    column of the same name (or its `column_map` name); target-only columns (CDC metadata) are ignored.
    """
    report = PairReport()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile") as pool:
        src_all, tgt_all = _both(pool, lambda: table_columns(source), lambda: table_columns(target))
        if options.mode is ReconcileMode.FULL and not source.spec.columns:
            names = [c.name for c in src_all.values() if c.name not in exclude]
            mapping = column_map or {}
            source.spec = replace(source.spec, columns=tuple(names))
            target.spec = replace(target.spec, columns=tuple(mapping.get(n, n) for n in names))
        resolve(source, src_all, needed(source.spec))
        resolve(target, tgt_all, needed(target.spec))
        _agree_scales(source, target, options)
        skipped = set(skip)
        ranges = plan.ranges(skipped)
        report.buckets_skipped = sum(1 for b in plan.buckets if b.start in skipped)
        report.buckets_checked = len(plan.buckets) - report.buckets_skipped
        if ranges:
            (src_cells, sql), (tgt_cells, _) = _both(pool, lambda: cells(source, plan, ranges, options),
                                                     lambda: cells(target, plan, ranges, options))
            report.sql = sql
            _compare(report, source, target, plan, options, src_cells, tgt_cells, pool, skipped)
    report.queries = {"source": source.queries, "target": target.queries}
    return report


def _compare(report: PairReport, source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions,
             src_cells: dict[datetime, Agg], tgt_cells: dict[datetime, Agg], pool: ThreadPoolExecutor,
             skipped: set[datetime]) -> None:
    per_bucket: dict[int, BucketDiff] = {}
    differing: list[Segment] = []
    for cell in sorted(set(src_cells) | set(tgt_cells)):
        idx = plan.bucket_index(cell)
        if idx is None:
            continue
        s, t = src_cells.get(cell, Agg()), tgt_cells.get(cell, Agg())
        diff = per_bucket.setdefault(idx, BucketDiff(plan.buckets[idx], 0, 0))
        diff.source_rows += s.count
        diff.target_rows += t.count
        if not s.same(t):
            diff.cells_differing += 1
            if options.mode is ReconcileMode.COUNT:
                diff.unresolved += abs(s.count - t.count)
            else:
                lo = min(k for k in (s.min_key, t.min_key) if k is not None)
                hi = max(k for k in (s.max_key, t.max_key) if k is not None)
                differing.append(Segment(cell, lo, hi, s, t))
    report.source_rows = sum(d.source_rows for d in per_bucket.values())
    report.target_rows = sum(d.target_rows for d in per_bucket.values())
    if differing:
        _drill(report, source, target, plan, options, differing, per_bucket, pool)
    for idx, b in enumerate(plan.buckets):
        if b.start in skipped:
            continue
        d = per_bucket.get(idx)
        if d is None or d.cells_differing == 0:
            report.matched_buckets.append(b)
        else:
            report.diffs.append(d)


def _drill(report: PairReport, source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions,
           segments: list[Segment], per_bucket: dict[int, BucketDiff], pool: ThreadPoolExecutor) -> None:
    fetched = 0
    level = 0
    while segments:
        level += 1
        leaves = [s for s in segments if max(s.src.count, s.tgt.count) <= options.leaf_rows or s.hi - s.lo < options.fanout]
        inner = [s for s in segments if not (max(s.src.count, s.tgt.count) <= options.leaf_rows or s.hi - s.lo < options.fanout)]
        budget_left = options.max_leaf_rows - fetched
        take: list[Segment] = []
        for s in leaves:
            size = s.src.count + s.tgt.count
            if size > budget_left:
                _unresolved(per_bucket, plan, s)
                report.truncated = True
                continue
            budget_left -= size
            take.append(s)
        if take:
            fetched += sum(s.src.count + s.tgt.count for s in take)
            _classify_leaves(report, source, target, plan, options, take, per_bucket, pool)
        if level > options.max_levels:
            for s in inner:
                _unresolved(per_bucket, plan, s)
            report.truncated = report.truncated or bool(inner)
            break
        segments = _split(source, target, plan, options, inner, pool) if inner else []
    report.levels = level


def _unresolved(per_bucket: dict[int, BucketDiff], plan: BucketPlan, seg: Segment) -> None:
    idx = plan.bucket_index(seg.cell)
    if idx is not None:
        per_bucket[idx].unresolved += max(1, abs(seg.src.count - seg.tgt.count))


def _batches(segs: Sequence[Segment], fanout: int, size: int) -> list[list[tuple[int, Segment, int]]]:
    numbered = [(i, s, max(1, math.ceil((s.hi - s.lo + 1) / fanout))) for i, s in enumerate(segs)]
    return [numbered[i:i + size] for i in range(0, len(numbered), size)]


def _batch_size(source: Side, target: Side) -> int:
    """Segments per UNION ALL statement: many for servers (few round trips, few Snowflake queries), few for an
    in-process DuckDB, which keeps every branch's aggregate in memory at once."""
    return min(SEGMENTS_PER_QUERY.get(source.dialect.name, 200), SEGMENTS_PER_QUERY.get(target.dialect.name, 200))


def _split(source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions, segs: list[Segment],
           pool: ThreadPoolExecutor) -> list[Segment]:
    out: list[Segment] = []
    for batch in _batches(segs, options.fanout, _batch_size(source, target)):
        def run(side: Side, batch: list[tuple[int, Segment, int]] = batch) -> dict[tuple[int, int], Agg]:
            sql, params = segment_sql(side, plan, batch, options, leaf=False)
            return {(int(r[0]), int(r[1])): Agg(as_int(r[2]), as_int(r[3]), None, None, as_int(r[4]))
                    for r in side.run(sql, params)}

        src, tgt = _both(pool, lambda: run(source), lambda: run(target))
        for seg_id, seg, width in batch:
            subs = sorted({sub for (sid, sub) in (*src, *tgt) if sid == seg_id})
            for sub in subs:
                a, b = src.get((seg_id, sub), Agg()), tgt.get((seg_id, sub), Agg())
                if not a.same(b):
                    lo = seg.lo + sub * width
                    out.append(Segment(seg.cell, lo, min(seg.hi, lo + width - 1), a, b))
    return out


def _classify_leaves(report: PairReport, source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions,
                     leaves: list[Segment], per_bucket: dict[int, BucketDiff], pool: ThreadPoolExecutor) -> None:
    cutoff_us = int((plan.cutoff - EPOCH).total_seconds()) * 1_000_000 + plan.cutoff.microsecond
    nkeys = len(source.spec.keys)
    for batch in _batches(leaves, options.fanout, _batch_size(source, target)):
        def run(side: Side, batch: list[tuple[int, Segment, int]] = batch) -> list[tuple[Any, ...]]:
            sql, params = segment_sql(side, plan, batch, options, leaf=True)
            return side.run(sql, params)

        src_rows, tgt_rows = _both(pool, lambda: run(source), lambda: run(target))
        by_seg: dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
        for r in src_rows:
            by_seg.setdefault(int(r[0]), ([], []))[0].append(r)
        for r in tgt_rows:
            by_seg.setdefault(int(r[0]), ([], []))[1].append(r)
        for seg_id, seg, _ in batch:
            srows, trows = by_seg.get(seg_id, ([], []))
            idx = plan.bucket_index(seg.cell)
            if idx is None:
                continue
            _classify(report, per_bucket[idx], srows, trows, nkeys, cutoff_us, options.sample_keys)


def _norm_key(row: tuple[Any, ...], nkeys: int) -> tuple[Any, ...]:
    return (int(row[1]), *(str(v) for v in row[2:1 + nkeys]))


def _classify(report: PairReport, diff: BucketDiff, srows: list[tuple[Any, ...]], trows: list[tuple[Any, ...]],
              nkeys: int, cutoff_us: int, sample: int) -> None:
    src = {_norm_key(r, nkeys): r for r in srows}
    tgt_count = Counter(_norm_key(r, nkeys) for r in trows)
    tgt = {_norm_key(r, nkeys): r for r in trows}
    src_count = Counter(_norm_key(r, nkeys) for r in srows)

    def note(kind: str, key: tuple[Any, ...]) -> None:
        if len(report.samples[kind]) < sample:
            report.samples[kind].append(_key_text(key))

    for key in sorted(set(src) | set(tgt)):
        s_n, t_n = src_count.get(key, 0), tgt_count.get(key, 0)
        if t_n == 0:
            diff.missing += s_n
            note("missing", key)
            continue
        if s_n == 0:
            diff.extra += t_n
            note("extra", key)
            continue
        if t_n > s_n:
            diff.duplicate += t_n - s_n
            note("duplicate", key)
        if as_int(src[key][1 + nkeys]) != as_int(tgt[key][1 + nkeys]):
            version = src[key][2 + nkeys]
            if version is not None and int(version) >= cutoff_us:
                diff.in_flight += 1
            else:
                diff.stale += 1
                note("stale", key)
