"""SQL dialects for reconciliation: PostgreSQL, Snowflake and DuckDB.

Every engine must compute the *same integer* for the same row, or the bucket aggregates never match. So values are
first normalised to engine-neutral primitives, then hashed with functions all three engines evaluate exactly:

  timestamps  -> UTC epoch microseconds (bigint). TIMESTAMPTZ/TIMESTAMP_TZ/LTZ use their UTC instant; naive
                 TIMESTAMP/TIMESTAMP_NTZ are taken as UTC wall time (what Debezium and Snowpipe write).
  numerics    -> text of the value cast to DECIMAL(38, scale), e.g. 12.5 (numeric(12,2)) and 12.5000 (NUMBER(38,4))
                 both become '12.500000', so scale differences are not differences.
  integers    -> decimal text; dates -> days since 1970-01-01; booleans -> '1'/'0'; text -> itself.
  Each text value then enters a row's hash length-prefixed ('5:x|y|z'), numbers as they print (no '|' in them),
  and NULL as '~', which neither starts with: the encoding is injective, so NULL differs from every text (also
  '\\N' and ''), and a '|' moved between adjacent columns ('x', 'y|z' vs 'x|y', 'z') changes the hash. Lengths
  count characters (code points) in all three engines.

Two hashes, both plain non-negative integers summed exactly (NUMERIC / HUGEINT / NUMBER(38,0)):
  version hash (recommended mode, integer or timestamp version column):
      mix(v) = MOD(MOD(v, 2147483647) * 1945555039, 1000000007)
    integer arithmetic only (no text, no md5), so it is cheap on a 50M-row scan and bit-identical everywhere;
    MOD truncates toward zero in all three engines, products stay below 2^62.
  row hash (full-column mode):
      h = w(key) * (MOD(I, MIX_Q) + MOD(T, MIX_Q))
    I: per integral column (integers, timestamps, dates) and per decimal or float column (as the integer
      value * 10^scale, at the scale both sides agree on), mix with a per-position multiplier: no text, no md5.
    T: the first 15 hex digits of md5(normalised text of the text, boolean and other columns) read as a 60-bit
      integer (0 when there are none).
    w(key) = mix(key) + 2 * MIX_Q, in (MIX_Q, 3 * MIX_Q): binds the values to the row's key, so values swapped
      between two rows of one bucket change its sum; |h| < 6 * MIX_Q^2 < 2^63.
    Since T depends on the text columns only, a cell's sum of h is also sum(w * MOD(I, Q)) plus, per distinct
    text combination, MOD(T, Q) * sum(w): the engines that can (PostgreSQL, DuckDB) compute md5 once per
    combination and cell instead of once per row when the text columns have few distinct values
    (queries.cells).
    The md5 of a version column that is not numeric (checksum mode) is the same 60-bit integer.
    PostgreSQL: ('x0' || substr(md5(t), 1, 15))::bit(64)::bigint; DuckDB: ('0x' || substr(md5(t), 1, 15))::BIGINT;
    Snowflake: the 15 digits summed positionally (POSITION(digit IN '0123456789abcdef') - 1) * 16^i, because
    TO_NUMBER(.., 'XXXX') is not available in every Snowflake-compatible engine we test against.

PostgreSQL detail: extract(epoch) returns NUMERIC (slow on big scans). Between 1900 and 2100 the double
date_part('epoch', t) * 1e6, rounded, is the exact microsecond: PostgreSQL divides the exact integer microseconds by
1e6 once (error under 2^-22 s while |t| < 2^32 s), so the product lies within 0.49 µs of the integer. Outside those
years the epoch of the timestamp truncated to the second plus date_part('microseconds') (both doubles holding exact
integers) is used: exact everywhere, about twice the cost. Tests compare both with the NUMERIC path.

DuckDB detail: date_trunc of a TIMESTAMPTZ goes through its ICU calendar (0.45 s per 5M rows on one thread); the
hour or day of the UTC epoch microseconds, floored in integers, is the same cell at a sixth of the cost.

UUID keys (a UUID column on both sides; PostgreSQL and DuckDB): the drill-down splits them by their leading 60 bits
(k0) and adds the other 68, mixed, to the key sum (kx). A checksum cell needs no split, so it takes the XOR of all
128 bits instead (bit_xor of a bit(128) in PostgreSQL, of the UHUGEINT in DuckDB): one hex conversion per row in
PostgreSQL instead of two (its scan of 5M UUID rows: 1.8 s -> 1.4 s). Count and a version hash sit beside it, and
a key changed in any bit changes the XOR.

Queries are built in layers: layer 1 reads the table (with the WHERE), later layers compute from layer-1 aliases.
PostgreSQL flattens them (so its parallel workers compute everything); no costly expression is referenced twice.

Identifiers from config are quoted: PostgreSQL by psycopg (sql.Identifier), Snowflake and DuckDB as double-quoted
identifiers; Snowflake names that are plain (unquoted-style) identifiers are upper-cased first, exactly as Snowflake
resolves unquoted names. Values are always bound parameters.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

MIX_P = 2147483647
MIX_C = 1945555039
MIX_Q = 1000000007
NULL_MARKER = "~"  # length-prefixed values start with a digit
FAST_EPOCH_FROM, FAST_EPOCH_UNTIL = "1900-01-01", "2100-01-01"  # where PostgreSQL's double epoch is exact to the µs
GRAIN_US = {"hour": 3_600_000_000, "day": 86_400_000_000}  # grains of fixed length in UTC
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")


class ColumnKind(enum.StrEnum):
    INT = "int"
    DECIMAL = "decimal"
    FLOAT = "float"
    TIMESTAMP_TZ = "timestamp_tz"
    TIMESTAMP = "timestamp"
    DATE = "date"
    BOOL = "bool"
    TEXT = "text"
    OTHER = "other"

    @property
    def is_time(self) -> bool:
        return self in (ColumnKind.TIMESTAMP_TZ, ColumnKind.TIMESTAMP)

    @property
    def is_integral(self) -> bool:
        """Normalises to an exact integer (usable in sum(key) and the cheap version hash)."""
        return self in (ColumnKind.INT, ColumnKind.TIMESTAMP_TZ, ColumnKind.TIMESTAMP, ColumnKind.DATE)

    @property
    def is_hashed_as_text(self) -> bool:
        """Full mode: enters the row hash through md5 (text, booleans, other); every other kind as an integer."""
        return not self.is_integral and self not in (ColumnKind.DECIMAL, ColumnKind.FLOAT)


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    type_name: str = ""
    scale: int | None = None  # declared scale of a DECIMAL column


class Dialect:
    """SQL text for one engine. Subclasses override the engine-specific pieces."""

    name: str = ""
    placeholder: str = "%s"
    # closes a subquery whose computed columns the enclosing query reads more than once, so each is computed once
    # per row (the drill-down's key: in its sub-range, its sum, a join to the segments' bounds)
    compute_once: str = ""

    # ---- identifiers -------------------------------------------------------------------------------------------
    def ident(self, name: str) -> str:
        return '"' + name.replace('"', '""') + '"'

    def table(self, parts: Sequence[str]) -> str:
        return ".".join(self.ident(p) for p in parts)

    def columns_query(self, parts: Sequence[str]) -> tuple[str, list[object]]:
        """(column_name, data_type, numeric_scale) of a table; no rows when it does not exist."""
        *schema, table = parts
        ph = self.placeholder
        where = f"table_name = {ph}"
        params: list[object] = [table]
        if schema:
            where += f" AND table_schema = {ph}"
            params.append(schema[-1])
        return (f"SELECT column_name, data_type, numeric_scale FROM information_schema.columns WHERE {where} "
                "ORDER BY ordinal_position", params)

    def classify(self, data_type: str, scale: object) -> ColumnKind:
        t = data_type.strip().lower()
        if t in ("bigint", "integer", "int", "smallint", "tinyint", "hugeint", "ubigint", "uinteger", "usmallint",
                 "utinyint", "int8", "int4", "int2"):
            return ColumnKind.INT
        if t.startswith(("numeric", "decimal", "number")):
            return ColumnKind.INT if scale in (0, "0") and t.startswith("number") else ColumnKind.DECIMAL
        if t in ("real", "double precision", "double", "float", "float4", "float8"):
            return ColumnKind.FLOAT
        if t in ("timestamp with time zone", "timestamptz", "timestamp_tz", "timestamp_ltz"):
            return ColumnKind.TIMESTAMP_TZ
        if t in ("timestamp without time zone", "timestamp", "timestamp_ntz", "datetime"):
            return ColumnKind.TIMESTAMP
        if t == "date":
            return ColumnKind.DATE
        if t in ("boolean", "bool"):
            return ColumnKind.BOOL
        if t in ("text", "character varying", "varchar", "character", "char", "string", "uuid", "bpchar"):
            return ColumnKind.TEXT
        return ColumnKind.OTHER

    # ---- time ----------------------------------------------------------------------------------------------------
    def utc_wall(self, col: str, kind: ColumnKind) -> str:
        """The column as a naive UTC timestamp (for truncation)."""
        return f"({col} AT TIME ZONE 'UTC')" if kind is ColumnKind.TIMESTAMP_TZ else col

    def trunc(self, col: str, kind: ColumnKind, grain: str) -> str:
        return f"date_trunc('{grain}', {self.utc_wall(col, kind)})"

    def time_value(self, kind: ColumnKind, when: datetime) -> tuple[str, object]:
        """A placeholder fragment and bound value comparable with a column of this kind."""
        when = when.astimezone(UTC)
        if kind is ColumnKind.TIMESTAMP_TZ:
            return self.placeholder, when
        return self.placeholder, when.replace(tzinfo=None)

    def cell_rows(self, rows: str, no_rows: str) -> str:
        """The rows a cell query groups (`rows`) in a form whose GROUP BY this engine plans well; `no_rows` is the
        same statement selecting nothing."""
        return rows

    def cell_calendar(self, kind: ColumnKind, grain: str, lo: datetime, hi: datetime) -> tuple[str, list[object]] | None:
        """A join giving the cell query a calendar of the cells from `lo` to `hi` (as `cal(g)`, joined on q.g), for
        a cell query that also groups by other columns; None where the engine groups well without one."""
        return None

    # ---- normalisation: layer 1 (reads the column) and layer 2 (from the layer-1 alias) ---------------------------
    def int_l1(self, col: str, kind: ColumnKind) -> str:
        """Layer-1 expression of an integral column (epoch µs for timestamps, days for dates)."""
        if kind is ColumnKind.INT:
            return col
        if kind.is_time:
            return self.epoch_us(col, kind)
        if kind is ColumnKind.DATE:
            return self.epoch_days(col)
        raise ValueError(f"{kind} is not integral")

    def int_l2(self, alias: str, kind: ColumnKind) -> str:
        return alias

    def epoch_us(self, col: str, kind: ColumnKind) -> str:
        raise NotImplementedError

    def epoch_days(self, col: str) -> str:
        raise NotImplementedError

    def text_l1(self, col: str, kind: ColumnKind, scale: int, own_scale: int | None = None) -> str:
        """Layer-1 value for the normalised text of a column (may be a primitive finished in text_l2).

        Decimals become text at `scale` digits; a DECIMAL column already declared with that scale prints exactly
        so in every engine ('12.50'), so the (costly) cast is skipped for it."""
        if kind.is_integral:
            return self.int_l1(col, kind)
        if kind is ColumnKind.DECIMAL and own_scale == scale:
            return self.cast_text(col)
        if kind in (ColumnKind.DECIMAL, ColumnKind.FLOAT):
            return self.cast_text(f"CAST({col} AS {self.decimal_type(scale)})")
        if kind is ColumnKind.BOOL:
            return f"CASE WHEN {col} THEN '1' WHEN NOT {col} THEN '0' END"
        return self.cast_text(col)

    def text_l2(self, alias: str, kind: ColumnKind, *, prefixed: bool = True) -> str:
        """Layer-2 encoded text, NULL made explicit (collision-free, see the module doc). Free text is
        length-prefixed; numbers, dates and booleans print no '|' and never as NULL_MARKER, so they go as they are
        (and their text, costly to make, is not referenced twice)."""
        value = self.cast_text(self.int_l2(alias, kind)) if kind.is_integral else alias
        if prefixed and kind in (ColumnKind.TEXT, ColumnKind.OTHER):
            value = f"{self.cast_text(f'LENGTH({value})')} || ':' || {value}"
        return f"COALESCE({value}, {self.str_literal(NULL_MARKER)})"

    def decimal_type(self, scale: int) -> str:
        return f"DECIMAL(38, {scale})"

    def decimal_l1(self, col: str, kind: ColumnKind, scale: int, own_scale: int | None = None) -> str:
        """Layer-1 value of a decimal or float column at `scale` digits (no cast where the column has them)."""
        return col if kind is ColumnKind.DECIMAL and own_scale == scale else f"CAST({col} AS {self.decimal_type(scale)})"

    def scaled_int(self, alias: str, scale: int) -> str:
        """An integer congruent to alias * 10^scale modulo MIX_P (what mix_column reduces it to): the value itself
        where it fits 64 bits, else its residue computed in the engine's wide exact arithmetic."""
        raise NotImplementedError

    def key_weight(self, key_expr: str) -> str:
        """w(key) of the row hash: in (MIX_Q, 3 * MIX_Q), never 0, so no row's values drop out of the sum."""
        return f"({self.mix(key_expr)} + {2 * MIX_Q})"

    # Whether cells may group the text columns before hashing them (needs md5_int).
    groups_text = False

    def md5_int(self, text_expr: str) -> str:
        """The 60-bit integer of md5(text_expr) as one expression (engines whose md5_layers is one layer)."""
        raise NotImplementedError(f"{self.name} computes md5 in layers")

    def text_distinct_sql(self, table: str, columns: Sequence[str]) -> str | None:
        """A cheap query for an upper estimate of the distinct combinations of `columns` (one number), or None."""
        return None

    def cast_text(self, expr: str) -> str:
        return f"CAST({expr} AS VARCHAR)"

    def str_literal(self, value: str) -> str:
        return "'" + value.replace("'", "''") + "'"

    def concat(self, parts: Sequence[str]) -> str:
        sep = f" || {self.str_literal('|')} || "
        return sep.join(parts) if parts else "''"

    # ---- hashing -------------------------------------------------------------------------------------------------
    def mix(self, int_expr: str) -> str:
        return f"MOD(MOD({self.bigint(int_expr)}, {MIX_P}) * {MIX_C}, {MIX_Q})"

    def bigint(self, expr: str) -> str:
        """64-bit arithmetic for the mix (an INTEGER column times a 31-bit multiplier overflows 32 bits)."""
        return f"CAST({expr} AS BIGINT)"

    def md5_layers(self, text_expr: str, alias: str, plus: str = "0") -> list[list[tuple[str, str]]]:
        """Layers computing `alias` = the 60-bit integer of md5(text_expr) + `plus` (an expression over the
        layer-1 aliases)."""
        raise NotImplementedError

    def mix_column(self, int_expr: str, position: int) -> str:
        """Full mode: the hash contribution of an integral column (no text, no md5), NULL explicit.

        Each column position has its own multiplier, so swapping two columns' values changes the row hash; a NULL
        contributes MIX_Q + position, a value no non-NULL value can produce (those are below MIX_Q in magnitude)."""
        c = (MIX_C + position * 104729) % MIX_P
        return f"COALESCE(MOD(MOD({self.bigint(int_expr)}, {MIX_P}) * {c}, {MIX_Q}), {MIX_Q + position})"

    # ---- UUID keys ------------------------------------------------------------------------------------------------
    # A UUID key column on both sides is split by its own order: k0 = its leading 60 bits (compared natively as a
    # range in the WHERE, so an index or zone map serves a drill-down), and the other 68 bits hashed into kx (added
    # to the key sum): the low 64 bits as a signed bigint `low` and bits 60-63 `nib`,
    #     kx = MOD(MOD(low, MIX_P) * MIX_C + nib, MIX_Q)
    # MOD truncates toward zero in both engines, so a negative `low` gives the same (negative) kx in each.
    # No md5 per row (the hashed path's cost, about 3x a 5M-row scan).
    def uuid_l1(self, col: str) -> str:
        raise NotImplementedError(f"{self.name} has no UUID type")

    def uuid_top(self, alias: str) -> str:
        raise NotImplementedError(f"{self.name} has no UUID type")

    def uuid_rest(self, alias: str) -> str:
        raise NotImplementedError(f"{self.name} has no UUID type")

    def uuid_bits(self, alias: str) -> str:
        """All 128 bits of a UUID (layer-1 alias `alias`), as one value the engine's bit_xor aggregates."""
        raise NotImplementedError(f"{self.name} has no UUID type")

    def xor_key_value(self, value: object) -> int:
        """The 128-bit integer of a bit_xor of uuid_bits, as the driver returns it."""
        return 0 if value is None else int(str(value))

    # ---- arithmetic and aggregates -------------------------------------------------------------------------------
    def sub_range(self, key: str, lo: int | str, width: int | str, *, in_bigint: bool = False) -> str:
        """Which of a segment's sub-ranges (of `width` keys from `lo`: integers, or column names) the key falls
        in. Computed wider than 64 bits, since for keys spanning the sign key - lo exceeds the bigint range,
        unless `in_bigint`: the key, lo and key - lo all fit a signed 64-bit integer (an engine may then take the
        cheaper arithmetic)."""
        return f"(CAST({key} AS HUGEINT) - ({_lit(lo)})) // {_lit(width)}"

    def sum_exact(self, expr: str) -> str:
        return f"SUM({expr})"

    def as_text_for_filter(self, col: str) -> str:
        return self.cast_text(col)

    def binary_order(self, col: str, type_name: str) -> str:
        """A text/UUID column compared by code point, whatever the column's collation."""
        return self.cast_text(col)


class PostgresDialect(Dialect):
    name = "postgres"
    placeholder = "%s"
    # No fence between the layers: the planner flattens them, which lets parallel workers evaluate every
    # expression (a fence, OFFSET 0, would leave all of them to the leader above the Gather). Expressions are
    # written so no costly one is referenced twice by a later layer, since flattening would evaluate it twice.
    # The drill-down's statements are not parallel, and read the key twice or more: there a fence keeps the
    # planner from copying the key's expression into every use. A text key's md5 was computed twice per row and
    # segment in the join to the segments' bounds (a leaf fetch of 3,600 rows: 230,000 pairs, 0.34 s); a UUID's
    # leading bits twice per row in a drill-down level (90 cells of 5M rows: 0.63 -> 0.50 s).
    compute_once = " OFFSET 0"

    def ident(self, name: str) -> str:
        from psycopg import sql

        return sql.Identifier(name).as_string(None)

    def trunc(self, col: str, kind: ColumnKind, grain: str) -> str:
        if kind.is_time and grain in GRAIN_US:
            # hours and days counted from an origin at midnight UTC: a fifth cheaper per row than date_trunc,
            # which converts every timestamptz to calendar fields in the session's zone and back (PostgreSQL 14+)
            origin = "timestamptz '2000-01-01 00:00:00+00'" if kind is ColumnKind.TIMESTAMP_TZ else "timestamp '2000-01-01'"
            return f"date_bin('1 {grain}', {col}, {origin})"
        # sessions run with TimeZone = 'UTC' (sides.postgres_execute), so this truncates on UTC hours/days
        # without a per-row AT TIME ZONE conversion
        return f"date_trunc('{grain}', {col})"

    def cell_rows(self, rows: str, no_rows: str) -> str:
        # The planner estimates the groups of GROUP BY date_bin(created_at) from created_at's statistics: one per
        # row. So it never aggregates in its parallel workers: every row goes to the leader, which then does all
        # the hashing (the md5 of full mode, the bytes of a UUID key) alone. A column of a UNION ALL has no
        # statistics (the planner gives up on set operations), so it assumes a few hundred cells and each worker
        # aggregates its share. The branch that selects nothing is planned away. Cheaper than the calendar join
        # below by 0.3 s of CPU per 5M rows: the clustered checksum scan went from 0.82 to 0.69 s.
        return f"{rows} UNION ALL {no_rows}"

    def cell_calendar(self, kind: ColumnKind, grain: str, lo: datetime, hi: datetime) -> tuple[str, list[object]] | None:
        # For a cell query that groups by text columns too (full mode, queries.cells): the UNION ALL above would
        # hide their statistics as well, and the planner, assuming many groups, might again gather every row.
        # The planner cannot estimate how many cells a GROUP BY date_trunc makes and assumes one per row, so it
        # never aggregates in its parallel workers: every row goes to the leader, which evaluates all the hashing
        # alone (the md5 of full mode, the bytes of a UUID key). Grouping by the cell of a joined calendar (a few
        # hundred rows it can count) lets each worker aggregate its share; full mode over 5M rows went from 7.0 s
        # to 4.7 s with one worker. A row outside the calendar would fall into the NULL (no-time) group, so the
        # calendar spans every range of the WHERE.
        if not kind.is_time or grain not in GRAIN_US:
            return None
        cast = "timestamptz" if kind is ColumnKind.TIMESTAMP_TZ else "timestamp"
        f_lo, v_lo = self.time_value(kind, lo)
        f_hi, v_hi = self.time_value(kind, hi)
        return (f" LEFT JOIN generate_series(date_trunc('{grain}', {f_lo}::{cast}), {f_hi}::{cast}, "
                f"interval '1 {grain}') AS cal(g) ON cal.g = q.g", [v_lo, v_hi])

    def epoch_us(self, col: str, kind: ColumnKind) -> str:
        # fast and exact between 1900 and 2100 (see the module docstring); elsewhere whole seconds (an integral
        # double, exact) plus the seconds field's microseconds (exact below 6e7)
        exact = (f"date_part('epoch', date_trunc('second', {col}))::bigint * 1000000 "
                 f"+ mod(date_part('microseconds', {col})::bigint, 1000000)")
        return (f"(CASE WHEN {col} >= '{FAST_EPOCH_FROM}' AND {col} < '{FAST_EPOCH_UNTIL}' "
                f"THEN (date_part('epoch', {col}) * 1000000)::bigint ELSE {exact} END)")

    def epoch_days(self, col: str) -> str:
        return f"({col} - DATE '1970-01-01')"

    def decimal_type(self, scale: int) -> str:
        return f"NUMERIC(38, {scale})"

    def cast_text(self, expr: str) -> str:
        return f"({expr})::text"

    def md5_int(self, text_expr: str) -> str:
        return f"('x0' || substr(md5({text_expr}), 1, 15))::bit(64)::bigint"

    def md5_layers(self, text_expr: str, alias: str, plus: str = "0") -> list[list[tuple[str, str]]]:
        return [[(alias, f"{self.md5_int(text_expr)} + {plus}")]]

    groups_text = True

    def scaled_int(self, alias: str, scale: int) -> str:
        # NaN and the infinities (numeric has them, no target type does) get residues of their own; not 0 (of
        # P itself), which is the residue of the most common amount
        f = 10 ** scale
        return (f"(CASE WHEN abs({alias}) < {10 ** (18 - scale)} THEN ({alias} * {f})::bigint "
                f"WHEN {alias} = 'NaN' THEN {MIX_P - 11} WHEN {alias} = 'Infinity' THEN {MIX_P - 12} "
                f"WHEN {alias} = '-Infinity' THEN {MIX_P - 13} "
                f"WHEN {alias} IS NOT NULL THEN mod({alias} * {f}, {MIX_P})::bigint END)")

    def text_distinct_sql(self, table: str, columns: Sequence[str]) -> str | None:
        # the planner's statistics (ANALYZE, autovacuum): no scan. Per column its distinct values (negative
        # n_distinct is a fraction of the rows), one more for NULL; their product bounds the combinations.
        # No statistics for a column: NULL, so no grouping.
        names = ", ".join(self.str_literal(c) for c in columns)
        per_column = ("SELECT (CASE WHEN s.n_distinct >= 0 THEN s.n_distinct ELSE -s.n_distinct * "
                      "greatest(c.reltuples, 0) END) + 1 AS nd FROM pg_class c "
                      "JOIN pg_namespace n ON n.oid = c.relnamespace "
                      "JOIN pg_stats s ON s.schemaname = n.nspname AND s.tablename = c.relname "
                      f"WHERE c.oid = to_regclass({self.str_literal(table)}) AND s.attname IN ({names})")
        return (f"SELECT CASE WHEN COUNT(*) = {len(columns)} THEN exp(sum(ln(nd))) END "
                f"FROM ({per_column}) d")

    def sub_range(self, key: str, lo: int | str, width: int | str, *, in_bigint: bool = False) -> str:
        if in_bigint:
            # a third of numeric's cost per row (a drill-down level over 90 hours of 5M rows: 0.40 -> 0.23 s);
            # key - lo >= 0 within the segment, so the division floors. The casts keep a literal -2^63, which
            # PostgreSQL reads as numeric, in bigint.
            return f"(({key} - ({_lit(lo)})::bigint) / ({_lit(width)})::bigint)"
        return f"div({key}::numeric - ({_lit(lo)}), {_lit(width)})"

    def as_text_for_filter(self, col: str) -> str:
        return f"({col})::text"

    def binary_order(self, col: str, type_name: str) -> str:
        if type_name.lower() == "uuid":
            return col  # orders by its bytes, i.e. as its lower-case text; compared natively, an index serves
        return f'({col})::text COLLATE "C"'  # text orders by the column's collation unless told "C"

    def uuid_l1(self, col: str) -> str:
        return f"uuid_send({col})"  # the 16 bytes, most significant first

    def uuid_top(self, alias: str) -> str:
        # PostgreSQL before 18 has no bytea -> bigint cast: 8 bytes as hex, as bit(64), as a signed bigint
        # (cheaper than eight get_byte calls), then the top 60 bits
        return f"(({self._uuid_bytes(alias, 1)} >> 4) & {2**60 - 1})"

    def uuid_rest(self, alias: str) -> str:
        return f"mod(mod({self._uuid_bytes(alias, 9)}, {MIX_P}) * {MIX_C} + (get_byte({alias}, 7) & 15), {MIX_Q})"

    def uuid_bits(self, alias: str) -> str:
        # one hex conversion of all 16 bytes: half the cost per row of the two bigint halves of uuid_top/uuid_rest
        return f"('x' || encode({alias}, 'hex'))::bit(128)"

    def xor_key_value(self, value: object) -> int:
        return 0 if value is None else int(str(value), 2)  # psycopg returns a bit string as its '0'/'1' digits

    @staticmethod
    def _uuid_bytes(alias: str, start: int) -> str:
        """Eight of the bytes as a signed bigint."""
        return f"('x' || encode(substring({alias} from {start} for 8), 'hex'))::bit(64)::bigint"


class DuckDBDialect(Dialect):
    name = "duckdb"
    placeholder = "?"

    def trunc(self, col: str, kind: ColumnKind, grain: str) -> str:
        if kind.is_time and grain in GRAIN_US:
            # the cell from integer microseconds, floored (DuckDB's // truncates toward zero): no ICU calendar
            us, width = f"epoch_us({col})", GRAIN_US[grain]
            return f"make_timestamp({us} - ((({us} % {width}) + {width}) % {width}))"
        # sessions run with TimeZone = 'UTC' (DuckDBSource), so TIMESTAMPTZ truncates on UTC hours/days
        return f"date_trunc('{grain}', {col})"

    def epoch_us(self, col: str, kind: ColumnKind) -> str:
        return f"epoch_us({col})"

    def epoch_days(self, col: str) -> str:
        return f"({col} - DATE '1970-01-01')"

    def md5_int(self, text_expr: str) -> str:
        return f"CAST('0x' || substr(md5({text_expr}), 1, 15) AS BIGINT)"

    def md5_layers(self, text_expr: str, alias: str, plus: str = "0") -> list[list[tuple[str, str]]]:
        return [[(alias, f"{self.md5_int(text_expr)} + {plus}")]]

    groups_text = True

    def scaled_int(self, alias: str, scale: int) -> str:
        # beyond 64 bits: whole part and fraction scaled apart in HUGEINT (a DECIMAL(38, s) times 10^s would
        # overflow DECIMAL(38))
        f = 10 ** scale
        whole = f"CAST(trunc({alias}) AS HUGEINT)"
        return (f"(CASE WHEN abs({alias}) < {10 ** (18 - scale)} THEN CAST({alias} * {f} AS BIGINT) ELSE "
                f"CAST(({whole} * {f} + CAST(({alias} - trunc({alias})) * {f} AS HUGEINT)) % {MIX_P} AS BIGINT) END)")

    def text_distinct_sql(self, table: str, columns: Sequence[str]) -> str | None:
        # a sample of rows (not of blocks of neighbouring rows, which share values when the table is in time
        # order), streamed and cut at 5,000 rows: no reservoir to hold, a small DISTINCT, and the scan stops early
        cols = ", ".join(self.ident(c) for c in columns)
        return (f"SELECT COUNT(*) FROM (SELECT DISTINCT {cols} FROM (SELECT {cols} FROM {table} "
                "USING SAMPLE 1 PERCENT (bernoulli) LIMIT 5000) s) d")

    def uuid_l1(self, col: str) -> str:
        return f"CAST({col} AS UHUGEINT)"  # the UUID's 128 bits as an unsigned integer, in its own order

    def uuid_top(self, alias: str) -> str:
        return f"CAST({alias} >> 68 AS BIGINT)"

    def uuid_rest(self, alias: str) -> str:
        # the low 64 bits read as a signed bigint, as PostgreSQL's bit(64)::bigint reads them: the low 63 bits
        # minus 2^63 if bit 63 is set (in two steps: 2^63 is no BIGINT)
        top = f"CAST(({alias} >> 63) & 1 AS BIGINT)"
        low = f"(CAST({alias} & {2**63 - 1} AS BIGINT) - {top} * {2**63 - 1} - {top})"
        return f"MOD(MOD({low}, {MIX_P}) * {MIX_C} + CAST(({alias} >> 64) & 15 AS BIGINT), {MIX_Q})"

    def uuid_bits(self, alias: str) -> str:
        return alias  # already the UHUGEINT of the 128 bits


class SnowflakeDialect(Dialect):
    name = "snowflake"
    placeholder = "%s"

    def ident(self, name: str) -> str:
        # Unquoted Snowflake identifiers resolve upper-case; quoting the upper-cased name is the same object,
        # and anything else (mixed case, spaces) is taken literally.
        return super().ident(name.upper() if _PLAIN.match(name) else name)

    def columns_query(self, parts: Sequence[str]) -> tuple[str, list[object]]:
        names = [p.upper() if _PLAIN.match(p) else p for p in parts]
        *prefix, schema, table = names if len(names) >= 2 else ["", *names]
        catalog = f"{self.ident(prefix[0])}." if prefix else ""
        sql = (f"SELECT column_name, data_type, numeric_scale FROM {catalog}information_schema.columns "
               "WHERE table_name = %s" + (" AND table_schema = %s" if schema else "") + " ORDER BY ordinal_position")
        return sql, [table, schema] if schema else [table]

    def utc_wall(self, col: str, kind: ColumnKind) -> str:
        if kind is ColumnKind.TIMESTAMP_TZ:
            return f"CONVERT_TIMEZONE('UTC', {col})"  # a TIMESTAMP_TZ at offset +00:00: truncates on UTC hours
        return col

    def trunc(self, col: str, kind: ColumnKind, grain: str) -> str:
        return f"DATE_TRUNC('{grain.upper()}', {self.utc_wall(col, kind)})"

    def time_value(self, kind: ColumnKind, when: datetime) -> tuple[str, object]:
        text = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        if kind is ColumnKind.TIMESTAMP_TZ:
            return "%s", text + "+00:00"  # compared with the column, Snowflake casts to its type
        return "%s", text

    def epoch_us(self, col: str, kind: ColumnKind) -> str:
        return f"DATE_PART(EPOCH_MICROSECOND, {col})"

    def epoch_days(self, col: str) -> str:
        return f"DATEDIFF(DAY, TO_DATE('1970-01-01'), {col})"

    def decimal_type(self, scale: int) -> str:
        return f"NUMBER(38, {scale})"

    def cast_text(self, expr: str) -> str:
        return f"TO_VARCHAR({expr})"

    def str_literal(self, value: str) -> str:
        return "'" + value.replace("\\", "\\\\").replace("'", "''") + "'"

    def md5_layers(self, text_expr: str, alias: str, plus: str = "0") -> list[list[tuple[str, str]]]:
        hx, hp = f"{alias}_hex", f"{alias}_plus"
        digits = " + ".join(
            f"(POSITION(SUBSTR({hx}, {i + 1}, 1) IN '0123456789abcdef') - 1) * {16 ** (14 - i)}" for i in range(15)
        )
        return [[(hx, f"MD5({text_expr})"), (hp, plus)], [(alias, f"{digits} + {hp}")]]

    def bigint(self, expr: str) -> str:
        return expr  # NUMBER arithmetic is exact to 38 digits

    def scaled_int(self, alias: str, scale: int) -> str:
        # NUMBER arithmetic is exact to 38 digits; the residue fits 64 bits
        return f"CAST(MOD({alias} * {10 ** scale}, {MIX_P}) AS NUMBER(38, 0))"

    def sub_range(self, key: str, lo: int | str, width: int | str, *, in_bigint: bool = False) -> str:
        # exact in Snowflake's NUMBER(38) arithmetic: the dividend is a multiple of the divisor
        # scale 1, not 0: NUMBER(38, 0) is a 64-bit integer in the fakesnow server we test against
        a = f"(CAST({key} AS NUMBER(38, 1)) - ({_lit(lo)}))"
        return f"CAST(({a} - MOD({a}, {_lit(width)})) / {_lit(width)} AS NUMBER(38, 0))"

    def sum_exact(self, expr: str) -> str:
        return f"SUM(CAST({expr} AS NUMBER(38, 0)))"


def _lit(value: int | str) -> str:
    """An integer computed by the engine, inlined as a literal, or a column name of the query (never config)."""
    return str(int(value)) if isinstance(value, int) else value


DIALECTS: dict[str, Dialect] = {d.name: d for d in (PostgresDialect(), DuckDBDialect(), SnowflakeDialect())}


def dialect_for(name: str) -> Dialect:
    try:
        return DIALECTS[name]
    except KeyError:
        raise ValueError(f"unknown reconciliation dialect {name!r} (known: {', '.join(sorted(DIALECTS))})") from None
