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
from datetime import datetime, timedelta
from typing import Any, TypeVar

from sentinel.sources.reconcile.dialects import ColumnKind
from sentinel.sources.reconcile.model import (
    Agg,
    BucketDiff,
    BucketRows,
    DeletedFilter,
    Execute,
    Key,
    KeyRange,
    MovedRow,
    PairReport,
    PairSpec,
    ReconcileMode,
    ReconcileOptions,
    Segment,
    Side,
    SideSpec,
)
from sentinel.sources.reconcile.plan import EPOCH, Bucket, BucketPlan
from sentinel.sources.reconcile.queries import (
    as_int,
    cell_aggregates,
    cells,
    decide_text_grouping,
    key_of,
    key_range_counts,
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
    "prepare_pair",
    "reconcile_pair",
    "row_fingerprints",
]

T = TypeVar("T")
SEGMENTS_PER_QUERY = {"postgres": 200, "snowflake": 200, "duckdb": 10}
# leaf statements of an in-process DuckDB are smaller: each UNION ALL branch holds its own scan and expression
# buffers in the monitor's memory while the statement runs (100 branches of full mode: about 55 MiB)
LEAF_SEGMENTS_PER_QUERY = {"postgres": 200, "snowflake": 200, "duckdb": 25}


def _both(pool: ThreadPoolExecutor, a: Callable[[], T], b: Callable[[], T]) -> tuple[T, T]:
    fa, fb = pool.submit(a), pool.submit(b)
    return fa.result(), fb.result()


def agree_scales(source: Side, target: Side, options: ReconcileOptions) -> list[str]:
    """Decimals are compared at the source column's declared scale, never capped: numeric(12,2) -> 2 digits
    whatever the target's NUMBER(38,4), numeric(18,8) -> 8 digits (so a target that keeps fewer digits shows as
    stale rows). A source column without a declared scale uses the target's, else numeric_scale; floats use
    numeric_scale. Returns the caveats a reader should see (scales that differ, scales that were assumed)."""
    notes = []
    pairs = list(zip(source.spec.columns, target.spec.columns, strict=True))
    pairs += list(zip(source.spec.keys, target.spec.keys, strict=True))
    if source.spec.version_column and target.spec.version_column:
        pairs.append((source.spec.version_column, target.spec.version_column))
    for s_name, t_name in dict.fromkeys(pairs):
        col, other = source.columns[s_name], target.columns[t_name]
        if col.kind is not ColumnKind.DECIMAL and col.kind is not ColumnKind.FLOAT:
            continue
        declared = col.scale if col.kind is ColumnKind.DECIMAL else None
        t_declared = other.scale if other.kind is ColumnKind.DECIMAL else None
        scale = declared if declared is not None else t_declared if t_declared is not None else options.numeric_scale
        source.scales[s_name.lower()] = scale
        target.scales[t_name.lower()] = scale
        if declared is not None and t_declared is not None and declared != t_declared:
            notes.append(f"{s_name}: source {col.type_name} scale {declared}, target {other.type_name} scale "
                         f"{t_declared}; compared at {scale} digits")
        elif declared is None:
            notes.append(f"{s_name}: source {col.type_name} declares no scale; compared at {scale} digits")
    return notes


def _agree_keys(source: Side, target: Side) -> None:
    """Both sides must split the same key space and report keys alike: by the key's order only when it is one
    integer column on both, or one UUID column on both; as integers only where both columns are integral."""
    uuid_key = source.uuid_key and target.uuid_key
    ordered = source.ordered_key and target.ordered_key and source.uuid_key == target.uuid_key
    integral = tuple(a and b for a, b in zip(source.key_integral, target.key_integral, strict=True))
    for side in (source, target):
        side.ordered_key, side.key_integral, side.uuid_key = ordered, integral, uuid_key and ordered


def key_text(values: Sequence[Any]) -> str:
    return str(values[0]) if len(values) == 1 else "(" + ", ".join(str(v) for v in values) + ")"


def key_order(key: Key) -> tuple[tuple[int, Any], ...]:
    """Sort order of keys: numbers as numbers, text by code point (PostgreSQL's COLLATE "C"), NULL first."""
    return tuple((0, 0) if v is None else (1, v) if isinstance(v, int) else (2, str(v)) for v in key)


def prepare_pair(source: Side, target: Side, options: ReconcileOptions, *, column_map: Mapping[str, str] | None = None,
                 exclude: Sequence[str] = (), pool: ThreadPoolExecutor | None = None) -> list[str]:
    """Introspect both tables, resolve the compared columns (full mode with no column list: every source column
    but `exclude`, by the same name or its `column_map` name), agree on how keys are split and at which scale
    decimals are compared. Returns the caveats a reader should see (scales that differ or were assumed); a missing
    table or column, or a key type that cannot be compared, raises with its name."""
    if pool is None:
        src_all, tgt_all = table_columns(source), table_columns(target)
    else:
        src_all, tgt_all = _both(pool, lambda: table_columns(source), lambda: table_columns(target))
    if options.mode is ReconcileMode.FULL and not source.spec.columns:
        names = [c.name for c in src_all.values() if c.name not in exclude]
        mapping = column_map or {}
        source.spec = replace(source.spec, columns=tuple(names))
        target.spec = replace(target.spec, columns=tuple(mapping.get(n, n) for n in names))
    resolve(source, src_all, needed(source.spec))
    resolve(target, tgt_all, needed(target.spec))
    _agree_keys(source, target)
    notes = agree_scales(source, target, options)
    if pool is None:
        decide_text_grouping(source, options)
        decide_text_grouping(target, options)
    else:
        _both(pool, lambda: decide_text_grouping(source, options), lambda: decide_text_grouping(target, options))
    return notes


def reconcile_pair(source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions,
                   skip: Sequence[datetime] = (), *, column_map: Mapping[str, str] | None = None,
                   exclude: Sequence[str] = ()) -> PairReport:
    """Compare one table pair over the plan; `skip` = starts of buckets remembered as matched.

    In full mode with no explicit column list, every source column except `exclude` is compared with the target
    column of the same name (or its `column_map` name); target-only columns (CDC metadata) are ignored.
    """
    report = PairReport()
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="reconcile") as pool:
        report.notes = prepare_pair(source, target, options, column_map=column_map, exclude=exclude, pool=pool)
        skipped = set(skip)
        ranges = plan.ranges(skipped)
        report.buckets_skipped = sum(1 for b in plan.buckets if b.start in skipped)
        report.buckets_checked = len(plan.buckets) - report.buckets_skipped
        if ranges:
            (src_cells, sql), (tgt_cells, _) = _both(pool, lambda: cells(source, plan, ranges, options),
                                                     lambda: cells(target, plan, ranges, options))
            report.sql = sql
            _compare(report, source, target, plan, options, src_cells, tgt_cells, pool, skipped)
            finish_keys(report, plan, options)
            if len(report.found["missing"]) > 1:
                report.missing_ranges = missing_ranges(source, plan, report)
    report.queries = {"source": source.queries, "target": target.queries}
    return report


def _compare(report: PairReport, source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions,
             src_cells: dict[datetime | None, Agg], tgt_cells: dict[datetime | None, Agg], pool: ThreadPoolExecutor,
             skipped: set[datetime]) -> None:
    per_bucket: dict[int, BucketDiff] = {}
    differing: list[Segment] = []
    for cell in sorted(set(src_cells) | set(tgt_cells), key=lambda c: (c is not None, c or EPOCH)):
        idx = plan.bucket_index(cell)
        if idx is None:
            continue
        s, t = src_cells.get(cell, Agg()), tgt_cells.get(cell, Agg())
        diff = per_bucket.setdefault(idx, BucketDiff(plan.bucket(idx), 0, 0))
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
    report.bucket_rows = bucket_rows(plan, per_bucket, skipped)
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
    no_time = per_bucket.get(-1)
    if no_time is not None and no_time.cells_differing:
        report.diffs.append(no_time)


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


def _numbered(segs: Sequence[Segment], fanout: int) -> list[tuple[int, Segment, int]]:
    """Segments with their number in the level (the `seg` column of its statements) and sub-range width."""
    return [(i, s, max(1, math.ceil((s.hi - s.lo + 1) / fanout))) for i, s in enumerate(segs)]


def _chunks(numbered: list[tuple[int, Segment, int]], limits: Mapping[str, int], source: Side,
            target: Side) -> list[list[tuple[int, Segment, int]]]:
    """A level's segments in chunks of the larger engine's statement size: both sides read a chunk at the same
    time and it is compared before the next, so what a level holds is one chunk's sub-ranges, not all of them
    (a wide scattered loss can give a level tens of thousands of segments, 64 sub-ranges each)."""
    size = max(limits.get(source.dialect.name, 200), limits.get(target.dialect.name, 200))
    return [numbered[i:i + size] for i in range(0, len(numbered), size)]


def _run_chunk(side: Side, chunk: list[tuple[int, Segment, int]], limits: Mapping[str, int],
               statement: Callable[[Side, list[tuple[int, Segment, int]]], tuple[str, list[Any]]],
               ) -> list[tuple[Any, ...]]:
    """One side's rows for a chunk, in UNION ALL statements of as many segments as its engine takes: many for a
    server (few round trips, few Snowflake queries), few for an in-process DuckDB, which holds every branch in
    memory at once. A server is not held to DuckDB's size: each side goes through the chunk at its own pace."""
    size = limits.get(side.dialect.name, 200)
    rows: list[tuple[Any, ...]] = []
    for i in range(0, len(chunk), size):
        sql, params = statement(side, chunk[i:i + size])
        rows += side.run(sql, params)
    return rows


def _split(source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions, segs: list[Segment],
           pool: ThreadPoolExecutor) -> list[Segment]:
    out: list[Segment] = []
    for chunk in _chunks(_numbered(segs, options.fanout), SEGMENTS_PER_QUERY, source, target):
        def run(side: Side, chunk: list[tuple[int, Segment, int]] = chunk) -> dict[tuple[int, int], Agg]:
            rows = _run_chunk(side, chunk, SEGMENTS_PER_QUERY,
                              lambda side, batch: segment_sql(side, plan, batch, options, leaf=False))
            return {(int(r[0]), int(r[1])): Agg(as_int(r[2]), as_int(r[3]), None, None, as_int(r[4])) for r in rows}

        src, tgt = _both(pool, lambda: run(source), lambda: run(target))
        subs: dict[int, set[int]] = {}
        for seg_id, sub in (*src, *tgt):
            subs.setdefault(seg_id, set()).add(sub)
        for seg_id, seg, width in chunk:
            for sub in sorted(subs.get(seg_id, ())):
                a, b = src.get((seg_id, sub), Agg()), tgt.get((seg_id, sub), Agg())
                if not a.same(b):
                    lo = seg.lo + sub * width
                    out.append(Segment(seg.cell, lo, min(seg.hi, lo + width - 1), a, b))
    return out


def _classify_leaves(report: PairReport, source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions,
                     leaves: list[Segment], per_bucket: dict[int, BucketDiff], pool: ThreadPoolExecutor) -> None:
    cutoff_us = (plan.cutoff - EPOCH) // timedelta(microseconds=1)
    nkeys = len(source.spec.keys)
    # leaf rows are fetched, not aggregated, so one statement on a server serves up to 200 leaves: a clustered
    # loss of 5,000 rows is ~50 leaves, one round trip (DuckDB, in process, takes them 25 at a time)
    for chunk in _chunks(_numbered(leaves, options.fanout), LEAF_SEGMENTS_PER_QUERY, source, target):
        def run(side: Side, chunk: list[tuple[int, Segment, int]] = chunk) -> list[tuple[Any, ...]]:
            return _run_chunk(side, chunk, LEAF_SEGMENTS_PER_QUERY,
                              lambda side, batch: segment_sql(side, plan, batch, options, leaf=True))

        src_rows, tgt_rows = _both(pool, lambda: run(source), lambda: run(target))
        by_seg: dict[int, tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]] = {}
        for r in src_rows:
            by_seg.setdefault(int(r[0]), ([], []))[0].append(r)
        for r in tgt_rows:
            by_seg.setdefault(int(r[0]), ([], []))[1].append(r)
        for seg_id, seg, _ in chunk:
            srows, trows = by_seg.get(seg_id, ([], []))
            idx = plan.bucket_index(seg.cell)
            if idx is None:
                continue
            _classify(report, per_bucket[idx], srows, trows, nkeys, cutoff_us, options.sample_keys, idx)


def _classify(report: PairReport, diff: BucketDiff, srows: list[tuple[Any, ...]], trows: list[tuple[Any, ...]],
              nkeys: int, cutoff_us: int, sample: int, bucket_index: int = 0) -> None:
    """Leaf rows are (seg, k0, key values..., hash, version µs). Missing and extra keys are all kept (in
    report.found) for moved rows and ranges; duplicate and stale ones are sampled here."""
    src = {key_of(r, nkeys, 2): r for r in srows}
    tgt_count = Counter(key_of(r, nkeys, 2) for r in trows)
    tgt = {key_of(r, nkeys, 2): r for r in trows}
    src_count = Counter(key_of(r, nkeys, 2) for r in srows)

    def note(kind: str, key: Key) -> None:
        if len(report.samples[kind]) < sample:
            report.samples[kind].append(key_text(key))

    for key in sorted(set(src) | set(tgt), key=key_order):
        s_n, t_n = src_count.get(key, 0), tgt_count.get(key, 0)
        if t_n == 0:
            diff.missing += s_n
            report.found["missing"][key] = bucket_index
            continue
        report.present.add(key)
        if s_n == 0:
            diff.extra += t_n
            report.found["extra"][key] = bucket_index
            continue
        if t_n > s_n:
            diff.duplicate += t_n - s_n
            note("duplicate", key)
        if as_int(src[key][2 + nkeys]) != as_int(tgt[key][2 + nkeys]):
            version = src[key][3 + nkeys]
            if version is not None and int(version) >= cutoff_us:
                diff.in_flight += 1
            else:
                diff.stale += 1
                note("stale", key)


def finish_keys(report: PairReport, plan: BucketPlan, options: ReconcileOptions) -> None:
    """A key missing under one bucket and extra under another moved (its time column changed, e.g. by 1 µs across
    midnight): one moved row, counted in its source bucket, not a loss plus an extra. Then the samples."""
    missing, extra = report.found["missing"], report.found["extra"]
    diff_at = {plan.bucket_index(None if d.bucket.timeless else d.bucket.start): d for d in report.diffs}
    for key in sorted(set(missing) & set(extra), key=key_order):
        src_idx, tgt_idx = missing.pop(key), extra.pop(key)
        src_diff, tgt_diff = diff_at.get(src_idx), diff_at.get(tgt_idx)
        if src_diff is None or tgt_diff is None:
            continue
        src_diff.missing -= 1
        src_diff.moved += 1
        tgt_diff.extra -= 1
        report.moved.append(MovedRow(key, plan.bucket(src_idx), plan.bucket(tgt_idx)))
    for kind, found in (("missing", missing), ("extra", extra)):
        report.samples[kind] = [key_text(k) for k in sorted(found, key=key_order)[:options.sample_keys]]


MAX_RANGES = 20


def missing_ranges(source: Side, plan: BucketPlan, report: PairReport) -> list[KeyRange]:
    """Runs of missing keys (first..last, count) with no other source row between them, largest first.

    Candidates are the runs of missing keys not interrupted by a source key seen in the drill-down; the source
    then counts its rows between first and last (one query for the MAX_RANGES largest candidates): only a run
    whose count equals its number of missing keys is a range. Single-column integer, text and UUID keys."""
    if len(source.spec.keys) != 1 or source.columns[source.spec.keys[0]].kind not in (ColumnKind.INT, ColumnKind.TEXT):
        return []
    missing = set(report.found["missing"])
    runs: list[list[Key]] = []
    current: list[Key] = []
    for key in sorted(missing | report.present, key=key_order):
        if key in missing:
            current.append(key)
            continue
        if len(current) > 1:
            runs.append(current)
        current = []
    if len(current) > 1:
        runs.append(current)
    candidates = sorted(runs, key=len, reverse=True)[:MAX_RANGES]
    if not candidates:
        return []
    counts = key_range_counts(source, plan, [(run[0][0], run[-1][0]) for run in candidates])
    found = [KeyRange(run[0], run[-1], len(run)) for i, run in enumerate(candidates) if counts.get(i) == len(run)]
    return sorted(found, key=lambda r: (-r.count, key_order(r.first)))


def bucket_rows(plan: BucketPlan, per_bucket: Mapping[int, BucketDiff], skipped: set[datetime]) -> dict[Bucket, BucketRows]:
    """Rows per compared bucket and side; a bucket without a single cell counted zero rows, which is a measurement
    (the loudest volume drop there is), not a gap."""
    out = {}
    for idx, b in enumerate(plan.buckets):
        if b.start not in skipped:
            d = per_bucket.get(idx)
            out[b] = BucketRows(d.source_rows, d.target_rows) if d else BucketRows(0, 0)
    return out
