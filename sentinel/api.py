"""Everything a check plugin may import. Plugins import this module and `sentinel.sources`, nothing else.

A check plugin is a class with:
  kind     the entry-point name == YAML `kind:` == module name in checks/
  Params   a pydantic model validating the YAML `params:` block (extra keys forbidden)
  runbook  the default runbook name in runbooks/ (without .md)
  run(ctx) returns one CheckResult; it measures, judges the measurement with `judge` against the thresholds in
           its params, and never decides to alert or notify.
docs/plugins.md walks through writing one, with a worked example that CI installs and runs.

Types for Params fields (pydantic validates them when the config is loaded, so `validate` reports file:line):
  Duration          "30s", "5m", "1h30m", "2d" -> timedelta
  PositiveDuration  the same, greater than zero
  ConnectionName    a PostgreSQL connection name ("default", or a key of SENTINEL_POSTGRES_DSNS), never a DSN
  TableName         schema.table or database.schema.table, plain identifiers only (they reach SQL)
  ColumnName        one plain identifier
  Regex             a regular expression, compiled at load so a bad one is a config error
  TableRegex        a Regex with a named group (?P<table>...) that picks the table out of a topic or key name
  TimeZoneName      an IANA zone ("Europe/Berlin")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from sentinel.clock import Clock
from sentinel.durations import Duration, PositiveDuration, format_duration, parse_duration
from sentinel.errors import CheckError, SourceError
from sentinel.judge import Op, crossed, judge, ordered
from sentinel.model import CheckResult, Finding, Severity, Status
from sentinel.param_types import ColumnName, ConnectionName, Regex, TableName, TableRegex, TimeZoneName

T = TypeVar("T", float, int, timedelta)
DEADLINE_MARGIN_SECONDS = 0.5  # CheckContext.remaining(): remote calls time out this much before the runner gives up

__all__ = [
    "Check",
    "CheckContext",
    "CheckError",
    "CheckMemory",
    "CheckReference",
    "CheckResult",
    "ColumnName",
    "ConnectionName",
    "Duration",
    "Finding",
    "FindingSeries",
    "Params",
    "PositiveDuration",
    "Regex",
    "Severity",
    "SourceError",
    "Status",
    "TableName",
    "TableRegex",
    "TimeZoneName",
    "check_read_only",
    "crossed",
    "format_duration",
    "judge",
    "measured_status",
    "ordered",
    "parse_duration",
    "require_ordered",
    "target_error",
]


def check_read_only(statement: str, dialect: Literal["postgres", "snowflake", "duckdb"]) -> None:
    """Raise ValueError unless `statement` is one side-effect-free SELECT (see sentinel.readonly_sql).

    Imported on first use: sqlglot costs ~90 ms to import, which `sentinel --help` should not pay.
    """
    from sentinel.readonly_sql import check_read_only as check

    check(statement, dialect)


def require_ordered(warn_name: str, warn: T | None, critical_name: str, critical: T | None, *,
                    op: Op = ">", show: Callable[[T], str] = str) -> None:
    """For a Params validator: raise ValueError naming both fields when `critical` would be crossed before `warn`
    (so WARN could never show). `op` is the direction the check judges with ("<" for values that must stay high);
    `show` formats the values for the message. The comparison is sentinel.judge's `ordered`."""
    if warn is None or critical is None or ordered(warn, critical, op) is None:
        return
    word = "exceed" if op in (">", ">=") else "be below"
    raise ValueError(f"{warn_name} must not {word} {critical_name} ({warn_name} {show(warn)}, {critical_name} "
                     f"{show(critical)}): CRITICAL would fire first and WARN never show; swap them")


@dataclass(frozen=True)
class CheckReference:
    """A param naming another check (e.g. the one whose memory this check reads with `load_from`).

    `loc` is the param's path inside `params:` (("tables", 0, "reconciliation", "check")); `kind` is the kind the
    named check must be. Config loading reports a reference to no check, or to a check of another kind, at its line."""

    loc: tuple[str | int, ...]
    check_id: str
    kind: str


class Params(BaseModel):
    """Base for check params: unknown keys are errors, values are immutable, numbers are finite (a threshold of
    .nan or .inf would never be crossed, so the check would silently never alert)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def check_references(self) -> list[CheckReference]:
        """The other checks these params name; override when a param does (config loading validates them)."""
        return []


P = TypeVar("P", bound=Params)


class CheckMemory(Protocol):
    """Small per-check JSON state kept in the state store (e.g. the offsets window of a lag check).

    A check writes only its own memory. It may read another check's (`load_from`), so a measurement one check
    already made (row_reconciliation's rows per bucket) need not be made again (volume_anomaly): read-only, because
    the value is a fresh copy and there is no way to save into another check's memory. The reader owns the
    judgement of whether that value is still fresh enough; the writer documents its format next to its code.
    """

    def load(self, key: str) -> Any | None:
        """The JSON value saved under `key` by an earlier run of this check, or None."""
        ...

    def save(self, key: str, value: Any) -> None:
        """Keep a JSON-serialisable value for the next run; it survives restarts (the state store keeps it)."""
        ...

    def load_from(self, check_id: str, key: str) -> Any | None:
        """Read-only: the JSON value the check `check_id` saved under `key`, or None (no such check, key or run yet).

        A copy: changing it changes nothing stored."""
        ...


class DictMemory:
    """In-process CheckMemory for unit tests and `--no-state` runs; `others` (check id -> its memory) is what
    `load_from` reads, looked up on each call, so a test may add checks after building this one."""

    def __init__(self, others: Mapping[str, DictMemory] | None = None) -> None:
        self._data: dict[str, str] = {}
        self._others: Mapping[str, DictMemory] = others if others is not None else {}

    def load(self, key: str) -> Any | None:
        raw = self._data.get(key)
        return None if raw is None else json.loads(raw)

    def save(self, key: str, value: Any) -> None:
        self._data[key] = json.dumps(value)

    def load_from(self, check_id: str, key: str) -> Any | None:
        other = self._others.get(check_id)
        return None if other is None else other.load(key)


class Activity:
    """What a check is waiting on right now ("Snowflake query MAX(_LOADED_AT) on ANALYTICS.FCT_TRANSACTIONS").

    The runner reads it when the deadline passes, so a timeout names the system and object that hung instead of
    only "did not finish within its 15s deadline". One per run; written by the check thread, read by the runner
    (a str assignment is atomic, so no lock is needed). In a worker process each change is also sent to the
    supervising runner (sentinel/isolation.py), which is the one that sees the deadline pass."""

    def __init__(self) -> None:
        self._current: str | None = None

    @property
    def current(self) -> str | None:
        return self._current

    @current.setter
    def current(self, value: str | None) -> None:
        self._current = value
        self._changed(value)

    def _changed(self, value: str | None) -> None:
        """Hook for a worker process to tell its supervisor."""

    @contextmanager
    def __call__(self, what: str) -> Iterator[None]:
        before = self._current
        self.current = what
        try:
            yield
        finally:
            self.current = before


@dataclass(frozen=True)
class CheckContext:
    """What a running check gets: who it is, the time, its deadline, its sources and its memory.

    `sources` is a `sentinel.sources.Sources`: typed factories for each system's thin client
    (typed as Any here to keep `api` free of driver imports).
    """

    check_id: str
    clock: Clock
    deadline_monotonic: float
    sources: Any
    memory: CheckMemory
    labels: Mapping[str, str] = field(default_factory=dict)
    doing: Activity = field(default_factory=Activity)

    def now(self) -> datetime:
        """The run's aware UTC time: use it, never datetime.now(), so tests can drive time with a FakeClock."""
        return self.clock.now()

    def remaining(self) -> timedelta:
        """Time left before the runner gives up, less a margin; pass it to every remote call as its timeout.

        The margin (a tenth of what is left, at most 0.5 s) lets a call that hangs time out on its own and say
        which system and object it waited on, before the runner abandons the check with a bare "did not finish
        within its deadline": with the two timeouts equal, whichever fired first was a coin toss."""
        left = max(0.0, self.deadline_monotonic - self.clock.monotonic())
        return timedelta(seconds=left - min(DEADLINE_MARGIN_SECONDS, left / 10))

    def remaining_seconds(self, floor: float = 1.0) -> float:
        """remaining() in seconds, at least `floor`, for clients that take a float timeout."""
        return max(floor, self.remaining().total_seconds())

    def result(
        self,
        kind: str,
        status: Status,
        summary: str,
        *,
        values: Mapping[str, float] | None = None,
        labels: Mapping[str, str] | None = None,
        details: Mapping[str, str] | None = None,
        findings: tuple[Finding, ...] | list[Finding] = (),
    ) -> CheckResult:
        """Build a result stamped with this check's id, time and configured labels."""
        merged = {**self.labels, **(labels or {})}
        return CheckResult(
            check_id=self.check_id,
            kind=kind,
            status=status,
            observed_at=self.now(),
            summary=summary,
            values=values or {},
            labels=merged,
            details=details or {},
            findings=tuple(findings),
        )


@dataclass(frozen=True)
class FindingSeries:
    """How a check kind's findings become Prometheus series of their own, one per finding.

    labels: the finding labels that identify it (("group", "topic")); each series also has `check`.
    gauges: finding value name -> (metric name with its unit, help text).
    verdict: (finding detail key, metric name, every possible value): a label set, 1 for the current value.
    """

    labels: tuple[str, ...]
    gauges: Mapping[str, tuple[str, str]]
    verdict: tuple[str, str, tuple[str, ...]] | None = None

    def metric_names(self) -> set[str]:
        """Every Prometheus metric name these series publish (the gauges' and the verdict's)."""
        return {m for m, _ in self.gauges.values()} | ({self.verdict[1]} if self.verdict else set())


class Check(Generic[P]):
    """Base class of check plugins. Subclasses set kind, Params, runbook and implement run()."""

    kind: ClassVar[str]
    Params: ClassVar[type[Params]]
    runbook: ClassVar[str]
    #: Modules this kind imports at run time (its source, its driver). The check worker processes' fork server
    #: imports them once, so a new worker does not pay for them on its first run (sentinel/isolation.py).
    warm_imports: ClassVar[tuple[str, ...]] = ()
    #: Findings published as series of their own on /metrics (None: only the check's own values).
    finding_series: ClassVar[FindingSeries | None] = None

    def __init__(self, params: P) -> None:
        self.params = params

    def run(self, ctx: CheckContext) -> CheckResult:
        """Measure and return one result (ctx.result(...)). Raise SourceError when the system cannot be read;
        the runner turns any exception, a deadline or a crash of the worker into this check's ERROR."""
        raise NotImplementedError

    def describe(self) -> str:
        """One line for `sentinel list` (e.g. the threshold); override for more."""
        return ""


def target_error(key: str, exc: Exception, labels: Mapping[str, str], *, what: str) -> Finding:
    """One target of a multi-target check could not be measured: that target's ERROR finding.

    Why: a missing pipe or a dropped table must not blind the check to the other targets (their CRITICAL findings
    would never be reported and the SLA ledger would count all of them as unknown). `what` names the system and
    object ("Snowflake table RAW.REFUNDS"); a SourceError's text already carries its hint."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    summary = f"cannot measure {what}: {text}"
    return Finding(key=key, status=Status.ERROR, summary=summary[:500], labels=labels,
                   details={"error": f"{type(exc).__name__}: {text}"[:2000]})


def measured_status(findings: Iterable[Finding]) -> Status:
    """A multi-target result's status: the worst of the targets that were measured; ERROR only if none was."""
    statuses = [f.status for f in findings]
    measured = [s for s in statuses if s is not Status.ERROR]
    if statuses and not measured:
        return Status.ERROR
    return Status.worst(measured)
