"""postgres_replication_slot: health of the Debezium logical replication slot(s) on the source database.

An inactive slot keeps every WAL segment since its restart_lsn: on RDS that is how the disk fills up and the
primary stops. This check pages on retained WAL before the disk does, and says how long the slot has been
inactive (remembered across runs) and how far Debezium's confirmed flush is behind.

    kind: postgres_replication_slot
    params: {slots: [debezium_payments], retained_warn: 1GB, retained_critical: 10GB, inactive_warn_after: 5m}
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import BeforeValidator, Field, field_validator, model_validator

from sentinel.api import (
    Check,
    CheckContext,
    CheckResult,
    ConnectionName,
    Duration,
    Finding,
    Params,
    Status,
    crossed,
    format_duration,
    require_ordered,
)

StatusName = Literal["ok", "warn", "critical"]
_LITERAL = re.compile(r"^[A-Za-z0-9_]+$")
_BYTES = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([KMGT]i?B|B)?\s*$", re.IGNORECASE)
_UNIT = {"": 1, "b": 1, "kb": 1000, "mb": 1000**2, "gb": 1000**3, "tb": 1000**4,
         "kib": 1024, "mib": 1024**2, "gib": 1024**3, "tib": 1024**4}
MEMORY_KEY = "inactive_since"


def parse_bytes(value: Any) -> int:
    """'512MB', '10GiB', 1048576 -> bytes."""
    if isinstance(value, bool):
        raise ValueError("expected a size like '512MB' or '10GB'")
    if isinstance(value, int):
        return value
    m = _BYTES.match(str(value))
    if not m:
        raise ValueError(f"cannot read {value!r} as a size; use e.g. '512MB', '10GB', '1GiB'")
    return int(float(m.group(1)) * _UNIT[(m.group(2) or "").lower()])


def format_bytes(n: float) -> str:
    for unit, size in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f} {unit}"
    return f"{int(n)} B"


Bytes = Annotated[int, BeforeValidator(parse_bytes)]

SLOTS_SQL = """
SELECT slot_name, plugin, slot_type, database, active,
       pg_wal_lsn_diff(cur.lsn, restart_lsn)::bigint AS retained_bytes,
       pg_wal_lsn_diff(cur.lsn, confirmed_flush_lsn)::bigint AS flush_lag_bytes,
       wal_status, safe_wal_size
FROM pg_replication_slots,
     LATERAL (SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_receive_lsn()
                          ELSE pg_current_wal_lsn() END AS lsn) AS cur
ORDER BY slot_name
"""


class PostgresReplicationSlotParams(Params):
    connection: ConnectionName = "default"
    slots: list[str] = Field(default_factory=list, description="slot names or regexes (full match); empty = all "
                                                                "logical slots")
    retained_warn: Bytes | None = Field(None, description="WAL kept for the slot (current LSN - restart_lsn)")
    retained_critical: Bytes | None = None
    flush_lag_warn: Bytes | None = Field(None, description="current LSN - confirmed_flush_lsn")
    flush_lag_critical: Bytes | None = None
    inactive_warn_after: Duration | None = Field(timedelta(minutes=5), description="no consumer for this long")
    inactive_critical_after: Duration | None = None
    on_lost: StatusName = Field("critical", description="wal_status = lost: the slot is invalidated")
    on_missing: StatusName = "critical"
    slot_tables: dict[str, list[str]] = Field(default_factory=dict, description="captured tables each slot carries "
                                              "(slot name -> tables): the status view shows the slot at each table's "
                                              "stage; still one alert per slot")

    @field_validator("slots")
    @classmethod
    def _regexes(cls, values: list[str]) -> list[str]:
        for v in values:
            re.compile(v)
        return values

    @model_validator(mode="after")
    def _ordered(self) -> PostgresReplicationSlotParams:
        require_ordered("retained_warn", self.retained_warn, "retained_critical", self.retained_critical,
                        show=format_bytes)
        require_ordered("flush_lag_warn", self.flush_lag_warn, "flush_lag_critical", self.flush_lag_critical,
                        show=format_bytes)
        require_ordered("inactive_warn_after", self.inactive_warn_after, "inactive_critical_after",
                        self.inactive_critical_after, op=">=", show=format_duration)
        return self


def _status(name: StatusName) -> Status:
    return {"ok": Status.OK, "warn": Status.WARN, "critical": Status.CRITICAL}[name]


def judge_slot(row: dict[str, Any], inactive_for: timedelta | None,
               p: PostgresReplicationSlotParams) -> tuple[Status, str, list[str]]:
    """Status, summary and the reasons, for one slot row. Pure."""
    name = row["slot_name"]
    retained = float(row["retained_bytes"] or 0)
    flush_lag = row["flush_lag_bytes"]
    statuses = [Status.OK]
    reasons: list[str] = []
    if row.get("wal_status") == "lost":
        statuses.append(_status(p.on_lost))
        reasons.append("slot INVALIDATED (wal_status=lost): Debezium must re-snapshot")
    sizes = [("retained WAL", retained, p.retained_warn, p.retained_critical)]
    if flush_lag is not None:
        sizes.append(("confirmed flush lag", float(flush_lag), p.flush_lag_warn, p.flush_lag_critical))
    for what, size, warn, critical in sizes:
        by, limit = crossed(size, warn=warn, critical=critical)
        if by is not Status.OK and limit is not None:
            statuses.append(by)
            reasons.append(f"{what} > {format_bytes(limit)}")
    if inactive_for is not None:
        by_age, age_limit = crossed(inactive_for, warn=p.inactive_warn_after, critical=p.inactive_critical_after,
                                    op=">=")
        if by_age is not Status.OK and age_limit is not None:
            statuses.append(by_age)
            reasons.append(f"inactive >= {format_duration(age_limit)}")
    if row["active"]:
        state = "active"
    else:
        # the view has no "inactive since" before PostgreSQL 17: the duration counts from when this check first saw it
        seen = inactive_for is not None and inactive_for >= timedelta(seconds=1)
        state = "INACTIVE" + (f" for at least {format_duration(inactive_for)}" if seen and inactive_for else "")
    summary = f"slot {name} {state}, retaining {format_bytes(retained)} of WAL"
    if flush_lag is not None:
        summary += f", confirmed flush {format_bytes(float(flush_lag))} behind"
    if reasons:
        summary += f" ({'; '.join(reasons)})"
    return Status.worst(statuses), summary, reasons


class PostgresReplicationSlotCheck(Check[PostgresReplicationSlotParams]):
    kind = "postgres_replication_slot"
    Params = PostgresReplicationSlotParams
    runbook = "debezium-replication-slot"
    warm_imports = ("sentinel.sources.postgres",)

    def describe(self) -> str:
        p = self.params
        limits = "/".join(format_bytes(b) for b in (p.retained_warn, p.retained_critical) if b is not None)
        return f"slots {', '.join(p.slots) or 'all logical'} on {p.connection}" + (f"; retained {limits}"
                                                                                     if limits else "")

    def _labels(self, slot: str) -> dict[str, str]:
        tables = self.params.slot_tables.get(slot)
        return {"slot": slot, "tables": ", ".join(tables)} if tables else {"slot": slot}

    def run(self, ctx: CheckContext) -> CheckResult:
        p = self.params
        source = ctx.sources.postgres(p.connection)
        cols = ["slot_name", "plugin", "slot_type", "database", "active", "retained_bytes", "flush_lag_bytes",
                "wal_status", "safe_wal_size"]
        with ctx.doing(f"PostgreSQL pg_replication_slots on {source.name!r} ({source.where})"):
            rows = [dict(zip(cols, r, strict=True)) for r in source.fetch_all(SLOTS_SQL, None, ctx.remaining())]
        if p.slots:
            chosen = [r for r in rows if any(re.fullmatch(s, r["slot_name"]) for s in p.slots)]
            missing = sorted(s for s in p.slots if _LITERAL.match(s) and s not in {r["slot_name"] for r in rows})
        else:
            chosen, missing = [r for r in rows if r["slot_type"] == "logical"], []

        now = ctx.now()
        remembered: dict[str, float] = ctx.memory.load(MEMORY_KEY) or {}
        inactive_since: dict[str, float] = {}
        findings: list[Finding] = []
        for row in chosen:
            name = row["slot_name"]
            inactive_for = None
            if not row["active"]:
                since = remembered.get(name, now.timestamp())
                inactive_since[name] = since
                inactive_for = timedelta(seconds=max(0.0, now.timestamp() - since))
            status, summary, _ = judge_slot(row, inactive_for, p)
            values = {
                "retained_wal_bytes": float(row["retained_bytes"] or 0),
                "active": 1.0 if row["active"] else 0.0,
                "inactive_seconds": inactive_for.total_seconds() if inactive_for is not None else 0.0,
            }
            if row["flush_lag_bytes"] is not None:
                values["confirmed_flush_lag_bytes"] = float(row["flush_lag_bytes"])
            if row["safe_wal_size"] is not None:
                values["safe_wal_size_bytes"] = float(row["safe_wal_size"])
            details = {
                "slot": f"{name} plugin={row['plugin']} database={row['database']} wal_status={row['wal_status']}",
                "diagnose": "SELECT slot_name, active, active_pid, wal_status, "
                            "pg_size_pretty(pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)) AS retained "
                            f"FROM pg_replication_slots WHERE slot_name = '{name}';",
            }
            findings.append(Finding(key=f"slot/{name}", status=status, summary=summary, values=values,
                                    labels=self._labels(name), details=details))
        for name in missing:
            findings.append(Finding(key=f"slot/{name}", status=_status(p.on_missing), labels=self._labels(name),
                                    summary=f"replication slot {name} does not exist on {p.connection!r} "
                                            "(Debezium will re-snapshot when it restarts)"))
        ctx.memory.save(MEMORY_KEY, inactive_since)
        if not findings:
            return ctx.result(self.kind, Status.OK, f"no logical replication slot on {p.connection!r}",
                              values={"slots": 0.0})
        status = Status.worst(f.status for f in findings)
        bad = sorted((f for f in findings if f.status is not Status.OK), key=lambda f: -f.status.rank)
        max_retained = max((f.values.get("retained_wal_bytes", 0.0) for f in findings), default=0.0)
        if bad:
            summary = bad[0].summary + (f" (+{len(bad) - 1} more)" if len(bad) > 1 else "")
        else:
            summary = "; ".join(f.summary for f in findings[:3])
        return ctx.result(self.kind, status, summary, findings=findings,
                          values={"max_retained_wal_bytes": max_retained, "slots": float(len(chosen))})
