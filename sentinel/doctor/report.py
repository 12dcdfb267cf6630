"""What `sentinel doctor` found: one line per finding, a fix on every problem, an exit code."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from typing import Literal

Level = Literal["ok", "warning", "problem", "refused"]
_MARK = {"ok": "ok     ", "warning": "WARN   ", "problem": "PROBLEM", "refused": "REFUSED"}


@dataclass(frozen=True)
class DoctorLine:
    level: Level
    component: str  # "postgres default", "s3 novapay-raw", "slack", ...
    message: str
    fix: str = ""  # the GRANT, the config line or the setting to change; required for a problem


def render_text(lines: Sequence[DoctorLine]) -> str:
    out = []
    for line in lines:
        fix = f"  -> fix: {line.fix}" if line.fix else ""
        out.append(f"{_MARK[line.level]} {line.component}: {line.message}{fix}")
    problems = sum(1 for x in lines if x.level in ("problem", "refused"))
    out.append(f"\n{problems} problem(s), {sum(1 for x in lines if x.level == 'warning')} warning(s), "
               f"{sum(1 for x in lines if x.level == 'ok')} ok")
    return "\n".join(out)


def render_json(lines: Sequence[DoctorLine]) -> str:
    return json.dumps({"exit_code": exit_code(lines), "findings": [asdict(x) for x in lines]}, indent=2)


def exit_code(lines: Sequence[DoctorLine]) -> int:
    """4: an identity Sentinel refuses to use (as `check` would exit); 1: any other problem; 0: ready."""
    if any(x.level == "refused" for x in lines):
        return 4
    return 1 if any(x.level == "problem" for x in lines) else 0
