"""Engine-independent row reconciliation: bucketed aggregates pushed down to both databases, then a drill-down by
key range to the exact missing, extra, duplicate and stale keys.

    dialects.py  SQL per engine (postgres, snowflake, duckdb): quoting, normalisation, the cross-engine row hash
    plan.py      time buckets (hour for the last 48 h, day for the last 30 days...), cells, in-flight cutoff
    engine.py    the comparison: bucket aggregates on both sides concurrently, drill-down, classification
    sides.py     adapters from Sentinel sources (PostgresSource, DuckDBSource, SnowflakeSource) to one `execute`

The crux is that both engines compute *identical* aggregates on identical data: every value is normalised to an
engine-neutral form (timestamps to UTC epoch microseconds, numerics to a fixed scale, NULLs to an explicit marker)
before it is hashed, and the hash is a plain integer every engine can sum exactly (see dialects.py).
"""

from sentinel.sources.reconcile.dialects import DIALECTS, Column, ColumnKind, Dialect, dialect_for
from sentinel.sources.reconcile.engine import (
    BucketDiff,
    PairReport,
    PairSpec,
    ReconcileMode,
    ReconcileOptions,
    Side,
    reconcile_pair,
)
from sentinel.sources.reconcile.plan import BucketPlan, Tier, plan_buckets

__all__ = [
    "DIALECTS",
    "BucketDiff",
    "BucketPlan",
    "Column",
    "ColumnKind",
    "Dialect",
    "PairReport",
    "PairSpec",
    "ReconcileMode",
    "ReconcileOptions",
    "Side",
    "Tier",
    "dialect_for",
    "plan_buckets",
    "reconcile_pair",
]
