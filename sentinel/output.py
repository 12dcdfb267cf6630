"""Terminal and JSON renderings of check results for `sentinel check --once`."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from typing import IO

from sentinel.model import CheckResult, Status

_MARK = {Status.OK: "OK", Status.WARN: "WARN", Status.CRITICAL: "CRIT", Status.ERROR: "ERROR"}
_COLOR = {Status.OK: "32", Status.WARN: "33", Status.CRITICAL: "31;1", Status.ERROR: "35;1"}


def primary_value(values: Mapping[str, float], status: Status = Status.OK) -> str:
    """The first named value, with the threshold that applies when the check reports
    `<name>_warning_threshold` / `<name>_critical_threshold` (the breached one, else the nearest)."""
    name = next((k for k in values if not k.endswith("_threshold")), None)
    if name is None:
        return ""
    text = f"{name}={_num(values[name])}"
    warn, crit = values.get(f"{name}_warning_threshold"), values.get(f"{name}_critical_threshold")
    if status is Status.CRITICAL and crit is not None:
        text += f" (crit {_num(crit)})"
    elif warn is not None:
        text += f" (warn {_num(warn)})"
    elif crit is not None:
        text += f" (crit {_num(crit)})"
    return text


def _num(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def use_color(stream: IO[str]) -> bool:
    """Colour only on a terminal, and never when NO_COLOR is set to anything non-empty (https://no-color.org)."""
    if os.environ.get("NO_COLOR"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or replaced stream
        return False


def render_table(results: Sequence[CheckResult], runbook_for: Callable[[str], tuple[str, str]], tty: bool,
                 color: bool | None = None) -> str:
    """One row per check, indented rows for its non-OK findings, then runbook links for what needs action.

    runbook_for(check_id) -> (runbook name, url). On a terminal rows are fitted to its width and coloured;
    into a pipe or a log nothing is cut.
    """
    width = max(100, shutil.get_terminal_size((140, 40)).columns) if tty else 10_000
    color = tty if color is None else color
    rows: list[tuple[Status, str, str, str, str]] = []
    for r in sorted(results, key=lambda r: (-r.status.rank, r.check_id)):
        rows.append((r.status, r.check_id, primary_value(r.values, r.status), r.summary, runbook_for(r.check_id)[0]))
        bad = [f for f in r.findings if f.status is not Status.OK]
        for f in sorted(bad, key=lambda f: -f.status.rank)[:10]:
            rows.append((f.status, f"  └ {f.key}", primary_value(f.values, f.status), f.summary, ""))
        if len(bad) > 10:
            rows.append((Status.OK, f"  └ … {len(bad) - 10} more", "", "see --format json", ""))
    w_check = min(40, max([5, *(len(r[1]) for r in rows)]))
    w_value = min(34, max([5, *(len(r[2]) for r in rows)]))
    w_runbook = min(30, max([7, *(len(r[4]) for r in rows)]))
    w_summary = max(30, width - (6 + w_check + w_value + w_runbook + 8))
    if not tty:
        w_value = max([5, *(len(r[2]) for r in rows)])
    # SUMMARY last: it is the only long column, so nothing after it needs padding.
    lines = [f"{'STATUS':<6}  {'CHECK':<{w_check}}  {'VALUE':<{w_value}}  {'RUNBOOK':<{w_runbook}}  SUMMARY"]
    for status, check, value, summary, runbook in rows:
        mark = f"{_MARK[status]:<6}"
        if color:
            mark = f"\x1b[{_COLOR[status]}m{mark}\x1b[0m"
        lines.append(
            f"{mark}  {_clip(check, w_check):<{w_check}}  {_clip(value, w_value):<{w_value}}  "
            f"{_clip(runbook, w_runbook):<{w_runbook}}  {_clip(summary, w_summary)}".rstrip()
        )
    counts = {s: sum(1 for r in results if r.status is s) for s in Status}
    lines.append("")
    lines.append(
        f"{len(results)} checks: {counts[Status.OK]} ok, {counts[Status.WARN]} warning, "
        f"{counts[Status.CRITICAL]} critical, {counts[Status.ERROR]} could not run"
    )
    needing = [r for r in results if r.status is not Status.OK]
    if needing:
        lines.append("")
        lines.append("What to do:")
        for r in sorted(needing, key=lambda r: (-r.status.rank, r.check_id)):
            url = runbook_for(r.check_id)[1]
            lines.append(f"  {r.check_id}: {url}")
    return "\n".join(lines)


def render_json(results: Sequence[CheckResult], runbook_for: Callable[[str], tuple[str, str]]) -> str:
    worst = Status.worst(r.status for r in results)
    payload = {
        "status": worst.value,
        "exit_code": worst.exit_code,
        "results": [{**r.to_json(), "runbook": runbook_for(r.check_id)[1]} for r in results],
    }
    return json.dumps(payload, indent=2, sort_keys=False)
