"""SQL of reconciliation, for any dialect: introspection, the per-cell aggregates, the per-key-range aggregates of
a drill-down level and the leaf rows. Each row query is built in layers (see dialects.py) over one WHERE: the time
ranges, the CDC-delete filter and, for segments, the key range."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sentinel.errors import CheckError, SourceError
from sentinel.sources.reconcile.dialects import Column, ColumnKind
from sentinel.sources.reconcile.model import Agg, ReconcileMode, ReconcileOptions, Segment, Side, SideSpec
from sentinel.sources.reconcile.plan import EPOCH, BucketPlan


class RowQuery:
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


def base_where(side: Side, ranges: Sequence[tuple[datetime, datetime]]) -> tuple[str, list[Any]]:
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


def as_int(value: Any) -> int:
    return 0 if value is None else int(value)



def opt_int(value: Any) -> int | None:
    return None if value is None else int(value)



def table_columns(side: Side) -> dict[str, Column]:
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



def resolve(side: Side, by_lower: dict[str, Column], needed: Sequence[str]) -> None:
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



def needed(spec: SideSpec) -> list[str]:
    names = [*spec.keys, spec.time_column]
    if spec.version_column:
        names.append(spec.version_column)
    if spec.deleted:
        names.append(spec.deleted.column)
    names += spec.columns
    return list(dict.fromkeys(names))



def cells(side: Side, plan: BucketPlan, ranges: Sequence[tuple[datetime, datetime]],
           options: ReconcileOptions) -> tuple[dict[datetime, Agg], str]:
    q = RowQuery(side, options.mode, options.numeric_scale, grain=plan.grain)
    where, params = base_where(side, ranges)
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
            out[cell] = Agg(count=as_int(row[1]))
        else:
            out[cell] = Agg(as_int(row[1]), as_int(row[2]), opt_int(row[3]), opt_int(row[4]), as_int(row[5]))
    return out, sql



def segment_sql(side: Side, plan: BucketPlan, segs: Sequence[tuple[int, Segment, int]],
                 options: ReconcileOptions, *, leaf: bool) -> tuple[str, list[Any]]:
    d = side.dialect
    q = RowQuery(side, options.mode, options.numeric_scale, leaf=leaf)
    k0 = d.ident(side.columns[side.spec.keys[0]].name)
    parts: list[str] = []
    params: list[Any] = []
    ph = d.placeholder
    for seg_id, seg, width in segs:
        where, wparams = base_where(side, [(seg.cell, plan.cell_end(seg.cell))])
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


def prepare(side: Side, options: ReconcileOptions) -> None:
    """Introspect and resolve a side on its own (full mode with no column list: all columns of the table)."""
    cols = table_columns(side)
    if options.mode is ReconcileMode.FULL and not side.spec.columns:
        side.spec = replace(side.spec, columns=tuple(c.name for c in cols.values()))
    resolve(side, cols, needed(side.spec))


def row_fingerprints(side: Side, start: datetime, end: datetime,
                     options: ReconcileOptions) -> dict[tuple[Any, ...], tuple[int, int | None]]:
    """Per key, (hash, version µs) exactly as this engine computes them for [start, end): the values that must be
    identical on every engine for identical rows. For tests and for debugging a pair by hand."""
    prepare(side, options)
    q = RowQuery(side, options.mode, options.numeric_scale, leaf=True)
    where, params = base_where(side, [(start, end)])
    keys = ["k0", *[f"k{i}" for i in range(1, len(side.spec.keys))]]
    cols = [*keys, "h" if q.has_hash else "0 AS h", "vv" if "vv" in q.keep else "NULL AS vv"]
    rows = side.run(f"SELECT {', '.join(cols)} FROM ({q.rows_sql(where)}) q", params)
    n = len(keys)
    return {(int(r[0]), *(str(v) for v in r[1:n])): (as_int(r[n]), opt_int(r[n + 1])) for r in rows}


def cell_aggregates(side: Side, plan: BucketPlan, options: ReconcileOptions) -> dict[datetime, Agg]:
    """The per-cell aggregates of a side over the whole plan (count, sum/min/max key, sum of hashes)."""
    prepare(side, options)
    out, _ = cells(side, plan, plan.ranges(), options)
    return out
