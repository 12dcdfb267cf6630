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

import enum
import math
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from sentinel.errors import CheckError, SourceError
from sentinel.reconcile.dialects import Column, ColumnKind, Dialect
from sentinel.reconcile.plan import EPOCH, Bucket, BucketPlan

T = TypeVar("T")
Execute = Callable[[str, list[Any]], list[tuple[Any, ...]]]
SEGMENTS_PER_QUERY = {"postgres": 200, "snowflake": 200, "duckdb": 10}


class ReconcileMode(enum.StrEnum):
    COUNT = "count"  # counts per bucket only
    CHECKSUM = "checksum"  # count + sum(key) + sum(hash(version column)); drill down to keys
    FULL = "full"  # count + sum(key) + sum(hash(every mapped column)); drill down to keys


@dataclass(frozen=True)
class DeletedFilter:
    """Rows whose `column` (as text) is one of `values` are deletions (Debezium __deleted='true', __op='d')."""

    column: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class SideSpec:
    name: str  # "source" / "target"
    table: tuple[str, ...]
    keys: tuple[str, ...]
    time_column: str
    version_column: str | None = None
    deleted: DeletedFilter | None = None
    columns: tuple[str, ...] = ()  # full mode: compared columns, aligned with the other side

    @property
    def table_name(self) -> str:
        return ".".join(self.table)


@dataclass
class Side:
    spec: SideSpec
    dialect: Dialect
    execute: Execute
    where: str = ""  # e.g. "snowflake RAW.PAYMENTS.TRANSACTIONS", for messages
    columns: dict[str, Column] = field(default_factory=dict)
    queries: int = 0
    scales: dict[str, int] = field(default_factory=dict)  # per column: the decimal scale both sides print at

    def scale(self, name: str, default: int) -> int:
        return self.scales.get(name.lower(), default)

    def run(self, sql: str, params: list[Any]) -> list[tuple[Any, ...]]:
        self.queries += 1
        return self.execute(sql, params)


@dataclass(frozen=True)
class ReconcileOptions:
    mode: ReconcileMode = ReconcileMode.CHECKSUM
    numeric_scale: int = 6
    fanout: int = 64
    leaf_rows: int = 512
    max_leaf_rows: int = 200_000
    max_levels: int = 12
    sample_keys: int = 10


@dataclass(frozen=True)
class PairSpec:
    source: SideSpec
    target: SideSpec


@dataclass
class Agg:
    count: int = 0
    sum_key: int = 0
    min_key: int | None = None
    max_key: int | None = None
    sum_hash: int = 0

    def same(self, other: Agg) -> bool:
        return (self.count, self.sum_key, self.sum_hash) == (other.count, other.sum_key, other.sum_hash)

    def add(self, other: Agg) -> None:
        self.count += other.count
        self.sum_key += other.sum_key
        self.sum_hash += other.sum_hash
        if other.min_key is not None:
            self.min_key = other.min_key if self.min_key is None else min(self.min_key, other.min_key)
        if other.max_key is not None:
            self.max_key = other.max_key if self.max_key is None else max(self.max_key, other.max_key)


@dataclass
class BucketDiff:
    bucket: Bucket
    source_rows: int
    target_rows: int
    missing: int = 0
    extra: int = 0
    duplicate: int = 0
    stale: int = 0
    in_flight: int = 0
    unresolved: int = 0  # differing rows not drilled to keys (budget exhausted or count mode)
    cells_differing: int = 0

    @property
    def differing_rows(self) -> int:
        return self.missing + self.extra + self.duplicate + self.stale + self.unresolved


@dataclass
class PairReport:
    source_rows: int = 0
    target_rows: int = 0
    buckets_checked: int = 0
    buckets_skipped: int = 0
    matched_buckets: list[Bucket] = field(default_factory=list)
    diffs: list[BucketDiff] = field(default_factory=list)
    samples: dict[str, list[str]] = field(default_factory=lambda: {"missing": [], "extra": [], "duplicate": [],
                                                                    "stale": []})
    queries: dict[str, int] = field(default_factory=dict)
    levels: int = 0
    truncated: bool = False
    sql: str = ""

    def total(self, what: str) -> int:
        return sum(int(getattr(d, what)) for d in self.diffs)


@dataclass
class _Segment:
    cell: datetime
    lo: int
    hi: int
    src: Agg
    tgt: Agg


# --------------------------------------------------------------------------------------------------- SQL building
class _Query:
    """Layered row query for one side: layer 1 reads the table with the WHERE, later layers compute from aliases."""

    def __init__(self, side: Side, mode: ReconcileMode, scale: int, *, grain: str = "", leaf: bool = False) -> None:
        d, spec, cols = side.dialect, side.spec, side.columns
        self.side = side
        l1: list[tuple[str, str]] = []
        l2: list[tuple[str, str]] = []
        extra_layers: list[list[tuple[str, str]]] = []
        self.keep: list[str] = []
        if grain:
            tcol = cols[spec.time_column]
            l1.append(("g", d.trunc(d.ident(tcol.name), tcol.kind, grain)))
            self.keep.append("g")
        key0 = cols[spec.keys[0]]
        self.has_key = mode is not ReconcileMode.COUNT or leaf
        if self.has_key:
            l1.append(("k0", d.int_l1(d.ident(key0.name), key0.kind)))
            self.keep.append("k0")
        if leaf:
            for i, name in enumerate(spec.keys[1:], start=1):
                c = cols[name]
                l1.append((f"kr{i}", d.text_l1(d.ident(c.name), c.kind, side.scale(name, scale), c.scale)))
                l2.append((f"k{i}", d.text_l2(f"kr{i}", c.kind)))
                self.keep.append(f"k{i}")
        self.has_hash = mode is not ReconcileMode.COUNT
        version = cols[spec.version_column] if spec.version_column else None
        if leaf and version is not None and version.kind.is_integral:
            l1.append(("vr", d.int_l1(d.ident(version.name), version.kind)))
            l2.append(("vv", d.int_l2("vr", version.kind)))
            self.keep.append("vv")
        if mode is ReconcileMode.CHECKSUM and version is not None:
            if version.kind.is_integral:
                if not leaf:
                    l1.append(("vr", d.int_l1(d.ident(version.name), version.kind)))
                l2.append(("h", d.mix(d.int_l2("vr", version.kind))))
            else:
                l1.append(("t0", d.text_l1(d.ident(version.name), version.kind, side.scale(version.name, scale),
                                           version.scale)))
                extra_layers = d.md5_layers(d.text_l2("t0", version.kind), "h")
        elif mode is ReconcileMode.FULL:
            parts, ints = [], []
            for i, name in enumerate(spec.columns):
                c = cols[name]
                if c.kind.is_integral:
                    l1.append((f"t{i}", d.int_l1(d.ident(c.name), c.kind)))
                    ints.append(d.mix_column(d.int_l2(f"t{i}", c.kind), i))
                else:
                    l1.append((f"t{i}", d.text_l1(d.ident(c.name), c.kind, side.scale(name, scale), c.scale)))
                    parts.append(d.text_l2(f"t{i}", c.kind))
            plus = " + ".join(ints) or "0"
            if parts:
                extra_layers = d.md5_layers(d.concat(parts), "h", plus)
            else:
                l2.append(("h", plus))
        elif self.has_hash:
            l2.append(("h", "0"))
        if extra_layers:
            l2.extend(extra_layers[0])
            extra_layers = extra_layers[1:]
        self.layers = [layer for layer in [l1, l2, *extra_layers] if layer]
        if self.has_hash:
            self.keep.append("h")

    def rows_sql(self, where: str) -> str:
        d = self.side.dialect
        sql = ""
        carried: list[str] = []
        for n, layer in enumerate(self.layers):
            items = [f"{expr} AS {alias}" for alias, expr in layer]
            if n == 0:
                sql = f"SELECT {', '.join(items)} FROM {d.table(self.side.spec.table)} WHERE {where}"
            else:
                sql = f"SELECT {', '.join([*carried, *items])} FROM ({sql}{d.offset_fence}) l{n}"
            carried = [*carried, *(alias for alias, _ in layer)]
        return sql


def _base_where(side: Side, ranges: Sequence[tuple[datetime, datetime]]) -> tuple[str, list[Any]]:
    d, spec = side.dialect, side.spec
    tcol = side.columns[spec.time_column]
    t = d.ident(tcol.name)
    parts: list[str] = []
    params: list[Any] = []
    for lo, hi in ranges:
        f_lo, v_lo = d.time_value(tcol.kind, lo)
        f_hi, v_hi = d.time_value(tcol.kind, hi)
        parts.append(f"({t} >= {f_lo} AND {t} < {f_hi})")
        params += [v_lo, v_hi]
    where = "(" + " OR ".join(parts) + ")" if parts else "1 = 0"
    if spec.deleted is not None:
        col = d.ident(side.columns[spec.deleted.column].name)
        marks = ", ".join([d.placeholder] * len(spec.deleted.values))
        where += f" AND ({col} IS NULL OR {d.as_text_for_filter(col)} NOT IN ({marks}))"
        params += list(spec.deleted.values)
    return where, params


# --------------------------------------------------------------------------------------------------- execution
def _both(pool: ThreadPoolExecutor, a: Callable[[], T], b: Callable[[], T]) -> tuple[T, T]:
    fa, fb = pool.submit(a), pool.submit(b)
    return fa.result(), fb.result()


def _int(value: Any) -> int:
    return 0 if value is None else int(value)


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


def _opt_int(value: Any) -> int | None:
    return None if value is None else int(value)


def _table_columns(side: Side) -> dict[str, Column]:
    """All columns of the side's table by lower-case name; a missing table is a clear error."""
    sql, params = side.dialect.columns_query(side.spec.table)
    rows = side.run(sql, params)
    if not rows:
        raise SourceError(f"{side.spec.name} table {side.spec.table_name} does not exist on {side.where}",
                          hint="check the table name in the check params and the role's access to it")
    by_lower: dict[str, Column] = {}
    for name, data_type, scale in rows:
        by_lower[str(name).lower()] = Column(str(name), side.dialect.classify(str(data_type), scale), str(data_type),
                                             None if scale is None else int(scale))
    return by_lower


def _resolve(side: Side, by_lower: dict[str, Column], needed: Sequence[str]) -> None:
    missing = [n for n in needed if n.lower() not in by_lower]
    if missing:
        raise SourceError(f"{side.spec.name} table {side.spec.table_name} on {side.where} has no column(s) "
                          f"{', '.join(missing)} (it has: {', '.join(sorted(c.name for c in by_lower.values()))})",
                          hint="fix the column mapping in the check params")
    side.columns = {n: by_lower[n.lower()] for n in needed}
    key0 = side.columns[side.spec.keys[0]]
    if key0.kind is not ColumnKind.INT:
        raise CheckError(f"{side.spec.name} key column {key0.name} of {side.spec.table_name} is {key0.type_name}; "
                         "the first key column must be an integer to split key ranges")
    tcol = side.columns[side.spec.time_column]
    if not tcol.kind.is_time:
        raise CheckError(f"{side.spec.name} time column {tcol.name} of {side.spec.table_name} is {tcol.type_name}, "
                         "not a timestamp")


def _needed(spec: SideSpec) -> list[str]:
    names = [*spec.keys, spec.time_column]
    if spec.version_column:
        names.append(spec.version_column)
    if spec.deleted:
        names.append(spec.deleted.column)
    names += spec.columns
    return list(dict.fromkeys(names))


def _cells(side: Side, plan: BucketPlan, ranges: Sequence[tuple[datetime, datetime]],
           options: ReconcileOptions) -> tuple[dict[datetime, Agg], str]:
    q = _Query(side, options.mode, options.numeric_scale, grain=plan.grain)
    where, params = _base_where(side, ranges)
    inner = q.rows_sql(where)
    s = side.dialect.sum_exact
    if options.mode is ReconcileMode.COUNT:
        sql = f"SELECT g, COUNT(*) AS c FROM ({inner}) q GROUP BY g"
    else:
        sql = (f"SELECT g, COUNT(*) AS c, {s('k0')} AS sk, MIN(k0) AS mn, MAX(k0) AS mx, {s('h')} AS sh "
               f"FROM ({inner}) q GROUP BY g")
    out: dict[datetime, Agg] = {}
    for row in side.run(sql, params):
        g = row[0]
        cell = g.replace(tzinfo=EPOCH.tzinfo) if g.tzinfo is None else g.astimezone(EPOCH.tzinfo)
        if len(row) == 2:
            out[cell] = Agg(count=_int(row[1]))
        else:
            out[cell] = Agg(_int(row[1]), _int(row[2]), _opt_int(row[3]), _opt_int(row[4]), _int(row[5]))
    return out, sql


def _segment_sql(side: Side, plan: BucketPlan, segs: Sequence[tuple[int, _Segment, int]],
                 options: ReconcileOptions, *, leaf: bool) -> tuple[str, list[Any]]:
    d = side.dialect
    q = _Query(side, options.mode, options.numeric_scale, leaf=leaf)
    k0 = d.ident(side.columns[side.spec.keys[0]].name)
    parts: list[str] = []
    params: list[Any] = []
    ph = d.placeholder
    for seg_id, seg, width in segs:
        where, wparams = _base_where(side, [(seg.cell, plan.cell_end(seg.cell))])
        where += f" AND {k0} >= {ph} AND {k0} <= {ph}"
        inner = q.rows_sql(where)
        if leaf:
            cols = ["k0", *[f"k{i}" for i in range(1, len(side.spec.keys))], "h" if q.has_hash else "0 AS h",
                    "vv" if "vv" in q.keep else "NULL AS vv"]
            parts.append(f"SELECT {seg_id} AS seg, {', '.join(cols)} FROM ({inner}) q{seg_id}")
            params += [*wparams, seg.lo, seg.hi]
        else:
            # lo and width are integers computed here, not config values: inlined, since a dialect may repeat them
            sub = d.int_div(f"k0 - {int(seg.lo)}", str(int(width)))
            parts.append(f"SELECT {seg_id} AS seg, {sub} AS sub, COUNT(*) AS c, {d.sum_exact('k0')} AS sk, "
                         f"{d.sum_exact('h')} AS sh FROM ({inner}) q{seg_id} GROUP BY 2")
            params += [*wparams, seg.lo, seg.hi]
    return " UNION ALL ".join(parts), params


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
        src_all, tgt_all = _both(pool, lambda: _table_columns(source), lambda: _table_columns(target))
        if options.mode is ReconcileMode.FULL and not source.spec.columns:
            names = [c.name for c in src_all.values() if c.name not in exclude]
            mapping = column_map or {}
            source.spec = replace(source.spec, columns=tuple(names))
            target.spec = replace(target.spec, columns=tuple(mapping.get(n, n) for n in names))
        _resolve(source, src_all, _needed(source.spec))
        _resolve(target, tgt_all, _needed(target.spec))
        _agree_scales(source, target, options)
        skipped = set(skip)
        ranges = plan.ranges(skipped)
        report.buckets_skipped = sum(1 for b in plan.buckets if b.start in skipped)
        report.buckets_checked = len(plan.buckets) - report.buckets_skipped
        if ranges:
            (src_cells, sql), (tgt_cells, _) = _both(pool, lambda: _cells(source, plan, ranges, options),
                                                     lambda: _cells(target, plan, ranges, options))
            report.sql = sql
            _compare(report, source, target, plan, options, src_cells, tgt_cells, pool, skipped)
    report.queries = {"source": source.queries, "target": target.queries}
    return report


def _compare(report: PairReport, source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions,
             src_cells: dict[datetime, Agg], tgt_cells: dict[datetime, Agg], pool: ThreadPoolExecutor,
             skipped: set[datetime]) -> None:
    per_bucket: dict[int, BucketDiff] = {}
    differing: list[_Segment] = []
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
                differing.append(_Segment(cell, lo, hi, s, t))
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
           segments: list[_Segment], per_bucket: dict[int, BucketDiff], pool: ThreadPoolExecutor) -> None:
    fetched = 0
    level = 0
    while segments:
        level += 1
        leaves = [s for s in segments if max(s.src.count, s.tgt.count) <= options.leaf_rows or s.hi - s.lo < options.fanout]
        inner = [s for s in segments if not (max(s.src.count, s.tgt.count) <= options.leaf_rows or s.hi - s.lo < options.fanout)]
        budget_left = options.max_leaf_rows - fetched
        take: list[_Segment] = []
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


def _unresolved(per_bucket: dict[int, BucketDiff], plan: BucketPlan, seg: _Segment) -> None:
    idx = plan.bucket_index(seg.cell)
    if idx is not None:
        per_bucket[idx].unresolved += max(1, abs(seg.src.count - seg.tgt.count))


def _batches(segs: Sequence[_Segment], fanout: int, size: int) -> list[list[tuple[int, _Segment, int]]]:
    numbered = [(i, s, max(1, math.ceil((s.hi - s.lo + 1) / fanout))) for i, s in enumerate(segs)]
    return [numbered[i:i + size] for i in range(0, len(numbered), size)]


def _batch_size(source: Side, target: Side) -> int:
    """Segments per UNION ALL statement: many for servers (few round trips, few Snowflake queries), few for an
    in-process DuckDB, which keeps every branch's aggregate in memory at once."""
    return min(SEGMENTS_PER_QUERY.get(source.dialect.name, 200), SEGMENTS_PER_QUERY.get(target.dialect.name, 200))


def _split(source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions, segs: list[_Segment],
           pool: ThreadPoolExecutor) -> list[_Segment]:
    out: list[_Segment] = []
    for batch in _batches(segs, options.fanout, _batch_size(source, target)):
        def run(side: Side, batch: list[tuple[int, _Segment, int]] = batch) -> dict[tuple[int, int], Agg]:
            sql, params = _segment_sql(side, plan, batch, options, leaf=False)
            return {(int(r[0]), int(r[1])): Agg(_int(r[2]), _int(r[3]), None, None, _int(r[4]))
                    for r in side.run(sql, params)}

        src, tgt = _both(pool, lambda: run(source), lambda: run(target))
        for seg_id, seg, width in batch:
            subs = sorted({sub for (sid, sub) in (*src, *tgt) if sid == seg_id})
            for sub in subs:
                a, b = src.get((seg_id, sub), Agg()), tgt.get((seg_id, sub), Agg())
                if not a.same(b):
                    lo = seg.lo + sub * width
                    out.append(_Segment(seg.cell, lo, min(seg.hi, lo + width - 1), a, b))
    return out


def _classify_leaves(report: PairReport, source: Side, target: Side, plan: BucketPlan, options: ReconcileOptions,
                     leaves: list[_Segment], per_bucket: dict[int, BucketDiff], pool: ThreadPoolExecutor) -> None:
    cutoff_us = int((plan.cutoff - EPOCH).total_seconds()) * 1_000_000 + plan.cutoff.microsecond
    nkeys = len(source.spec.keys)
    for batch in _batches(leaves, options.fanout, _batch_size(source, target)):
        def run(side: Side, batch: list[tuple[int, _Segment, int]] = batch) -> list[tuple[Any, ...]]:
            sql, params = _segment_sql(side, plan, batch, options, leaf=True)
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
        if _int(src[key][1 + nkeys]) != _int(tgt[key][1 + nkeys]):
            version = src[key][2 + nkeys]
            if version is not None and int(version) >= cutoff_us:
                diff.in_flight += 1
            else:
                diff.stale += 1
                note("stale", key)


# --------------------------------------------------------------------------------------------------- inspection
def prepare(side: Side, options: ReconcileOptions) -> None:
    """Introspect and resolve a side on its own (full mode with no column list: all columns of the table)."""
    cols = _table_columns(side)
    if options.mode is ReconcileMode.FULL and not side.spec.columns:
        side.spec = replace(side.spec, columns=tuple(c.name for c in cols.values()))
    _resolve(side, cols, _needed(side.spec))


def row_fingerprints(side: Side, start: datetime, end: datetime,
                     options: ReconcileOptions) -> dict[tuple[Any, ...], tuple[int, int | None]]:
    """Per key, (hash, version µs) exactly as this engine computes them for [start, end): the values that must be
    identical on every engine for identical rows. For tests and for debugging a pair by hand."""
    prepare(side, options)
    q = _Query(side, options.mode, options.numeric_scale, leaf=True)
    where, params = _base_where(side, [(start, end)])
    keys = ["k0", *[f"k{i}" for i in range(1, len(side.spec.keys))]]
    cols = [*keys, "h" if q.has_hash else "0 AS h", "vv" if "vv" in q.keep else "NULL AS vv"]
    rows = side.run(f"SELECT {', '.join(cols)} FROM ({q.rows_sql(where)}) q", params)
    n = len(keys)
    return {(int(r[0]), *(str(v) for v in r[1:n])): (_int(r[n]), _opt_int(r[n + 1])) for r in rows}


def cell_aggregates(side: Side, plan: BucketPlan, options: ReconcileOptions) -> dict[datetime, Agg]:
    """The per-cell aggregates of a side over the whole plan (count, sum/min/max key, sum of hashes)."""
    prepare(side, options)
    cells, _ = _cells(side, plan, plan.ranges(), options)
    return cells
