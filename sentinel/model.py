"""Core value types of Sentinel. Frozen, stdlib only, importable by everything.

A check produces a CheckResult. A result may carry findings: independent problems
(one dbt test, one consumer-group partition set, one table pair) that each become
their own alert, so on-call gets one clear alert per problem instead of one blob.
"""

from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import MappingProxyType
from typing import Any


class Status(enum.StrEnum):
    """What a check measured. ERROR means it could not measure at all."""

    OK = "ok"
    WARN = "warn"
    CRITICAL = "critical"
    ERROR = "error"

    @property
    def rank(self) -> int:
        """Badness for ordering: OK < WARN < CRITICAL, with ERROR ranked by _STATUS_RANK."""
        return _STATUS_RANK[self]

    @property
    def exit_code(self) -> int:
        """Exit code of `sentinel check --once` for a run whose worst status is this."""
        return {Status.OK: 0, Status.WARN: 1, Status.CRITICAL: 2, Status.ERROR: 3}[self]

    @staticmethod
    def worst(statuses: Any) -> Status:
        """Worst of several statuses; ERROR outranks CRITICAL (we are blind, not just late)."""
        best = Status.OK
        for s in statuses:
            if _STATUS_RANK[s] > _STATUS_RANK[best]:
                best = s
        return best


_STATUS_RANK = {Status.OK: 0, Status.WARN: 1, Status.CRITICAL: 2, Status.ERROR: 3}


class Severity(enum.StrEnum):
    """How loud an alert is. Ordering: NONE < WARNING < CRITICAL."""

    NONE = "none"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        """0, 1, 2 for NONE, WARNING, CRITICAL: compare severities by rank, never by their strings."""
        return {Severity.NONE: 0, Severity.WARNING: 1, Severity.CRITICAL: 2}[self]


def _frozen(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(mapping or {}))


def require_aware(value: datetime, name: str) -> None:
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{name} must be an aware UTC datetime, got naive {value!r}")


@dataclass(frozen=True, slots=True)
class Finding:
    """One independent problem (or all-clear) inside a check result.

    `key` identifies the finding within its check across runs (e.g. "test.fct_tx.not_null_id"),
    so the same failing test run after run is the same alert.
    """

    key: str
    status: Status
    summary: str
    values: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "values", _frozen(self.values))
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "details", _frozen(self.details))


@dataclass(frozen=True, slots=True)
class CheckResult:
    """What one run of one check observed.

    values: named floats with the unit in the name (`lag_seconds`, `missing_rows`).
    labels: where in the pipeline (`table`, `stage`, `group`...).
    summary: one line a human reads at 3 a.m.
    details: diagnostics for the runbook section of a message (plain text values).
    findings: optional per-problem breakdown; when present, the result status is their worst.
    """

    check_id: str
    kind: str
    status: Status
    observed_at: datetime
    summary: str
    values: Mapping[str, float] = field(default_factory=dict)
    labels: Mapping[str, str] = field(default_factory=dict)
    details: Mapping[str, str] = field(default_factory=dict)
    findings: tuple[Finding, ...] = ()
    duration: timedelta = timedelta(0)

    def __post_init__(self) -> None:
        require_aware(self.observed_at, "CheckResult.observed_at")
        object.__setattr__(self, "values", _frozen(self.values))
        object.__setattr__(self, "labels", _frozen(self.labels))
        object.__setattr__(self, "details", _frozen(self.details))
        object.__setattr__(self, "findings", tuple(self.findings))

    def to_json(self) -> dict[str, Any]:
        """Plain JSON types (ISO-8601 time, status string), as the store and `check --format json` keep it."""
        return {
            "check_id": self.check_id,
            "kind": self.kind,
            "status": self.status.value,
            "observed_at": self.observed_at.isoformat(),
            "duration_seconds": round(self.duration.total_seconds(), 6),
            "summary": self.summary,
            "values": dict(self.values),
            "labels": dict(self.labels),
            "details": dict(self.details),
            "findings": [
                {
                    "key": f.key,
                    "status": f.status.value,
                    "summary": f.summary,
                    "values": dict(f.values),
                    "labels": dict(f.labels),
                    "details": dict(f.details),
                }
                for f in self.findings
            ],
        }

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> CheckResult:
        """The inverse of to_json (a worker process sends its result to the runner this way)."""
        return CheckResult(
            check_id=data["check_id"],
            kind=data["kind"],
            status=Status(data["status"]),
            observed_at=datetime.fromisoformat(data["observed_at"]),
            duration=timedelta(seconds=float(data.get("duration_seconds", 0.0))),
            summary=data["summary"],
            values=data.get("values", {}),
            labels=data.get("labels", {}),
            details=data.get("details", {}),
            findings=tuple(
                Finding(
                    key=f["key"],
                    status=Status(f["status"]),
                    summary=f["summary"],
                    values=f.get("values", {}),
                    labels=f.get("labels", {}),
                    details=f.get("details", {}),
                )
                for f in data.get("findings", [])
            ),
        )


@dataclass(frozen=True, slots=True)
class AlertKey:
    """Stable identity of one alert: a hash of rule id and sorted labels.

    It is the pager dedup key (Opsgenie/JSM alias, PagerDuty dedup_key) and the Slack thread key,
    so it must not change across restarts or Python versions (no hash()).
    """

    rule_id: str
    labels: tuple[tuple[str, str], ...]

    @staticmethod
    def of(rule_id: str, labels: Mapping[str, str]) -> AlertKey:
        return AlertKey(rule_id, tuple(sorted((str(k), str(v)) for k, v in labels.items())))

    @property
    def fingerprint(self) -> str:
        payload = json.dumps([self.rule_id, list(self.labels)], separators=(",", ":"))
        return "sentinel-" + hashlib.sha256(payload.encode()).hexdigest()[:24]
