"""kafka_consumer_lag: how far behind consumer groups are, in messages and in seconds, and whether they move.

Per partition: committed offset, log start/end offsets, lag. Per group/topic (one finding each, so one alert per
problem): total and max lag, lag in seconds = age of the oldest unconsumed message (its timestamp at the
committed offset, or a labelled lower-bound estimate from the stored offsets when it cannot be read), and a
Burrow-like verdict over the offsets stored on earlier runs: OK / IDLE / GROWING / REWIND / STALL / STOP,
plus NO OFFSET (data waiting, never committed) and DATA LOSS (retention deleted unread messages).

Example (the S3 sink reading every CDC topic):
    kind: kafka_consumer_lag
    params: {groups: [connect-s3-sink], topics: ['cdc\\..*'], window: 10m, lag_warn_after: 5m, lag_critical_after: 15m}
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import AliasChoices, Field, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckResult,
    Duration,
    Finding,
    FindingSeries,
    Params,
    PositiveDuration,
    Regex,
    Status,
    TableRegex,
    crossed,
    format_duration,
    require_ordered,
)
from sentinel.sources.kafka import GroupInfo

from ._kafka_lag_columns import Measured, Slice, Snapshot, offsets_moved_at, partition_rows, window_matrices
from ._kafka_lag_partitions import partition_lines

if TYPE_CHECKING:
    import numpy as np

    from ._kafka_lag_window import LagTrend, WindowEval

# numpy and the window evaluation load on first run, not when the config is validated: `sentinel validate` and
# `check --once --only <another check>` must not pay ~0.25 s for numpy.

StatusName = Literal["ok", "warn", "critical"]
_LITERAL = re.compile(r"^[A-Za-z0-9_.\-]+$")
MEMORY_KEY = "window"
MOVED_KEY = "offsets_moved_at"  # per group/topic: the committed offsets seen last and since when each was unchanged


class KafkaConsumerLagParams(Params):
    groups: list[Regex] = Field(min_length=1, description="group names or regexes (full match)")
    topics: list[Regex] = Field(default_factory=lambda: [".*"],
                              description="topic names or regexes (full match); __internal topics only when named")
    all_matching_topics: bool = Field(
        True, description="every matching topic must be consumed by the group (a topic it never committed on is "
        "NO OFFSET); false = only topics the group has committed offsets on or is assigned")
    window: PositiveDuration = Field(timedelta(minutes=10), description="how long an offset may sit still before STALL/STOP")
    min_samples: int = Field(3, ge=2, description="stored samples needed before window verdicts")
    max_samples: int = Field(30, ge=3, le=500)
    lag_warn_offsets: int | None = Field(None, ge=0, description="total lag of a group on a topic")
    lag_critical_offsets: int | None = Field(None, ge=0)
    # `lag_warn_after`/`lag_critical_after` read like every other age threshold (warn_after, newest_warn_after...);
    # `lag_warn`/`lag_critical`, the first names, stay accepted so existing configs keep validating.
    lag_warn: Duration | None = Field(None, validation_alias=AliasChoices("lag_warn_after", "lag_warn"),
                                      description="age of the oldest unconsumed message (also `lag_warn`)")
    lag_critical: Duration | None = Field(None, validation_alias=AliasChoices("lag_critical_after", "lag_critical"),
                                          description="(also `lag_critical`)")
    on_stall: StatusName = "critical"
    on_stop: StatusName = "critical"
    on_rewind: StatusName = "warn"
    on_growing: StatusName = "warn"
    on_no_offset: StatusName = "warn"
    on_data_loss: StatusName = "critical"
    max_timestamp_reads: int = Field(500, ge=0, description="partitions whose message timestamp is read per run")
    timestamp_timeout: PositiveDuration = Field(timedelta(seconds=5), description="time budget for reading timestamps")
    table_from_topic: TableRegex | None = Field(r"cdc\.(?P<table>[^.]+\.[^.]+)",
                                         description="regex with a `table` group that labels findings by table")


    @model_validator(mode="after")
    def _ordered(self) -> KafkaConsumerLagParams:
        require_ordered("lag_warn", self.lag_warn, "lag_critical", self.lag_critical, show=format_duration)
        require_ordered("lag_warn_offsets", self.lag_warn_offsets, "lag_critical_offsets", self.lag_critical_offsets)
        return self


def _match(patterns: list[str], name: str) -> bool:
    return any(re.fullmatch(p, name) for p in patterns)


def _status(name: StatusName) -> Status:
    return {"ok": Status.OK, "warn": Status.WARN, "critical": Status.CRITICAL}[name]


def _budget(ctx: CheckContext) -> float:
    """Timeout for the next remote call: the time left, minus a margin to turn a failure into a clear result."""
    left = ctx.remaining_seconds(0)
    return max(0.2, left - min(1.0, 0.15 * left))


def _fmt_secs(seconds: float) -> str:
    return format_duration(timedelta(seconds=round(seconds)))


class KafkaConsumerLagCheck(Check[KafkaConsumerLagParams]):
    kind = "kafka_consumer_lag"
    Params = KafkaConsumerLagParams
    runbook = "kafka-consumer-lag"
    warm_imports = ("sentinel.sources.kafka", "confluent_kafka", "numpy", "sentinel_checks._kafka_lag_window")
    # Per group and topic, as kminion and Burrow users query lag. The verdicts are the labels of
    # checks._kafka_lag_window.LagTrend, written out so loading this class does not import numpy.
    finding_series = FindingSeries(
        labels=("group", "topic"),
        gauges={
            "lag_offsets": ("sentinel_kafka_consumer_lag_messages", "Messages not yet consumed, summed over the "
                            "topic's partitions, per consumer group and topic."),
            "lag_seconds": ("sentinel_kafka_consumer_lag_seconds", "Age of the oldest unconsumed message per consumer "
                            "group and topic."),
        },
        verdict=("verdict", "sentinel_kafka_consumer_lag_status",
                 ("OK", "IDLE", "NEW", "GROWING", "AHEAD", "REWIND", "STALL", "STOP", "NO OFFSET", "DATA LOSS")),
    )

    def describe(self) -> str:
        p = self.params
        parts = [f"groups {', '.join(p.groups)} on {', '.join(p.topics)}", f"window {format_duration(p.window)}"]
        if p.lag_warn or p.lag_critical:
            parts.append("lag " + "/".join(format_duration(d) for d in (p.lag_warn, p.lag_critical) if d))
        return "; ".join(parts)

    def verdict_status(self, verdict: LagTrend) -> Status:
        from ._kafka_lag_window import LagTrend

        p = self.params
        return {
            LagTrend.GROWING: _status(p.on_growing), LagTrend.REWIND: _status(p.on_rewind),
            LagTrend.STALL: _status(p.on_stall), LagTrend.STOP: _status(p.on_stop),
            LagTrend.NO_OFFSET: _status(p.on_no_offset), LagTrend.DATA_LOSS: _status(p.on_data_loss),
            LagTrend.AHEAD: Status.WARN,
        }.get(verdict, Status.OK)

    def run(self, ctx: CheckContext) -> CheckResult:
        from ._kafka_lag_window import WindowState, evaluate

        p = self.params
        kafka = ctx.sources.kafka()
        ctx.doing.current = f"Kafka {kafka.bootstrap}: metadata and offsets of groups {', '.join(p.groups)}"
        topics_md: dict[str, int] = kafka.topics(_budget(ctx))
        groups = self._groups(ctx, kafka)
        if not groups:
            return ctx.result(self.kind, Status.WARN, f"no consumer group matches {', '.join(p.groups)}",
                              details={"groups": ", ".join(p.groups)})
        literal_topics = {t for t in p.topics if _LITERAL.match(t)}
        matching = {t for t in topics_md if _match(p.topics, t) and (not t.startswith("__") or t in literal_topics)}
        # Described first: a group the principal may not Describe is refused here at once, where the consumer's
        # committed() would keep looking for the coordinator until the deadline and read like a hung broker.
        described = kafka.describe_groups(groups, _budget(ctx))
        committed = kafka.committed_offsets(groups, [(t, i) for t in sorted(matching) for i in range(topics_md[t])],
                                            _budget(ctx))
        slices = self._slices(groups, matching, literal_topics, topics_md, committed, described)
        log = kafka.log_offsets(sorted({(s.topic, i) for s in slices for i in range(s.count)}), _budget(ctx))
        snap = Snapshot.of(slices, committed, described, log)

        now = ctx.now().timestamp()
        window = p.window.total_seconds()
        state = WindowState.from_json(ctx.memory.load(MEMORY_KEY)).append(
            now, snap.end_by_topic, snap.committed_by_key, window_seconds=window, max_samples=p.max_samples)
        ctx.memory.save(MEMORY_KEY, state.to_json())
        committed_m, end_m = window_matrices(slices, state, snap.total)
        ev = evaluate(state.times, committed_m, end_m, snap.start, snap.owned, window_seconds=window,
                      min_samples=p.min_samples)
        ev = replace(ev, stuck_seconds=self._stuck_seconds(ctx, slices, snap, ev, now))
        lag_seconds, estimated = self._lag_seconds(ctx, kafka, slices, snap, ev, state.times, end_m, now)

        unknown = _unknown_groups(groups, committed, described)
        measured = Measured(ev, lag_seconds, estimated, snap, end_m[-1])
        findings = [_unknown_group_finding(s) if s.group in unknown else self._finding(s, measured, described)
                    for s in slices]
        findings += [Finding(key=f"topic/{t}", status=Status.WARN, summary=f"topic {t} does not exist",
                             labels={"topic": t}) for t in sorted(literal_topics - set(topics_md))]
        return self._result(ctx, findings, len(groups))

    def _groups(self, ctx: CheckContext, kafka: Any) -> list[str]:
        """The groups to watch: the names as written, or every group on the cluster a pattern matches."""
        p = self.params
        if all(_LITERAL.match(g) for g in p.groups):
            return sorted(set(p.groups))
        return [g for g in kafka.groups(_budget(ctx)) if _match(p.groups, g)]

    def _slices(self, groups: list[str], matching: set[str], literal_topics: set[str], topics_md: dict[str, int],
                committed: dict[str, dict[tuple[str, int], int]], described: dict[str, GroupInfo]) -> list[Slice]:
        """One column range per group/topic to judge, in the order of the concatenated arrays."""
        slices: list[Slice] = []
        col = 0
        for g in groups:
            info = described.get(g)
            seen = {t for t, _ in committed.get(g, {})} | ({t for t, _ in info.assigned} if info else set())
            chosen = matching if self.params.all_matching_topics else (matching & seen) | (literal_topics & set(topics_md))
            for t in sorted(chosen):
                slices.append(Slice(g, t, col, topics_md[t]))
                col += topics_md[t]
        return slices

    def _stuck_seconds(self, ctx: CheckContext, slices: list[Slice], snap: Snapshot, ev: WindowEval,
                       now: float) -> np.ndarray:
        """How long each stuck offset has really been frozen. The window holds only `window` of samples; without
        memory of when an offset last moved, a 3-hour outage would read "unchanged for 10m"."""
        import numpy as np

        moved_at = offsets_moved_at(ctx.memory.load(MOVED_KEY), snap.committed_by_key, now)
        ctx.memory.save(MOVED_KEY, moved_at)
        frozen = np.zeros(snap.total, dtype=np.float64)
        for s in slices:
            frozen[s.start:s.start + s.count] = now - np.asarray(moved_at[s.key]["at"])
        return np.where(ev.stuck_seconds > 0, np.maximum(ev.stuck_seconds, frozen), 0.0)

    def _lag_seconds(self, ctx: CheckContext, kafka: Any, slices: list[Slice], snap: Snapshot, ev: WindowEval,
                     times: np.ndarray, end_m: np.ndarray, now: float) -> tuple[np.ndarray, np.ndarray]:
        """Lag in seconds per column from the timestamps of the messages at the committed offsets (worst partitions
        first, within the budget); where none could be read, a lower-bound estimate from the stored samples."""
        import numpy as np

        from ._kafka_lag_window import estimate_written_at

        written = np.full(snap.total, np.nan)
        want = self._timestamp_requests(slices, ev.lag, snap.committed, snap.start)
        if want:
            budget = min(self.params.timestamp_timeout.total_seconds(), max(0.2, _budget(ctx) * 0.5))
            got = kafka.message_timestamps([w for w, _ in want], budget)
            for request, column in want:
                if (ts := got.get(request)) is not None:
                    written[column] = ts.timestamp()
        estimated = (ev.lag > 0) & np.isnan(written)
        written[estimated] = estimate_written_at(times, np.maximum(snap.committed, snap.start), end_m)[estimated]
        lag_seconds = np.where(ev.lag > 0, np.maximum(now - np.nan_to_num(written, nan=now), 0.0), 0.0)
        return lag_seconds, estimated

    def _timestamp_requests(self, slices: list[Slice], lag: np.ndarray, cur_c: np.ndarray,
                            start: np.ndarray) -> list[tuple[tuple[str, int, int], int]]:
        """(topic, partition, offset) to read, worst partition of every group/topic first, within the budget."""
        per_slice: list[list[int]] = []
        for s in slices:
            cols = [s.start + i for i in range(s.count) if lag[s.start + i] > 0 and cur_c[s.start + i] >= 0]
            cols.sort(key=lambda c: -int(lag[c]))
            per_slice.append(cols)
        out: list[tuple[tuple[str, int, int], int]] = []
        rank = 0
        while len(out) < self.params.max_timestamp_reads and any(rank < len(c) for c in per_slice):
            for s, cols in zip(slices, per_slice, strict=True):
                if rank < len(cols) and len(out) < self.params.max_timestamp_reads:
                    c = cols[rank]
                    out.append(((s.topic, c - s.start, int(max(cur_c[c], start[c]))), c))
            rank += 1
        return out

    def _finding(self, s: Slice, m: Measured, described: dict[str, GroupInfo]) -> Finding:
        """One group/topic: judged by the verdicts of its partitions and by the lag thresholds in the params."""
        import numpy as np

        from ._kafka_lag_window import LagTrend

        sl = slice(s.start, s.start + s.count)
        codes = m.ev.verdict[sl].astype(np.intp)
        lag, secs = m.ev.lag[sl], m.lag_seconds[sl]
        total_lag = int(lag.sum())
        max_secs = float(secs.max()) if s.count else 0.0
        worst_col = int(np.argmax(secs)) if s.count else 0
        is_estimate = bool(s.count and secs[worst_col] > 0 and m.estimated[sl][worst_col])
        part_ranks = np.array([self.verdict_status(v).rank for v in LagTrend], dtype=np.int8)[codes]
        status, notes = self._judge(part_ranks, total_lag, max_secs)
        counts = {LagTrend(i): int(n) for i, n in enumerate(np.bincount(codes, minlength=len(LagTrend))) if n}
        summary = self._summary(s, m, counts, notes, _lag_text(total_lag, max_secs, is_estimate,
                                                               int(m.ev.unread_without_offset[sl].sum())))
        labels = {"group": s.group, "topic": s.topic}
        if self.params.table_from_topic and (found := re.fullmatch(self.params.table_from_topic, s.topic)):
            labels["table"] = found.group("table")
        info = described.get(s.group)
        details = {
            "verdict": max(counts, default=LagTrend.OK).label,
            "group_state": f"{getattr(info, 'state', 'unknown')}, {getattr(info, 'members', 0)} member(s)",
            "partitions": partition_lines(partition_rows(s, m, codes), s.count),
            "lag_seconds_source": ("estimate from stored log-end offsets (lower bound)" if is_estimate
                                   else "timestamp of the message at the committed offset" if max_secs > 0
                                   else "none: no unconsumed message with a readable timestamp"),
            "diagnose": f"kafka-consumer-groups.sh --bootstrap-server $KAFKA_BOOTSTRAP --describe --group {s.group}",
        }
        values = {
            "lag_offsets": float(total_lag),
            "max_partition_lag_offsets": float(lag.max()) if s.count else 0.0,
            "lag_seconds": round(max_secs, 3),
            "lag_seconds_estimated": 1.0 if is_estimate else 0.0,
            "partitions": float(s.count),
            "lagging_partitions": float((lag > 0).sum()),
            "problem_partitions": float((part_ranks > 0).sum()),
            "lost_offsets": float(m.ev.lost[sl].sum()),
            "unread_without_offset": float(m.ev.unread_without_offset[sl].sum()),
        }
        return Finding(key=f"{s.group}/{s.topic}", status=status, summary=summary, values=values, labels=labels,
                       details=details)

    def _judge(self, part_ranks: np.ndarray, total_lag: int, max_secs: float) -> tuple[Status, list[str]]:
        """The worst of the partitions' verdicts and the two lag thresholds, and a note per threshold crossed."""
        p = self.params
        by_rank = {st.rank: st for st in Status}
        worst_partition = by_rank[int(part_ranks.max())] if len(part_ranks) else Status.OK
        notes = []
        by_offsets, offsets_limit = crossed(total_lag, warn=p.lag_warn_offsets, critical=p.lag_critical_offsets)
        if by_offsets is not Status.OK:
            notes.append(f"lag > {offsets_limit:,} msgs")
        by_age, age_limit = crossed(timedelta(seconds=max_secs), warn=p.lag_warn, critical=p.lag_critical)
        if by_age is not Status.OK and age_limit is not None:
            notes.append(f"oldest unconsumed > {format_duration(age_limit)}")
        return Status.worst([worst_partition, by_offsets, by_age]), notes

    def _summary(self, s: Slice, m: Measured, counts: dict[LagTrend, int], notes: list[str], lag_text: str) -> str:
        """One line for 3 a.m.: what is wrong on how many partitions, then the lag in messages and in time."""
        from ._kafka_lag_window import LagTrend

        where = f"{s.group} on {s.topic}"
        problem = [v for v in sorted(counts, reverse=True) if self.verdict_status(v) is not Status.OK]
        if problem:
            parts = [f"{v.label} on {counts[v]}/{s.count} partitions{self._verdict_note(v, s, m)}" for v in problem]
            summary = f"{where}: " + "; ".join(parts) + f"; {lag_text}"
        elif notes:  # moving, but too far behind: the numbers are the message
            summary = f"{where}: {lag_text}"
        else:
            label = "IDLE" if s.count and counts.get(LagTrend.IDLE, 0) == s.count else "OK"
            summary = f"{where}: {label}, {lag_text}"
        return summary + (f" ({', '.join(notes)})" if notes else "")

    def _verdict_note(self, v: LagTrend, s: Slice, m: Measured) -> str:
        """What a problem verdict means on this group/topic, with its number."""
        from ._kafka_lag_window import LagTrend

        sl = slice(s.start, s.start + s.count)
        if v is LagTrend.DATA_LOSS:
            return f": retention deleted {int(m.ev.lost[sl].sum()):,} messages never read"
        if v is LagTrend.NO_OFFSET:
            return f": {int(m.ev.unread_without_offset[sl].sum()):,} messages waiting, no committed offset"
        if v in (LagTrend.STALL, LagTrend.STOP):
            who = "consumer alive" if v is LagTrend.STALL else "no live consumer"
            stuck = _fmt_secs(float(m.ev.stuck_seconds[sl].max()))
            return f": committed offset unchanged for {stuck} with lag > 0 ({who})"
        if v is LagTrend.REWIND:
            return ": committed offset went backwards (offset reset?)"
        if v is LagTrend.GROWING:
            return f": lag grew in every sample of the last {format_duration(self.params.window)}"
        return ""

    def _result(self, ctx: CheckContext, findings: list[Finding], n_groups: int) -> CheckResult:
        status = Status.worst(f.status for f in findings)
        bad = sorted((f for f in findings if f.status is not Status.OK), key=lambda f: -f.status.rank)
        lag_findings = [f for f in findings if "lag_offsets" in f.values]
        total_lag = sum(f.values["lag_offsets"] for f in lag_findings)
        worst_age = max(lag_findings, key=lambda f: f.values["lag_seconds"], default=None)
        values = {
            "max_lag_seconds": worst_age.values["lag_seconds"] if worst_age else 0.0,
            "lag_offsets": total_lag,
            "group_topics": float(len(lag_findings)),
            "groups": float(n_groups),
            "problems": float(len(bad)),
        }
        if not findings:
            # Topics a principal may not Describe are invisible rather than refused, so say both possible causes.
            p = self.params
            return ctx.result(self.kind, Status.WARN,
                              f"no topic matching {', '.join(p.topics)} is visible for consumer group(s) "
                              f"{', '.join(p.groups)}: check the `topics:` patterns, and that Sentinel's "
                              "Kafka principal may Describe those topics (deploy/grants/kafka-acls.sh)",
                              values=values)
        if len(findings) == 1:
            summary = findings[0].summary
        elif bad:
            more = f" (+{len(bad) - 1} more)" if len(bad) > 1 else ""
            summary = f"{len(bad)} of {len(findings)} group/topics not OK: {bad[0].summary}{more}"
        else:
            summary = f"{len(findings)} group/topics OK, total lag {int(total_lag):,} msgs"
            if worst_age and worst_age.values["lag_seconds"] > 0:
                summary += (f", oldest unconsumed {_fmt_secs(worst_age.values['lag_seconds'])} "
                            f"({worst_age.key})")
        return ctx.result(self.kind, status, summary, values=values, findings=findings)


def _unknown_groups(groups: list[str], committed: dict[str, dict[tuple[str, int], int]],
                    described: dict[str, GroupInfo]) -> set[str]:
    """Groups with no member and no committed offset anywhere: the cluster keeps nothing about them. Lag 0 on an
    empty topic would read as a healthy idle consumer, when the name is a typo or the consumer never ran."""
    return {g for g in groups if not committed.get(g) and (g not in described or described[g].members == 0)}


def _unknown_group_finding(s: Slice) -> Finding:
    return Finding(key=f"{s.group}/{s.topic}", status=Status.WARN,
                   summary=f"consumer group {s.group} has no members and no committed offsets: the cluster does not "
                           f"know it (a typo in `groups:`?) or it has never consumed {s.topic}",
                   values={"members": 0.0}, labels={"group": s.group, "topic": s.topic})


def _lag_text(total_lag: int, max_secs: float, is_estimate: bool, waiting: int) -> str:
    """The lag in messages and, when known, the age of the oldest unconsumed message."""
    text = f"lag {total_lag:,} msgs" + (f" (+{waiting:,} waiting where nothing is committed)" if waiting else "")
    if total_lag and max_secs > 0:
        age = ("~" if is_estimate else "") + _fmt_secs(max_secs) + (" (estimated, at least)" if is_estimate else "")
        return text + f", oldest unconsumed written {age} ago"
    if total_lag:
        return text + ", age of the oldest unconsumed unknown (its message is gone or unreadable)"
    return text


