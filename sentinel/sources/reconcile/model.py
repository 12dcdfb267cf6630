"""Value types of reconciliation: what is compared (SideSpec, Side), how (ReconcileOptions), and what was found
(Agg per cell or key range, BucketDiff per bucket, PairReport per table pair)."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple, Protocol

from sentinel.sources.reconcile.dialects import Column, Dialect
from sentinel.sources.reconcile.plan import Bucket


class Execute(Protocol):
    """Runs one statement on a side. `scan` marks the statement that reads the whole compared range (the cells),
    which an engine may treat differently from the drill-down's small ones."""

    def __call__(self, sql: str, params: list[Any], /, *, scan: bool = False) -> list[tuple[Any, ...]]: ...


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
    # True: the drill-down splits ranges of the key itself (one integer key column, or one UUID column on both
    # sides: its leading 60 bits). False: of a 60-bit hash of the whole key (text, numeric, composite keys, a UUID
    # compared with text), whose order is the same in every engine.
    ordered_key: bool = True
    uuid_key: bool = False  # ordered by a UUID column's leading 60 bits; its other 68 bits enter the key sum
    # per key column: reported as an exact integer (both sides integral) or as normalised text; decided for both
    # sides together, so numeric(30,0) in PostgreSQL and NUMBER(30,0) in Snowflake give the same key values
    key_integral: tuple[bool, ...] = ()
    # full mode: the cell query hashes each distinct combination of the text columns once per cell, not each row
    # (queries.decide_text_grouping)
    group_text: bool = False

    def scale(self, name: str, default: int) -> int:
        return self.scales.get(name.lower(), default)

    def run(self, sql: str, params: list[Any], *, scan: bool = False) -> list[tuple[Any, ...]]:
        self.queries += 1
        return self.execute(sql, params, scan=scan)


@dataclass(frozen=True)
class ReconcileOptions:
    mode: ReconcileMode = ReconcileMode.CHECKSUM
    numeric_scale: int = 6  # only for decimals neither side declares a scale for, and floats
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
    moved: int = 0  # in the target under another bucket's time (counted here, in the source's bucket)

    @property
    def differing_rows(self) -> int:
        return self.missing + self.extra + self.duplicate + self.stale + self.unresolved + self.moved


class BucketRows(NamedTuple):
    source: int
    target: int


Key = tuple[Any, ...]  # a row's key values: int for integral key columns, normalised text otherwise


@dataclass(frozen=True)
class KeyRange:
    """A run of missing keys with no other source key between them: first..last, count."""

    first: Key
    last: Key
    count: int


@dataclass(frozen=True)
class MovedRow:
    key: Key
    source_bucket: Bucket
    target_bucket: Bucket


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
    notes: list[str] = field(default_factory=list)  # comparison caveats for the reader (e.g. differing scales)
    # every key found, by class, with the bucket it was found in (bounded by max_leaf_rows): for moved rows
    # and ranges, which need all of them, not the samples
    found: dict[str, dict[Key, int]] = field(default_factory=lambda: {"missing": {}, "extra": {}})
    present: set[Key] = field(default_factory=set)  # keys of leaf rows the target has (they interrupt ranges)
    missing_ranges: list[KeyRange] = field(default_factory=list)
    moved: list[MovedRow] = field(default_factory=list)
    # rows per compared bucket on each side, matched or not, zero included (volume_anomaly reads them through
    # row_reconciliation's memory instead of counting the table again); skipped buckets and the no-time cell are absent
    bucket_rows: dict[Bucket, BucketRows] = field(default_factory=dict)

    def total(self, what: str) -> int:
        return sum(int(getattr(d, what)) for d in self.diffs)


@dataclass
class Segment:
    cell: datetime | None  # None: the no-time cell
    lo: int
    hi: int
    src: Agg
    tgt: Agg
