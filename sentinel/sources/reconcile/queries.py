"""SQL of reconciliation, for any dialect: introspection, the per-cell aggregates, the per-key-range aggregates of
a drill-down level and the leaf rows. Each row query is built in layers (see dialects.py) over one WHERE: the time
ranges, the CDC-delete filter and, for segments, the key range."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from typing import Any

from sentinel.errors import CheckError, SourceError
from sentinel.sources.reconcile.dialects import MIX_Q, Column, ColumnKind
from sentinel.sources.reconcile.model import Agg, Key, ReconcileMode, ReconcileOptions, Segment, Side, SideSpec
from sentinel.sources.reconcile.plan import EPOCH, BucketPlan

HASH_MAX = 2**60 - 1  # md5_layers keep 15 hex digits
UUID_REST_BITS = 68  # a UUID key's k0 is its leading 128 - 68 = 60 bits
UUID_REST_MASK = (1 << UUID_REST_BITS) - 1


class RowQuery:
    """Layered row query for one side: layer 1 reads the table with the WHERE, later layers compute from aliases.

    Aliases: g (the cell), k0 (the key position the drill-down splits: the key itself, or the 60-bit hash of the
    whole key), kx (a UUID key's other bits), kv0..kvN (leaf rows: the key values), vv (leaf rows: the version in
    µs), kb (a checksum cell's UUID key: all 128 bits), h (the row hash); full mode also w (the key's weight),
    ii (the integral columns' part of the hash) and th (the text columns' md5)."""

    def __init__(self, side: Side, mode: ReconcileMode, scale: int, *, grain: str = "", leaf: bool = False,
                 grouped: bool = False, xor_uuid_key: bool = False) -> None:
        d, spec, cols = side.dialect, side.spec, side.columns
        self.side = side
        # a UUID key enters a checksum cell as the XOR of its 128 bits (kb), not as the sums of k0 and kx: one
        # conversion per row instead of two (PostgreSQL's scan of 5M rows: 1.8 -> 1.4 s). The drill-down, which
        # splits by k0, and full mode, whose key weight needs kx anyway, keep the sums.
        self.xor_key = xor_uuid_key and side.uuid_key and mode is ReconcileMode.CHECKSUM and not leaf
        self._layers: list[list[tuple[str, str]]] = [[], []]
        self.keep: list[str] = []
        # full mode, grouped: no h; the text columns' layer-1 aliases, w and ii instead, for cells to hash each
        # distinct text combination once (text_hash: its md5 expression over those aliases)
        self.text_aliases: list[str] = []
        self.text_hash = ""
        if grain:
            tcol = cols[spec.time_column]
            self._add(0, "g", d.trunc(d.ident(tcol.name), tcol.kind, grain))
            self.keep.append("g")
        self.has_key = mode is not ReconcileMode.COUNT or leaf
        if self.has_key:
            self._keys(side, scale, leaf)
        self.has_hash = mode is not ReconcileMode.COUNT
        version = cols[spec.version_column] if spec.version_column else None
        if leaf and version is not None and version.kind.is_integral:
            self._add(0, "vr", d.int_l1(d.ident(version.name), version.kind))
            self._add(1, "vv", d.int_l2("vr", version.kind))
            self.keep.append("vv")
        if mode is ReconcileMode.CHECKSUM and version is not None:
            if version.kind.is_integral:
                if not leaf:
                    self._add(0, "vr", d.int_l1(d.ident(version.name), version.kind))
                self._add(1, "h", d.mix(d.int_l2("vr", version.kind)))
            else:
                self._add(0, "t0", d.text_l1(d.ident(version.name), version.kind,
                                             side.scale(version.name, scale), version.scale))
                self._md5(d.text_l2("t0", version.kind), "h")
        elif mode is ReconcileMode.FULL:
            self._full_hash(side, scale, grouped)
        elif self.has_hash:
            self._add(1, "h", "0")
        self.layers = [layer for layer in self._layers if layer]
        if self.has_hash and not self.text_hash:
            self.keep.append("h")

    def key_sum(self) -> str:
        """The keys' aggregate: the exact sum of the key position, plus of the rest of a UUID key's bits (summed
        apart, so no engine adds them in 64 bits); in a checksum cell with a UUID key, the XOR of its 128 bits."""
        if self.xor_key:
            return "bit_xor(kb)"  # PostgreSQL (bit(128)) and DuckDB (UHUGEINT) alike; Snowflake has no UUID keys
        s = self.side.dialect.sum_exact
        return f"{s('k0')} + {s('kx')}" if self.side.uuid_key else s("k0")

    def _layer_of(self, *aliases: str) -> int:
        return max(n for n, layer in enumerate(self._layers) for a, _ in layer if a in aliases)

    def _full_hash(self, side: Side, scale: int, grouped: bool) -> None:
        """h = w * (MOD(I, Q) + MOD(T, Q)) (see dialects.py): integral, decimal and float columns mixed as
        integers, the text ones hashed together by one md5."""
        d, spec, cols = side.dialect, side.spec, side.columns
        parts, ints = [], []
        for i, name in enumerate(spec.columns):
            c, alias = cols[name], f"t{i}"
            if c.kind.is_integral:
                self._add(0, alias, d.int_l1(d.ident(c.name), c.kind))
                ints.append(d.mix_column(d.int_l2(alias, c.kind), i))
            elif c.kind.is_hashed_as_text:
                self._add(0, alias, d.text_l1(d.ident(c.name), c.kind, side.scale(name, scale), c.scale))
                parts.append(d.text_l2(alias, c.kind))
                self.text_aliases.append(alias)
            else:  # decimal or float
                col_scale = side.scale(name, scale)
                self._add(0, alias, d.decimal_l1(d.ident(c.name), c.kind, col_scale, c.scale))
                ints.append(d.mix_column(d.scaled_int(alias, col_scale), i))
        self._add(1, "ii", f"MOD({' + '.join(ints)}, {MIX_Q})" if ints else "0")
        # w from one alias (a UUID's kx varies with its low 64 bits)
        self._add(self._layer_of("k0", "kx") + 1, "w", d.key_weight("kx" if side.uuid_key else "k0"))
        if grouped and parts:
            self.text_hash = d.md5_int(d.concat(parts))
            self.keep += [*self.text_aliases, "w", "ii"]
            return
        if parts:
            self._md5(d.concat(parts), "th")
            text = f"MOD(th, {MIX_Q})"
        else:
            text = "0"
        self._add(self._layer_of("w", "th", "ii") + 1, "h", f"w * (ii + {text})")

    def _add(self, n: int, alias: str, expr: str) -> None:
        while len(self._layers) <= n:
            self._layers.append([])
        self._layers[n].append((alias, expr))

    def _md5(self, text_expr: str, alias: str, plus: str = "0") -> None:
        """`alias` = the 60-bit integer of md5(text_expr over layer-1 aliases) + plus, from layer 2 on."""
        for n, layer in enumerate(self.side.dialect.md5_layers(text_expr, alias, plus), start=1):
            for a, e in layer:
                self._add(n, a, e)

    def _keys(self, side: Side, scale: int, leaf: bool) -> None:
        d, spec, cols = side.dialect, side.spec, side.columns
        if self.xor_key:
            self._add(0, "ku", d.uuid_l1(d.ident(cols[spec.keys[0]].name)))
            self._add(1, "kb", d.uuid_bits("ku"))
            self.keep.append("kb")
            return
        if side.uuid_key:
            # k0: the leading 60 bits (the drill-down's order, a range on the column itself); kx: the other 68
            # bits hashed, summed with k0 so that a key differing only there still changes the key sum
            col = d.ident(cols[spec.keys[0]].name)
            self._add(0, "ku", d.uuid_l1(col))
            self._add(1, "k0", d.uuid_top("ku"))
            self._add(1, "kx", d.uuid_rest("ku"))
            self.keep.append("k0")
            if leaf:
                self._add(0, "kv0", d.cast_text(col))
                self.keep.append("kv0")
            return
        if side.ordered_key:
            self._add(0, "k0", d.int_l1(d.ident(cols[spec.keys[0]].name), cols[spec.keys[0]].kind))
            self.keep.append("k0")
            if leaf:
                self._add(1, "kv0", "k0")
                self.keep.append("kv0")
            return
        parts = []
        for i, name in enumerate(spec.keys):
            c = cols[name]
            self._add(0, f"kr{i}", d.text_l1(d.ident(c.name), c.kind, side.scale(name, scale), c.scale))
            # a single key needs no length prefix: k0 only places the row, the leaf rows carry the key itself
            parts.append(d.text_l2(f"kr{i}", c.kind, prefixed=len(spec.keys) > 1))
            if leaf:
                integral = side.key_integral[i] if side.key_integral else c.kind.is_integral
                value = d.int_l2(f"kr{i}", c.kind) if c.kind.is_integral else f"kr{i}"
                self._add(1, f"kv{i}", value if integral or not c.kind.is_integral else d.cast_text(value))
                self.keep.append(f"kv{i}")
        self._md5(d.concat(parts), "k0")
        self.keep.append("k0")

    def rows_sql(self, where: str) -> str:
        d = self.side.dialect
        sql = ""
        carried: list[str] = []
        for n, layer in enumerate(self.layers):
            items = [f"{expr} AS {alias}" for alias, expr in layer]
            if n == 0:
                sql = f"SELECT {', '.join(items)} FROM {d.table(self.side.spec.table)} WHERE {where}"
            else:
                sql = f"SELECT {', '.join([*carried, *items])} FROM ({sql}) l{n}"
            carried = [*carried, *(alias for alias, _ in layer)]
        return sql


def base_where(side: Side, ranges: Sequence[tuple[datetime, datetime]], *, no_time: bool = False) -> tuple[str, list[Any]]:
    """The time ranges (and, with no_time, the rows whose time column is NULL) minus CDC deletes."""
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
    if no_time:
        parts.append(f"{t} IS NULL")
    where = "(" + " OR ".join(parts) + ")" if parts else "1 = 0"
    if spec.deleted is not None:
        col = d.ident(side.columns[spec.deleted.column].name)
        marks = ", ".join([d.placeholder] * len(spec.deleted.values))
        where += f" AND ({col} IS NULL OR {d.as_text_for_filter(col)} NOT IN ({marks}))"
        params += list(spec.deleted.values)
    return where, params


def cell_where(side: Side, plan: BucketPlan, cell: datetime | None) -> tuple[str, list[Any]]:
    if cell is None:
        return base_where(side, [], no_time=True)
    return base_where(side, [(cell, plan.cell_end(cell))])


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
    for name in side.spec.keys:
        key = side.columns[name]
        if key.kind is ColumnKind.OTHER:
            raise CheckError(f"{side.spec.name} key column {key.name} of {side.spec.table_name} is "
                             f"{key.type_name}, which reconciliation cannot normalise the same way in every engine "
                             "(key columns may be integer, numeric, text, UUID, date or timestamp)")
    # one integer or UUID key column: split by its own order (cheap: no hash of the key, the range is in the
    # WHERE, and losses show as key ranges); anything else (text, numeric, composite keys, also with a
    # low-cardinality first column): by a hash of the whole key
    first = side.columns[side.spec.keys[0]]
    single = len(side.spec.keys) == 1
    side.uuid_key = single and first.type_name.strip().lower() == "uuid"
    side.ordered_key = single and (first.kind is ColumnKind.INT or side.uuid_key)
    side.key_integral = tuple(side.columns[name].kind.is_integral for name in side.spec.keys)
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
           options: ReconcileOptions) -> tuple[dict[datetime | None, Agg], str]:
    """Per-cell aggregates over the ranges and the no-time cell (None)."""
    q = RowQuery(side, options.mode, options.numeric_scale, grain=plan.grain, grouped=side.group_text,
                 xor_uuid_key=True)
    where, params = base_where(side, ranges, no_time=True)
    inner = q.rows_sql(where)
    join, cell_col = "", "g"
    if options.mode is not ReconcileMode.COUNT and ranges:  # count mode hashes nothing: no parallel scan
        if q.text_hash:
            # grouped by the text columns too, whose statistics the planner must keep seeing (dialects.py)
            tkind = side.columns[side.spec.time_column].kind
            calendar = side.dialect.cell_calendar(tkind, plan.grain, min(lo for lo, _ in ranges),
                                                  max(hi for _, hi in ranges))
            if calendar is not None:
                join, cell_col = calendar[0], "cal.g"
                params += calendar[1]
        else:
            inner = side.dialect.cell_rows(inner, q.rows_sql("1 = 0"))
    s = side.dialect.sum_exact
    # nt says which group is the no-time cell: the fakesnow server we test against sends a NULL timestamp
    # as 1970-01-01, so g alone cannot
    nt = f"CASE WHEN {cell_col} IS NULL THEN 1 ELSE 0 END AS nt"
    # a hashed key's range is the whole hash space, a UUID's the whole space of its leading 60 bits: no
    # MIN/MAX of k0 (each would compute it for every row once more where the engine inlines the layers; for
    # UUIDs that doubled PostgreSQL's scan, while starting from the whole space costs at most a few cheap
    # drill-down levels, ranges on the key's index)
    mn, mx = ("MIN(k0)", "MAX(k0)") if side.ordered_key and not side.uuid_key else ("0", str(HASH_MAX))
    if options.mode is ReconcileMode.COUNT:
        sql = f"SELECT g, COUNT(*) AS c, {nt} FROM ({inner}) q GROUP BY g"
    elif q.text_hash:
        # md5 once per cell and distinct combination of the text columns, not once per row (dialects.py)
        texts = ", ".join(q.text_aliases)
        grouped = (f"SELECT {cell_col} AS g, {texts}, COUNT(*) AS c, {q.key_sum()} AS sk, {mn} AS mn, {mx} AS mx, "
                   f"{s('w * ii')} AS swi, {s('w')} AS sw FROM ({inner}) q{join} GROUP BY {cell_col}, {texts}")
        sql = (f"SELECT g, SUM(c) AS c, SUM(sk) AS sk, MIN(mn) AS mn, MAX(mx) AS mx, "
               f"SUM(swi) + SUM(sw * MOD({q.text_hash}, {MIX_Q})) AS sh, "
               f"CASE WHEN g IS NULL THEN 1 ELSE 0 END AS nt FROM ({grouped}) s GROUP BY g")
    else:
        sql = (f"SELECT g, COUNT(*) AS c, {q.key_sum()} AS sk, {mn} AS mn, {mx} AS mx, {s('h')} AS sh, "
               f"{nt} FROM ({inner}) q GROUP BY g")
    out: dict[datetime | None, Agg] = {}
    for row in side.run(sql, params, scan=True):
        g = None if row[-1] else row[0]
        cell = None if g is None else g.replace(tzinfo=EPOCH.tzinfo) if g.tzinfo is None else g.astimezone(EPOCH.tzinfo)
        if len(row) == 3:
            out[cell] = Agg(count=as_int(row[1]))
        else:
            key = side.dialect.xor_key_value(row[2]) if q.xor_key else as_int(row[2])
            out[cell] = Agg(as_int(row[1]), key, opt_int(row[3]), opt_int(row[4]), as_int(row[5]))
    return out, sql



def segment_sql(side: Side, plan: BucketPlan, segs: Sequence[tuple[int, Segment, int]],
                options: ReconcileOptions, *, leaf: bool) -> tuple[str, list[Any]]:
    """Per segment: the sub-range aggregates of a drill-down level (leaf=False) or its rows (leaf=True)."""
    if not side.ordered_key:
        return _hashed_segment_sql(side, plan, segs, options, leaf=leaf)
    d = side.dialect
    q = RowQuery(side, options.mode, options.numeric_scale, leaf=leaf)
    parts: list[str] = []
    params: list[Any] = []
    ph = d.placeholder
    key = d.ident(side.columns[side.spec.keys[0]].name)
    for seg_id, seg, width in segs:
        where, wparams = cell_where(side, plan, seg.cell)
        # the key column itself: the range is in the table's WHERE (the primary key's index serves it)
        rows = q.rows_sql(f"{where} AND {key} >= {ph} AND {key} <= {ph}")
        if leaf:
            parts.append(f"SELECT {seg_id} AS seg, {', '.join(_leaf_columns(side, q))} FROM ({rows}) q{seg_id}")
        else:
            source = f"({rows}{d.compute_once}) q{seg_id}"  # k0: in sub and in the key sum
            # lo and width are integers computed here, not config values: inlined, since a dialect may repeat them
            # k0 is a bigint in PostgreSQL (its integer key, or a UUID's leading 60 bits) and lies in [lo, hi]
            in_bigint = seg.lo >= -(2**63) and max(seg.hi, seg.hi - seg.lo, width) < 2**63
            sub = d.sub_range("k0", seg.lo, width, in_bigint=in_bigint)
            parts.append(f"SELECT {seg_id} AS seg, {sub} AS sub, COUNT(*) AS c, "
                         f"{q.key_sum()} AS sk, {d.sum_exact('h')} AS sh FROM {source} GROUP BY 2")
        params += [*wparams, *_key_bounds(side, seg)]
    return " UNION ALL ".join(parts), params


def _key_bounds(side: Side, seg: Segment) -> list[Any]:
    """The segment's range as values of the key column: the integers themselves, or for a UUID key the lowest
    and highest UUID whose leading 60 bits are lo and hi."""
    if side.uuid_key:
        return [uuid.UUID(int=seg.lo << UUID_REST_BITS), uuid.UUID(int=(seg.hi << UUID_REST_BITS) | UUID_REST_MASK)]
    return [seg.lo, seg.hi]


def _hashed_segment_sql(side: Side, plan: BucketPlan, segs: Sequence[tuple[int, Segment, int]],
                        options: ReconcileOptions, *, leaf: bool) -> tuple[str, list[Any]]:
    """The key's hash is only known once computed, so each cell is read and hashed once for all its segments,
    joined to them as a VALUES list (seg, lo, hi, width), rather than once per segment."""
    d = side.dialect
    q = RowQuery(side, options.mode, options.numeric_scale, leaf=leaf)
    ph = d.placeholder
    by_cell: dict[datetime | None, list[tuple[int, Segment, int]]] = {}
    for item in segs:
        by_cell.setdefault(item[1].cell, []).append(item)
    parts: list[str] = []
    params: list[Any] = []
    for n, (cell, items) in enumerate(by_cell.items()):
        where, wparams = cell_where(side, plan, cell)
        values = ", ".join(f"({ph}, {ph}, {ph}, {ph})" for _ in items)
        source = (f"({q.rows_sql(where)}{d.compute_once}) q{n} JOIN (VALUES {values}) AS s{n}(seg, lo, hi, w) "
                  f"ON q{n}.k0 >= s{n}.lo AND q{n}.k0 <= s{n}.hi")
        if leaf:
            parts.append(f"SELECT s{n}.seg, {', '.join(_leaf_columns(side, q))} FROM {source}")
        else:
            sub = d.sub_range("k0", f"s{n}.lo", f"s{n}.w", in_bigint=True)  # a 60-bit hash, lo and w too
            parts.append(f"SELECT s{n}.seg, {sub} AS sub, COUNT(*) AS c, "
                         f"{d.sum_exact('k0')} AS sk, {d.sum_exact('h')} AS sh FROM {source} GROUP BY 1, 2")
        params += [*wparams, *(v for seg_id, seg, width in items for v in (seg_id, seg.lo, seg.hi, width))]
    return " UNION ALL ".join(parts), params


def _leaf_columns(side: Side, q: RowQuery) -> list[str]:
    return ["k0", *[f"kv{i}" for i in range(len(side.spec.keys))], "h" if q.has_hash else "0 AS h",
            "vv" if "vv" in q.keep else "NULL AS vv"]


def key_range_counts(side: Side, plan: BucketPlan, bounds: Sequence[tuple[Any, Any]]) -> dict[int, int]:
    """Rows of the side (over the whole plan and the no-time rows) whose single key is between each (first, last),
    inclusive, compared as Python sorts the keys (text by code point). One scan, or index lookups."""
    d = side.dialect
    col = side.columns[side.spec.keys[0]]
    key = d.binary_order(d.ident(col.name), col.type_name) if col.kind is ColumnKind.TEXT else d.ident(col.name)
    where, wparams = base_where(side, plan.ranges(), no_time=True)
    ph = d.placeholder
    between = [f"({key} >= {ph} AND {key} <= {ph})" for _ in bounds]
    values = [v for pair in bounds for v in pair]
    counts = ", ".join(f"SUM(CASE WHEN {b} THEN 1 ELSE 0 END)" for b in between)
    sql = f"SELECT {counts} FROM {d.table(side.spec.table)} WHERE {where} AND ({' OR '.join(between)})"
    row = side.run(sql, [*values, *wparams, *values])[0]
    return {i: as_int(v) for i, v in enumerate(row)}


def prepare(side: Side, options: ReconcileOptions) -> None:
    """Introspect and resolve a side on its own (full mode with no column list: all columns of the table)."""
    cols = table_columns(side)
    if options.mode is ReconcileMode.FULL and not side.spec.columns:
        side.spec = replace(side.spec, columns=tuple(c.name for c in cols.values()))
    resolve(side, cols, needed(side.spec))
    decide_text_grouping(side, options)


GROUP_TEXT_MAX = 64  # distinct combinations of the text columns up to which cells hash each once per cell


def decide_text_grouping(side: Side, options: ReconcileOptions) -> None:
    """Full mode: whether this side's cell query groups rows by their text columns and hashes each distinct
    combination once per cell (a cell's sum is the same either way, so each side decides alone). Only when the
    engine's statistics or a sample say the combinations are few: grouping by a column of distinct values would
    aggregate every row apart."""
    side.group_text = False
    d = side.dialect
    if options.mode is not ReconcileMode.FULL or not d.groups_text:
        return
    texts = [side.columns[n].name for n in side.spec.columns if side.columns[n].kind.is_hashed_as_text]
    sql = d.text_distinct_sql(d.table(side.spec.table), texts) if texts else None
    if sql is None:
        return
    rows = side.run(sql, [])
    estimate = rows[0][0] if rows else None
    side.group_text = estimate is not None and float(estimate) <= GROUP_TEXT_MAX


def key_of(row: Sequence[Any], nkeys: int, start: int = 0) -> Key:
    """The key of a leaf row from its kv columns: int for integral key columns (so composite keys sort as
    numbers), text otherwise."""
    return tuple(int(v) if isinstance(v, (int, Decimal)) else v for v in row[start:start + nkeys])


def row_fingerprints(side: Side, start: datetime, end: datetime,
                     options: ReconcileOptions) -> dict[Key, tuple[int, int | None]]:
    """Per key, (hash, version µs) exactly as this engine computes them for [start, end) and the no-time rows:
    the values that must be identical on every engine for identical rows. For tests and for debugging a pair
    by hand."""
    prepare(side, options)
    q = RowQuery(side, options.mode, options.numeric_scale, leaf=True)
    where, params = base_where(side, [(start, end)], no_time=True)
    n = len(side.spec.keys)
    cols = [*(f"kv{i}" for i in range(n)), "h" if q.has_hash else "0 AS h", "vv" if "vv" in q.keep else "NULL AS vv"]
    rows = side.run(f"SELECT {', '.join(cols)} FROM ({q.rows_sql(where)}) q", params)
    return {key_of(r, n): (as_int(r[n]), opt_int(r[n + 1])) for r in rows}


def cell_aggregates(side: Side, plan: BucketPlan, options: ReconcileOptions) -> dict[datetime | None, Agg]:
    """The per-cell aggregates of a side over the whole plan (count, sum/min/max key, sum of hashes)."""
    prepare(side, options)
    out, _ = cells(side, plan, plan.ranges(), options)
    return out
