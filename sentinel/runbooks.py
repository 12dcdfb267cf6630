"""Runbooks: one Markdown file per alert kind in runbooks/, all following runbooks/TEMPLATE.md.

Found in SENTINEL_RUNBOOKS_DIR, else ./runbooks, else the runbooks/ of a source checkout, else the copy that
ships inside the installed package (sentinel/_runbooks in the wheel, mapped from runbooks/ by pyproject.toml).
Alerts link to `runbook_base_url` + name + ".md".
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import sentinel

# The sections every runbook has, in this order (TEMPLATE.md shows what goes in each). A heading may add
# words after the name ("Diagnosis (real commands for this pipeline)").
SECTIONS = (
    "What fired",
    "Impact",
    "First five minutes",
    "Diagnosis",
    "Remediation",
    "Escalation",
    "How to silence",
)
TEMPLATE = "TEMPLATE"
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]*$")


def runbooks_dir() -> Path:
    env = os.environ.get("SENTINEL_RUNBOOKS_DIR")
    candidates = [Path(env)] if env else []
    package = Path(sentinel.__file__).resolve().parent
    candidates += [Path.cwd() / "runbooks", package.parent / "runbooks", package / "_runbooks"]
    for c in candidates:
        if c.is_dir():
            return c
    return candidates[0]


def available(directory: Path | None = None) -> list[str]:
    d = directory or runbooks_dir()
    return sorted(p.stem for p in d.glob("*.md") if p.stem != TEMPLATE and _NAME.match(p.stem))


def sections(text: str) -> list[str]:
    """The `## ` headings of a runbook, in order."""
    return [m.group(1).strip() for m in re.finditer(r"^## (.+)$", text, flags=re.MULTILINE)]


def section_problems(text: str) -> list[str]:
    """Missing template sections, or sections out of the template's order."""
    headings = sections(text)
    found = []
    problems = []
    for name in SECTIONS:
        index = next((i for i, h in enumerate(headings) if h == name or h.startswith(name + " ")), None)
        if index is None:
            problems.append(f"missing section '## {name}'")
        else:
            found.append((index, name))
    order = [name for _, name in sorted(found)]
    if order != [name for _, name in found]:
        problems.append(f"sections out of order: {order}; expected {list(SECTIONS)}")
    return problems


def render_terminal(text: str, *, color: bool) -> str:
    """Markdown for a terminal: bold headings, code blocks indented (and dimmed in colour), the rest as written."""
    out = []
    in_code = False
    for line in text.splitlines():
        if line.startswith("```"):
            in_code = not in_code
            continue
        if in_code:
            out.append(("    \x1b[36m" + line + "\x1b[0m") if color else "    " + line)
        elif line.startswith("# "):
            title = line[2:].strip()
            out.append(f"\x1b[1;4m{title}\x1b[0m" if color else f"{title}\n{'=' * len(title)}")
        elif line.startswith("## "):
            title = line[3:].strip()
            out.append(f"\x1b[1m{title}\x1b[0m" if color else f"{title}\n{'-' * len(title)}")
        elif color:
            out.append(re.sub(r"`([^`]+)`", "\x1b[36m\\1\x1b[0m", line))
        else:
            out.append(line)
    return "\n".join(out).rstrip() + "\n"
