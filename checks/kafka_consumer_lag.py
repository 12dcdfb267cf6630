"""kafka_consumer_lag: how far behind consumer groups are, in messages and in seconds, and whether they move.

Per partition: committed offset, log start/end offsets, lag. Per group/topic (one finding each, so one alert per
problem): total and max lag, lag in seconds = age of the oldest unconsumed message (its timestamp at the
committed offset, or a labelled lower-bound estimate from the stored offsets when it cannot be read), and a
Burrow-like verdict over the offsets stored on earlier runs: OK / IDLE / GROWING / REWIND / STALL / STOP,
plus NO OFFSET (data waiting, never committed) and DATA LOSS (retention deleted unread messages).

Example (the S3 sink reading every CDC topic):
    kind: kafka_consumer_lag
    params: {groups: [connect-s3-sink], topics: ['cdc\\..*'], window: 10m, lag_warn: 5m, lag_critical: 15m}
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, model_validator

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
    format_duration,
)
from sentinel.sources.kafka import GroupInfo

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
    lag_warn: Duration | None = Field(None, description="age of the oldest unconsumed message")
    lag_critical: Duration | None = None
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
        if self.lag_warn and self.lag_critical and self.lag_warn > self.lag_critical:
            raise ValueError("lag_warn must not exceed lag_critical")
        if (self.lag_warn_offsets is not None and self.lag_critical_offsets is not None
                and self.lag_warn_offsets > self.lag_critical_offsets):
            raise ValueError("lag_warn_offsets must not exceed lag_critical_offsets")
        return self


@dataclass
class _Slice:
    group: str
    topic: str
    start: int  # first column in the concatenated arrays
    count: int


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
        import numpy as np

        from ._kafka_lag_window import WindowState, estimate_written_at, evaluate

        p = self.params
        kafka = ctx.sources.kafka()
        ctx.doing.current = f"Kafka {kafka.bootstrap}: metadata and offsets of groups {', '.join(p.groups)}"
        topics_md: dict[str, int] = kafka.topics(_budget(ctx))
        if all(_LITERAL.match(g) for g in p.groups):
            groups = sorted(set(p.groups))
        else:
            groups = [g for g in kafka.groups(_budget(ctx)) if _match(p.groups, g)]
        if not groups:
            return ctx.result(self.kind, Status.WARN, f"no consumer group matches {', '.join(p.groups)}",
                              details={"groups": ", ".join(p.groups)})
        literal_topics = {t for t in p.topics if _LITERAL.match(t)}
        matching = {t for t in topics_md if _match(p.topics, t) and (not t.startswith("__") or t in literal_topics)}
        missing_topics = sorted(literal_topics - set(topics_md))
        # Described first: a group the principal may not Describe is refused here at once, where the consumer's
        # committed() would keep looking for the coordinator until the deadline and read like a hung broker.
        described = kafka.describe_groups(groups, _budget(ctx))
        committed = kafka.committed_offsets(groups, [(t, i) for t in sorted(matching) for i in range(topics_md[t])],
                                            _budget(ctx))

        slices: list[_Slice] = []
        col = 0
        for g in groups:
            info = described.get(g)
            seen = {t for t, _ in committed.get(g, {})} | ({t for t, _ in info.assigned} if info else set())
            chosen = matching if p.all_matching_topics else (matching & seen) | (literal_topics & set(topics_md))
            for t in sorted(chosen):
                slices.append(_Slice(g, t, col, topics_md[t]))
                col += topics_md[t]

        tps = sorted({(s.topic, i) for s in slices for i in range(s.count)})
        log = kafka.log_offsets(tps, _budget(ctx))

        total = col
        cur_c = np.full(total, -1, dtype=np.int64)
        start = np.zeros(total, dtype=np.int64)
        owned = np.zeros(total, dtype=bool)
        cur_end: dict[str, np.ndarray] = {}
        cur_committed: dict[str, np.ndarray] = {}
        for s in slices:
            if s.topic not in cur_end:
                cur_end[s.topic] = np.array([log[(s.topic, i)][1] for i in range(s.count)], dtype=np.int64)
            offs = committed.get(s.group, {})
            info = described.get(s.group)
            row = np.array([offs.get((s.topic, i), -1) for i in range(s.count)], dtype=np.int64)
            cur_committed[f"{s.group}\t{s.topic}"] = row
            cur_c[s.start:s.start + s.count] = row
            start[s.start:s.start + s.count] = [log[(s.topic, i)][0] for i in range(s.count)]
            if info is not None:
                owned[s.start:s.start + s.count] = [(s.topic, i) in info.assigned for i in range(s.count)]

        now = ctx.now().timestamp()
        window = p.window.total_seconds()
        state = WindowState.from_json(ctx.memory.load(MEMORY_KEY)).append(
            now, cur_end, cur_committed, window_seconds=window, max_samples=p.max_samples)
        ctx.memory.save(MEMORY_KEY, state.to_json())

        s_count = len(state.times)
        committed_m = np.empty((s_count, total), dtype=np.int64)
        end_m = np.empty((s_count, total), dtype=np.int64)
        for s in slices:
            committed_m[:, s.start:s.start + s.count] = state.committed[f"{s.group}\t{s.topic}"]
            end_m[:, s.start:s.start + s.count] = state.end[s.topic]
        ev = evaluate(state.times, committed_m, end_m, start, owned, window_seconds=window,
                      min_samples=p.min_samples)
        # The window holds only `window` of samples; how long an offset has really been frozen needs memory of
        # when it last moved, or a 3-hour outage would read "unchanged for 10m".
        moved_at = _offsets_moved_at(ctx.memory.load(MOVED_KEY), cur_committed, now)
        ctx.memory.save(MOVED_KEY, moved_at)
        frozen = np.zeros(total, dtype=np.float64)
        for s in slices:
            frozen[s.start:s.start + s.count] = now - np.asarray(moved_at[f"{s.group}\t{s.topic}"]["at"])
        ev = replace(ev, stuck_seconds=np.where(ev.stuck_seconds > 0, np.maximum(ev.stuck_seconds, frozen), 0.0))

        # lag in seconds: timestamps of the messages at the committed offsets (worst partitions first)
        written = np.full(total, np.nan)
        estimated = np.zeros(total, dtype=bool)
        want = self._timestamp_requests(slices, ev.lag, cur_c, start)
        if want:
            budget = min(p.timestamp_timeout.total_seconds(), max(0.2, _budget(ctx) * 0.5))
            got = kafka.message_timestamps([w for w, _ in want], budget)
            for (t, part, off), column in want:
                ts = got.get((t, part, off))
                if ts is not None:
                    written[column] = ts.timestamp()
        guess = estimate_written_at(state.times, np.maximum(cur_c, start), end_m)
        need = (ev.lag > 0) & np.isnan(written)
        written[need] = guess[need]
        estimated[need] = True
        lag_seconds = np.where(ev.lag > 0, np.maximum(now - np.nan_to_num(written, nan=now), 0.0), 0.0)

        unknown = _unknown_groups(groups, committed, described)
        findings = [_unknown_group_finding(s) if s.group in unknown else
                    self._finding(s, ev, lag_seconds, estimated, cur_c, start, end_m[-1], owned, described)
                    for s in slices]
        findings += [Finding(key=f"topic/{t}", status=Status.WARN, summary=f"topic {t} does not exist",
                             labels={"topic": t}) for t in missing_topics]
        return self._result(ctx, findings, len(groups))

    def _timestamp_requests(self, slices: list[_Slice], lag: np.ndarray, cur_c: np.ndarray,
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

    def _finding(self, s: _Slice, ev: WindowEval, lag_seconds: np.ndarray, estimated: np.ndarray,
                 cur_c: np.ndarray, start: np.ndarray, end: np.ndarray, owned: np.ndarray,
                 described: dict[str, GroupInfo]) -> Finding:
        import numpy as np

        from ._kafka_lag_window import LagTrend

        p = self.params
        sl = slice(s.start, s.start + s.count)
        codes = ev.verdict[sl].astype(np.intp)
        lag = ev.lag[sl]
        secs = lag_seconds[sl]
        total_lag = int(lag.sum())
        max_secs = float(secs.max()) if s.count else 0.0
        worst_col = int(np.argmax(secs)) if s.count else 0
        is_estimate = bool(s.count and secs[worst_col] > 0 and estimated[sl][worst_col])

        by_rank = {st.rank: st for st in Status}
        rank_of = np.array([self.verdict_status(v).rank for v in LagTrend], dtype=np.int8)
        part_ranks = rank_of[codes]
        statuses = [by_rank[int(part_ranks.max())]] if s.count else [Status.OK]
        threshold_notes = []
        if p.lag_critical_offsets is not None and total_lag > p.lag_critical_offsets:
            statuses.append(Status.CRITICAL)
            threshold_notes.append(f"lag > {p.lag_critical_offsets:,} msgs")
        elif p.lag_warn_offsets is not None and total_lag > p.lag_warn_offsets:
            statuses.append(Status.WARN)
            threshold_notes.append(f"lag > {p.lag_warn_offsets:,} msgs")
        if p.lag_critical is not None and max_secs > p.lag_critical.total_seconds():
            statuses.append(Status.CRITICAL)
            threshold_notes.append(f"oldest unconsumed > {format_duration(p.lag_critical)}")
        elif p.lag_warn is not None and max_secs > p.lag_warn.total_seconds():
            statuses.append(Status.WARN)
            threshold_notes.append(f"oldest unconsumed > {format_duration(p.lag_warn)}")
        status = Status.worst(statuses)

        tally = np.bincount(codes, minlength=len(LagTrend))
        counts = {LagTrend(i): int(n) for i, n in enumerate(tally) if n}
        worst_verdict = max(counts, default=LagTrend.OK)
        problem = [v for v in sorted(counts, reverse=True) if self.verdict_status(v) is not Status.OK]
        age = ("~" if is_estimate else "") + _fmt_secs(max_secs) + (" (estimated, at least)" if is_estimate else "")
        where = f"{s.group} on {s.topic}"
        waiting = int(ev.unread_without_offset[sl].sum())
        lag_text = f"lag {total_lag:,} msgs" + (f" (+{waiting:,} waiting where nothing is committed)" if waiting else "")
        if total_lag and max_secs > 0:
            lag_text += f", oldest unconsumed written {age} ago"
        elif total_lag:
            lag_text += ", age of the oldest unconsumed unknown (its message is gone or unreadable)"
        if problem:
            parts = []
            for v in problem:
                n = counts[v]
                extra = ""
                if v is LagTrend.DATA_LOSS:
                    extra = f": retention deleted {int(ev.lost[sl].sum()):,} messages never read"
                elif v is LagTrend.NO_OFFSET:
                    extra = f": {int(ev.unread_without_offset[sl].sum()):,} messages waiting, no committed offset"
                elif v in (LagTrend.STALL, LagTrend.STOP):
                    stuck = float(ev.stuck_seconds[sl].max())
                    who = "consumer alive" if v is LagTrend.STALL else "no live consumer"
                    extra = f": committed offset unchanged for {_fmt_secs(stuck)} with lag > 0 ({who})"
                elif v is LagTrend.REWIND:
                    extra = ": committed offset went backwards (offset reset?)"
                elif v is LagTrend.GROWING:
                    extra = f": lag grew in every sample of the last {format_duration(p.window)}"
                parts.append(f"{v.label} on {n}/{s.count} partitions{extra}")
            summary = f"{where}: " + "; ".join(parts) + f"; {lag_text}"
        elif threshold_notes:  # moving, but too far behind: the numbers are the message
            summary = f"{where}: {lag_text}"
        else:
            label = "IDLE" if counts.get(LagTrend.IDLE, 0) == s.count and s.count else "OK"
            summary = f"{where}: {label}, {lag_text}"
        if threshold_notes:
            summary += f" ({', '.join(threshold_notes)})"

        labels = {"group": s.group, "topic": s.topic}
        if p.table_from_topic and (m := re.fullmatch(p.table_from_topic, s.topic)):
            labels["table"] = m.group("table")
        rows = []
        order: list[int] = np.lexsort((-lag, -codes))[:25].tolist() if s.count else []
        for i in order:
            c = s.start + i
            committed_txt = str(int(cur_c[c])) if cur_c[c] >= 0 else "-"
            rows.append(f"{i:>5} {committed_txt:>12} {int(start[c]):>12} {int(end[c]):>12} {int(lag[i]):>10} "
                        f"{_fmt_secs(float(secs[i])) + ('~' if estimated[c] and secs[i] > 0 else ''):>9} "
                        f"{'yes' if owned[c] else 'no':>5}  {LagTrend(int(codes[i])).label}")
        info = described.get(s.group)
        state = getattr(info, "state", "unknown")
        members = getattr(info, "members", 0)
        details = {
            "verdict": worst_verdict.label,
            "group_state": f"{state}, {members} member(s)",
            "partitions": "part    committed    log_start      log_end        lag  lag_age owned  verdict\n"
                          + "\n".join(rows) + ("\n..." if s.count > 25 else ""),
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
            "lost_offsets": float(ev.lost[sl].sum()),
            "unread_without_offset": float(ev.unread_without_offset[sl].sum()),
        }
        return Finding(key=f"{s.group}/{s.topic}", status=status, summary=summary, values=values, labels=labels,
                       details=details)

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


def _unknown_group_finding(s: _Slice) -> Finding:
    return Finding(key=f"{s.group}/{s.topic}", status=Status.WARN,
                   summary=f"consumer group {s.group} has no members and no committed offsets: the cluster does not "
                           f"know it (a typo in `groups:`?) or it has never consumed {s.topic}",
                   values={"members": 0.0}, labels={"group": s.group, "topic": s.topic})


def _offsets_moved_at(remembered: Any, current: dict[str, Any], now: float) -> dict[str, dict[str, list[Any]]]:
    """Per group/topic key: the committed offsets and, per partition, since when each has had that value."""
    before = remembered if isinstance(remembered, dict) else {}
    out: dict[str, dict[str, list[Any]]] = {}
    for key, row in current.items():
        offsets = [int(x) for x in row]
        old = before.get(key) or {}
        old_offsets, old_at = list(old.get("offsets", [])), list(old.get("at", []))
        out[key] = {"offsets": offsets, "at": [
            float(old_at[i]) if i < len(old_offsets) and i < len(old_at) and old_offsets[i] == off else now
            for i, off in enumerate(offsets)]}
    return out
