"""snowpipe_load_history: did Snowpipe load the S3 files into Snowflake `raw`, and is the pipe healthy?

Per target table (from INFORMATION_SCHEMA.COPY_HISTORY over `window`): files LOAD_FAILED or PARTIALLY_LOADED with
their first error, rows loaded, time since the last successful load.
Per pipe (from SYSTEM$PIPE_STATUS): execution state, pending file count, last ingested / received timestamps,
error fields. A pipe that is not RUNNING (PAUSED, STOPPED_*, STALLED_*) is critical (silence it during planned work);
a pending count that grew since the previous run with no ingestion in between is critical.

A LOAD_FAILED file that later shows LOADED (fixed and reloaded, e.g. ALTER PIPE ... REFRESH) no longer counts as
failed. Load times in the future (beyond `future_tolerance`) are a warning and never make a load look recent.
A table or pipe that cannot be queried is that target's ERROR finding; the other targets are still judged.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, field_validator, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckResult,
    Duration,
    Finding,
    Params,
    PositiveDuration,
    Status,
    crossed,
    format_duration,
    measured_status,
    require_ordered,
    target_error,
)
from sentinel.sources.snowpipe import CopyHistoryRow, PipeStatus, TableName

FAILED = "LOAD_FAILED"
PARTIAL = "PARTIALLY_LOADED"
LOADED = "LOADED"
_WARN_STATES = {"FAILING_OVER", "READ_ONLY"}


class SnowpipeTarget(Params):
    table: str = Field(description="Snowflake target table, DATABASE.SCHEMA.TABLE or SCHEMA.TABLE")
    pipe: str | None = Field(None, description="the pipe loading it, DATABASE.SCHEMA.PIPE")
    source_table: str | None = Field(None, description="pipeline table label, e.g. payments.transactions")

    @field_validator("table", "pipe")
    @classmethod
    def _ident(cls, value: str | None) -> str | None:
        if value is not None:
            TableName.parse(value)
        return value

    @property
    def label(self) -> str:
        return self.source_table or TableName.parse(self.table).table.lower()


class SnowpipeLoadHistoryParams(Params):
    targets: list[SnowpipeTarget] = Field(min_length=1)
    window: PositiveDuration = Field(default=timedelta(hours=1), description="COPY_HISTORY look-back")
    last_load_warn_after: Duration = timedelta(minutes=20)
    last_load_critical_after: Duration = timedelta(minutes=45)
    failed_file_status: Status = Status.CRITICAL
    partial_file_status: Status = Status.WARN
    stall_after: Duration = Field(default=timedelta(minutes=10),
                                  description="pending files with no ingestion for this long: warn (critical if growing)")
    future_tolerance: Duration = Field(default=timedelta(minutes=2),
                                       description="load times later than now + this are clock skew: warn, not recent")

    @model_validator(mode="after")
    def _order(self) -> SnowpipeLoadHistoryParams:
        require_ordered("last_load_warn_after", self.last_load_warn_after, "last_load_critical_after",
                        self.last_load_critical_after, op=">=", show=format_duration)
        if self.window > timedelta(days=14):
            raise ValueError("COPY_HISTORY only keeps 14 days: window must be <= 14d")
        return self


@dataclass(frozen=True)
class PipeMemory:
    pending_file_count: int
    last_ingested_at: str | None
    observed_at: str

    @staticmethod
    def of(status: PipeStatus, now: datetime) -> PipeMemory:
        return PipeMemory(status.pending_file_count,
                          status.last_ingested_at.isoformat() if status.last_ingested_at else None, now.isoformat())

    def to_json(self) -> dict[str, Any]:
        return {"pending_file_count": self.pending_file_count, "last_ingested_at": self.last_ingested_at,
                "observed_at": self.observed_at}

    @staticmethod
    def from_json(data: Any) -> PipeMemory | None:
        if not isinstance(data, dict):
            return None
        return PipeMemory(int(data.get("pending_file_count", 0)), data.get("last_ingested_at"), str(data.get("observed_at")))


def evaluate_copy_history(target: SnowpipeTarget, rows: list[CopyHistoryRow], now: datetime,
                          p: SnowpipeLoadHistoryParams) -> Finding:
    """Judge one table's load history in the window. Pure."""
    rows, reloaded = drop_reloaded(rows)
    future = [r for r in rows if r.last_load_at is not None and r.last_load_at > now + p.future_tolerance]
    failed = [r for r in rows if r.status == FAILED]
    partial = [r for r in rows if r.status == PARTIAL]
    loaded = [r for r in rows if r.status in (LOADED, PARTIAL) and r.last_load_at is not None and r not in future]
    rows_loaded = sum(r.row_count for r in rows)
    last_ok = max((r.last_load_at for r in loaded if r.last_load_at), default=None)
    values: dict[str, float] = {
        "files_loaded": float(sum(1 for r in rows if r.status == LOADED)),
        "files_failed": float(len(failed)),
        "files_partially_loaded": float(len(partial)),
        "rows_loaded": float(rows_loaded),
        "error_rows": float(sum(r.error_count for r in rows)),
        "window_seconds": p.window.total_seconds(),
        "files_reloaded": float(reloaded),
    }
    problems: list[tuple[Status, str, str]] = []  # status, text, headline value
    details: dict[str, str] = {}
    if future:
        ahead = max(r.last_load_at for r in future if r.last_load_at) - now
        values["future_loads"] = float(len(future))
        problems.append((Status.WARN, f"{len(future)} load(s) stamped up to {format_duration(ahead)} in the future "
                         "(clock skew?); not counted as recent", "future_loads"))
    groups = (("LOAD_FAILED", failed, p.failed_file_status), ("PARTIALLY_LOADED", partial, p.partial_file_status))
    for label, group, status in groups:
        if group and status is not Status.OK:
            first = group[0]
            where = _error_position(first)
            problems.append((status, f"{len(group)} file(s) {label} in the last {format_duration(p.window)}"
                             f"{_when(group, now)}: "
                             f"{_path(first)}: {first.first_error_message or 'no error message'}{where}",
                             "files_failed" if label == "LOAD_FAILED" else "files_partially_loaded"))
            details[label.lower() + "_files"] = "\n".join(
                f"{_path(r)} | {r.last_load_at:%Y-%m-%d %H:%M:%S} UTC | errors={r.error_count} | {r.first_error_message}"
                if r.last_load_at else f"{_path(r)} | errors={r.error_count} | {r.first_error_message}"
                for r in group[:20])
    if last_ok is None:
        problems.append((Status.CRITICAL, f"no successful load in the last {format_duration(p.window)}", "files_loaded"))
    else:
        age = max(timedelta(0), now - last_ok)
        values["seconds_since_last_load"] = age.total_seconds()
        status, limit = crossed(age, warn=p.last_load_warn_after, critical=p.last_load_critical_after, op=">=")
        if status is not Status.OK and limit is not None:
            problems.append((status, f"last successful load {format_duration(age)} ago (threshold {format_duration(limit)})",
                             "seconds_since_last_load"))
    status = Status.worst(s for s, _, _ in problems)
    ranked = sorted(problems, key=lambda x: -x[0].rank)
    values = _headline_first(values, ranked[0][2] if ranked else "rows_loaded")
    if problems:
        summary = f"snowpipe {target.table}: " + "; ".join(t for _, t, _ in ranked)
    else:
        age_txt = format_duration(timedelta(seconds=values["seconds_since_last_load"]))
        summary = (f"snowpipe {target.table}: {int(values['files_loaded'])} files, {rows_loaded:,} rows loaded in the last "
                   f"{format_duration(p.window)}, last load {age_txt} ago")
    return Finding(key=f"table:{target.table}", status=status, summary=summary, values=values,
                   labels={"table": target.label, "stage": "snowpipe", "snowflake_table": target.table}, details=details)


def evaluate_pipe(target: SnowpipeTarget, st: PipeStatus, previous: PipeMemory | None, now: datetime,
                  p: SnowpipeLoadHistoryParams) -> Finding:
    """Judge one pipe's SYSTEM$PIPE_STATUS, against the previous run's observation. Pure."""
    problems: list[tuple[Status, str]] = []
    values: dict[str, float] = {"pending_file_count": float(st.pending_file_count)}  # first: the headline value
    state = st.execution_state.upper()
    if state != "RUNNING":
        problems.append((Status.WARN if state in _WARN_STATES else Status.CRITICAL,
                         f"pipe is {state} (not RUNNING): nothing is being loaded"))
    since_ingest = now - st.last_ingested_at if st.last_ingested_at else None
    if since_ingest is not None and -since_ingest > p.future_tolerance:
        problems.append((Status.WARN, f"lastIngestedTimestamp {st.last_ingested_at:%Y-%m-%d %H:%M} UTC is "
                         f"{format_duration(-since_ingest)} in the future (clock skew?)"))
        since_ingest = None  # an ingestion time we cannot trust says nothing about recency
    if since_ingest is not None:
        values["seconds_since_last_ingest"] = max(0.0, since_ingest.total_seconds())
    if st.last_received_message_at:
        values["seconds_since_last_received_message"] = max(0.0, (now - st.last_received_message_at).total_seconds())
    if st.pending_file_count > 0 and (since_ingest is None or since_ingest >= p.stall_after):
        no_ingest = f"no ingestion for {format_duration(since_ingest)}" if since_ingest else "never ingested"
        prev_ingest = previous.last_ingested_at if previous else None
        now_ingest = st.last_ingested_at.isoformat() if st.last_ingested_at else None
        growing = previous is not None and st.pending_file_count > previous.pending_file_count and prev_ingest == now_ingest
        if growing and previous is not None:
            values["pending_growth"] = float(st.pending_file_count - previous.pending_file_count)
            problems.append((Status.CRITICAL, f"{st.pending_file_count} files pending (was {previous.pending_file_count} "
                             f"at the previous run) and {no_ingest}"))
        else:
            problems.append((Status.WARN, f"{st.pending_file_count} files pending and {no_ingest}"))
    if st.error or st.fault:
        at = st.last_pipe_error_at if st.error else st.last_pipe_fault_at
        when = f" (at {at:%Y-%m-%d %H:%M} UTC, {format_duration(max(timedelta(0), now - at))} ago)" if at else ""
        problems.append((Status.WARN, f"pipe reports error: {st.error or st.fault}{when}"))
    details = {"pipe_status": _json(st.raw)}
    status = Status.worst(s for s, _ in problems)
    if problems:
        summary = f"pipe {target.pipe}: " + "; ".join(t for _, t in sorted(problems, key=lambda x: -x[0].rank))
    else:
        ing = f", last ingested {format_duration(since_ingest)} ago" if since_ingest is not None else ""
        summary = f"pipe {target.pipe}: RUNNING, {st.pending_file_count} files pending{ing}"
    return Finding(key=f"pipe:{target.pipe}", status=status, summary=summary, values=values,
                   labels={"table": target.label, "stage": "snowpipe", "pipe": str(target.pipe)}, details=details)


def drop_reloaded(rows: list[CopyHistoryRow]) -> tuple[list[CopyHistoryRow], int]:
    """Failed/partial rows of a file that was LOADED afterwards are history, not a problem: drop them.

    Rows come in LAST_LOAD_TIME order; a failure after the last success of the same file still counts."""
    last_ok: dict[str, datetime] = {}
    for r in rows:
        if r.status == LOADED and r.last_load_at is not None:
            key = _path(r)
            last_ok[key] = max(last_ok.get(key, r.last_load_at), r.last_load_at)
    kept, dropped = [], 0
    for r in rows:
        ok_at = last_ok.get(_path(r))
        if r.status in (FAILED, PARTIAL) and ok_at is not None and (r.last_load_at is None or r.last_load_at <= ok_at):
            dropped += 1
            continue
        kept.append(r)
    return kept, dropped


def _when(group: list[CopyHistoryRow], now: datetime) -> str:
    """When the failures happened: on call needs it to line up with deploys and upstream incidents."""
    times = sorted(r.last_load_at for r in group if r.last_load_at is not None)
    if not times:
        return ""
    latest = times[-1]
    ago = format_duration(max(timedelta(0), now - latest))
    if len(times) == 1:
        return f", at {latest:%Y-%m-%d %H:%M} UTC ({ago} ago)"
    return f", from {times[0]:%H:%M} to {latest:%Y-%m-%d %H:%M} UTC (latest {ago} ago)"


def _headline_first(values: dict[str, float], key: str) -> dict[str, float]:
    return {key: values[key], **values} if key in values else values


def _error_position(row: CopyHistoryRow) -> str:
    parts = []
    if row.first_error_line_number is not None:
        parts.append(f"line {row.first_error_line_number}")
    if row.first_error_column_name:
        parts.append(f"column {row.first_error_column_name}")
    return f" ({', '.join(parts)})" if parts else ""


def _path(row: CopyHistoryRow) -> str:
    if row.stage_location and not row.file_name.startswith(("s3://", row.stage_location)):
        return row.stage_location.rstrip("/") + "/" + row.file_name
    return row.file_name


def _json(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, sort_keys=True, default=str)


class SnowpipeLoadHistoryCheck(Check[SnowpipeLoadHistoryParams]):
    kind = "snowpipe_load_history"
    Params = SnowpipeLoadHistoryParams
    runbook = "snowpipe-load-failure"
    warm_imports = ("sentinel.sources.snowpipe", "sentinel.sources.snowflake")

    def describe(self) -> str:
        p = self.params
        return (f"{len(p.targets)} tables over {format_duration(p.window)}; last load < "
                f"{format_duration(p.last_load_critical_after)}; pipes RUNNING")

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        now = ctx.now()
        findings: list[Finding] = []
        with ctx.sources.snowflake(timeout=ctx.remaining_seconds()) as sf:
            queries = sf.snowpipe()
            for target in p.targets:
                findings.append(self._table(ctx, queries, target, now))
                if target.pipe:
                    findings.append(self._pipe(ctx, queries, target, now))
            sql = queries.copy_history_sql(TableName.parse(p.targets[0].table))
        bad = [f for f in findings if f.status is not Status.OK]
        status = measured_status(findings)
        if bad:
            summary = f"{len(bad)} Snowpipe problem(s): " + " | ".join(f.summary for f in bad[:3])
        else:
            summary = f"Snowpipe healthy for {len(p.targets)} tables (no failed files, pipes RUNNING, loads recent)"
        return ctx.result(self.kind, status, summary,
                          values={"problems": float(len(bad)),
                                  "files_failed": sum(f.values.get("files_failed", 0.0) for f in findings)},
                          labels={"stage": "snowpipe"}, details={"copy_history_sql": sql}, findings=findings)

    def _table(self, ctx: CheckContext, queries: Any, target: SnowpipeTarget, now: datetime) -> Finding:
        try:
            with ctx.doing(f"Snowflake COPY_HISTORY for {target.table}"):
                rows = queries.copy_history(TableName.parse(target.table), now - self.params.window,
                                            timeout=ctx.remaining_seconds())
            return evaluate_copy_history(target, rows, now, self.params)
        except Exception as exc:  # this table only: the other targets are still judged
            return target_error(f"table:{target.table}", exc, {"table": target.label, "stage": "snowpipe",
                                "snowflake_table": target.table}, what=f"Snowflake COPY_HISTORY of {target.table}")

    def _pipe(self, ctx: CheckContext, queries: Any, target: SnowpipeTarget, now: datetime) -> Finding:
        try:
            with ctx.doing(f"Snowflake SYSTEM$PIPE_STATUS({target.pipe})"):
                st = queries.pipe_status(target.pipe, timeout=ctx.remaining_seconds())
        except Exception as exc:
            return target_error(f"pipe:{target.pipe}", exc, {"table": target.label, "stage": "snowpipe",
                                "pipe": str(target.pipe)}, what=f"Snowflake pipe {target.pipe}")
        mem_key = f"pipe:{target.pipe}"
        previous = PipeMemory.from_json(ctx.memory.load(mem_key))
        ctx.memory.save(mem_key, PipeMemory.of(st, now).to_json())
        return evaluate_pipe(target, st, previous, now, self.params)
