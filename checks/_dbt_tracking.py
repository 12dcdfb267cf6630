"""Across-run memory of the dbt_results check: one ongoing alert per problem, resolved when dbt says it is fixed.

A finding's key is the dbt unique_id, so the same failing test is the same alert run after run. This module adds
what a single run cannot know, kept in the check's memory (small JSON):

  - how many runs in a row a problem has been seen and since when (`consecutive_runs`, `failing_since`);
    reading the same dbt run twice (the check runs more often than dbt) does not count twice;
  - a problem seen before and now passing in a newer run is emitted once more as OK ("passes again"), while that
    run is the newest, so the alert resolves explicitly;
  - a problem whose node was not part of the newest run (a partial `dbt build --select ...`) is carried forward
    unchanged: not running a test does not fix it. A node gone from the manifest is resolved.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sentinel.api import Finding, Status, format_duration

MEMORY_KEY = "dbt_results.v1"


@dataclass(frozen=True)
class RunScope:
    """Which dbt invocation judged a family of findings (node results or source freshness) and what it covered."""

    invocation_id: str
    generated_at: datetime
    covered: frozenset[str]  # unique_ids that this invocation ran (any status)


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def track(
    problems: Iterable[Finding],
    *,
    scope_of: Callable[[str], RunScope | None],
    still_defined: Callable[[str], bool],
    previous: Mapping[str, Any] | None,
    now: datetime,
) -> tuple[list[Finding], dict[str, Any]]:
    """Findings enriched with their run streak, plus carried and resolved ones; and the memory to save."""
    prev_open: dict[str, Any] = dict((previous or {}).get("open") or {})
    prev_resolved: dict[str, Any] = dict((previous or {}).get("resolved") or {})
    out: list[Finding] = []
    open_now: dict[str, Any] = {}
    seen: set[str] = set()

    for finding in problems:
        seen.add(finding.key)
        scope = scope_of(finding.key)
        invocation = scope.invocation_id if scope else ""
        before = prev_open.get(finding.key)
        if before:
            runs = int(before["runs"]) + (0 if before.get("seen_in") == invocation else 1)
            since = datetime.fromisoformat(before["since"])
        else:
            runs, since = 1, scope.generated_at if scope else now
        open_now[finding.key] = {
            "runs": runs, "since": since.isoformat(), "seen_in": invocation,
            "status": finding.status.value, "summary": finding.summary, "labels": dict(finding.labels),
        }
        streak = f" ({_ordinal(runs)} run in a row, since {since:%Y-%m-%d %H:%M} UTC)" if runs > 1 else ""
        out.append(Finding(
            key=finding.key, status=finding.status, summary=finding.summary + streak,
            values={**finding.values, "consecutive_runs": float(runs),
                    "failing_for_seconds": max(0.0, (now - since).total_seconds())},
            labels=finding.labels,
            details={**finding.details, "first_seen_at": since.isoformat(), "consecutive_runs": str(runs)},
        ))

    resolved_now: dict[str, Any] = {}
    for key, before in prev_open.items():
        if key in seen:
            continue
        scope = scope_of(key)
        if scope is not None and key in scope.covered:
            resolved_now[key] = {"in": scope.invocation_id, "at": scope.generated_at.isoformat(),
                                 "runs": before["runs"], "since": before["since"],
                                 "summary": before["summary"], "labels": before.get("labels") or {}}
        elif still_defined(key):
            open_now[key] = before  # not re-run in the newest invocation: still broken as far as we know
            out.append(Finding(
                key=key, status=Status(before["status"]),
                summary=f"{before['summary']} (not re-run since; last seen in dbt invocation {before['seen_in']})",
                values={"consecutive_runs": float(before["runs"]),
                        "failing_for_seconds": max(0.0, (now - datetime.fromisoformat(before["since"])).total_seconds())},
                labels=before.get("labels") or {},
                details={"first_seen_at": before["since"], "carried_forward": "true",
                         "note": "the newest dbt run did not include this node; the last result that did is shown"},
            ))
        else:
            resolved_now[key] = {"in": "", "at": now.isoformat(), "runs": before["runs"], "since": before["since"],
                                 "summary": before["summary"], "labels": before.get("labels") or {},
                                 "removed": True}

    for key, info in prev_resolved.items():
        if key in seen or key in resolved_now:
            continue
        scope = scope_of(key)
        if scope is not None and info.get("in") == scope.invocation_id:
            resolved_now[key] = info  # same dbt run still the newest: keep saying it is fixed

    for key, info in sorted(resolved_now.items()):
        what = "was removed from the dbt project" if info.get("removed") else (
            f"passes again in the dbt run of {datetime.fromisoformat(info['at']):%Y-%m-%d %H:%M} UTC")
        failing_for = datetime.fromisoformat(info["at"]) - datetime.fromisoformat(info["since"])
        name = (info.get("labels") or {}).get("dbt_node", key)
        out.append(Finding(
            key=key, status=Status.OK,
            summary=f"dbt {name} {what} (was failing {info['runs']} run(s), {format_duration(failing_for)})",
            values={"consecutive_runs": 0.0, "failing_for_seconds": 0.0},
            labels=info.get("labels") or {},
            details={"resolved_in_invocation": info.get("in", ""), "was": info["summary"]},
        ))

    return out, {"open": open_now, "resolved": resolved_now}
