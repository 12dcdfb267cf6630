"""Pure parts of row reconciliation: bucket planning, classification of leaf rows, findings, memory, params."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError
from sentinel_checks.row_reconciliation import (
    PairParams,
    RowReconciliationParams,
    fingerprint,
    pair_finding,
    remember,
    remembered,
)

from sentinel.api import Status
from sentinel.sources.reconcile import ReconcileOptions, Tier, plan_buckets
from sentinel.sources.reconcile.engine import BucketDiff, PairReport, _classify, finish_keys, key_order
from sentinel.sources.reconcile.model import KeyRange, MovedRow
from sentinel.sources.reconcile.plan import Bucket

NOW = datetime(2026, 11, 25, 10, 37, tzinfo=UTC)
TIERS = [Tier(timedelta(hours=1), timedelta(hours=48)), Tier(timedelta(days=1), timedelta(days=30))]


def test_buckets_are_utc_aligned_hours_then_days_and_stop_at_the_in_flight_cutoff() -> None:
    plan = plan_buckets(NOW, TIERS, timedelta(minutes=15))
    assert plan.cutoff == datetime(2026, 11, 25, 10, 22, tzinfo=UTC)
    assert plan.grain == "hour"
    last = plan.buckets[-1]
    assert (last.start, last.end, last.closed) == (datetime(2026, 11, 25, 10, tzinfo=UTC), plan.cutoff, False)
    hours = [b for b in plan.buckets if b.end - b.start == timedelta(hours=1)]
    days = [b for b in plan.buckets if b.end - b.start == timedelta(days=1)]
    assert hours[0].start == datetime(2026, 11, 23, tzinfo=UTC)  # 48 h back, aligned down to the day tier
    assert days[0].start == datetime(2026, 10, 26, tzinfo=UTC) and days[-1].end == hours[0].start
    assert all(a.end == b.start for a, b in zip(plan.buckets, plan.buckets[1:], strict=False))  # no gaps, no overlap
    assert all(b.closed for b in plan.buckets[:-1])
    assert plan.bucket_index(datetime(2026, 11, 1, 13, tzinfo=UTC)) == 6  # an hour cell inside a day bucket
    assert plan.bucket_index(datetime(2026, 11, 25, 11, tzinfo=UTC)) is None


def test_ranges_skip_remembered_buckets_and_merge_the_rest() -> None:
    plan = plan_buckets(NOW, TIERS, timedelta(minutes=15))
    skip = [b.start for b in plan.buckets[:10]] + [plan.buckets[12].start]
    ranges = plan.ranges(skip)
    assert ranges == [(plan.buckets[10].start, plan.buckets[12].start), (plan.buckets[13].start, plan.cutoff)]


@pytest.mark.parametrize("width", [timedelta(minutes=30), timedelta(hours=5), timedelta(hours=36)])
def test_bucket_widths_must_tile_a_day(width: timedelta) -> None:
    with pytest.raises(ValueError, match="must be whole"):
        Tier(width, timedelta(days=2))


def _diff() -> BucketDiff:
    return BucketDiff(Bucket(NOW, NOW + timedelta(hours=1), True), 0, 0)


def test_leaf_rows_are_classified_missing_extra_duplicate_stale_and_in_flight() -> None:
    report, diff = PairReport(), _diff()
    cutoff_us = 2_000
    # (seg, key position, key, hash, version_us)
    src = [(0, k, k, h, v) for k, h, v in [(1, 11, 100), (2, 22, 100), (3, 33, 100), (5, 55, 2_500), (6, 66, 100)]]
    tgt = [(0, k, k, h, v) for k, h, v in [(2, 22, 100), (3, 99, 90), (4, 44, 100), (5, 50, 100), (6, 66, 100),
                                           (6, 66, 100)]]
    _classify(report, diff, src, tgt, 1, cutoff_us, sample=10, bucket_index=7)
    assert (diff.missing, diff.extra, diff.duplicate, diff.stale, diff.in_flight) == (1, 1, 1, 1, 1)
    assert report.found == {"missing": {(1,): 7}, "extra": {(4,): 7}}
    assert report.samples["duplicate"] == ["6"] and report.samples["stale"] == ["3"]


def _pair(**kw: object) -> PairParams:
    return PairParams.model_validate({"source": {"engine": "postgres", "table": "payments.transactions"},
                                      "target": {"engine": "snowflake", "table": "raw.payments.transactions"},
                                      "key": ["id"], "time_column": "created_at", "version_column": "updated_at", **kw})


def _report(*diffs: BucketDiff) -> PairReport:
    r = PairReport(source_rows=1000, target_rows=997, buckets_checked=78, diffs=list(diffs),
                   queries={"source": 4, "target": 4}, levels=2)
    r.samples["missing"] = ["101", "202", "303"]
    return r


def test_finding_names_pair_counts_bucket_and_sample_keys() -> None:
    d = _diff()
    d.source_rows, d.target_rows, d.missing = 500, 497, 3
    params = RowReconciliationParams(pairs=[_pair()])
    f = pair_finding(params.pairs[0], _report(d), params)
    assert f.status is Status.CRITICAL
    assert f.key == "payments.transactions"
    assert f.summary == ("payments.transactions: 3 missing in 1 of 78 buckets (tolerance 0); worst 2026-11-25T10:37Z: "
                         "source 500 vs target 497; e.g. missing id 101, 202, 303")
    assert f.values["missing_rows"] == 3 and f.labels == {"table": "payments.transactions", "stage": "snowflake_raw",
                                                          "target": "raw.payments.transactions"}
    assert f.details["missing_keys"] == "101, 202, 303"
    assert f.details["buckets"].startswith("2026-11-25T10:37Z: source 500, target 497, missing 3")


def test_tolerance_turns_small_differences_into_a_warning() -> None:
    d = _diff()
    d.source_rows, d.target_rows, d.missing = 500, 498, 2
    params = RowReconciliationParams(pairs=[_pair()], tolerance_pct=0.5)  # 0.5% of 500 = 2.5 rows
    assert pair_finding(params.pairs[0], _report(d), params).status is Status.WARN
    strict = RowReconciliationParams(pairs=[_pair()], tolerance_abs=1)
    assert pair_finding(strict.pairs[0], _report(d), strict).status is Status.CRITICAL


def test_memory_keeps_only_settled_closed_matches_and_expires_them() -> None:
    plan = plan_buckets(NOW, TIERS, timedelta(minutes=15))
    params = RowReconciliationParams(pairs=[_pair()])
    fp = fingerprint(params.pairs[0], params)
    report = PairReport(matched_buckets=list(plan.buckets))
    mem = remember(None, fp, plan, report, NOW, timedelta(hours=2))
    starts = remembered(mem, fp, plan, NOW, timedelta(hours=24))
    assert plan.buckets[-1].start not in starts  # the open bucket
    assert plan.buckets[-2].start not in starts  # closed less than 2 h before the cutoff: late data may still come
    assert plan.buckets[0].start in starts and len(starts) == len(plan.buckets) - 3
    assert remembered(mem, "other-fingerprint", plan, NOW, timedelta(hours=24)) == []
    assert remembered(mem, fp, plan, NOW + timedelta(hours=25), timedelta(hours=24)) == []


def test_fingerprint_changes_with_the_comparison() -> None:
    a = RowReconciliationParams(pairs=[_pair()])
    b = RowReconciliationParams(pairs=[_pair()], mode="full")
    c = RowReconciliationParams(pairs=[_pair(version_column=None)])
    assert len({fingerprint(a.pairs[0], a), fingerprint(b.pairs[0], b), fingerprint(c.pairs[0], c)}) == 3


def test_params_reject_bad_configs_with_reasons() -> None:
    with pytest.raises(ValidationError, match="needs `path`"):
        _pair(target={"engine": "duckdb", "table": "payments.transactions"})
    with pytest.raises(ValidationError, match="source of a table pair is a PostgreSQL table"):
        _pair(source={"engine": "duckdb", "path": "x.duckdb", "table": "payments.transactions"})
    with pytest.raises(ValidationError, match=r"schema\.table"):
        _pair(target={"engine": "snowflake", "table": "transactions"})
    with pytest.raises(ValidationError, match="whole hours"):
        RowReconciliationParams(pairs=[_pair()], buckets=[{"every": "90m", "last": "1d"}])
    with pytest.raises(ValidationError, match="extra"):
        RowReconciliationParams.model_validate({"pairs": [], "surprise": 1})


def test_a_key_missing_in_one_bucket_and_extra_in_another_is_one_moved_row() -> None:
    plan = plan_buckets(NOW, TIERS, timedelta(minutes=15))
    a, b = len(plan.buckets) - 5, len(plan.buckets) - 4
    da, db = BucketDiff(plan.buckets[a], 10, 9, missing=2), BucketDiff(plan.buckets[b], 10, 11, extra=1)
    da.cells_differing = db.cells_differing = 1
    report = PairReport(diffs=[da, db])
    report.found = {"missing": {(7,): a, (9,): a}, "extra": {(7,): b}}
    finish_keys(report, plan, ReconcileOptions(sample_keys=10))
    assert (da.missing, da.moved, db.extra, db.differing_rows) == (1, 1, 0, 0)
    assert [m.key for m in report.moved] == [(7,)] and report.moved[0].target_bucket == plan.buckets[b]
    assert report.samples["missing"] == ["9"] and report.samples["extra"] == []


def test_finding_shows_loss_ranges_moved_rows_and_in_flight_updates() -> None:
    d = _diff()
    d.source_rows, d.target_rows, d.missing, d.moved, d.in_flight = 9000, 3999, 5001, 1, 2
    report = _report(d)
    report.found["missing"] = {(k,): 0 for k in [*range(2000, 12000, 2), 18000]}
    report.missing_ranges = [KeyRange((2000,), (11998,), 5000)]
    report.samples["missing"] = ["2000", "2002", "2004"]
    report.moved = [MovedRow((99999,), d.bucket, Bucket(NOW + timedelta(hours=1), NOW + timedelta(hours=2), True))]
    params = RowReconciliationParams(pairs=[_pair()])
    f = pair_finding(params.pairs[0], report, params)
    assert f.summary.startswith("payments.transactions: 5,001 missing, 1 moved in 1 of 78 buckets")
    assert "; 2 recent updates still in flight; e.g. missing id 2000..11998 (5,000 rows); missing id 18000; moved id " \
           "99999 (2026-11-25T10:37Z -> 2026-11-25T11:37Z)" in f.summary
    assert f.details["missing_keys"] == "18000" and f.values["moved_rows"] == 1


def test_composite_keys_sort_as_numbers_and_nulls_first() -> None:
    keys = [(1, 22315), (1, 5452), (None, 3), (0, "b"), (0, "a")]
    assert sorted(keys, key=key_order) == [(None, 3), (0, "a"), (0, "b"), (1, 5452), (1, 22315)]


def test_per_pair_remembering_overrides_the_check() -> None:
    params = RowReconciliationParams(pairs=[_pair(recheck_after="6h", settle_after="3h"),
                                            _pair(name="small", remember_matched=False)])
    assert params.pairs[0].recheck_after == timedelta(hours=6) and params.pairs[0].settle_after == timedelta(hours=3)
    assert params.pairs[1].remember_matched is False and params.pairs[1].recheck_after is None
    with pytest.raises(ValidationError, match="recheck_after"):
        _pair(recheck_after="0s")


def test_a_drill_down_level_goes_in_chunks_and_each_engine_at_its_own_statement_size() -> None:
    """A level is read and compared a chunk at a time (so it never holds every segment's 64 sub-ranges at once);
    within a chunk PostgreSQL sends one statement where DuckDB, which holds each branch in memory, sends ten."""
    from sentinel.sources.reconcile import dialect_for
    from sentinel.sources.reconcile.engine import Agg, Segment, Side, SideSpec, _chunks, _numbered, _run_chunk

    sent: dict[str, list[int]] = {"postgres": [], "duckdb": []}

    def side(engine: str) -> Side:
        def execute(sql: str, params: list[object], /, *, scan: bool = False) -> list[tuple[object, ...]]:
            sent[engine].append(len(params))
            return [(p,) for p in params]

        spec = SideSpec(engine, ("payments", "t"), ("id",), "created_at", None, None, ())
        return Side(spec, dialect_for(engine), execute, engine)

    limits = {"postgres": 200, "duckdb": 10}
    pg, duck = side("postgres"), side("duckdb")
    numbered = _numbered([Segment(None, i * 100, i * 100 + 99, Agg(), Agg()) for i in range(450)], 64)
    chunks = _chunks(numbered, limits, pg, duck)
    assert [len(c) for c in chunks] == [200, 200, 50]
    assert [n for c in chunks for n, _, _ in c] == list(range(450)) and numbered[0][2] == 2  # ceil(100 / 64)
    for s in (pg, duck):
        rows = [r for c in chunks for r in _run_chunk(s, c, limits, lambda _, batch: ("", [n for n, _, _ in batch]))]
        assert [r[0] for r in rows] == list(range(450))  # every segment once, in order
    assert sent == {"postgres": [200, 200, 50], "duckdb": [10] * 45}
