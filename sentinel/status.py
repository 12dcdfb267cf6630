"""The on-call view: per captured table, the pipeline stage by stage (in `pipeline.stages` order) with its
current state, the key number (lag or age) and the alerts firing there.

`build_status` is pure (config, latest results, alert states, now); `render_text` draws it for a terminal
(`sentinel status`) and sentinel/status_page.py serves the same view as HTML at the daemon's `/`.
A stage's state comes from every latest result (or finding) whose labels carry that `table` and `stage`; one that
measures a component several tables share (a replication slot, a connector) names them all in `tables`
("a, b, c") and counts for each.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sentinel.alerting.types import AlertState, Phase
from sentinel.config.spec import SentinelConfig
from sentinel.durations import format_duration
from sentinel.model import CheckResult, Status

NOT_WATCHED = "not watched"
NO_RESULT = "no result yet"
_MARK = {Status.OK: "OK", Status.WARN: "WARN", Status.CRITICAL: "CRIT", Status.ERROR: "ERROR"}
_COLOR = {Status.OK: "32", Status.WARN: "33", Status.CRITICAL: "31;1", Status.ERROR: "35;1"}


@dataclass(frozen=True)
class AlertLine:
    rule_id: str
    check_id: str
    severity: str
    summary: str
    since: datetime | None
    runbook: str
    muted: str = ""  # "silenced" / "inhibited by <rule>" when it is not being announced


@dataclass(frozen=True)
class StageView:
    stage: str
    status: Status | None  # None: no result (see `note`)
    key_value: str = ""
    summary: str = ""
    checks: tuple[str, ...] = ()
    observed_at: datetime | None = None
    alerts: tuple[AlertLine, ...] = ()
    note: str = ""

    @property
    def label(self) -> str:
        return _MARK[self.status] if self.status is not None else ("-" if self.note == NOT_WATCHED else "?")

    @property
    def css(self) -> str:
        return self.status.value if self.status is not None else ("unwatched" if self.note == NOT_WATCHED else "unknown")


@dataclass(frozen=True)
class TableView:
    table: str
    stages: tuple[StageView, ...]
    slas: tuple[str, ...] = ()
    dashboards: tuple[str, ...] = ()

    @property
    def status(self) -> Status:
        return Status.worst(s.status for s in self.stages if s.status is not None)

    @property
    def watched(self) -> bool:
        """Some stage of this table has a result."""
        return any(s.status is not None for s in self.stages)

    @property
    def badge(self) -> str:
        return _MARK[self.status] if self.watched else "NOT WATCHED"

    @property
    def first_failing(self) -> StageView | None:
        """The most upstream stage that is not OK: usually the cause of everything after it."""
        return next((s for s in self.stages if s.status not in (None, Status.OK)), None)


@dataclass
class _Acc:
    checks: list[str] = field(default_factory=list)
    hits: list[tuple[Status, str, Mapping[str, float], datetime, str]] = field(default_factory=list)

    def hit(self, check_id: str, status: Status, summary: str, values: Mapping[str, float], at: datetime) -> None:
        if check_id not in self.checks:
            self.checks.append(check_id)
        self.hits.append((status, summary, values, at, check_id))


@dataclass
class _Board:
    """What is known per (table, stage) while the view is built; tables keep their first-seen order after the
    configured ones."""

    tables: list[str]
    acc: dict[tuple[str, str], _Acc] = field(default_factory=dict)
    firing: dict[tuple[str, str], list[AlertLine]] = field(default_factory=dict)

    def slot(self, table: str, stage: str) -> _Acc:
        if table not in self.tables:
            self.tables.append(table)
        return self.acc.setdefault((table, stage), _Acc())

    def add_checks(self, spec: SentinelConfig) -> None:
        for check in spec.checks:
            if check.enabled and "stage" in check.labels:
                for table in tables_of(check.labels):
                    self.slot(table, check.labels["stage"]).checks.append(check.id)

    def add_result(self, result: CheckResult) -> None:
        labels = dict(result.labels)
        for f in result.findings:
            merged = {**labels, **f.labels}
            for table in tables_of(merged) if "stage" in merged else ():
                self.slot(table, merged["stage"]).hit(result.check_id, f.status, f.summary, f.values,
                                                      result.observed_at)
        for table in tables_of(labels) if "stage" in labels else ():
            self.slot(table, labels["stage"]).hit(result.check_id, result.status, result.summary, result.values,
                                                  result.observed_at)

    def add_alert(self, state: AlertState) -> None:
        stage = state.labels.get("stage")
        if state.phase is not Phase.FIRING or not stage:
            return
        muted = "silenced" if state.silenced_by else ("inhibited (upstream cause)" if state.inhibited_by else "")
        for table in tables_of(state.labels):
            self.firing.setdefault((table, stage), []).append(AlertLine(
                state.rule_id, state.check_id, state.severity.value, state.summary, state.since, state.runbook, muted))
            self.slot(table, stage)

    def stage_view(self, table: str, stage: str, now: datetime) -> StageView:
        found = self.acc.get((table, stage))
        lines = tuple(sorted(self.firing.get((table, stage), []), key=lambda x: (x.severity != "critical", x.rule_id)))
        if found is None or (not found.hits and not found.checks):
            return StageView(stage, None, note=NOT_WATCHED, alerts=lines)
        if not found.hits:
            return StageView(stage, None, checks=tuple(found.checks), note=NO_RESULT, alerts=lines)
        worst = max(found.hits, key=lambda h: (h[0].rank, -h[3].timestamp()))
        oldest = min(h[3] for h in found.hits)
        return StageView(stage, worst[0], key_value(worst[2]), worst[1], tuple(found.checks), oldest, lines,
                         note=f"checked {format_duration(now - oldest)} ago")


def tables_of(labels: Mapping[str, str]) -> list[str]:
    """The pipeline tables a result or finding speaks for: its `table`, and each of a shared component's `tables`."""
    named = [labels["table"]] if labels.get("table") else []
    named += [t.strip() for t in labels.get("tables", "").split(",") if t.strip()]
    return list(dict.fromkeys(named))


def key_value(values: Mapping[str, float]) -> str:
    """The number on-call wants first: a lag or an age, else the first named value."""
    names = [n for n in values if not n.endswith("_threshold")]
    preferred = [n for n in names if "lag" in n or "age" in n or "behind" in n]
    if not names:
        return ""
    name = (preferred or names)[0]
    value = float(values[name])
    if name.endswith("_seconds"):
        return f"{name[: -len('_seconds')].replace('_', ' ')} {format_duration(timedelta(seconds=value))}"
    shown = f"{value:,.0f}" if value.is_integer() else f"{value:,.2f}"
    return f"{name.replace('_', ' ')} {shown}"


def build_status(spec: SentinelConfig, latest: Mapping[str, CheckResult], alerts: Iterable[AlertState],
                 now: datetime) -> list[TableView]:
    pipeline = spec.pipeline
    board = _Board(list(pipeline.tables))
    board.add_checks(spec)
    configured = {c.id for c in spec.checks if c.enabled}
    for result in latest.values():
        if result.check_id in configured:  # a removed or disabled check's last result says nothing about now
            board.add_result(result)
    for state in alerts:
        board.add_alert(state)

    views = []
    for table in board.tables:
        lineage = pipeline.tables.get(table)
        order = list((lineage.stages if lineage and lineage.stages else None) or pipeline.stages)
        extra = sorted({s for (t, s) in board.acc if t == table and s not in order})
        stages = tuple(board.stage_view(table, stage, now) for stage in [*order, *extra])
        views.append(TableView(table, stages, tuple(lineage.slas if lineage else ()),
                               tuple(lineage.dashboards if lineage else ())))
    return views


def render_text(views: Sequence[TableView], *, color: bool = False, width: int = 120) -> str:
    def paint(text: str, status: Status | None) -> str:
        if not color or status is None:
            return text
        return f"\x1b[{_COLOR[status]}m{text}\x1b[0m"

    if not views:
        return "No tables: add `pipeline.tables` to alert_rules.yaml or `table`/`stage` labels to checks.\n"
    out: list[str] = []
    for view in views:
        head = f"{view.table}  [{view.badge}]"
        if view.slas:
            head += f"  SLAs: {', '.join(view.slas)}"
        if view.dashboards:
            head += f"  dashboards: {', '.join(view.dashboards)}"
        out.append(paint(head, view.status))
        chain = " -> ".join(paint(f"{s.stage}[{s.label}]", s.status) for s in view.stages)
        out.append("  " + chain)
        name_w = max(len(s.stage) for s in view.stages)
        value_w = max([len(s.key_value) for s in view.stages] + [12])
        for s in view.stages:
            if s.status is None and not s.alerts:
                if s.note == NO_RESULT:
                    out.append(f"    {s.stage.ljust(name_w)}  {'?':5}  {NO_RESULT} ({', '.join(s.checks)})")
                continue
            mark = paint(f"{s.label:5}", s.status)
            line = f"    {s.stage.ljust(name_w)}  {mark}  {s.key_value:<{value_w}}  {s.summary}"
            if s.note:
                line += f"  ({s.note})"
            out.append(line if len(line) <= width + (14 if color else 0) else line[: width - 1] + "…")
            for alert in s.alerts:
                since = f" since {alert.since:%H:%M}Z" if alert.since else ""
                muted = f" [{alert.muted}]" if alert.muted else ""
                out.append(f"    {'':{name_w}}  FIRING {alert.severity} {alert.rule_id}{since}{muted}: {alert.summary}"
                           f"  runbook: {alert.runbook}")
        failing = view.first_failing
        if failing is not None:
            out.append(f"  first failing stage: {failing.stage} ({_MARK[failing.status] if failing.status else '?'})"
                       " - downstream stages are likely symptoms")
        out.append("")
    return "\n".join(out)
