"""Everything a check plugin may import. Plugins import this module and `sentinel.sources`, nothing else.

A check plugin is a class with:
  kind     the entry-point name == YAML `kind:` == module name in checks/
  Params   a pydantic model validating the YAML `params:` block (extra keys forbidden)
  runbook  the default runbook name in runbooks/ (without .md)
  run(ctx) returns one CheckResult; it measures, it never decides to alert or notify.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, Literal, Protocol, TypeVar

from pydantic import BaseModel, ConfigDict

from sentinel.clock import Clock
from sentinel.durations import Duration, PositiveDuration, format_duration, parse_duration
from sentinel.errors import CheckError, SourceError
from sentinel.model import CheckResult, Finding, Severity, Status
from sentinel.param_types import ConnectionName, Regex, TimeZoneName

__all__ = [
    "Check",
    "CheckContext",
    "CheckError",
    "CheckMemory",
    "CheckResult",
    "ConnectionName",
    "Duration",
    "Finding",
    "Params",
    "PositiveDuration",
    "Regex",
    "Severity",
    "SourceError",
    "Status",
    "TimeZoneName",
    "check_read_only",
    "format_duration",
    "parse_duration",
]


def check_read_only(statement: str, dialect: Literal["postgres", "snowflake", "duckdb"]) -> None:
    """Raise ValueError unless `statement` is one side-effect-free SELECT (see sentinel.readonly_sql).

    Imported on first use: sqlglot costs ~90 ms to import, which `sentinel --help` should not pay.
    """
    from sentinel.readonly_sql import check_read_only as check

    check(statement, dialect)


class Params(BaseModel):
    """Base for check params: unknown keys are errors, values are immutable, numbers are finite (a threshold of
    .nan or .inf would never be crossed, so the check would silently never alert)."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


P = TypeVar("P", bound=Params)


class CheckMemory(Protocol):
    """Small per-check JSON state kept in the state store (e.g. the offsets window of a lag check)."""

    def load(self, key: str) -> Any | None: ...

    def save(self, key: str, value: Any) -> None: ...


class DictMemory:
    """In-process CheckMemory for unit tests and `--no-state` runs."""

    def __init__(self) -> None:
        self._data: dict[str, str] = {}

    def load(self, key: str) -> Any | None:
        raw = self._data.get(key)
        return None if raw is None else json.loads(raw)

    def save(self, key: str, value: Any) -> None:
        self._data[key] = json.dumps(value)


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

    def now(self) -> datetime:
        return self.clock.now()

    def remaining(self) -> timedelta:
        """Time left before the runner gives up; pass it to every remote call as its timeout."""
        return timedelta(seconds=max(0.0, self.deadline_monotonic - self.clock.monotonic()))

    def remaining_seconds(self, floor: float = 1.0) -> float:
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


class Check(Generic[P]):
    """Base class of check plugins. Subclasses set kind, Params, runbook and implement run()."""

    kind: ClassVar[str]
    Params: ClassVar[type[Params]]
    runbook: ClassVar[str]

    def __init__(self, params: P) -> None:
        self.params = params

    def run(self, ctx: CheckContext) -> CheckResult:
        raise NotImplementedError

    def describe(self) -> str:
        """One line for `sentinel list` (e.g. the threshold); override for more."""
        return ""
