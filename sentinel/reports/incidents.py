"""The weekly report's list of incidents: every alert episode announced during the week, whatever its kind (a
breached SLA, a drifted schema, a seasonal volume drop), with when it started, how bad it got and whether it ended.

Built from the alert history (the outbox's messages, as people received them), so a past week can be rebuilt. One
incident is one alert (fingerprint) from its `fired` until its `resolved`; a message sent to Slack and to the pager
is one incident, and an alert that fires again after resolving is a second incident.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinel.sla import burn_check_id
from sentinel.store.sla import SentMessage

_RANK = {"warning": 0, "critical": 1}


@dataclass(frozen=True)
class Incident:
    started_at: datetime
    severity: str  # the highest announced: warning | critical
    check_id: str
    kind: str  # the check's kind ("schema_drift", "volume_anomaly", ...); "" for a check no longer configured
    rule_id: str
    stage: str
    table: str
    summary: str  # what the first announcement said
    runbook_url: str
    resolved_at: datetime | None  # None: still firing when the report was made

    @property
    def where(self) -> str:
        return " / ".join(p for p in (self.stage, self.table) if p)


def incidents(messages: Sequence[SentMessage], kinds: Mapping[str, str], start: datetime,
              end: datetime) -> list[Incident]:
    """The incidents that began in [start, end), oldest first. `kinds` maps check id to check kind."""
    opened: dict[tuple[str, str], dict[str, Any]] = {}
    for m in sorted(messages, key=lambda m: (m.created_at, m.seq)):
        if m.event not in ("fired", "escalated", "resolved"):
            continue
        for line in m.payload.get("alerts", []):
            if not isinstance(line, dict) or line.get("check_id", "").startswith(burn_check_id("")):
                continue  # a burn-rate alert is the SLA section's business, not another incident
            since = line.get("since") or m.created_at.isoformat()
            key = (line.get("fingerprint", ""), since)
            if m.event == "resolved":
                if key in opened:
                    opened[key]["resolved_at"] = _time(line.get("resolved_at")) or m.created_at
                continue
            seen = opened.setdefault(key, {"line": line, "started_at": _time(since) or m.created_at,
                                           "severity": line.get("severity", "warning"), "resolved_at": None})
            if _RANK.get(line.get("severity", ""), 0) > _RANK.get(seen["severity"], 0):
                seen["severity"] = line["severity"]
    out = []
    for seen in opened.values():
        if not start <= seen["started_at"] < end:
            continue
        line = seen["line"]
        check_id = line.get("check_id", "")
        out.append(Incident(seen["started_at"], seen["severity"], check_id, kinds.get(check_id, ""),
                            line.get("rule_id", ""), line.get("stage") or "", line.get("table") or "",
                            line.get("summary", ""), line.get("runbook_url", ""), seen["resolved_at"]))
    out.sort(key=lambda i: (i.started_at, i.check_id, i.table))
    return out


def _time(text: Any) -> datetime | None:
    return datetime.fromisoformat(text) if isinstance(text, str) and text else None
